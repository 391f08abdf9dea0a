"""The effective settings of a run, read from its config, for the captions of tables and plots.

A run's config is ``config.yaml`` in its folder (this repository's runs) or, for runs of the
CoOp / CoCoOp / MaPLe / MuDPT repositories, the dump that Dassl writes into the log after the
``** Config **`` banner (yacs' ``KEY: value`` text, two spaces per level). Only the keys a caption
names are kept (:func:`is_setting_key`): the shots, the epochs, the class subset and the method's
key settings (``TRAINER.<node>.N_CTX``, prompt depth, injection). A caption names what ran, so
a smoke run of 2 shots and 2 epochs is never captioned with its recipe's 16 shots.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import yaml

__all__ = [
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

