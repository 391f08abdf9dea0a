"""The effective settings of a run, read from its config, for the captions of tables and plots.

A run's config is ``config.yaml`` in its folder (this repository's runs) or, for runs of the
CoOp / CoCoOp / MaPLe / MuDPT repositories, the dump that Dassl writes into the log after the
``** Config **`` banner (yacs' ``KEY: value`` text, two spaces per level). Only the keys a caption
names are kept (:func:`is_setting_key`): the shots, the epochs, the class subset and the method's
key settings (``TRAINER.<node>.N_CTX``, prompt depth, injection). A caption names what ran, so
a smoke run of 2 shots and 2 epochs is never captioned with its recipe's 16 shots.
"""
from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

__all__ = [
    "RECIPE_TAG",
    "SHOTS_LABEL",
    "ZERO_SHOT",
    "Config",
    "RunSettings",
    "caption_keys",
    "config_from_yaml",
    "config_values",
    "is_setting_key",
    "method_settings",
    "parse_config_dump",
    "read_config_yaml",
    "recipe_changes",
    "recipe_of",
    "summarise_changes",
    "summarise_settings",
]

Config = Mapping[str, str]  # dotted key -> value as the yacs dump prints it
RunSettings = list[tuple[str, str]]  # (label, value) of the settings a caption names

SHOTS_KEY = "DATASET.NUM_SHOTS"
EPOCHS_KEY = "OPTIM.MAX_EPOCH"
SUBSAMPLE_KEY = "DATASET.SUBSAMPLE_CLASSES"
TRAINER_KEY = "TRAINER.NAME"
SHOTS_LABEL, EPOCHS_LABEL = "shots", "epochs"
ZERO_SHOT = "zero-shot"  # the caption of a method that trains nothing
SEPARATOR = "/"  # between the differing values of one setting: "N_CTX 2/4"

_KEPT = frozenset({SHOTS_KEY, EPOCHS_KEY, SUBSAMPLE_KEY, TRAINER_KEY})
RECIPE_TAG = "+"  # between a run folder's recipe and its override tag (protocols.plan)
# Keys only training reads: they cannot change what a zero-shot method computes.
TRAINING_KEYS = ("OPTIM.", "DATALOADER.TRAIN_X.", "DATALOADER.TRAIN_U.", "TRAIN.", SHOTS_KEY)
# Keys a run's dataset and seed set (its table row, its seed folder), not changes of the recipe.
_NOT_RECIPE_KEYS = ("DATASET.", "SEED", TRAINER_KEY)
# "  N_CTX: 16" / "TRAINER:" / "  INIT_WEIGHTS: " in a yacs dump.
_DUMP_LINE_RE = re.compile(r"^( *)(\w+):(?: (.*))?$")


def caption_keys() -> tuple[str, ...]:
    """The method keys captions name (``TRAINER.<node>.<KEY>``): every method's, in list order
    (a run of a trainer that is not one of ours is captioned with all of them)."""
    from trainers import METHODS

    return tuple(dict.fromkeys(key for spec in METHODS.values() for key in spec.caption_keys))


def is_setting_key(key: str, method_keys: Sequence[str] | None = None) -> bool:
    """Whether a dotted config key is one that captions use (the others are not kept);
    ``method_keys``: :func:`caption_keys`, when the caller has them."""
    if key in _KEPT:
        return True
    parts = key.split(".")
    return len(parts) == 3 and parts[0] == "TRAINER" and parts[2] in (caption_keys() if method_keys is None else method_keys)


def parse_config_dump(lines: Iterable[str]) -> dict[str, str]:
    """The kept keys of a yacs config dump (the lines after the ``** Config **`` banner).

    Reading stops at the first line that is not ``KEY: value`` (the dump's end). Values are kept
    as text, as printed.
    """
    config: dict[str, str] = {}
    method_keys = caption_keys()
    path: list[tuple[int, str]] = []  # (indent, key) of the enclosing nodes
    for raw in lines:
        line = raw.rstrip("\r\n")
        if not line.strip():
            continue
        match = _DUMP_LINE_RE.match(line)
        if match is None:
            break
        indent, key, value = len(match.group(1)), match.group(2), match.group(3)
        while path and path[-1][0] >= indent:
            path.pop()
        if value is None:  # a node: its keys follow, indented
            path.append((indent, key))
            continue
        dotted = ".".join([*(k for _, k in path), key])
        if is_setting_key(dotted, method_keys):
            config[dotted] = value.strip()
    return config


def _as_dump_text(value: Any) -> str:
    """A yaml value as the yacs dump prints it (so both sources compare equal)."""
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_as_dump_text(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def config_values(text: str) -> dict[str, str]:
    """Every key of a ``config.yaml`` text, its value as the yacs dump prints it."""
    from engine.config_compare import flatten_config

    loaded = yaml.safe_load(text) or {}
    if not isinstance(loaded, dict):
        return {}
    return {key: _as_dump_text(value) for key, value in flatten_config(loaded).items()}


def config_from_yaml(text: str) -> dict[str, str]:
    """The kept keys of a ``config.yaml`` text."""
    method_keys = caption_keys()
    return {key: value for key, value in config_values(text).items() if is_setting_key(key, method_keys)}


def read_config_yaml(run_dir: Path, every_key: bool = False) -> dict[str, str] | None:
    """The kept keys (``every_key``: all keys) of ``run_dir/config.yaml``; None when there is
    none or it is not readable."""
    from engine.run_folder import RunFolder

    path = run_dir / RunFolder.CONFIG
    if not path.is_file():
        return None
    try:
        text = path.read_text(encoding="utf-8")
        return config_values(text) if every_key else config_from_yaml(text)
    except (OSError, UnicodeDecodeError, yaml.YAMLError):  # half-written or foreign: use the log's dump
        return None


def method_info(method: str, config: Config) -> tuple[str, bool, tuple[str, ...]]:
    """(config node, zero-shot?, caption keys) of a method: from its spec when it is one of ours
    (``trainers.METHODS``), else the trainer name upper-cased (CoOp's and MaPLe's convention) and
    every method's caption keys."""
    from trainers import method_for

    trainer = config.get(TRAINER_KEY) or method
    try:
        known = method_for(trainer)
    except ValueError:
        return trainer.upper(), False, caption_keys()
    return known.node, known.zero_shot, known.caption_keys


def method_settings(method: str, config: Config, eval_only: bool = False) -> RunSettings:
    """(label, value) of the settings a caption names, for one run of ``method``.

    A zero-shot method trains nothing: its shots and epochs mean nothing. An evaluation-only run
    samples no shots (the model it evaluates was trained by another run, which says them).
    """
    node, zero_shot, keys = method_info(method, config)
    settings: RunSettings = []
    if zero_shot:
        settings.append((ZERO_SHOT, ""))
    else:
        if SHOTS_KEY in config and not eval_only:
            settings.append((SHOTS_LABEL, config[SHOTS_KEY]))
        if EPOCHS_KEY in config:
            settings.append((EPOCHS_LABEL, config[EPOCHS_KEY]))
    for key in keys:
        dotted = f"TRAINER.{node}.{key}"
        if dotted in config:
            settings.append((key, config[dotted]))
    return settings


def recipe_of(config_folder: str) -> str:
    """The recipe of a run folder's config name: ``vit_b16_ctxv1`` of ``vit_b16_ctxv1+lr0.5-max_epoch2``."""
    return config_folder.split(RECIPE_TAG)[0]


def _flat_yaml(text: str) -> dict[str, Any]:
    """A config dump as a flat dict, as ``engine.config_compare.load_flat`` reads it (libyaml's
    loader where there is one: a table of many runs parses many)."""
    from engine.config_compare import flatten_config

    loaded = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
    if not isinstance(loaded, dict):
        raise yaml.YAMLError("not a mapping")
    return flatten_config(loaded)


@functools.lru_cache(maxsize=None)
def _recipe_flat(config_file: str) -> dict[str, Any] | None:
    """The config a recipe file gives, flat; None when it cannot be read."""
    from engine.errors import UserError
    from runconfig.defaults import recipe_config

    try:
        return _flat_yaml(recipe_config(config_file).dump())
    except UserError:
        return None


@functools.lru_cache(maxsize=None)
def _defaults_flat() -> dict[str, Any]:
    from runconfig import default_config

    return _flat_yaml(default_config().dump())


def _recipe_file(trainer: str, name: str, dataset: str, shots: int | None) -> str | None:
    """The recipe file named ``name`` of a run of ``trainer`` on ``dataset`` with ``shots``: one of
    ``configs/trainers/<trainer>/`` or one of its method's recipes (zero-shot CLIP's is CoOp's
    ``vit_b16``); None when there is none."""
    import os.path as osp

    from runconfig.defaults import REPO
    from trainers import method_of_trainer

    candidates = [f"configs/trainers/{trainer}/{name}.yaml"]
    spec = method_of_trainer(trainer)
    for recipe in spec.recipes.values() if spec is not None else ():
        try:
            candidates.append(recipe if isinstance(recipe, str) else recipe(dataset, shots if shots is not None else 16))
        except (KeyError, ValueError, TypeError):
            continue
    return next((c for c in candidates if osp.splitext(osp.basename(c))[0] == name and osp.isfile(osp.join(REPO, c))), None)


def recipe_changes(method: str, config_folder: str, run_dir: Path, dataset: str = "", shots: int | None = None) -> list[tuple[str, str]] | None:
    """What a run of ``method`` on ``dataset`` with ``shots`` changed from its recipe (the recipe
    file named by its config folder, see :func:`_recipe_file`), read from its ``config.yaml``: ``(key, value)`` of the
    keys that can change results, in words as a caption names them (the method's own keys without
    ``TRAINER.<node>.``), leaving out what the run's dataset and seed set, the keys its caption
    already names (shots, epochs, the method's caption keys) and, for a zero-shot method, the keys
    only training reads. None when that cannot be told: no ``config.yaml``, or no such recipe here
    (a config of your own, another repository's runs)."""
    from engine.config_compare import MISSING, flat_differences
    from engine.run_folder import RunFolder
    from runconfig import result_keys

    try:
        flat = _flat_yaml((run_dir / RunFolder.CONFIG).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return None
    trainer = str(flat.get(TRAINER_KEY) or method)
    config_file = _recipe_file(trainer, recipe_of(config_folder), dataset, shots)
    recipe = None if config_file is None else _recipe_flat(config_file)
    if recipe is None:
        return None
    node, zero_shot, keys = method_info(method, {TRAINER_KEY: trainer})
    own = f"TRAINER.{node}."
    named = {EPOCHS_KEY, SHOTS_KEY, *(own + key for key in keys)}
    changes = []
    for key, _, value in flat_differences(recipe, flat, _defaults_flat(), result_keys()):
        if value is MISSING or key in named or key.startswith(_NOT_RECIPE_KEYS):
            continue  # absent from the run's config (another version), or said elsewhere
        if key.startswith("TRAINER.") and not key.startswith(own):
            continue  # another method's node: its runs do not read it
        if zero_shot and key.startswith(TRAINING_KEYS):
            continue
        changes.append((key[len(own):] if key.startswith(own) else key, _as_dump_text(value)))
    return changes


def summarise_changes(per_key: Sequence[list[tuple[str, str]] | None]) -> str | None:
    """One text for the changes from the recipe of several runs: ``OPTIM.LR 0.5, INPUT.SIZE (32, 32)``
    (a key whose value differs between runs shows them all, ``OPTIM.LR 0.1/0.5``); "" for none, None
    when one run's changes cannot be told."""
    if any(changes is None for changes in per_key):
        return None
    values: dict[str, list[str]] = {}
    for changes in per_key:
        for key, value in changes or ():
            values.setdefault(key, []).append(value)
    return ", ".join(f"{key} {SEPARATOR.join(_sort_values(vals))}" for key, vals in values.items())


def _sort_values(values: Iterable[str]) -> list[str]:
    def key(value: str) -> tuple[int, float, str]:
        try:
            return (0, float(value), value)
        except ValueError:
            return (1, 0.0, value)

    return sorted(set(values), key=key)


def _show(label: str, values: Sequence[str]) -> str:
    from datasets import NUM_SHOTS_ALL

    if label == ZERO_SHOT:
        return ZERO_SHOT
    all_shots = str(NUM_SHOTS_ALL)  # of a run on the whole training set (and of zero-shot runs)
    joined = SEPARATOR.join("all" if label == SHOTS_LABEL and v == all_shots else v for v in values)
    if label == SHOTS_LABEL:
        return "all training images" if list(values) == [all_shots] else f"{joined} shots"
    if label == EPOCHS_LABEL:
        return f"{joined} epochs"
    return f"{label} {joined}"


def summarise_settings(per_run: Sequence[RunSettings | None]) -> str:
    """One caption text for the settings of several runs: ``16 shots, 10 epochs, N_CTX 2``; a
    setting whose value differs between runs shows them all (``N_CTX 2/4``); runs whose config
    could not be read are counted."""
    values: dict[str, list[str]] = {}
    unread = 0
    for settings in per_run:
        if settings is None:
            unread += 1
            continue
        for label, value in settings:
            values.setdefault(label, []).append(value)
    first = (ZERO_SHOT, SHOTS_LABEL, EPOCHS_LABEL)  # then the method's keys, in its caption order
    labels = sorted(values, key=lambda label: first.index(label) if label in first else len(first))
    parts = [_show(label, _sort_values(values[label])) for label in labels]
    if unread:
        parts.append(f"settings of {unread} run{'s' if unread > 1 else ''} unread")
    return ", ".join(parts)

