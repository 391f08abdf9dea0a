"""The evaluation protocols of the CoOp family, as data: their steps, datasets, shots and run folders.

- **base-to-new generalisation** (CoCoOp, Zhou et al., arXiv 2203.05557): train on the base half
  of a dataset's classes with 16 shots, evaluate that model on the new half;
- **cross-dataset transfer and domain generalisation** (CoCoOp): train on ImageNet (all classes,
  16 shots), evaluate that model on the other datasets and on the ImageNet variants;
- **few-shot learning** (CoOp, arXiv 2109.01134): train and test on all classes with
  K = 1, 2, 4, 8, 16 shots.

Which datasets take part comes from each benchmark's own facts (``datasets/<name>.py``:
``protocols``, ``order``), never from a list here. The run folder of every step is
:func:`run_dir`; ``parse_results.py`` reads the same layout back.
"""
from __future__ import annotations

import os.path as osp
import re
from dataclasses import dataclass
from typing import Sequence

__all__ = [
    "DEFAULT_SEEDS",
    "FEWSHOT_SHOTS",
    "PROTOCOLS",
    "PROTOCOL_SHOTS",
    "Protocol",
    "Step",
    "protocol_for",
    "run_dir",
    "seed_of_folder",
    "shots_of_folder",
]

# Shots of base-to-new and cross-dataset training (CoCoOp's protocol).
PROTOCOL_SHOTS = 16
# The shots of few-shot learning (CoOp's figure).
FEWSHOT_SHOTS = (1, 2, 4, 8, 16)
# The papers report the mean over seeds 1, 2, 3.
DEFAULT_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Step:
    """One step of a protocol.

    Args:
        name: its name on the command line ("train", "test").
        folder: its folder in the run layout ("train_base", "test_new", ...; "" for few-shot).
        datasets: the role of its datasets (a benchmark's ``protocols`` entry).
        subsample: ``DATASET.SUBSAMPLE_CLASSES`` of the step.
        table_role: what its result is in the tables ("base", "new", "source", "target", "").
        evaluates: the step whose trained model this step evaluates (None: it trains, then tests).
    """

    name: str
    folder: str
    datasets: str
    subsample: str
    table_role: str
    evaluates: str | None = None


@dataclass(frozen=True)
class Protocol:
    """A protocol: its steps, in order, and its shots.

    Args:
        name: its name on the command line and the first folder of its runs.
        title: for help texts.
        shots: the shots it trains with (the default of ``--shots``).
        per_dataset: True when a unit of work is one dataset (base-to-new, few-shot); False when
            one training run serves every dataset of the later steps (cross-dataset).
    """

    name: str
    title: str
    shots: tuple[int, ...]
    steps: tuple[Step, ...]
    per_dataset: bool

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"{self.name} has no step {name!r}; its steps: {', '.join(s.name for s in self.steps)}")

    def datasets(self, step: Step | None = None) -> list:
        """The benchmarks (specs) of a step, or of the whole protocol, in table order."""
        from datasets import SPECS

        roles = {step.datasets} if step is not None else {s.datasets for s in self.steps}
        roles = {r for role in roles for r in _ROLE_GROUPS.get(role, (role,))}
        return [spec for spec in SPECS.values() if roles & set(spec.protocols)]


# A step may draw its datasets from several roles: the cross-dataset test step evaluates on the
# cross-dataset targets and on the domain-generalisation targets.
_ROLE_GROUPS = {"xd_test": ("xd_target", "dg_target")}

PROTOCOLS: dict[str, Protocol] = {
    p.name: p
    for p in (
        Protocol(
            name="base2new",
            title="base-to-new generalisation: train on the base classes, evaluate on the new ones",
            shots=(PROTOCOL_SHOTS,),
            steps=(
                Step("train", "train_base", "base2new", "base", "base"),
                Step("test", "test_new", "base2new", "new", "new", evaluates="train"),
            ),
            per_dataset=True,
        ),
        Protocol(
            name="xd",
            title="cross-dataset transfer and domain generalisation: train on ImageNet, evaluate on the others",
            shots=(PROTOCOL_SHOTS,),
            steps=(
                Step("train", "train", "xd_source", "all", "source"),
                Step("test", "test", "xd_test", "all", "target", evaluates="train"),
            ),
            per_dataset=False,
        ),
        Protocol(
            name="fewshot",
            title="few-shot learning: train and test on all classes with K shots",
            shots=FEWSHOT_SHOTS,
            steps=(Step("train", "", "fewshot", "all", ""),),
            per_dataset=True,
        ),
    )
}


def protocol_for(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise KeyError(f"Unknown protocol {name!r}; the protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


def run_dir(output: str, protocol: str, step_folder: str, dataset: str, shots: int, trainer: str, config: str, seed: int) -> str:
    """``<output>/<protocol>/[<step folder>/]<dataset>/shots_<K>/<Trainer>/<config>/seed<S>``."""
    parts: Sequence[str] = [protocol, *([step_folder] if step_folder else []), dataset, f"shots_{shots}", trainer, config, f"seed{seed}"]
    return osp.join(output, *parts)


# The shots and seed folders of run_dir (also those of CoCoOp's, MaPLe's and MuDPT's layouts).
_SHOTS_FOLDER = re.compile(r"^shots_(\d+)$")
_SEED_FOLDER = re.compile(r"^seed(\d+)$")


def shots_of_folder(name: str) -> int | None:
    """``shots_16`` -> 16; None for any other folder name."""
    match = _SHOTS_FOLDER.match(name)
    return int(match.group(1)) if match else None


def seed_of_folder(name: str) -> int | None:
    """``seed3`` -> 3; None for any other folder name."""
    match = _SEED_FOLDER.match(name)
    return int(match.group(1)) if match else None
