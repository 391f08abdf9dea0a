"""Collect test results from Dassl-style run logs and print them as tables.

MuDPT (arXiv 2306.11400), CoOp, CoCoOp and zero-shot CLIP runs each write a ``log.txt`` into
their output directory. This script finds every run below a directory, reads the final test
result from its log, averages it over seeds and prints one table per protocol:

- base-to-new generalisation (Base, New and their harmonic mean HM),
- cross-dataset transfer and domain generalisation (ImageNet source, targets, average),
- few-shot learning (datasets x shots),
- anything else that has logs, grouped by its path ("other"), so nothing is dropped silently.

It reads the logs of this repository and those written by the CoOp, CoCoOp, MaPLe and PromptSRC
repositories (older Dassl versions), and understands their output layouts. Runs that have no
final result are listed at the end with the reason.

Usage::

    python parse_results.py output/                       # all tables
    python parse_results.py output/base2new --format md   # markdown
    python parse_results.py output/ --format csv --out results.csv
    python parse_results.py --status output/base2new/train_base/dtd/shots_16/MuDPT/cfg/seed1

``--status`` prints ``complete``, ``incomplete`` or ``missing`` and exits with 0, 1 or 2; the
scripts in ``scripts/`` use it to check that a model to evaluate is trained, and for ``--dry-run``
(``train.py`` itself decides whether a run is skipped, resumed or refused: see its run folders).

Layouts understood (any prefix; ``seed<S>`` is the run directory):

- ``base2new/{train_base,test_new}/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>`` (ours, CoCoOp, MaPLe)
- ``xd/train/imagenet/shots_16/<Trainer>/<cfg>/seed<S>``, ``xd/test/<dataset>/...`` (ours)
- ``fewshot/<dataset>/shots_<K>/<Trainer>/<cfg>/seed<S>`` (ours)
- ``<dataset>/CoOp/<cfg>_<K>shots/nctx<N>_csc<B>_ctp<P>/seed<S>`` (CoOp's few-shot runs)
- ``imagenet/<Trainer>/<cfg>_16shots[/<extra>]/seed<S>`` and
  ``evaluation/<Trainer>/<cfg>_16shots/<dataset>[/<extra>]/seed<S>`` (CoCoOp's / MaPLe's
  cross-dataset source and targets)

Anything else with logs is reported under "other", grouped by its path without the seed dir.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import os
import re
import sys
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from tabulate import tabulate

# ---------------------------------------------------------------------------------------------
# Datasets: config name (configs/datasets/<name>.yaml) -> display name, in the order of the
# CoOp / CoCoOp / MaPLe papers' tables.
# ---------------------------------------------------------------------------------------------
DISPLAY_NAMES: dict[str, str] = {
    "imagenet": "ImageNet",
    "caltech101": "Caltech101",
    "oxford_pets": "OxfordPets",
    "stanford_cars": "StanfordCars",
    "oxford_flowers": "Flowers102",
    "food101": "Food101",
    "fgvc_aircraft": "FGVCAircraft",
    "sun397": "SUN397",
    "dtd": "DTD",
    "eurosat": "EuroSAT",
    "ucf101": "UCF101",
    "imagenetv2": "ImageNet-V2",
    "imagenet_sketch": "ImageNet-Sketch",
    "imagenet_a": "ImageNet-A",
    "imagenet_r": "ImageNet-R",
}
SOURCE_DATASET = "imagenet"
# The 11 datasets of base-to-new and few-shot learning.
BENCHMARK_DATASETS: tuple[str, ...] = tuple(list(DISPLAY_NAMES)[:11])
XD_TARGETS: tuple[str, ...] = BENCHMARK_DATASETS[1:]
DG_TARGETS: tuple[str, ...] = ("imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r")
# Column headers of the domain-generalisation table (the papers put them under "ImageNet").
DG_HEADERS: dict[str, str] = {
    "imagenetv2": "-V2",
    "imagenet_sketch": "-Sketch",
    "imagenet_a": "-A",
    "imagenet_r": "-R",
}

# ---------------------------------------------------------------------------------------------
# Log format (see Dassl's Classification evaluator and SimpleTrainer.after_train).
# ---------------------------------------------------------------------------------------------
# Dassl's setup_logger never overwrites: a second run into the same directory writes
# log.txt-YYYY-MM-DD-HH-MM-SS next to the first log.txt.
LOG_NAME_RE = re.compile(r"^log\.txt(?:-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}))?$")
# "* accuracy: 71.2%"; the number pattern is the one of CoOp's parse_test_res.py.
METRIC_RE = re.compile(r"^\* (\w+): ([\d.eE+-]+)%$")
# Dassl >= 0.6.1 prints "Finish training"; older Dassl (CoOp/MaPLe paper runs) "Finished training".
END_SIGNALS = frozenset({"Finish training", "Finished training"})
RESULT_SIGNAL = "=> result"
# Lines that only a training run prints (resume messages, tensorboard, the per-batch line in
# both the current and the pre-0.6.1 layout).
TRAINING_PREFIXES = (
    "epoch [",
    "Initialize tensorboard",
    "No checkpoint found, train from scratch",
    "Found checkpoint at",
)
DEFAULT_KEYWORD = "accuracy"
EXTRA_METRIC = "macro_f1"

# Reasons listed for runs without a result.
NO_LOG = "no log"
TRAINING_NOT_FINISHED = "training not finished"
NO_RESULT_AFTER_FINISH = "no result after Finish training"
NO_RESULT = "no result (evaluation not finished)"

# Run status, as printed by --status, and its exit code.
COMPLETE, INCOMPLETE, MISSING = "complete", "incomplete", "missing"
STATUS_EXIT_CODES: dict[str, int] = {COMPLETE: 0, INCOMPLETE: 1, MISSING: 2}

# ---------------------------------------------------------------------------------------------
# Output layouts.
# ---------------------------------------------------------------------------------------------
SEED_RE = re.compile(r"^seed(\d+)$")
SHOTS_DIR_RE = re.compile(r"^shots_(\d+)$")  # ours, CoCoOp's and MaPLe's base2new layout
LEGACY_SHOTS_RE = re.compile(r"^(.+)_(\d+)shots$")  # CoOp / CoCoOp: <cfg>_<K>shots
COOP_VARIANT_RE = re.compile(r"^nctx\d+_csc\w+_ctp\w+$")  # CoOp's main.sh: nctx16_cscFalse_ctpend
BASE2NEW_ROLES: dict[str, str] = {"train_base": "base", "test_new": "new"}
XD_ROLES: dict[str, str] = {"train": "source", "test": "target"}

BASE2NEW, XD, DG, FEWSHOT, OTHER = "base2new", "xd", "dg", "fewshot", "other"
AVERAGE = "average"
XD_SHOTS = 16  # shots of the ImageNet source in CoCoOp's cross-dataset protocol
DECIMALS = 2  # as CoOp's parse_test_res.py and the papers' tables

TABLE_FORMATS: dict[str, str] = {"text": "psql", "md": "pipe", "latex": "latex_raw"}
FORMATS = (*TABLE_FORMATS, "csv")


# =============================================================================================
# Reading one log
# =============================================================================================
@dataclass(frozen=True)
class LogResult:
    """What one log file says: the final metrics, or why there are none."""

    path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""  # empty when the log holds a complete result

    @property
    def complete(self) -> bool:
        return not self.reason


def parse_log(path: Path, keyword: str = DEFAULT_KEYWORD) -> LogResult:
    """Read the final test result of one Dassl log.

    A training run's result is the last ``* <metric>: X%`` after ``Finish training`` (or
    ``Finished training``); an evaluation-only run's result is the last one after ``=> result``.
    A training log without the end signal is incomplete even if it holds a mid-training
    ``=> result`` (a validation pass).
    """
    is_training = False
    finished = False
    seen_result_block = False
    after_finish: dict[str, float] = {}
    after_result: dict[str, float] = {}
    with open(path, encoding="utf-8", errors="replace") as f:
        for raw in f:
            line = raw.strip()
            if line in END_SIGNALS:
                is_training = finished = True
                continue
            if line.startswith(TRAINING_PREFIXES):
                is_training = True
                continue
            if line == RESULT_SIGNAL:
                seen_result_block = True
                continue
            match = METRIC_RE.match(line)
            if match is None:
                continue
            try:
                value = float(match.group(2))
            except ValueError:  # e.g. "1.2.3": the pattern is permissive, as CoOp's is
                continue
            if finished:
                after_finish[match.group(1)] = value
            if seen_result_block:
                after_result[match.group(1)] = value

    if is_training:
        if not finished:
            return LogResult(path, reason=TRAINING_NOT_FINISHED)
        return _result_or_reason(path, after_finish, keyword, NO_RESULT_AFTER_FINISH)
    return _result_or_reason(path, after_result, keyword, NO_RESULT)


def _result_or_reason(path: Path, metrics: dict[str, float], keyword: str, no_result: str) -> LogResult:
    if keyword in metrics:
        return LogResult(path, metrics=metrics)
    if not metrics:
        return LogResult(path, reason=no_result)
    # A result block without the metric, e.g. macro_f1 in logs of older Dassl.
    return LogResult(path, reason=f"the result has no {keyword}")


def log_files(run_dir: Path) -> list[Path]:
    """The Dassl logs in ``run_dir``, oldest first (log.txt is always the first one written)."""
    return _sorted_logs(run_dir, [entry.name for entry in os.scandir(run_dir) if entry.is_file()])


def _sorted_logs(run_dir: Path, file_names: Iterable[str]) -> list[Path]:
    found: list[tuple[str, str]] = []
    for name in file_names:
        match = LOG_NAME_RE.match(name)
        if match:
            # "" sorts first: log.txt, then the timestamped logs in time order.
            found.append((match.group(1) or "", name))
    return [run_dir / name for _, name in sorted(found)]


def choose_log(logs: Sequence[Path], keyword: str = DEFAULT_KEYWORD) -> LogResult:
    """The newest log that holds a result, else the newest log with its reason."""
    if not logs:
        raise ValueError("choose_log needs at least one log file")
    results = [parse_log(path, keyword) for path in reversed(logs)]
    return next((r for r in results if r.complete), results[0])


def run_status(run_dir: Path, keyword: str = DEFAULT_KEYWORD) -> str:
    """``complete``, ``incomplete`` (logs but no result) or ``missing`` (no dir or no log)."""
    if not run_dir.is_dir():
        return MISSING
    logs = log_files(run_dir)
    if not logs:
        return MISSING
    return COMPLETE if choose_log(logs, keyword).complete else INCOMPLETE


# =============================================================================================
# Finding and classifying runs
# =============================================================================================
@dataclass(frozen=True)
class RunKey:
    """What a run measures, without its seed: the unit that is averaged over seeds."""

    protocol: str  # base2new | xd | fewshot | other (xd covers both cross-dataset and DG)
    method: str = ""
    config: str = ""  # for "other": the run group's path relative to the parsed directory
    shots: int | None = None
    dataset: str = ""
    role: str = ""  # base2new: base | new; xd: source | target


@dataclass(frozen=True)
class Run:
    """One run directory and its result."""

    path: Path
    key: RunKey
    seed: int | None
    result: LogResult | None  # None: the directory has no log at all

    @property
    def complete(self) -> bool:
        return self.result is not None and self.result.complete

    @property
    def reason(self) -> str:
        return NO_LOG if self.result is None else self.result.reason


def find_runs(root: Path, keyword: str = DEFAULT_KEYWORD) -> list[Run]:
    """Every run below ``root`` (``root`` included), sorted by path.

    A run is a directory holding Dassl logs. A ``seed<N>`` directory with no log anywhere
    below it is a run that never started (or crashed before logging). Other directories
    without logs are ignored.
    """
    root = Path(os.path.abspath(root))
    runs: list[Run] = []
    seed_dirs_without_log: list[Path] = []
    for dirpath, dirnames, file_names in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        here = Path(dirpath)
        logs = _sorted_logs(here, file_names)
        if logs:
            runs.append(_make_run(here, root, choose_log(logs, keyword)))
        elif SEED_RE.match(here.name):
            seed_dirs_without_log.append(here)
    run_paths = [run.path for run in runs]
    for seed_dir in seed_dirs_without_log:
        if not any(path.is_relative_to(seed_dir) for path in run_paths):
            runs.append(_make_run(seed_dir, root, None))
    return sorted(runs, key=lambda run: run.path)


def _make_run(run_dir: Path, root: Path, result: LogResult | None) -> Run:
    key, seed = classify(run_dir, root)
    return Run(path=run_dir, key=key, seed=seed, result=result)


def classify(run_dir: Path, root: Path) -> tuple[RunKey, int | None]:
    """Read protocol, method, config, shots, dataset and seed from a run's path.

    The layouts are matched at the end of the path, so any prefix (``output/``, a user's
    experiment folder) is allowed. Paths that match no layout go to the "other" protocol.
    """
    parts = Path(os.path.abspath(run_dir)).parts
    seed_match = SEED_RE.match(parts[-1])
    seed = int(seed_match.group(1)) if seed_match else None
    if seed_match:
        body = parts[:-1]
        for matcher in (_match_ours, _match_legacy_evaluation, _match_legacy_train):
            key = matcher(body)
            if key is not None:
                return key, seed
    group_dir = Path(os.path.abspath(run_dir))
    if seed_match:
        group_dir = group_dir.parent
    return RunKey(OTHER, config=_relative(group_dir, root)), seed


def _relative(path: Path, root: Path) -> str:
    rel = os.path.relpath(path, root)
    return str(root) if rel == "." else rel


def _match_ours(body: Sequence[str]) -> RunKey | None:
    """``base2new/{train_base,test_new}/<ds>/shots_<K>/<Trainer>/<cfg>``,
    ``xd/{train,test}/<ds>/shots_<K>/<Trainer>/<cfg>`` and ``fewshot/<ds>/shots_<K>/<Trainer>/<cfg>``."""
    if len(body) < 5:
        return None
    dataset, shots_dir, method, config = body[-4:]
    shots_match = SHOTS_DIR_RE.match(shots_dir)
    if shots_match is None:
        return None
    shots = int(shots_match.group(1))
    if body[-5] == FEWSHOT:
        return RunKey(FEWSHOT, method, config, shots, dataset)
    if len(body) < 6:
        return None
    protocol, role_dir = body[-6], body[-5]
    if protocol == BASE2NEW and role_dir in BASE2NEW_ROLES:
        return RunKey(BASE2NEW, method, config, shots, dataset, BASE2NEW_ROLES[role_dir])
    if protocol == XD and role_dir in XD_ROLES:
        role = XD_ROLES[role_dir]
        # The source must be ImageNet and ImageNet is no target; anything else goes to "other".
        if (role == "source") == (dataset == SOURCE_DATASET):
            return RunKey(XD, method, config, shots, dataset, role)
    return None


def _match_legacy_evaluation(body: Sequence[str]) -> RunKey | None:
    """CoCoOp / MaPLe cross-dataset targets: ``evaluation/<Trainer>/<cfg>_<K>shots/<ds>[/...]``."""
    for i in range(len(body) - 4, -1, -1):
        if body[i] != "evaluation":
            continue
        shots_match = LEGACY_SHOTS_RE.match(body[i + 2])
        rest = list(body[i + 3 :])
        datasets = [part for part in rest if part in DISPLAY_NAMES]
        if shots_match is None or not datasets or datasets[0] == SOURCE_DATASET:
            return None
        rest.remove(datasets[0])
        config = "/".join([shots_match.group(1), *rest])
        return RunKey(XD, body[i + 1], config, int(shots_match.group(2)), datasets[0], "target")
    return None


def _match_legacy_train(body: Sequence[str]) -> RunKey | None:
    """``<ds>/<Trainer>/<cfg>_<K>shots[/<extra>]``: CoOp's few-shot layout (extra =
    ``nctx<N>_csc<B>_ctp<P>``) and CoCoOp's / MaPLe's cross-dataset source on ImageNet."""
    extra: list[str] = []
    if len(body) >= 3 and LEGACY_SHOTS_RE.match(body[-1]) and body[-3] in DISPLAY_NAMES:
        dataset, method, cfg_shots = body[-3:]
    elif len(body) >= 4 and LEGACY_SHOTS_RE.match(body[-2]) and body[-4] in DISPLAY_NAMES:
        dataset, method, cfg_shots = body[-4:-1]
        extra = [body[-1]]
    else:
        return None
    shots_match = LEGACY_SHOTS_RE.match(cfg_shots)
    assert shots_match is not None  # checked above
    config = "/".join([shots_match.group(1), *extra])
    shots = int(shots_match.group(2))
    is_coop_main = method == "CoOp" and bool(extra) and bool(COOP_VARIANT_RE.match(extra[0]))
    if dataset == SOURCE_DATASET and not is_coop_main:
        return RunKey(XD, method, config, shots, dataset, "source")
    return RunKey(FEWSHOT, method, config, shots, dataset)


# =============================================================================================
# Aggregation over seeds
# =============================================================================================
@dataclass(frozen=True)
class Stat:
    """Mean and spread (population std, or 95% confidence interval) over ``n`` seeds."""

    mean: float
    spread: float
    n: int


def aggregate(values: Sequence[float], ci95: bool = False) -> Stat:
    """Mean ± population std (numpy's default, as CoOp's parser), or ± 1.96·std/√n."""
    if not values:
        raise ValueError("aggregate needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    std = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / n)
    return Stat(mean, 1.96 * std / math.sqrt(n) if ci95 else std, n)


def harmonic_mean(base: float, new: float) -> float:
    """HM of base and new accuracy, as in CoCoOp (arXiv 2203.05557)."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


def group_results(runs: Iterable[Run], keyword: str = DEFAULT_KEYWORD, ci95: bool = False) -> dict[RunKey, Stat]:
    """Average the complete runs of each key over seeds."""
    values: dict[RunKey, list[float]] = defaultdict(list)
    for run in runs:
        if run.complete and run.result is not None and keyword in run.result.metrics:
            values[run.key].append(run.result.metrics[keyword])
    return {key: aggregate(vals, ci95) for key, vals in values.items()}


# =============================================================================================
# Tables
# =============================================================================================
Setting = tuple[str, str, int | None]  # (method, config, shots): one row or one table


@dataclass(frozen=True)
class Cell:
    """One number in a table, with what it is (for CSV output)."""

    protocol: str
    method: str
    config: str
    shots: int | None
    dataset: str  # a dataset config name, or "average"
    column: str  # Base / New / HM in base-to-new tables, else the metric keyword
    mean: float
    spread: float | None = None  # None for derived values: HM and averages over datasets
    n: int | None = None  # seeds; None for derived values
    note: str = ""


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)  # each item a str label, a Cell or None
    label_columns: int = 1  # leading columns that hold labels (left-aligned), not numbers


def dataset_order(name: str) -> tuple[int, str]:
    """Sort key: the papers' order, then unknown datasets by name."""
    order = list(DISPLAY_NAMES)
    return (order.index(name), name) if name in DISPLAY_NAMES else (len(order), name)


def display_name(name: str) -> str:
    return DISPLAY_NAMES.get(name, name)


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _stat_cell(stat: Stat | None, **where: object) -> Cell | None:
    return None if stat is None else Cell(mean=stat.mean, spread=stat.spread, n=stat.n, **where)


def _setting_order(item: tuple[Setting, object]) -> tuple[str, str, int]:
    method, config, shots = item[0]
    return (method, config, -1 if shots is None else shots)


def base2new_tables(stats: dict[RunKey, Stat]) -> list[Table]:
    """One table per (method, config, shots): Base, New and HM per dataset, and their average."""
    settings: dict[Setting, dict[str, dict[str, Stat]]] = defaultdict(lambda: defaultdict(dict))
    for key, stat in stats.items():
        if key.protocol == BASE2NEW:
            settings[(key.method, key.config, key.shots)][key.dataset][key.role] = stat
    return [_base2new_table(s, per_dataset) for s, per_dataset in sorted(settings.items(), key=_setting_order)]


def _base2new_table(setting: Setting, per_dataset: dict[str, dict[str, Stat]]) -> Table:
    method, config, shots = setting
    where = dict(protocol=BASE2NEW, method=method, config=config, shots=shots)
    table = Table(f"Base-to-new generalisation: {method}, {config}, {shots} shots", ["Dataset", "Base", "New", "HM"])
    both: list[tuple[float, float]] = []  # (base, new) of the datasets that have both
    for dataset in sorted(per_dataset, key=dataset_order):
        base, new = per_dataset[dataset].get("base"), per_dataset[dataset].get("new")
        hm = None
        if base is not None and new is not None:
            both.append((base.mean, new.mean))
            # HM of the seed-averaged Base and New, as CoCoOp and MaPLe report it.
            hm = Cell(dataset=dataset, column="HM", mean=harmonic_mean(base.mean, new.mean), **where)
        table.rows.append(
            [
                display_name(dataset),
                _stat_cell(base, dataset=dataset, column="Base", **where),
                _stat_cell(new, dataset=dataset, column="New", **where),
                hm,
            ]
        )
    if both:
        avg_base, avg_new = _mean([b for b, _ in both]), _mean([n for _, n in both])
        complete = len(both) == len(BENCHMARK_DATASETS)
        label = "Average" if complete else f"Average ({_plural(len(both), 'dataset')})"
        averages = (("Base", avg_base), ("New", avg_new), ("HM", harmonic_mean(avg_base, avg_new)))
        table.rows.append([label, *[Cell(dataset=AVERAGE, column=c, mean=v, **where) for c, v in averages]])
    return table


def transfer_tables(stats: dict[RunKey, Stat], keyword: str) -> list[Table]:
    """Cross-dataset and domain-generalisation tables: one row per (method, config, shots)."""
    settings: dict[Setting, dict[str, Stat]] = defaultdict(dict)
    for key, stat in stats.items():
        if key.protocol == XD:
            settings[(key.method, key.config, key.shots)][key.dataset] = stat

    def xd_targets(per_dataset: dict[str, Stat]) -> set[str]:
        return set(per_dataset) - {SOURCE_DATASET} - set(DG_TARGETS)

    # A setting with only its source result is shown in the cross-dataset table.
    xd_rows = {s: d for s, d in settings.items() if xd_targets(d) or not set(d) & set(DG_TARGETS)}
    dg_rows = {s: d for s, d in settings.items() if set(d) & set(DG_TARGETS)}
    tables = []
    if xd_rows:
        targets = sorted(set().union(*map(xd_targets, xd_rows.values())), key=dataset_order)
        title = "Cross-dataset transfer from ImageNet"
        tables.append(_transfer_table(title, xd_rows, targets, len(XD_TARGETS), keyword, XD))
    if dg_rows:
        targets = [ds for ds in DG_TARGETS if any(ds in d for d in dg_rows.values())]
        title = "Domain generalisation from ImageNet"
        tables.append(_transfer_table(title, dg_rows, targets, len(DG_TARGETS), keyword, DG))
    return tables


def _transfer_table(
    title: str,
    rows: dict[Setting, dict[str, Stat]],
    targets: Sequence[str],
    n_targets: int,
    keyword: str,
    protocol: str,
) -> Table:
    """Columns: ImageNet (source), the targets present, the average over a row's targets."""
    show_shots = any(shots != XD_SHOTS for _, _, shots in rows)
    labels = ["Method", "Config"] + (["Shots"] if show_shots else [])
    columns = [display_name(SOURCE_DATASET), *[DG_HEADERS.get(ds, display_name(ds)) for ds in targets], "Average"]
    table = Table(title, labels + columns, label_columns=len(labels))
    for (method, config, shots), per_dataset in sorted(rows.items(), key=_setting_order):
        where = dict(protocol=protocol, method=method, config=config, shots=shots, column=keyword)
        row: list = [method, config] + ([str(shots)] if show_shots else [])
        row += [_stat_cell(per_dataset.get(ds), dataset=ds, **where) for ds in [SOURCE_DATASET, *targets]]
        present = [per_dataset[ds].mean for ds in targets if ds in per_dataset]
        note = "" if len(present) == n_targets else f"({len(present)}/{n_targets})"
        row.append(Cell(dataset=AVERAGE, mean=_mean(present), note=note, **where) if present else None)
        table.rows.append(row)
    return table


def fewshot_tables(stats: dict[RunKey, Stat], keyword: str) -> list[Table]:
    """One table per (method, config): datasets x shots, plus the average over datasets."""
    settings: dict[tuple[str, str], dict[str, dict[int, Stat]]] = defaultdict(lambda: defaultdict(dict))
    for key, stat in stats.items():
        if key.protocol == FEWSHOT and key.shots is not None:
            settings[(key.method, key.config)][key.dataset][key.shots] = stat
    return [_fewshot_table(m, c, per_dataset, keyword) for (m, c), per_dataset in sorted(settings.items())]


def _fewshot_table(method: str, config: str, per_dataset: dict[str, dict[int, Stat]], keyword: str) -> Table:
    shots_list = sorted({shots for d in per_dataset.values() for shots in d})
    table = Table(f"Few-shot learning: {method}, {config}", ["Dataset", *[_plural(k, "shot") for k in shots_list]])
    where = dict(protocol=FEWSHOT, method=method, config=config, column=keyword)
    for dataset in sorted(per_dataset, key=dataset_order):
        cells = [_stat_cell(per_dataset[dataset].get(k), shots=k, dataset=dataset, **where) for k in shots_list]
        table.rows.append([display_name(dataset), *cells])
    average: list = ["Average"]
    for shots in shots_list:
        present = [d[shots].mean for d in per_dataset.values() if shots in d]
        note = "" if len(present) == len(BENCHMARK_DATASETS) else f"({_plural(len(present), 'dataset')})"
        average.append(Cell(shots=shots, dataset=AVERAGE, mean=_mean(present), note=note, **where))
    table.rows.append(average)
    return table


def other_table(stats: dict[RunKey, Stat], keyword: str) -> list[Table]:
    """Runs in no known layout, one row per run group (path without the seed dir)."""
    keys = sorted((key for key in stats if key.protocol == OTHER), key=lambda key: key.config)
    if not keys:
        return []
    table = Table("Other runs (grouped by path)", ["Run group", keyword])
    for key in keys:
        where = dict(protocol=OTHER, method="", config=key.config, shots=None, dataset="", column=keyword)
        table.rows.append([key.config, _stat_cell(stats[key], **where)])
    return [table]


def build_tables(stats: dict[RunKey, Stat], keyword: str = DEFAULT_KEYWORD) -> list[Table]:
    """All tables, in the order base-to-new, cross-dataset, DG, few-shot, other."""
    return [
        *base2new_tables(stats),
        *transfer_tables(stats, keyword),
        *fewshot_tables(stats, keyword),
        *other_table(stats, keyword),
    ]


# =============================================================================================
# Rendering
# =============================================================================================
def modal_seeds(table: Table) -> int | None:
    """The most common number of seeds in a table (ties: the larger)."""
    counts = Counter(cell.n for row in table.rows for cell in row if isinstance(cell, Cell) and cell.n is not None)
    if not counts:
        return None
    return max(counts, key=lambda n: (counts[n], n))


def format_cell(cell: object, modal_n: int | None) -> str:
    """``71.23 ± 0.31``, ``71.23 ± 0.31 (n=2)`` when its seed count differs, or ``-``."""
    if cell is None:
        return "-"
    if not isinstance(cell, Cell):
        return str(cell)
    text = f"{cell.mean:.{DECIMALS}f}"
    if cell.spread is not None:
        text += f" ± {cell.spread:.{DECIMALS}f}"
    if cell.n is not None and cell.n != modal_n:
        text += f" (n={cell.n})"
    if cell.note:
        text += f" {cell.note}"
    return text


def table_caption(table: Table, ci95: bool) -> str:
    modal_n = modal_seeds(table)
    if modal_n is None:
        return table.title
    spread = "95% CI" if ci95 else "std"
    mixed = any(isinstance(c, Cell) and c.n is not None and c.n != modal_n for row in table.rows for c in row)
    marked = ", n=k where marked" if mixed else ""
    return f"{table.title} (mean ± {spread} over {_plural(modal_n, 'seed')}{marked})"


def _latex_escape(text: str) -> str:
    for char in ("\\", "&", "%", "$", "#", "_", "{", "}"):
        text = text.replace(char, "\\" + char)
    return text.replace("±", "$\\pm$")


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str, title: str, label_columns: int = 1
) -> str:
    """One titled table in text, md or latex; numbers right-aligned after the label columns."""
    if fmt == "latex":
        headers = [_latex_escape(h) for h in headers]
        rows = [[_latex_escape(c) for c in row] for row in rows]
    align = ["left"] * label_columns + ["right"] * (len(headers) - label_columns) if rows else None
    body = tabulate(rows, headers=headers, tablefmt=TABLE_FORMATS[fmt], colalign=align, disable_numparse=True)
    heading = {"text": f"{title}\n", "md": f"### {title}\n\n", "latex": f"% {title}\n"}[fmt]
    return heading + body + "\n"


def render_tables(tables: Sequence[Table], fmt: str, ci95: bool) -> str:
    parts = []
    for table in tables:
        modal_n = modal_seeds(table)
        rows = [[format_cell(cell, modal_n) for cell in row] for row in table.rows]
        parts.append(render_table(table.headers, rows, fmt, table_caption(table, ci95), table.label_columns))
    return "\n".join(parts)


CSV_FIELDS = ("protocol", "method", "config", "shots", "dataset", "column", "mean", "spread", "n", "note")


def render_csv(tables: Sequence[Table]) -> str:
    """Every number of every table as one tidy CSV row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_FIELDS)
    for table in tables:
        for row in table.rows:
            for cell in row:
                if isinstance(cell, Cell):
                    writer.writerow(
                        [
                            cell.protocol,
                            cell.method,
                            cell.config,
                            "" if cell.shots is None else cell.shots,
                            cell.dataset,
                            cell.column,
                            repr(cell.mean),
                            "" if cell.spread is None else repr(cell.spread),
                            "" if cell.n is None else cell.n,
                            cell.note,
                        ]
                    )
    return out.getvalue()


def render_incomplete(runs: Sequence[Run], root: Path, fmt: str) -> str:
    """The section listing runs without a result, and why."""
    incomplete = [run for run in runs if not run.complete]
    if not incomplete:
        return ""
    rows = [[_relative(run.path, root), run.reason] for run in incomplete]
    table_fmt = "text" if fmt == "csv" else fmt
    return render_table(["Run", "Reason"], rows, table_fmt, f"Incomplete runs ({len(incomplete)})", label_columns=2)


def render_runs(runs: Sequence[Run], root: Path, fmt: str, keyword: str) -> str:
    """Per-run listing (``--runs``): every run with its metrics and the log they come from."""
    metrics = [keyword] + ([EXTRA_METRIC] if keyword != EXTRA_METRIC else [])
    headers = ["run", "status", "log", "reason", *metrics]

    def number(value: float) -> str:
        return repr(value) if fmt == "csv" else f"{value:.{DECIMALS}f}"

    rows = []
    for run in runs:
        values = run.result.metrics if run.complete and run.result is not None else {}
        log = run.result.path.name if run.result is not None else ""
        status = COMPLETE if run.complete else INCOMPLETE
        numbers = [number(values[m]) if m in values else "" for m in metrics]
        rows.append([_relative(run.path, root), status, log, run.reason, *numbers])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([headers, *rows])
        return out.getvalue()
    return render_table(headers, rows, fmt, f"Runs ({len(runs)})", label_columns=4)


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# =============================================================================================
# Command line
# =============================================================================================
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Tabulate the test results of MuDPT / CoOp / CoCoOp / MaPLe runs found below a directory.",
        epilog="Example: python parse_results.py output/ --format md --out results.md",
    )
    parser.add_argument("directory", nargs="?", type=Path, help="directory to search for runs (e.g. output/)")
    parser.add_argument(
        "--status", metavar="RUN_DIR", type=Path, help="print complete/incomplete/missing for one run dir; exit 0/1/2"
    )
    parser.add_argument("--keyword", default=DEFAULT_KEYWORD, help="metric to report (default: accuracy, or macro_f1)")
    parser.add_argument("--ci95", action="store_true", help="report 1.96*std/sqrt(n) instead of the std over seeds")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--out", type=Path, help="write the output to this file (atomically) instead of stdout")
    parser.add_argument("--runs", action="store_true", help="list every run with its metrics instead of the tables")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\w+", args.keyword):
        parser.error(f"--keyword must be a metric name such as accuracy or macro_f1, got {args.keyword!r}")
    if args.status is not None:
        if args.directory is not None:
            parser.error("give either DIR or --status RUN_DIR, not both")
        status = run_status(args.status, args.keyword)
        print(status)
        return STATUS_EXIT_CODES[status]
    if args.directory is None:
        parser.error("the directory to parse is required (e.g. python parse_results.py output/)")
    root: Path = args.directory
    if not root.is_dir():
        print(f"error: directory not found: {root} (give the runs' output directory, e.g. output/)", file=sys.stderr)
        return 2

    runs = find_runs(root, args.keyword)
    if not runs:
        print(f"No runs found under {root}: no log.txt and no seed<N> directory below it.", file=sys.stderr)
        return 1
    abs_root = Path(os.path.abspath(root))
    report = _report(runs, abs_root, args)
    if args.out is not None:
        write_atomic(args.out, report)
        print(f"Wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(report)
    if args.format == "csv" and not args.runs:
        # stdout / the file stay pure CSV; the incomplete-run section goes to stderr.
        sys.stderr.write(render_incomplete(runs, abs_root, "csv"))
    return 0


def _report(runs: Sequence[Run], root: Path, args: argparse.Namespace) -> str:
    if args.runs:
        return render_runs(runs, root, args.format, args.keyword)
    tables = build_tables(group_results(runs, args.keyword, args.ci95), args.keyword)
    if args.format == "csv":
        return render_csv(tables)
    if tables:
        sections = [render_tables(tables, args.format, args.ci95)]
    else:
        sections = [f"No complete results for '{args.keyword}'.\n"]
    incomplete = render_incomplete(runs, root, args.format)
    if incomplete:
        sections.append(incomplete)
    return "\n".join(sections)


if __name__ == "__main__":
    sys.exit(main())
