"""From a selection (protocol, methods, datasets, seeds, shots, steps, ``KEY VALUE`` overrides) to
the runs to make: their run folders, their ``train.py`` commands and their order.

A *unit* is what one job runs, in order: a base-to-new unit trains on one dataset and evaluates
on its new classes; a cross-dataset unit trains on ImageNet and evaluates on every target; a
few-shot unit is one run. Units are independent of each other, so a launcher may run them in any
order and in parallel.

Run folders are named after what runs: the recipe plus a tag of the overrides that change
results (``vit_b16_c2_ep10_batch4_depth9+max_epoch2-prompt_depth3``), and the shots actually
trained, so two settings never share a folder. An evaluation step reads the ``config.yaml`` of the
run it evaluates: nothing is repeated, and it loads the checkpoint that run wrote last.
"""
from __future__ import annotations

import glob
import hashlib
import os.path as osp
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import yaml

from engine.errors import ConfigError

from .definitions import Protocol, Step, run_dir, shots_of_folder
from .methods import Method

__all__ = ["Settings", "StepRun", "Unit", "dataset_opts", "make_plan", "mirror", "override_tag", "resolve_trained", "split_overrides"]

REPO = str(Path(__file__).resolve().parents[1])
TAG_MAX = 64  # longer override tags are cut and end with a hash of all of them
# Keys the protocols set themselves; DATASET.NUM_SHOTS is the shots of base-to-new and
# cross-dataset (--shots for few-shot), DATASET.SUBSAMPLE_CLASSES the protocol's step.
SHOTS_KEY, SUBSAMPLE_KEY = "DATASET.NUM_SHOTS", "DATASET.SUBSAMPLE_CLASSES"
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
    python: str = ""
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

    @property
    def label(self) -> str:
        shots = f" {self.shots} shots" if self.protocol.name == "fewshot" else ""
        return f"{self.method.name} {self.protocol.name} {self.step.name} {self.dataset.config}{shots} seed {self.seed}"

    @property
    def trains(self) -> bool:
        return self.evaluates is None and not self.method.zero_shot

    def command(self, settings: Settings) -> list[str]:
        """The ``train.py`` command of this run (run from the repository root)."""
        python = settings.python or "python"
        base = [python, "train.py", "--root", settings.data, "--seed", str(self.seed), "--trainer", self.method.trainer]
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
    path = osp.join(repo, "configs", "datasets", f"{config}.yaml")
    with open(path, encoding="utf-8") as f:
        tree = yaml.safe_load(f) or {}
    opts: list[str] = []

    def walk(node: Any, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            else:
                opts.extend([f"{prefix}{key}", str(value)])

    walk(tree, "")
    return opts


# ---------------------------------------------------------------------------------------------
# Overrides
# ---------------------------------------------------------------------------------------------
def split_overrides(pairs: Sequence[str]) -> list[tuple[str, str]]:
    """``KEY VALUE ...`` -> [(KEY, VALUE), ...]; a lone KEY is an error naming it."""
    if len(pairs) % 2:
        raise ConfigError(f"Config overrides come in KEY VALUE pairs; got an odd list: {' '.join(pairs)}")
    return [(pairs[i], pairs[i + 1]) for i in range(0, len(pairs), 2)]


def _method_overrides(method: Method, overrides: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """The overrides for this method: another method's ``TRAINER.<node>.*`` keys are left out."""
    own = f"TRAINER.{method.node}."
    return [(k, v) for k, v in overrides if not k.startswith("TRAINER.") or k == "TRAINER.NAME" or k.startswith(own)]


def override_tag(overrides: Sequence[tuple[str, str]], ignore: set[str]) -> str:
    """A short, readable name for the overrides that change results (``max_epoch2-prompt_depth3``),
    in key order (the same overrides in another order name the same run); when that is long, it is
    cut and ends with a hash of all of them."""
    counted = sorted((k, v) for k, v in dict(overrides).items() if k not in ignore)
    if not counted:
        return ""
    parts = [f"{key.rsplit('.', 1)[-1].lower()}{re.sub(r'[^A-Za-z0-9.]+', '_', value).strip('_')}" for key, value in counted]
    tag = "-".join(parts)
    if len(tag) > TAG_MAX:
        digest = hashlib.sha1(repr(counted).encode()).hexdigest()[:6]
        tag = f"{tag[: TAG_MAX - 7].rstrip('-_')}-{digest}"
    return tag


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
) -> list[Unit]:
    """The units of a selection, in table order (method, dataset, shots, seed).

    Args:
        datasets: the specs to run on (None: the protocol's); for cross-dataset, the targets.
        shots: few-shot: the shots to run (None: 1, 2, 4, 8, 16); others: None (16, or
            ``DATASET.NUM_SHOTS`` among the overrides).
        steps: the steps to run (None: all).
        non_result_keys: config keys that cannot change results: not in folder names.
    """
    pairs = split_overrides(overrides)
    keys = [k for k, _ in pairs]
    if SUBSAMPLE_KEY in keys:
        raise ConfigError(f"{SUBSAMPLE_KEY} is set by the protocol's steps (base classes to train, new ones to test); leave it out.")
    if protocol.name == "fewshot" and SHOTS_KEY in keys:
        raise ConfigError(f"Few-shot runs take their shots from --shots (e.g. --shots 1 2 4), not from {SHOTS_KEY}.")
    if protocol.name != "fewshot" and shots:
        raise ConfigError(f"{protocol.name} trains with {protocol.shots[0]} shots; to change them, pass {SHOTS_KEY} K.")
    shot_values = list(shots or protocol.shots)
    if protocol.name != "fewshot" and SHOTS_KEY in keys:
        shot_values = [int(dict(pairs)[SHOTS_KEY])]
    pairs = [(k, v) for k, v in pairs if k != SHOTS_KEY]
    chosen_steps = [protocol.step(s) for s in steps] if steps else list(protocol.steps)
    ignore = set(non_result_keys)

    units: list[Unit] = []
    for method in methods:
        if protocol.name not in method.protocols:
            raise ConfigError(f"{method.name} has no recipe for the {protocol.name} protocol (it has: {', '.join(method.protocols)}).")
        method_pairs = _method_overrides(method, pairs)
        flat = [x for kv in method_pairs for x in kv]
        tag = override_tag(method_pairs, ignore)
        first = protocol.steps[0]
        if protocol.per_dataset:
            todo = [(spec, [spec]) for spec in (datasets if datasets is not None else protocol.datasets(first))]
        else:  # one training run on the source, then every selected target
            (source,) = protocol.datasets(first)
            targets = datasets if datasets is not None else protocol.datasets(protocol.steps[1])
            todo = [(source, list(targets))]
        for train_spec, eval_specs in todo:
            for k in shot_values:
                for seed in seeds:
                    unit = Unit()
                    config_file = settings.config_file or method.config(protocol.name, train_spec.config, k)
                    folder_config = _config_name(config_file) + (f"+{tag}" if tag else "")

                    def step_run(step: Step, spec: Any, evaluates: StepRun | None = None) -> StepRun:
                        directory = run_dir(settings.output, protocol.name, step.folder, spec.config, k, method.trainer, folder_config, seed)
                        return StepRun(method, protocol, step, spec, k, seed, config_file, folder_config, directory, flat, evaluates)

                    trained = step_run(first, train_spec)
                    if first in chosen_steps:
                        unit.steps.append(trained)
                    for step in protocol.steps[1:]:
                        if step in chosen_steps:
                            unit.steps += [step_run(step, spec, trained) for spec in eval_specs]
                    if unit.steps:
                        units.append(unit)
    return units


def resolve_trained(run: StepRun, output: str) -> str | None:
    """For an evaluation run alone (its training run not in this plan's steps): the folder of the
    run it evaluates. The planned folder if it holds a run; else the one training run of the same
    method, recipe, dataset and seed under other overrides or shots, if there is exactly one (its
    evaluation then goes to the matching folder; runs with this run's overrides come first). None:
    not trained yet. Several: an error that lists them."""
    trained = run.evaluates
    assert trained is not None
    if osp.isfile(osp.join(trained.run_dir, "config.yaml")):
        return trained.run_dir
    pattern = run_dir(
        glob.escape(output), run.protocol.name, trained.step.folder, trained.dataset.config, 0,
        run.method.trainer, glob.escape(_config_name(trained.config_file)) + "*", run.seed,
    ).replace("shots_0", "shots_*")  # fmt: skip
    found = sorted(d for d in glob.glob(pattern) if osp.isfile(osp.join(d, "config.yaml")))
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
