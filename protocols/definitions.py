"""The evaluation protocols of the CoOp family, as data: steps, datasets, shots, tables, run folders.

- **base-to-new generalisation** (CoCoOp, Zhou et al., arXiv 2203.05557): train on the base half
  of a dataset's classes with 16 shots, evaluate that model on the new half;
- **cross-dataset transfer and domain generalisation** (CoCoOp): train on ImageNet (all classes,
  16 shots), evaluate that model on the other datasets and on the ImageNet variants;
- **few-shot learning** (CoOp, arXiv 2109.01134): train and test on all classes with
  K = 1, 2, 4, 8, 16 shots.

A protocol declares everything the runner, its scripts and the tables need: its steps (their run
folders, the benchmark roles of their datasets, their class subsets), where its shots come from,
whose recipes its methods use, and how its results are tabled (:class:`TableSpec`: the table
kind the tables, grids and plots dispatch on). Which datasets take part comes from each
benchmark's own facts (``datasets/<name>.py``: ``protocols``, ``order``), never from a list
here. Every run folder is a :class:`RunPath`: the runner formats it, ``parse_results.py`` and the
runner read it back with :meth:`RunPath.parse`. A new protocol is one :func:`register_protocol`.
"""
from __future__ import annotations

import os.path as osp
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable, Sequence

__all__ = [
    "ACCURACY",
    "BASE_NEW",
    "DEFAULT_SEEDS",
    "FEWSHOT_SHOTS",
    "PROTOCOLS",
    "PROTOCOL_SHOTS",
    "SHOTS_CURVE",
    "TABLE_KINDS",
    "TRANSFER",
    "Protocol",
    "RunPath",
    "Step",
    "TableSpec",
    "protocol_for",
    "register_protocol",
    "seed_of_folder",
    "shots_of_folder",
]

# Shots of base-to-new and cross-dataset training (CoCoOp's protocol).
PROTOCOL_SHOTS = 16
# The shots of few-shot learning (CoOp's figure).
FEWSHOT_SHOTS = (1, 2, 4, 8, 16)
# The papers report the mean over seeds 1, 2, 3.
DEFAULT_SEEDS = (1, 2, 3)

# Table kinds: what the tables (results/tables.py), the grids and the figures draw from the runs.
BASE_NEW = "base_new"  # per dataset: Base, New and their harmonic mean HM (the evaluated step's "base"/"new" roles)
TRANSFER = "transfer"  # a row per setting: the source and the targets of one dataset role, and their average
SHOTS_CURVE = "shots"  # per dataset: accuracy against the shots
ACCURACY = "accuracy"  # per dataset: accuracy
TABLE_KINDS = (BASE_NEW, TRANSFER, SHOTS_CURVE, ACCURACY)


@dataclass(frozen=True)
class Step:
    """One step of a protocol.

    Args:
        name: its name on the command line ("train", "test").
        folder: its folder in the run layout ("train_base", "test_new", ...; "" for none).
        datasets: the benchmark roles whose datasets take part (a benchmark's ``protocols`` entries).
        subsample: ``DATASET.SUBSAMPLE_CLASSES`` of the step.
        table_role: what its result is in the tables ("base", "new", "source", "target", "").
        evaluates: the step whose trained model this step evaluates (None: it trains, then tests).
        about: what its protocol script does (``scripts/<method>/<script>.sh --help``).
    """

    name: str
    folder: str
    datasets: tuple[str, ...]
    subsample: str
    table_role: str
    evaluates: str | None = None
    about: str = ""


@dataclass(frozen=True)
class TableSpec:
    """How a protocol's results are tabled.

    Args:
        kind: one of :data:`TABLE_KINDS`.
        title: the tables' and figures' title ("Base-to-new generalisation").
        name: the name of its tables in figure files and in the CSV ``protocol`` column ("" = the
            protocol's name).
        targets: :data:`TRANSFER`: the benchmark role of its target columns.
    """

    kind: str
    title: str
    name: str = ""
    targets: str = ""

    def __post_init__(self) -> None:
        if self.kind not in TABLE_KINDS:
            raise ValueError(f"table kind {self.kind!r} is not one of {TABLE_KINDS}")


@dataclass(frozen=True)
class Protocol:
    """A protocol: its steps, in order, its shots and its tables.

    Args:
        name: its name on the command line and the first folder of its runs.
        title: for help texts.
        label: its short name in grid titles ("base-to-new").
        shots: the shots it trains with.
        steps: its steps, in order; later steps evaluate the model of an earlier one.
        per_dataset: True when a unit of work is one dataset (base-to-new, few-shot); False when
            one training run serves every dataset of the later steps (cross-dataset).
        shots_option: where its shots come from: True: ``--shots`` (each of its shots is a run);
            False: its one value, which ``DATASET.NUM_SHOTS K`` changes.
        tables: how its results are tabled.
        recipes: the protocol whose recipes (in each method's spec) its runs use ("" = its own).
        about_all: what its sweep script ``scripts/<method>/<name>_all.sh`` does.
    """

    name: str
    title: str
    label: str
    shots: tuple[int, ...]
    steps: tuple[Step, ...]
    per_dataset: bool
    tables: tuple[TableSpec, ...]
    shots_option: bool = False
    recipes: str = ""
    about_all: str = ""

    @property
    def recipe_key(self) -> str:
        """The protocol name the methods' recipes are filed under."""
        return self.recipes or self.name

    @property
    def table_kind(self) -> str:
        return self.tables[0].kind

    def step(self, name: str) -> Step:
        for step in self.steps:
            if step.name == name:
                return step
        raise KeyError(f"{self.name} has no step {name!r}; its steps: {', '.join(s.name for s in self.steps)}")

    def step_of_folder(self, folder: str) -> Step | None:
        """The step whose run folders are ``folder`` ("" for a protocol without step folders)."""
        return next((step for step in self.steps if step.folder == folder), None)

    def datasets(self, step: Step | None = None, role: str | None = None) -> list:
        """The benchmarks (specs) of a step, or of the whole protocol, in table order; with
        ``role``, only those of that benchmark role."""
        from datasets import SPECS

        roles = set(step.datasets) if step is not None else {r for s in self.steps for r in s.datasets}
        if role is not None:
            roles &= {role}
        return [spec for spec in SPECS.values() if roles & set(spec.protocols)]

    def table_title(self) -> str:
        return self.tables[0].title


PROTOCOLS: dict[str, Protocol] = {}


def register_protocol(protocol: Protocol) -> Protocol:
    """Add a protocol to :data:`PROTOCOLS`; returns it."""
    if protocol.name in PROTOCOLS:
        raise ValueError(f"a protocol named {protocol.name!r} is already registered")
    PROTOCOLS[protocol.name] = protocol
    return protocol


register_protocol(
    Protocol(
        name="base2new",
        title="base-to-new generalisation: train on the base classes, evaluate on the new ones",
        label="base-to-new",
        shots=(PROTOCOL_SHOTS,),
        steps=(
            Step("train", "train_base", ("base2new",), "base", "base",
                 about="Base-to-new, step 1: train on the base classes of DATASET, then test on them."),
            Step("test", "test_new", ("base2new",), "new", "new", evaluates="train",
                 about="Base-to-new, step 2: evaluate the model of base2new_train.sh on the new classes of DATASET."),
        ),  # fmt: skip
        per_dataset=True,
        tables=(TableSpec(BASE_NEW, "Base-to-new generalisation"),),
        about_all="Base-to-new sweep: train on the base classes and test on the new ones, for every dataset x SEEDS.",
    )
)
register_protocol(
    Protocol(
        name="xd",
        title="cross-dataset transfer and domain generalisation: train on ImageNet, evaluate on the others",
        label="cross-dataset",
        shots=(PROTOCOL_SHOTS,),
        steps=(
            Step("train", "train", ("xd_source",), "all", "source",
                 about="Cross-dataset transfer / domain generalisation, step 1: train on ImageNet (all classes), then test on it."),
            Step("test", "test", ("xd_target", "dg_target"), "all", "target", evaluates="train",
                 about="Cross-dataset transfer / domain generalisation, step 2: evaluate the ImageNet model of xd_train.sh on DATASET."),
        ),  # fmt: skip
        per_dataset=False,
        tables=(
            TableSpec(TRANSFER, "Cross-dataset transfer", name="xd", targets="xd_target"),
            TableSpec(TRANSFER, "Domain generalisation", name="dg", targets="dg_target"),
        ),
        about_all="Cross-dataset and domain-generalisation sweep: for each seed, train on ImageNet, then test on every target.",
    )
)
register_protocol(
    Protocol(
        name="fewshot",
        title="few-shot learning: train and test on all classes with K shots",
        label="few-shot",
        shots=FEWSHOT_SHOTS,
        steps=(
            Step("train", "", ("fewshot",), "all", "",
                 about="Few-shot learning: train on all classes of DATASET with SHOTS images per class, then test."),
        ),  # fmt: skip
        per_dataset=True,
        tables=(TableSpec(SHOTS_CURVE, "Few-shot learning"),),
        shots_option=True,
        about_all=f"Few-shot sweep: every dataset x shots {' '.join(map(str, FEWSHOT_SHOTS))} x SEEDS.",
    )
)


def protocol_for(name: str) -> Protocol:
    if name not in PROTOCOLS:
        raise KeyError(f"Unknown protocol {name!r}; the protocols: {', '.join(PROTOCOLS)}")
    return PROTOCOLS[name]


# The shots and seed folders of a run path (also those of CoCoOp's, MaPLe's and MuDPT's layouts).
_SHOTS_FOLDER = re.compile(r"^shots_(\d+)$")
_SEED_FOLDER = re.compile(r"^seed(\d+)$")
ANY = "*"  # a glob part


def shots_of_folder(name: str) -> int | None:
    """``shots_16`` -> 16; None for any other folder name."""
    match = _SHOTS_FOLDER.match(name)
    return int(match.group(1)) if match else None


def seed_of_folder(name: str) -> int | None:
    """``seed3`` -> 3; None for any other folder name."""
    match = _SEED_FOLDER.match(name)
    return int(match.group(1)) if match else None


@dataclass(frozen=True)
class RunPath:
    """A run folder of the protocols:
    ``<output>/<protocol>/[<step folder>/]<dataset>/shots_<K>/<Trainer>/<config>/seed<S>``.

    ``str()`` formats it; :meth:`parse` reads one back (from the end of a path, so the output
    root may be anywhere); :meth:`with_any_shots` is the glob pattern of the same run with any
    shots. ``config`` is the recipe name plus the tag of the overrides that change results.
    """

    output: str
    protocol: str
    step_folder: str
    dataset: str
    shots: int | None
    trainer: str
    config: str
    seed: int

    def __str__(self) -> str:
        shots = f"shots_{ANY if self.shots is None else self.shots}"
        parts: Sequence[str] = [self.protocol, *([self.step_folder] if self.step_folder else []), self.dataset, shots, self.trainer, self.config, f"seed{self.seed}"]
        return osp.join(self.output, *parts)

    def with_any_shots(self) -> str:
        """The glob pattern of this run with any shots (the other parts taken as glob patterns)."""
        return str(replace(self, shots=None))

    @classmethod
    def parse(cls, path: str | Path, accept: Callable[[Protocol, Step, str], bool] | None = None) -> tuple["RunPath", int] | None:
        """The run path ``path`` is, and the index of its protocol folder among the path's parts;
        None when it is not one of a registered protocol's run folders. ``accept(protocol, step,
        dataset)`` may turn a match down (e.g. a dataset that does not take part in the step)."""
        parts = Path(path).parts
        if len(parts) < 6 or seed_of_folder(parts[-1]) is None or shots_of_folder(parts[-4]) is None:
            return None
        body = parts[:-1]
        dataset, shots_dir, trainer, config = body[-4:]
        for protocol in PROTOCOLS.values():
            candidates = [(len(body) - 5, "")] + ([(len(body) - 6, body[-5])] if len(body) >= 6 else [])
            for start, folder in candidates:
                step = protocol.step_of_folder(folder) if start >= 0 and body[start] == protocol.name else None
                if step is not None and (accept is None or accept(protocol, step, dataset)):
                    output = str(Path(*parts[:start])) if start else ""
                    run = cls(output, protocol.name, folder, dataset, shots_of_folder(shots_dir), trainer, config, seed_of_folder(parts[-1]))
                    return run, start
        return None
