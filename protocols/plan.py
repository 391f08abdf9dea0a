"""From a selection (protocol, methods, datasets, seeds, shots, steps, ``KEY VALUE`` overrides) to
the runs to make: their run folders, their ``train.py`` commands and their order.

A *unit* is what one job runs, in order: a base-to-new unit trains on one dataset and evaluates
on its new classes; a cross-dataset unit trains on ImageNet and evaluates on every target; a
few-shot unit is one run. Units are independent of each other, so a launcher may run them in any
order and in parallel.

Each run's config is built once, by the config module (``runconfig.build_config``), from the
values of its step (:meth:`StepRun.values`), and handed to the run: a training step's when it is
planned (its folder is named after it), an evaluation step's when it is about to run (it reads the
``config.yaml`` of the run it evaluates, so nothing is repeated and it loads the model that run
deployed). :meth:`StepRun.command` is the same run as a ``train.py`` command line, for people.

Run folders are named after what runs: the recipe plus a tag of the overrides that change
results (``vit_b16_c2_ep10_batch4_depth9+max_epoch2-prompt_depth3``), and the shots actually
trained, so two settings never share a folder. An override is read as the config reads it
(``2e-3`` is ``0.002``) and one that repeats the recipe's value changes nothing, so it is not in
the name.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import os.path as osp
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Iterator, Sequence

import yaml
from yacs.config import CfgNode as CN

from engine.errors import ConfigError
from engine.seam import flatten_config
from runconfig import build_config, config_keys, recipe_config
from runconfig.defaults import REPO
from trainers import METHODS, MethodSpec

from .definitions import Protocol, RunPath, Step

__all__ = [
    "Settings",
    "StepRun",
    "Unit",
    "dataset_opts",
    "effective_overrides",
    "grid_points",
    "in_repo",
    "make_plan",
    "mirror",
    "override_tag",
    "parse_grid",
    "resolve_trained",
    "split_overrides",
]

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
    """One ``train.py`` run of a step.

    ``config`` is the run's config, built once: a training step's by :func:`make_plan`, an
    evaluation's by :meth:`build` when it is about to run (from the ``config.yaml`` of the run it
    evaluates)."""

    method: MethodSpec
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
    config: CN | None = None
    restart: bool = False  # discard what the run's folder holds (train.py --restart)

    @property
    def label(self) -> str:
        shots = f" {self.shots} shots" if self.protocol.shots_option else ""
        return f"{self.method.name} {self.protocol.name} {self.step.name} {self.dataset.config}{shots} seed {self.seed}"

    @property
    def eval_only(self) -> bool:
        """It evaluates: an evaluation step, or any step of a method that trains nothing."""
        return self.evaluates is not None or self.method.zero_shot

    @property
    def model_dir(self) -> str:
        """The training run it evaluates ("" for none: it trains, or its method is zero-shot)."""
        return self.evaluates.run_dir if self.evaluates is not None and not self.method.zero_shot else ""

    def values(self, settings: Settings) -> dict[str, Any]:
        """The values its config is built from (``runconfig.build_config``'s arguments; paths
        relative to the repository root, as :meth:`command` passes them)."""
        extra = ["MODEL.BACKBONE.PATH", settings.clip_path] if settings.clip_path else []
        values: dict[str, Any] = dict(root=settings.data, seed=self.seed, trainer=self.method.trainer_name, output_dir=self.run_dir)
        if self.model_dir:
            # The evaluated run's own config: its recipe, its overrides and its shots, as trained.
            opts = [*dataset_opts(self.dataset.config, settings.repo), SUBSAMPLE_KEY, self.step.subsample, *extra, *self.overrides]
            return dict(values, config_file=osp.join(self.model_dir, "config.yaml"), opts=opts)
        values.update(dataset_config_file=f"configs/datasets/{self.dataset.config}.yaml", config_file=self.config_file)
        if self.method.zero_shot:
            return dict(values, opts=[SUBSAMPLE_KEY, self.step.subsample, *extra, *self.overrides])
        protocol_opts = list(self.method.protocol_opts.get(self.protocol.recipe_key, ()))
        opts = [SHOTS_KEY, str(self.shots), SUBSAMPLE_KEY, self.step.subsample, *RESUMABLE, *protocol_opts, *extra, *self.overrides]
        return dict(values, opts=opts)

    def build(self, settings: Settings) -> CN:
        """Its config, built from :meth:`values` (as ``train.py`` would, from the repository root)."""
        with in_repo(settings.repo):
            return build_config(**self.values(settings))

    def command(self, settings: Settings) -> list[str]:
        """The ``train.py`` command of this run (run from the repository root): the same run, by hand."""
        v = self.values(settings)
        command = [settings.python, "train.py", "--root", v["root"], "--seed", str(v["seed"]), "--trainer", v["trainer"]]
        if "dataset_config_file" in v:
            command += ["--dataset-config-file", v["dataset_config_file"]]
        command += ["--config-file", v["config_file"], "--output-dir", v["output_dir"]]
        if self.eval_only:
            command.append("--eval-only")
        if self.model_dir:
            command += ["--model-dir", self.model_dir]
        return [*command, *(["--restart"] if self.restart else []), *v["opts"]]


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


def _unreached(key: str, methods: Sequence[MethodSpec]) -> str:
    """Why the override ``key`` reaches none of ``methods`` ("" when it reaches one, or is no
    method's key): a ``TRAINER.<NODE>.*`` key goes to the runs of the method of that node only,
    so with no such method selected it would change nothing. One check for ``--grid`` entries
    and plain ``KEY VALUE`` overrides; each caller names the entry and the fix."""
    if not key.startswith("TRAINER.") or key.count(".") < 2:
        return ""
    node = key.split(".")[1]
    if any(m.node == node for m in methods):
        return ""
    named = [m.name for m in METHODS.values() if m.node == node]
    whose = f"they are {named[0]}'s: --methods {named[0]}, or its scripts/{named[0]}/" if named else "no method has them"
    return f"none of the selected methods ({', '.join(m.name for m in methods)}) has TRAINER.{node}.* keys ({whose})"


def _check_override_keys(pairs: Sequence[tuple[str, str]], methods: Sequence[MethodSpec]) -> None:
    """Every ``KEY VALUE`` override reaches some selected method (see :func:`_unreached`; a key
    that no config has is the config module's error, when the runs' configs are built)."""
    for key, value in pairs:
        why = _unreached(key, methods)
        if why:
            raise ConfigError(f"{key} {value}: {why}, or leave it out.")


def _check_grid_keys(grid: Grid, methods: Sequence[MethodSpec]) -> None:
    """Every grid key is a key of the config of some selected method (a ``TRAINER.<NODE>.*`` key
    sweeps only that method's runs, as a plain override reaches only them)."""
    for key, values in grid:
        entry = f"{key}={','.join(values)}"
        if any(key in config_keys(method.node) for method in methods):
            continue
        why = _unreached(key, methods)
        if why:
            raise ConfigError(f"--grid {entry}: {why}, or sweep a key of theirs.")
        import difflib

        keys = sorted({k for method in methods for k in config_keys(method.node)})
        close = difflib.get_close_matches(key, keys, n=1)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise ConfigError(f"--grid {entry}: the config has no key {key}.{hint}")


def _method_overrides(method: MethodSpec, overrides: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The overrides for this method: another method's ``TRAINER.<node>.*`` keys are left out."""
    own = f"TRAINER.{method.node}."
    return [(k, v) for k, v in overrides if not k.startswith("TRAINER.") or k.startswith(own)]


def _value(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def effective_overrides(cfg: CN, config_file: str, pairs: Sequence[tuple[str, str]]) -> list[tuple[str, Any]]:
    """The overrides ``pairs`` that change the recipe ``config_file`` in the run's config ``cfg``,
    each with its value as the config reads it (``2e-3`` -> 0.002); one equal to the recipe's value
    is left out."""
    recipe = recipe_config(config_file)
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


def _config_name(path: str) -> str:
    return osp.splitext(osp.basename(path))[0]


@contextlib.contextmanager
def in_repo(repo: str) -> Iterator[None]:
    """Run the body from the repository root, where ``train.py`` runs: the paths of a run (its
    config files, data root, output folder, CLIP weights) read as the run reads them."""
    cwd = os.getcwd()
    os.chdir(repo)
    try:
        yield
    finally:
        os.chdir(cwd)


# ---------------------------------------------------------------------------------------------
# The plan
# ---------------------------------------------------------------------------------------------
def make_plan(
    protocol: Protocol,
    methods: Sequence[MethodSpec],
    datasets: Sequence[Any] | None,
    seeds: Sequence[int],
    shots: Sequence[int] | None,
    steps: Sequence[str] | None,
    overrides: Sequence[str],
    settings: Settings,
    grid: Sequence[str] = (),
    restart: bool = False,
) -> list[Unit]:
    """The units of a selection, in table order (method, dataset, shots, grid point, seed), each
    training step with its config; a bad selection is a :class:`ConfigError` that says what to
    give instead.

    Args:
        datasets: the specs to run on (None: the protocol's); for cross-dataset, the targets.
        seeds: positive integers (repeats are dropped).
        shots: a protocol whose shots come from ``--shots``: the shots to run, among the
            protocol's (None: all of them); others: None (their one value, or
            ``DATASET.NUM_SHOTS`` among the overrides).
        steps: the steps to run, by name (None: all).
        overrides: ``KEY VALUE`` pairs for every run (``TRAINER.<NODE>.*`` keys: that method's).
        grid: ``--grid`` entries ``KEY=V1,V2,...``: every point of their cartesian product is
            added to the overrides. Points are named like any overrides (the point equal to the
            recipe is the recipe's folder); a ``TRAINER.<NODE>.*`` key sweeps that method's runs
            only (another method runs once); points that name the same run are one run.
        restart: every run discards what its folder holds first (``train.py --restart``).
    """
    from runconfig import non_result_keys

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
    if protocol.shots_option and SHOTS_KEY in keys:
        raise ConfigError(f"{protocol.label.capitalize()} runs take their shots from --shots (e.g. --shots 1 2 4), not from {SHOTS_KEY}.")
    if not protocol.shots_option and shots:
        raise ConfigError(f"{protocol.name} trains with {protocol.shots[0]} shots; to change them, pass {SHOTS_KEY} K.")
    shot_values = _unique(shots or protocol.shots)
    if not protocol.shots_option and SHOTS_KEY in keys:
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
            f"(e.g. --methods {methods[0].name if methods else next(iter(METHODS))})."
        )
    _check_override_keys(pairs, methods)
    _check_grid_keys(grid_spec, methods)
    ignore = non_result_keys()
    for key, values in grid_spec:
        if key in ignore:
            raise ConfigError(
                f"--grid {key}={','.join(values)}: {key} cannot change results (the runs would share one folder: "
                f"one run); sweep a key that can, or give {key} once as KEY VALUE."
            )
    points = grid_points(grid_spec)

    units: list[Unit] = []
    for method in methods:
        if protocol.recipe_key not in method.protocols:
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
                config_file = settings.config_file or method.recipe(protocol.recipe_key, train_spec.config, k)
                folders: set[str] = set()  # grid points that name the same run are one run
                for point in points:
                    method_pairs = _method_overrides(method, pairs + _known(point, method))
                    flat = [x for kv in method_pairs for x in kv]
                    setting = StepRun(method, protocol, first, train_spec, k, seeds[0], config_file, "", "", flat, restart=restart)
                    try:
                        config = setting.build(settings)  # the run's config, once (seed and folder set below)
                    except ConfigError as e:
                        if not point:
                            raise
                        raise ConfigError(f"--grid point {' '.join(f'{k}={v}' for k, v in point)}: {e}") from None
                    tag = override_tag(effective_overrides(config, config_file, method_pairs), ignore, config_keys(method.node))
                    folder_config = _config_name(config_file) + (f"+{tag}" if tag else "")
                    if folder_config in folders:
                        continue
                    folders.add(folder_config)
                    setting = replace(setting, folder_config=folder_config, config=config)
                    units += _seed_units(setting, settings, chosen_steps, eval_specs, seeds)
    return units


def _known(point: Sequence[tuple[str, str]], method: MethodSpec) -> list[tuple[str, str]]:
    """The overrides of a grid point that ``method``'s config has (the others sweep other methods)."""
    keys = config_keys(method.node)
    return [(k, v) for k, v in point if k in keys]


def _with_run(config: CN, seed: int, run_dir: str) -> CN:
    """A setting's config for one of its runs: its seed and its folder."""
    cfg = config.clone()
    cfg.defrost()
    cfg.SEED, cfg.OUTPUT_DIR = seed, run_dir
    cfg.freeze()
    return cfg


def _seed_units(setting: StepRun, settings: Settings, chosen_steps: Sequence[Step], eval_specs: Sequence[Any], seeds: Sequence[int]) -> list[Unit]:
    """The units of one setting (method, datasets, shots, overrides: its training step
    ``setting`` with its config), one per seed."""
    protocol, first = setting.protocol, setting.step
    units: list[Unit] = []
    for seed in seeds:
        unit = Unit()

        def path(step: Step, spec: Any) -> str:
            return str(RunPath(settings.output, protocol.name, step.folder, spec.config, setting.shots, setting.method.trainer_name, setting.folder_config, seed))

        trained_dir = path(first, setting.dataset)
        trained = replace(setting, seed=seed, run_dir=trained_dir, config=_with_run(setting.config, seed, trained_dir))
        if first in chosen_steps:
            unit.steps.append(trained)
        alone = first not in chosen_steps
        for step in protocol.steps[1:]:
            if step in chosen_steps:
                unit.steps += [
                    replace(setting, step=step, dataset=spec, seed=seed, run_dir=path(step, spec), evaluates=trained, find_trained=alone, config=None)
                    for spec in eval_specs
                ]  # fmt: skip
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
        escaped = RunPath(glob.escape(output), run.protocol.name, trained.step.folder, trained.dataset.config, None, run.method.trainer_name, config, run.seed)
        found += [d for d in glob.glob(escaped.with_any_shots()) if osp.isfile(osp.join(d, "config.yaml"))]
    found = sorted(set(found))
    same_overrides = [d for d in found if RunPath.parse(d)[0].config == trained.folder_config]
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
    parsed = RunPath.parse(trained_dir)
    assert parsed is not None, trained_dir  # a run path
    trained_path, _ = parsed
    shots, folder_config = trained_path.shots, trained_path.config
    evaluates = replace(run.evaluates, run_dir=trained_dir, shots=shots, folder_config=folder_config)
    directory = str(RunPath(output, run.protocol.name, run.step.folder, run.dataset.config, shots, run.method.trainer_name, folder_config, run.seed))
    return replace(run, run_dir=directory, shots=shots, folder_config=folder_config, evaluates=evaluates)
