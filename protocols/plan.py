"""From a selection (protocol, methods, datasets, seeds, shots, steps, ``KEY VALUE`` overrides) to
the runs to make: their run folders, their ``train.py`` commands and their order.

A *unit* is what one job runs, in order: a base-to-new unit trains on one dataset and evaluates
on its new classes; a cross-dataset unit trains on ImageNet and evaluates on every target; a
few-shot unit is one run. Units are independent of each other, so a launcher may run them in any
order and in parallel.

Run folders are named after what runs: the recipe plus a tag of the overrides that change
results (``vit_b16_c2_ep10_batch4_depth9+max_epoch2-prompt_depth3``), and the shots actually
trained, so two settings never share a folder. An override is read as the config reads it
(``2e-3`` is ``0.002``) and one that repeats the recipe's value changes nothing, so it is not in
the name. An evaluation step reads the ``config.yaml`` of the run it evaluates: nothing is
repeated, and it loads the model that run deployed.
"""
from __future__ import annotations

import functools
import glob
import hashlib
import os.path as osp
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from engine.errors import ConfigError

from .definitions import Protocol, Step, run_dir, shots_of_folder
from .methods import Method

__all__ = [
    "Settings",
    "StepRun",
    "Unit",
    "dataset_opts",
    "effective_overrides",
    "grid_points",
    "make_plan",
    "mirror",
    "non_result_keys",
    "override_tag",
    "parse_grid",
    "resolve_trained",
    "split_overrides",
]

REPO = str(Path(__file__).resolve().parents[1])
TAG_MAX = 64  # longer override tags are cut and end with a hash of all of them
# Keys the protocols set themselves; DATASET.NUM_SHOTS is the shots of base-to-new and
# cross-dataset (--shots for few-shot), DATASET.SUBSAMPLE_CLASSES the protocol's step.
SHOTS_KEY, SUBSAMPLE_KEY, TRAINER_KEY = "DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES", "TRAINER.NAME"
# Every training run keeps a checkpoint of its newest epoch, so an interrupted run resumes.
RESUMABLE = ("TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1")


@dataclass(frozen=True)
class Settings:
    """Where things are: the data root, the output root, CLIP weights, the config to use instead
    of a recipe (``CFG``), the Python that runs ``train.py``."""

    data: str
    output: str
    clip_path: str = ""
    config_file: str = ""
    python: str = sys.executable
    repo: str = REPO


@dataclass
class StepRun:
    """One ``train.py`` run of a step."""

    method: Method
    protocol: Protocol
    step: Step
    dataset: Any  # datasets.specs.DatasetSpec
    shots: int
    seed: int
    config_file: str
    folder_config: str  # the config part of the run folder: recipe name + override tag
    run_dir: str
    overrides: list[str]
    evaluates: "StepRun | None" = None
    find_trained: bool = False  # an evaluation without its training step: look for the trained run on disk

    @property
    def label(self) -> str:
        shots = f" {self.shots} shots" if self.protocol.name == "fewshot" else ""
        return f"{self.method.name} {self.protocol.name} {self.step.name} {self.dataset.config}{shots} seed {self.seed}"

    def command(self, settings: Settings) -> list[str]:
        """The ``train.py`` command of this run (run from the repository root)."""
        base = [settings.python, "train.py", "--root", settings.data, "--seed", str(self.seed), "--trainer", self.method.trainer]
        extra = ["MODEL.BACKBONE.PATH", settings.clip_path] if settings.clip_path else []
        if self.evaluates is not None and not self.method.zero_shot:
            trained = self.evaluates.run_dir
            # The evaluated run's own config: its recipe, its overrides and its shots, as trained.
            return [
                *base, "--config-file", osp.join(trained, "config.yaml"), "--output-dir", self.run_dir,
                "--eval-only", "--model-dir", trained,
                *dataset_opts(self.dataset.config, settings.repo), SUBSAMPLE_KEY, self.step.subsample, *extra, *self.overrides,
            ]  # fmt: skip
        command = [
            *base, "--dataset-config-file", f"configs/datasets/{self.dataset.config}.yaml",
            "--config-file", self.config_file, "--output-dir", self.run_dir,
        ]  # fmt: skip
        if self.method.zero_shot:
            return [*command, "--eval-only", SUBSAMPLE_KEY, self.step.subsample, *extra, *self.overrides]
        fewshot = list(self.method.fewshot_opts) if self.protocol.name == "fewshot" else []
        return [
            *command, SHOTS_KEY, str(self.shots), SUBSAMPLE_KEY, self.step.subsample, *RESUMABLE, *fewshot, *extra,
            *self.overrides,
        ]  # fmt: skip


@dataclass
class Unit:
    """The steps one job runs, in order (later steps evaluate the model of the first)."""

    steps: list[StepRun] = field(default_factory=list)

    @property
    def label(self) -> str:
        first = self.steps[0]
        return first.label if len(self.steps) == 1 else f"{first.method.name} {first.protocol.name} {first.dataset.config} seed {first.seed} ({len(self.steps)} steps)"


def dataset_opts(config: str, repo: str = REPO) -> list[str]:
    """The keys of ``configs/datasets/<config>.yaml`` as ``KEY VALUE`` pairs (an evaluation merges
    its model's config last, so the dataset's keys must come after it)."""
    from engine.run_folder import flatten_config

    path = osp.join(repo, "configs", "datasets", f"{config}.yaml")
    with open(path, encoding="utf-8") as f:
        tree = yaml.safe_load(f) or {}
    return [text for key, value in flatten_config(tree).items() for text in (key, str(value))]


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------
def split_overrides(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``KEY VALUE ...`` -> [(KEY, VALUE), ...]; a lone KEY is an error naming it."""
    if len(pairs) % 2:
        raise ConfigError(f"Config overrides come in KEY VALUE pairs; got an odd list: {' '.join(pairs)}")
    return [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]


Grid = list[tuple[str, list[str]]]  # [(KEY, [V1, V2, ...]), ...] in the order given
GRID_FORMAT = "KEY=V1,V2,... (e.g. --grid TRAINER.MUDPT.PROMPT_DEPTH=1,3,5)"


def parse_grid(entries: Sequence[str], overrides: Sequence[tuple[str, str]] = ()) -> Grid:
    """``--grid`` entries ``KEY=V1,V2,...`` -> [(KEY, [V1, V2, ...]), ...]. A malformed entry, a
    key given twice or also given as a plain ``KEY VALUE`` override is an error naming the entry
    and the fix (repeated values are dropped)."""
    plain = {k for k, _ in overrides}
    grid: Grid = []
    for entry in entries:
        key, equals, text = entry.partition("=")
        key = key.strip()
        values = [v.strip() for v in text.split(",")]
        if not equals or not key or " " in key:
            raise ConfigError(f"--grid {entry!r}: an entry is {GRID_FORMAT}.")
        if not text.strip() or any(not v for v in values):
            raise ConfigError(f"--grid {entry}: an empty value; give the values separated by commas, {GRID_FORMAT}.")
        if key in dict(grid):
            raise ConfigError(f"--grid {entry}: {key} is already in the grid; give all its values in one entry, {key}={','.join(dict(grid)[key] + values)}.")
        if key in plain:
            raise ConfigError(
                f"--grid {entry}: {key} is also a plain override ({key} {dict(overrides)[key]}); "
                f"give it once: in the grid (add the value there) or as KEY VALUE."
            )
        grid.append((key, _unique(values)))
    return grid


def grid_points(grid: Grid) -> list[list[tuple[str, str]]]:
    """The cartesian product of a grid: one list of ``(KEY, VALUE)`` overrides per point, the first
    key varying slowest; no grid: one point without overrides."""
    points: list[list[tuple[str, str]]] = [[]]
    for key, values in grid:
        points = [[*point, (key, value)] for point in points for value in values]
    return points


def _check_grid_keys(grid: Grid, methods: Sequence[Method], repo: str) -> None:
    """Every grid key is a key of the config of some selected method (a ``TRAINER.<NODE>.*`` key
    sweeps only that method's runs, as a plain override reaches only them)."""
    for key, values in grid:
        entry = f"{key}={','.join(values)}"
        if any(key in _config_keys(method.node, repo) for method in methods):
            continue
        if key.startswith("TRAINER.") and key.count(".") >= 2:
            node = key.split(".")[1]
            owners = [m.name for m in methods if m.node == node]
            if not owners:
                from .methods import METHODS

                named = [m.name for m in METHODS.values() if m.node == node]
                hint = f"add --methods {named[0]}" if named else "no method has this node"
                raise ConfigError(
                    f"--grid {entry}: none of the selected methods ({', '.join(m.name for m in methods)}) has TRAINER.{node}.* keys; "
                    f"{hint}, or sweep a key of theirs."
                )
        import difflib

        keys = sorted({k for method in methods for k in _config_keys(method.node, repo)})
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"--grid {entry}: the config has no key {key}.{hint}")


def _method_overrides(method: Method, overrides: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The overrides for this method: another method's ``TRAINER.<node>.*`` keys are left out."""
    own = f"TRAINER.{method.node}."
    return [(k, v) for k, v in overrides if not k.startswith("TRAINER.") or k.startswith(own)]


@functools.lru_cache(maxsize=None)
def _recipe(config_file: str, repo: str):
    """The config a recipe file gives (defaults + the file), frozen; errors name the file."""
    if repo not in sys.path:
        sys.path.insert(0, repo)
    import train

    cfg = train.default_cfg()
    train.merge_file(cfg, osp.join(repo, config_file), "method")
    cfg.freeze()
    return cfg


def _value(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def effective_overrides(config_file: str, pairs: Sequence[tuple[str, str]], repo: str = REPO) -> list[tuple[str, Any]]:
    """The overrides that change the recipe ``config_file``, each with its value as the config
    reads it (``2e-3`` -> 0.002); one equal to the recipe's value is left out. An unknown key or a
    value of the wrong type is an error that names it (checked before anything runs)."""
    import train

    recipe = _recipe(config_file, repo)
    cfg = recipe.clone()
    cfg.defrost()
    train.merge_overrides(cfg, [x for kv in pairs for x in kv])
    changed: dict[str, Any] = {}
    for key, _ in pairs:
        value = _value(cfg, key)
        if value != _value(recipe, key):
            changed[key] = value
    return list(changed.items())


def _short_name(key: str, keys: Sequence[str]) -> str:
    """The shortest tail of a dotted key that no other key of the config ends with, lower-cased:
    ``OPTIM.MAX_EPOCH`` -> ``max_epoch``; ``DATALOADER.TRAIN_X.BATCH_SIZE`` -> ``train_x.batch_size``
    (``TEST.BATCH_SIZE`` ends the same)."""
    parts = key.split(".")
    for n in range(1, len(parts)):
        tail = parts[-n:]
        if sum(k.split(".")[-n:] == tail for k in keys) == 1:
            return ".".join(tail).lower()
    return key.lower()


def override_tag(overrides: Sequence[tuple[str, Any]], ignore: set[str], keys: Sequence[str] = ()) -> str:
    """A short, readable name for the overrides that change results (``max_epoch2-prompt_depth3``),
    in key order (the same overrides in another order name the same run). Keys are named by their
    shortest unambiguous tail among ``keys`` (the config's keys), values by their text with
    anything but letters, digits and dots made ``_`` (``(32, 32)`` -> ``32_32``). When that is long,
    or a text value lost characters (``a photo of`` and ``a_photo_of`` would look alike), the tag
    ends with a hash of all of them, so that different settings never share a name."""
    counted = sorted((k, v) for k, v in dict(overrides).items() if k not in ignore)
    if not counted:
        return ""
    cleaned = [(k, re.sub(r"[^A-Za-z0-9.]+", "_", str(v)).strip("_")) for k, v in counted]
    tag = "-".join(f"{_short_name(k, keys)}{v}" for k, v in cleaned)
    lossy = any(isinstance(v, str) and v != c for (_, v), (_, c) in zip(counted, cleaned))
    if len(tag) > TAG_MAX or lossy:
        digest = hashlib.sha1(repr(counted).encode()).hexdigest()[:6]
        tag = f"{tag[: TAG_MAX - 7].rstrip('-_.')}-{digest}"
    return tag


@functools.lru_cache(maxsize=None)
def _config_keys(node: str, repo: str) -> tuple[str, ...]:
    """The keys of the config a method's runs have (other methods' TRAINER nodes left out)."""
    from engine.run_folder import flatten_config

    if repo not in sys.path:
        sys.path.insert(0, repo)
    import train

    keys = flatten_config(train.default_cfg()).keys()
    return tuple(k for k in keys if not k.startswith("TRAINER.") or k.startswith(f"TRAINER.{node}.") or k == TRAINER_KEY)


def non_result_keys(repo: str = REPO) -> set[str]:
    """The config keys that cannot change results (the trainers add theirs with their config)."""
    if repo not in sys.path:
        sys.path.insert(0, repo)
    import train
    from engine.run_folder import NON_RESULT_KEYS

    train.default_cfg()
    return set(NON_RESULT_KEYS)


def _config_name(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------
def make_plan(
    protocol: Protocol,
    methods: Sequence[Method],
    datasets: Sequence[Any] | None,
    seeds: Sequence[int],
    shots: Sequence[int] | None,
    steps: Sequence[str] | None,
    overrides: Sequence[str],
    settings: Settings,
    non_result_keys: set[str],
    grid: Sequence[str] = (),
) -> list[Unit]:
    """The units of a selection, in table order (method, dataset, shots, grid point, seed); a
    bad selection is a :class:`ConfigError` that says what to give instead.

    Args:
        datasets: the specs to run on (None: the protocol's); for cross-dataset, the targets.
        seeds: positive integers (repeats are dropped).
        shots: few-shot: the shots to run, among the protocol's (None: all of them); others: None
            (16, or ``DATASET.NUM_SHOTS`` among the overrides).
        steps: the steps to run, by name (None: all).
        overrides: ``KEY VALUE`` pairs for every run (``TRAINER.<NODE>.*`` keys: that method's).
        non_result_keys: config keys that cannot change results: not in folder names.
        grid: ``--grid`` entries ``KEY=V1,V2,...``: every point of their cartesian product is
            added to the overrides. Points are named like any overrides (the point equal to the
            recipe is the recipe's folder); a ``TRAINER.<NODE>.*`` key sweeps that method's runs
            only (another method runs once); points that name the same run are one run.
    """
    pairs = split_overrides(overrides)
    grid_spec = parse_grid(grid, pairs)
    if SHOTS_KEY in dict(grid_spec):
        raise ConfigError(
            f"--grid {SHOTS_KEY}=...: the shots are part of the run folder (shots_<K>), not a grid key; "
            f"run the few-shot protocol with --shots, or one sweep per {SHOTS_KEY} K."
        )
    keys = [k for k, _ in pairs] + [k for k, _ in grid_spec]
    for key, why in (
        (SUBSAMPLE_KEY, "is set by the protocol's steps (base classes to train, new ones to test)"),
        (TRAINER_KEY, "is the method: choose it with --methods (or the script's folder)"),
    ):
        if key in keys:
            raise ConfigError(f"{key} {why}; leave it out of the overrides.")
    if protocol.name == "fewshot" and SHOTS_KEY in keys:
        raise ConfigError(f"Few-shot runs take their shots from --shots (e.g. --shots 1 2 4), not from {SHOTS_KEY}.")
    if protocol.name != "fewshot" and shots:
        raise ConfigError(f"{protocol.name} trains with {protocol.shots[0]} shots; to change them, pass {SHOTS_KEY} K.")
    shot_values = _unique(shots or protocol.shots)
    if protocol.name != "fewshot" and SHOTS_KEY in keys:
        shot_values = [_positive(dict(pairs)[SHOTS_KEY], SHOTS_KEY, "the images per class to train with, e.g. 4")]
    elif any(k not in protocol.shots for k in shot_values):
        raise ConfigError(f"--shots takes some of {' '.join(map(str, protocol.shots))} (the protocol's), got {' '.join(map(str, shot_values))}.")
    seeds = _unique(_positive(str(seed), "a seed", "e.g. --seeds 1 2 3") for seed in seeds)
    pairs = [(k, v) for k, v in pairs if k != SHOTS_KEY]
    valid_steps = [step.name for step in protocol.steps]
    unknown = [name for name in steps or () if name not in valid_steps]
    if unknown:
        raise ConfigError(f"{protocol.name} has no step {', '.join(unknown)}; its steps: {', '.join(valid_steps)}.")
    chosen_steps = [step for step in protocol.steps if steps is None or step.name in steps]
    methods = list({method.name: method for method in methods}.values())
    if settings.config_file and len(methods) != 1:
        raise ConfigError(
            f"CFG / --config {settings.config_file} replaces the recipe of one method; name it with --methods "
            f"(e.g. --methods {methods[0].name if methods else 'mudpt'})."
        )
    _check_grid_keys(grid_spec, methods, settings.repo)
    ignore = set(non_result_keys)
    for key, values in grid_spec:
        if key in ignore:
            raise ConfigError(
                f"--grid {key}={','.join(values)}: {key} cannot change results (the runs would share one folder: "
                f"one run); sweep a key that can, or give {key} once as KEY VALUE."
            )
    points = grid_points(grid_spec)

    units: list[Unit] = []
    for method in methods:
        if protocol.name not in method.protocols:
            raise ConfigError(f"{method.name} has no recipe for the {protocol.name} protocol (it has: {', '.join(method.protocols)}).")
        first = protocol.steps[0]
        if protocol.per_dataset:
            todo = [(spec, [spec]) for spec in (datasets if datasets is not None else protocol.datasets(first))]
        else:  # one training run on the source, then every selected target
            (source,) = protocol.datasets(first)
            targets = datasets if datasets is not None else protocol.datasets(protocol.steps[1])
            todo = [(source, list(targets))]
        for train_spec, eval_specs in todo:
            for k in shot_values:
                config_file = settings.config_file or method.config(protocol.name, train_spec.config, k)
                folders: set[str] = set()  # grid points that name the same run are one run
                for point in points:
                    method_pairs = _method_overrides(method, pairs + _known(point, method, settings.repo))
                    flat = [x for kv in method_pairs for x in kv]
                    try:
                        changed = effective_overrides(config_file, method_pairs, settings.repo)
                    except ConfigError as e:
                        if not point:
                            raise
                        raise ConfigError(f"--grid point {' '.join(f'{k}={v}' for k, v in point)}: {e}") from None
                    tag = override_tag(changed, ignore, _config_keys(method.node, settings.repo))
                    folder_config = _config_name(config_file) + (f"+{tag}" if tag else "")
                    if folder_config in folders:
                        continue
                    folders.add(folder_config)
                    units += _seed_units(protocol, method, settings, chosen_steps, train_spec, eval_specs, k, seeds, config_file, folder_config, flat)
    return units


def _known(point: Sequence[tuple[str, str]], method: Method, repo: str) -> list[tuple[str, str]]:
    """The overrides of a grid point that ``method``'s config has (the others sweep other methods)."""
    keys = _config_keys(method.node, repo)
    return [(k, v) for k, v in point if k in keys]


def _seed_units(
    protocol: Protocol,
    method: Method,
    settings: Settings,
    chosen_steps: Sequence[Step],
    train_spec: Any,
    eval_specs: Sequence[Any],
    k: int,
    seeds: Sequence[int],
    config_file: str,
    folder_config: str,
    flat: list[str],
) -> list[Unit]:
    """The units of one setting (method, datasets, shots, overrides), one per seed."""
    first = protocol.steps[0]
    units: list[Unit] = []
    for seed in seeds:
        unit = Unit()

        def step_run(step: Step, spec: Any, evaluates: StepRun | None = None) -> StepRun:
            directory = run_dir(settings.output, protocol.name, step.folder, spec.config, k, method.trainer, folder_config, seed)
            alone = evaluates is not None and first not in chosen_steps
            return StepRun(method, protocol, step, spec, k, seed, config_file, folder_config, directory, flat, evaluates, alone)

        trained = step_run(first, train_spec)
        if first in chosen_steps:
            unit.steps.append(trained)
        for step in protocol.steps[1:]:
            if step in chosen_steps:
                unit.steps += [step_run(step, spec, trained) for spec in eval_specs]
        if unit.steps:
            units.append(unit)
    return units


def _unique(values: Any) -> list:
    return list(dict.fromkeys(values))


def _positive(value: str, what: str, example: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise ConfigError(f"{what} must be a positive integer ({example}), got {value!r}.")
    return number


def resolve_trained(run: StepRun, output: str) -> str | None:
    """For an evaluation run alone (its training step not in the plan): the folder of the run it
    evaluates. The planned folder if it holds a run; else the training run of the same method,
    recipe, dataset and seed with other shots, or (when this evaluation names no overrides, as
    ``base2new_test.sh DATASET SEED``) under any overrides, if there is exactly one; the
    evaluation then goes to the matching folder. None: not trained yet. Several: an error that
    lists them."""
    trained = run.evaluates
    assert trained is not None
    if osp.isfile(osp.join(trained.run_dir, "config.yaml")):
        return trained.run_dir
    recipe = _config_name(trained.config_file)
    any_overrides = trained.folder_config == recipe  # named no overrides: those of the training run
    configs = [glob.escape(recipe), glob.escape(recipe) + "+*"] if any_overrides else [glob.escape(trained.folder_config)]
    found = []
    for config in configs:
        parts = list(Path(run_dir(
            glob.escape(output), run.protocol.name, trained.step.folder, trained.dataset.config, 0, run.method.trainer, config, run.seed
        )).parts)  # fmt: skip
        parts[-4] = "shots_*"  # any shots (run_dir: .../shots_<K>/<Trainer>/<config>/seed<S>)
        found += [d for d in glob.glob(osp.join(*parts)) if osp.isfile(osp.join(d, "config.yaml"))]
    found = sorted(set(found))
    same_overrides = [d for d in found if Path(d).parts[-2] == trained.folder_config]
    found = same_overrides or found
    if len(found) > 1:
        listed = "\n".join(f"  {d}" for d in found)
        raise ConfigError(
            f"{run.label}: several training runs could be the one to evaluate:\n{listed}\n"
            "Pass the KEY VALUE overrides of the one you mean (those of its training command)."
        )
    return found[0] if found else None


def mirror(run: StepRun, trained_dir: str, output: str) -> StepRun:
    """``run`` pointed at another trained run: its own folder mirrors that run's shots and config."""
    parts = Path(trained_dir).parts
    shots, folder_config = shots_of_folder(parts[-4]), parts[-2]
    assert shots is not None, trained_dir  # a run_dir
    evaluates = StepRun(**{**run.evaluates.__dict__, "run_dir": trained_dir, "shots": shots, "folder_config": folder_config})
    directory = run_dir(output, run.protocol.name, run.step.folder, run.dataset.config, shots, run.method.trainer, folder_config, run.seed)
    return StepRun(**{**run.__dict__, "run_dir": directory, "shots": shots, "folder_config": folder_config, "evaluates": evaluates})
