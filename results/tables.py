"""Averaging runs over seeds and laying the numbers out as the papers' tables.

Each protocol says how its results are tabled (its :class:`~protocols.definitions.TableSpec`
kinds); the tables dispatch on the kind, for every registered protocol:

- base/new (base-to-new generalisation): one table per (method, config, shots): Base, New and
  their harmonic mean HM per dataset (HM of the seed-averaged Base and New, as CoCoOp and MaPLe
  report it), and the average over the datasets that have both;
- transfer (cross-dataset transfer and domain generalisation): one row per (method, config,
  shots), columns the source, the targets of the table's dataset role present and the average
  over a row's targets;
- shots curve (few-shot learning): one table per (method, config): datasets x shots, and the average;
- accuracy (zero-shot CLIP on all classes, CoOp's zero-shot layout): one table per (method,
  config), a row per dataset;
- anything else: one row per run group (its path).

Each (method, config, dataset, shots, seed) counts once in a cell: when two run folders measure the
same key and seed (an evaluation rerun, the released MuDPT layout next to ours), the first by path
is used and the others are listed as repeats (:attr:`Results.repeats`). Runs under a prefix (an
``eval/`` copy) have their own key, so they never average with the main runs.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping, Sequence

from protocols.definitions import ACCURACY, BASE_NEW, PROTOCOLS, SHOTS_CURVE, TRANSFER, Protocol, TableSpec

from .benchmarks import benchmarks
from .layouts import BASE, NEW, OTHER, ZEROSHOT, Run, RunKey
from .logs import DEFAULT_KEYWORD
from .settings import (
    SHOTS_LABEL,
    ZERO_SHOT,
    RunSettings,
    method_settings,
    summarise_changes,
    summarise_settings,
)

__all__ = [
    "AVERAGE",
    "ZEROSHOT_TABLE",
    "Cell",
    "Repeat",
    "Results",
    "Stat",
    "Table",
    "COST_COLUMNS",
    "add_cost_columns",
    "aggregate",
    "build_tables",
    "config_label",
    "group_results",
    "harmonic_mean",
    "spread_name",
]

AVERAGE = "average"
# CoOp's zero-shot runs on all classes (results.layouts.ZEROSHOT) are tabled by dataset.
ZEROSHOT_TABLE = TableSpec(ACCURACY, "Zero-shot, all classes")
BASE_COLUMN, NEW_COLUMN, HM_COLUMN = "Base", "New", "HM"
CONFIDENCE = 0.95  # of --ci95


# =============================================================================================
# Aggregation over seeds
# =============================================================================================
@dataclass(frozen=True)
class Stat:
    """Mean and spread over ``n`` seeds (None for one seed: one value has no spread);
    ``expected``: the seeds its setting has, when some of them are missing here (more than ``n``)."""

    mean: float
    spread: float | None
    n: int
    expected: int | None = None


def aggregate(values: Sequence[float], ci95: bool = False) -> Stat:
    """Mean ± the population std over seeds (numpy's default, as CoOp's parser and the papers'
    tables); with ``ci95``, ± the half-width of the 95% confidence interval of the mean
    (Student's t with n - 1 degrees of freedom and the sample std: for 3 seeds 2.7 times wider
    than the 1.96·std/√n of CoOp's ``--ci95``, which assumes a known variance)."""
    if not values:
        raise ValueError("aggregate needs at least one value")
    n = len(values)
    mean = math.fsum(values) / n
    if n == 1:
        return Stat(mean, None, n)
    squares = math.fsum((v - mean) ** 2 for v in values)
    if not ci95:
        return Stat(mean, math.sqrt(squares / n), n)
    from scipy.stats import t

    sample_std = math.sqrt(squares / (n - 1))
    return Stat(mean, float(t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sample_std / math.sqrt(n), n)


def spread_name(ci95: bool) -> str:
    """What the ± of a table or figure is."""
    return f"{CONFIDENCE:.0%} CI" if ci95 else "std"


def harmonic_mean(base: float, new: float) -> float:
    """HM of base and new accuracy, as in CoCoOp (arXiv 2203.05557)."""
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


@dataclass(frozen=True)
class Repeat:
    """A complete run left out because an earlier run (by path) has the same key and seed."""

    run: Run
    used: Run


@dataclass
class Results:
    """The seed averages of the complete runs, and what went into them.

    Args:
        stats: key -> mean and spread over its seeds.
        settings: key -> the caption settings of each run averaged (None where its config was
            not read); see :func:`results.settings.method_settings`.
        repeats: runs left out as repeats of another run's key and seed.
        costs: key -> the ``cost`` records (``run.json``) of its runs that have one.
        runs: key -> its runs that were averaged.
        changes: key -> what its runs changed from their recipe (:func:`results.settings.recipe_changes`;
            None where that cannot be told).
    """

    stats: dict[RunKey, Stat] = field(default_factory=dict)
    settings: dict[RunKey, list[RunSettings | None]] = field(default_factory=dict)
    repeats: list[Repeat] = field(default_factory=list)
    costs: dict[RunKey, list[Mapping[str, Any]]] = field(default_factory=dict)  # the cost records of the runs averaged
    runs: dict[RunKey, list[Run]] = field(default_factory=dict)  # the runs averaged, one per seed
    changes: dict[RunKey, list[tuple[str, str]] | None] = field(default_factory=dict)


def _setting_seeds(runs: Iterable[Run]) -> dict[tuple, set[int]]:
    """The seeds of every run found of a setting (prefix, protocol, method, config, shots), complete
    or not: what each of its averages should hold."""
    seeds: dict[tuple, set[int]] = defaultdict(set)
    for run in runs:
        if run.seed is not None:
            seeds[_setting_of(run.key)].add(run.seed)
    return seeds


def _setting_of(key: RunKey) -> tuple:
    return (key.prefix, key.protocol, key.method, key.config, key.shots)


def group_results(runs: Iterable[Run], keyword: str = DEFAULT_KEYWORD, ci95: bool = False) -> Results:
    """Average the complete runs of each key over seeds, each (key, seed) once: the first run by
    path; later ones are :attr:`Results.repeats`. An average that lacks a seed other runs of its
    setting have (a failed or interrupted run, an evaluation never run) says how many it has of
    how many (:attr:`Stat.expected`)."""
    from .settings import recipe_changes

    runs = list(runs)
    setting_seeds = _setting_seeds(runs)
    values: dict[RunKey, list[float]] = defaultdict(list)
    settings: dict[RunKey, list[RunSettings | None]] = defaultdict(list)
    costs: dict[RunKey, list[Mapping[str, Any]]] = defaultdict(list)
    averaged: dict[RunKey, list[Run]] = defaultdict(list)
    used: dict[tuple[RunKey, int | None], Run] = {}
    repeats = []
    for run in sorted(runs, key=lambda r: (r.path, r.key.role)):
        if not run.complete or run.result is None or keyword not in run.result.metrics:
            continue
        first = used.setdefault((run.key, run.seed), run)
        if first is not run:
            repeats.append(Repeat(run, first))
            continue
        values[run.key].append(run.result.metrics[keyword])
        averaged[run.key].append(run)
        if run.cost is not None:
            costs[run.key].append(run.cost)
        eval_only = bool(run.result.eval_only)
        settings[run.key].append(None if run.config is None else method_settings(run.key.method, run.config, eval_only))
    stats = {}
    for key, vals in values.items():
        stat = aggregate(vals, ci95)
        expected = setting_seeds[_setting_of(key)] | {run.seed for run in averaged[key] if run.seed is not None}
        stats[key] = Stat(stat.mean, stat.spread, stat.n, len(expected)) if len(expected) > stat.n else stat
    # What a run folder's config name stands for (the runner names it after the changes from its
    # recipe): read from one run of each (method, config name).
    folders: dict[tuple[str, str], list[tuple[str, str]] | None] = {}
    for key in sorted(averaged, key=lambda k: (k.method, k.config, averaged[k][0].path)):
        if (key.method, key.config) not in folders:
            folders[(key.method, key.config)] = recipe_changes(key.method, key.config, averaged[key][0].path, key.dataset, key.shots)
    changes = {key: folders[(key.method, key.config)] for key in averaged}
    return Results(stats, dict(settings), repeats, dict(costs), dict(averaged), changes)


# =============================================================================================
# Tables
# =============================================================================================
@dataclass(frozen=True)
class Cell:
    """One number in a table, with what it is (for CSV output and plots)."""

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
    prefix: str = ""
    settings: str = ""  # the effective settings of the runs of its row or table
    covers: str = ""  # an average over fewer datasets than its protocol has: "<averaged>/<all>"
    decimals: int | None = None  # None: the tables' (2); the cost columns have their own
    expected: int | None = None  # the seeds its setting has, when more than ``n`` (runs missing here)
    changes: str | None = ""  # what its runs changed from their recipe (None: cannot be told)


@dataclass
class Table:
    """A titled table; ``kind`` (a table kind of :mod:`protocols.definitions`, or other, grid),
    ``name`` (the table's name in figure files: base2new, xd, dg, fewshot, ...) and the identity
    fields tell plots which tables belong together."""

    title: str
    headers: list[str]
    rows: list[list] = field(default_factory=list)  # each item a str label, a Cell or None
    label_columns: int = 1  # leading columns that hold labels (left-aligned), not numbers
    kind: str = OTHER
    name: str = OTHER
    heading: str = ""  # what the table is ("Base-to-new generalisation"): the title of its figure
    settings: str = ""  # the effective settings of the table's runs (its caption)
    changes: str | None = ""  # what its runs changed from their recipe ("" none, None: cannot be told)
    prefix: str = ""
    method: str = ""
    config: str = ""
    shots: int | None = None
    protocol: str = ""  # its runs' protocol
    dataset: str = ""  # of a grid table: a dataset config name or "average"
    grid_key: str = ""  # of a grid table: the swept key of its x axis


Setting = tuple[str, str, str, "int | None"]  # (prefix, method, config, shots): one row or one table


def config_label(config: str, prefix: str) -> str:
    """A config folder, with the prefix its runs are under when there is one."""
    return f"{config} (under {prefix}/)" if prefix else config


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _covers(averaged: Iterable[str], protocol_datasets: Sequence[str]) -> str:
    """``"5/10"``: how many of a protocol's datasets an average covers."""
    return f"{len(set(averaged))}/{len(protocol_datasets)}"


def stat_cell(stat: Stat | None, **where: object) -> Cell | None:
    return None if stat is None else Cell(mean=stat.mean, spread=stat.spread, n=stat.n, expected=stat.expected, **where)


def base2new_cells(base: Stat | None, new: Stat | None, dataset: str, **where: Any) -> list[Cell | None]:
    """Base, New and HM of one dataset (HM only when both are there)."""
    hm = None if base is None or new is None else Cell(dataset=dataset, column=HM_COLUMN, mean=harmonic_mean(base.mean, new.mean), **where)
    return [stat_cell(base, dataset=dataset, column=BASE_COLUMN, **where), stat_cell(new, dataset=dataset, column=NEW_COLUMN, **where), hm]


def base2new_average_cells(pairs: Sequence[tuple[float, float]], covers: str = "", note: str = "", **where: Any) -> list[Cell]:
    """The average over datasets of (Base, New) means: Base, New and the HM of the two averages."""
    avg_base, avg_new = _mean([b for b, _ in pairs]), _mean([n for _, n in pairs])
    averages = ((BASE_COLUMN, avg_base), (NEW_COLUMN, avg_new), (HM_COLUMN, harmonic_mean(avg_base, avg_new)))
    return [Cell(dataset=AVERAGE, column=c, mean=v, covers=covers, note=note, **where) for c, v in averages]


def _setting_order(setting: Setting) -> tuple[str, str, str, int]:
    prefix, method, config, shots = setting
    return (prefix, method, config, -1 if shots is None else shots)


def _settings_text(results: Results, keys: Iterable[RunKey]) -> str:
    """The effective settings of the runs of ``keys``; the shots of the path when no run says
    them (configs not read, or only evaluation runs)."""
    keys = list(keys)
    per_run = [settings for key in keys for settings in results.settings.get(key, [])]
    text = summarise_settings(per_run)
    labels = {label for settings in per_run if settings for label, _ in settings}
    path_shots = sorted({key.shots for key in keys if key.shots is not None})
    if path_shots and not labels & {SHOTS_LABEL, ZERO_SHOT}:
        shots = f"{'/'.join(map(str, path_shots))} shots (folder name)"
        text = f"{shots}, {text}" if text else shots
    return text


def _changes_text(results: Results, keys: Iterable[RunKey]) -> str | None:
    """What the runs of ``keys`` changed from their recipe (see :func:`results.settings.summarise_changes`)."""
    return summarise_changes([results.changes.get(key) for key in keys])


def base2new_tables(results: Results, protocol: str, spec: TableSpec) -> list[Table]:
    """One table per (prefix, method, config, shots) of ``protocol``: Base, New and HM per
    dataset, and their average."""
    settings: dict[Setting, dict[str, dict[str, RunKey]]] = defaultdict(lambda: defaultdict(dict))
    for key in results.stats:
        if key.protocol == protocol:
            settings[(key.prefix, key.method, key.config, key.shots)][key.dataset][key.role] = key
    return [_base2new_table(s, settings[s], results, protocol, spec) for s in sorted(settings, key=_setting_order)]


def _base2new_table(setting: Setting, per_dataset: dict[str, dict[str, RunKey]], results: Results, protocol: str, spec: TableSpec) -> Table:
    prefix, method, config, shots = setting
    bm = benchmarks()
    keys = [k for roles in per_dataset.values() for k in roles.values()]
    text, changes = _settings_text(results, keys), _changes_text(results, keys)
    name = spec.name or protocol
    where = dict(protocol=name, method=method, config=config, shots=shots, prefix=prefix, settings=text, changes=changes)
    table = Table(
        f"{spec.title}: {method}, {config_label(config, prefix)}",
        ["Dataset", BASE_COLUMN, NEW_COLUMN, HM_COLUMN],
        kind=spec.kind,
        name=name,
        heading=spec.title,
        settings=text,
        changes=changes,
        prefix=prefix,
        method=method,
        config=config,
        shots=shots,
        protocol=protocol,
    )
    both: dict[str, tuple[float, float]] = {}  # dataset -> (base, new) of the datasets that have both
    for dataset in sorted(per_dataset, key=bm.sort_key):
        roles = per_dataset[dataset]
        base = results.stats.get(roles[BASE]) if BASE in roles else None
        new = results.stats.get(roles[NEW]) if NEW in roles else None
        if base is not None and new is not None:
            both[dataset] = (base.mean, new.mean)
        table.rows.append([bm.display_name(dataset), *base2new_cells(base, new, dataset, **where)])
    if both:
        all_datasets = bm.datasets.get(protocol, ())
        complete = set(both) >= set(all_datasets)
        label = "Average" if complete else f"Average ({_plural(len(both), 'dataset')})"
        covers = "" if complete else _covers(both, all_datasets)
        table.rows.append([label, *base2new_average_cells(list(both.values()), covers, **where)])
    return table


def transfer_tables(results: Results, protocol: Protocol, keyword: str) -> list[Table]:
    """The transfer tables of ``protocol`` (cross-dataset transfer and domain generalisation): one
    per transfer :class:`~protocols.definitions.TableSpec`, a row per (prefix, method, config,
    shots). A target of another table's role is left to that table; the first table takes every
    other target and the settings with only their source result."""
    bm = benchmarks()
    specs = [spec for spec in protocol.tables if spec.kind == TRANSFER]
    source = bm.sources[protocol.name]
    settings: dict[Setting, dict[str, RunKey]] = defaultdict(dict)
    for key in results.stats:
        if key.protocol == protocol.name:
            settings[(key.prefix, key.method, key.config, key.shots)][key.dataset] = key
    others = {spec.targets: set(bm.roles[spec.targets]) for spec in specs[1:]}
    elsewhere = set().union(*others.values())

    def first_targets(per_dataset: dict[str, RunKey]) -> set[str]:
        return set(per_dataset) - {source} - elsewhere

    tables = []
    for i, spec in enumerate(specs):
        if i == 0:
            rows = {s: d for s, d in settings.items() if first_targets(d) or not set(d) & elsewhere}
            targets = sorted(set().union(*map(first_targets, rows.values())), key=bm.sort_key)
        else:
            rows = {s: d for s, d in settings.items() if set(d) & others[spec.targets]}
            targets = [ds for ds in bm.roles[spec.targets] if any(ds in d for d in rows.values())]
        if rows:
            title = f"{spec.title} from {bm.display_name(source)}"
            headers = [bm.target_header(ds, source) for ds in targets]
            tables.append(_transfer_table(title, rows, targets, headers, source, bm.roles[spec.targets], keyword, spec, protocol, results))
    return tables


def _transfer_table(
    title: str,
    rows: dict[Setting, dict[str, RunKey]],
    targets: Sequence[str],
    target_headers: Sequence[str],
    source: str,
    all_targets: Sequence[str],
    keyword: str,
    spec: TableSpec,
    protocol: Protocol,
    results: Results,
) -> Table:
    """Columns: the source, the targets present, the average over a row's targets; the labels
    Method, Config, Shots (when not the protocol's) and the row's effective Settings."""
    bm = benchmarks()
    show_shots = any(shots not in protocol.shots for _, _, _, shots in rows)
    labels = ["Method", "Config"] + (["Shots"] if show_shots else []) + ["Settings"]
    columns = [bm.display_name(source), *target_headers, "Average"]
    name = spec.name or protocol.name
    table = Table(title, labels + columns, label_columns=len(labels), kind=spec.kind, name=name, heading=spec.title, protocol=protocol.name)
    for setting in sorted(rows, key=_setting_order):
        prefix, method, config, shots = setting
        per_dataset = rows[setting]
        text = _settings_text(results, per_dataset.values())
        where = dict(protocol=name, method=method, config=config, shots=shots, column=keyword, prefix=prefix, settings=text,
                     changes=_changes_text(results, per_dataset.values()))  # fmt: skip
        row: list = [method, config_label(config, prefix)] + ([str(shots)] if show_shots else []) + [text]
        stats = {ds: results.stats[key] for ds, key in per_dataset.items()}
        row += [stat_cell(stats.get(ds), dataset=ds, **where) for ds in [source, *targets]]
        present = [ds for ds in targets if ds in stats]
        covers = "" if set(present) >= set(all_targets) else _covers(present, all_targets)
        mean = _mean([stats[ds].mean for ds in present]) if present else None
        average = Cell(dataset=AVERAGE, mean=mean, note=f"({covers})" if covers else "", covers=covers, **where) if mean is not None else None
        row.append(average)
        table.rows.append(row)
    return table


def fewshot_tables(results: Results, protocol: str, spec: TableSpec, keyword: str) -> list[Table]:
    """One table per (prefix, method, config) of ``protocol``: datasets x shots, plus the average
    over datasets."""
    settings: dict[tuple[str, str, str], dict[str, dict[int, RunKey]]] = defaultdict(lambda: defaultdict(dict))
    for key in results.stats:
        if key.protocol == protocol and key.shots is not None:
            settings[(key.prefix, key.method, key.config)][key.dataset][key.shots] = key
    return [_fewshot_table(s, settings[s], results, protocol, spec, keyword) for s in sorted(settings)]


def _fewshot_table(
    setting: tuple[str, str, str], per_dataset: dict[str, dict[int, RunKey]], results: Results, protocol: str, spec: TableSpec, keyword: str
) -> Table:
    prefix, method, config = setting
    bm = benchmarks()
    keys = [k for d in per_dataset.values() for k in d.values()]
    text, changes = _settings_text(results, keys), _changes_text(results, keys)
    shots_list = sorted({shots for d in per_dataset.values() for shots in d})
    name = spec.name or protocol
    table = Table(
        f"{spec.title}: {method}, {config_label(config, prefix)}",
        ["Dataset", *[_plural(k, "shot") for k in shots_list]],
        kind=spec.kind,
        name=name,
        heading=spec.title,
        settings=text,
        changes=changes,
        prefix=prefix,
        method=method,
        config=config,
        protocol=protocol,
    )
    where = dict(protocol=name, method=method, config=config, column=keyword, prefix=prefix, settings=text, changes=changes)
    for dataset in sorted(per_dataset, key=bm.sort_key):
        keys = per_dataset[dataset]
        cells = [stat_cell(results.stats[keys[k]] if k in keys else None, shots=k, dataset=dataset, **where) for k in shots_list]
        table.rows.append([bm.display_name(dataset), *cells])
    average: list = ["Average"]
    all_datasets = bm.datasets.get(protocol, ())
    for shots in shots_list:
        present = {ds: results.stats[d[shots]].mean for ds, d in per_dataset.items() if shots in d}
        complete = set(present) >= set(all_datasets)
        note = "" if complete else f"({_plural(len(present), 'dataset')})"
        covers = "" if complete else _covers(present, all_datasets)
        average.append(Cell(shots=shots, dataset=AVERAGE, mean=_mean(list(present.values())), note=note, covers=covers, **where))
    table.rows.append(average)
    return table


def accuracy_tables(results: Results, protocol: str, spec: TableSpec, keyword: str) -> list[Table]:
    """Per-dataset accuracy of ``protocol``'s runs (CoOp's zero-shot runs on all classes): one
    table per (prefix, method, config), a row per dataset."""
    settings: dict[tuple[str, str, str], dict[str, RunKey]] = defaultdict(dict)
    for key in results.stats:
        if key.protocol == protocol:
            settings[(key.prefix, key.method, key.config)][key.dataset] = key
    bm = benchmarks()
    name = spec.name or protocol
    tables = []
    for prefix, method, config in sorted(settings):
        per_dataset = settings[(prefix, method, config)]
        text, changes = _settings_text(results, per_dataset.values()), _changes_text(results, per_dataset.values())
        table = Table(
            f"{spec.title}: {method}, {config_label(config, prefix)}",
            ["Dataset", keyword],
            kind=spec.kind,
            name=name,
            heading=spec.title,
            settings=text,
            changes=changes,
            prefix=prefix,
            method=method,
            config=config,
            protocol=protocol,
        )
        where = dict(protocol=name, method=method, config=config, shots=None, column=keyword, prefix=prefix, settings=text, changes=changes)
        for dataset in sorted(per_dataset, key=bm.sort_key):
            table.rows.append([bm.display_name(dataset), stat_cell(results.stats[per_dataset[dataset]], dataset=dataset, **where)])
        if len(per_dataset) > 1:
            mean = _mean([results.stats[k].mean for k in per_dataset.values()])
            table.rows.append([f"Average ({_plural(len(per_dataset), 'dataset')})", Cell(dataset=AVERAGE, mean=mean, **where)])
        tables.append(table)
    return tables


def other_table(results: Results, keyword: str) -> list[Table]:
    """Runs in no known layout, one row per run group (path without the seed folder)."""
    keys = sorted((key for key in results.stats if key.protocol == OTHER), key=lambda key: key.config)
    if not keys:
        return []
    table = Table("Other runs (grouped by path)", ["Run group", keyword], kind=OTHER, name=OTHER)
    for key in keys:
        where = dict(protocol=OTHER, method="", config=key.config, shots=None, dataset="", column=keyword)
        table.rows.append([key.config, stat_cell(results.stats[key], **where)])
    return [table]


def tabled_protocols() -> list[tuple[str, tuple[TableSpec, ...]]]:
    """(protocol name, its tables) of every protocol whose runs are tabled: the registered
    protocols, and CoOp's zero-shot runs on all classes."""
    return [*((p.name, p.tables) for p in PROTOCOLS.values()), (ZEROSHOT, (ZEROSHOT_TABLE,))]


def build_tables(results: Results, keyword: str = DEFAULT_KEYWORD) -> list[Table]:
    """All tables, by kind in the order base/new, transfer, shots curve, accuracy (each kind in
    the order the protocols are registered), then other runs."""
    tables: list[Table] = []
    for name, specs in tabled_protocols():
        tables += [t for spec in specs if spec.kind == BASE_NEW for t in base2new_tables(results, name, spec)]
    for name, specs in tabled_protocols():
        if any(spec.kind == TRANSFER for spec in specs):
            tables += transfer_tables(results, PROTOCOLS[name], keyword)
    for name, specs in tabled_protocols():
        tables += [t for spec in specs if spec.kind == SHOTS_CURVE for t in fewshot_tables(results, name, spec, keyword)]
    for name, specs in tabled_protocols():
        tables += [t for spec in specs if spec.kind == ACCURACY for t in accuracy_tables(results, name, spec, keyword)]
    return [*tables, *other_table(results, keyword)]


# =============================================================================================
# Cost (--cost)
# =============================================================================================
# The columns and the run.json "cost" fields they average (with their decimals).
COST_COLUMNS = ("params", "ms/iter", "peak MB")
COST_FIELDS = (("trainable_params", 0), ("train_ms_per_iter", 1), ("peak_memory_mb", 0))
MEMORY_KIND, CUDA_MEMORY, CPU_MEMORY = "memory_kind", "cuda_max_allocated", "cpu_peak_rss"


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) else None


def cost_cells(records: Sequence[Mapping[str, Any]], **where: Any) -> list[Cell | None]:
    """params / ms per iteration / peak MB: each the mean over the records that have it (the
    training runs of a row, one per seed); None (``-``) where none has. Peak memory is CUDA's
    max allocated; a CPU run's peak RSS is marked ``(CPU RSS)``."""
    cells: list[Cell | None] = []
    for column, (name, decimals) in zip(COST_COLUMNS, COST_FIELDS):
        counted = [r for r in records if _number(r.get(name)) is not None]
        if not counted:
            cells.append(None)
            continue
        note = ""
        if name == "peak_memory_mb":
            kinds = {r.get(MEMORY_KIND) for r in counted}
            note = "" if kinds == {CUDA_MEMORY} else "(CPU RSS)" if kinds == {CPU_MEMORY} else "(mixed CUDA / CPU)"
        mean = _mean([_number(r[name]) for r in counted])
        cells.append(Cell(column=column, mean=mean, decimals=decimals, note=note, **where))
    return cells


def _row_keys(cells: Sequence[Cell], results: Results) -> list[RunKey]:
    """The keys whose runs a row's cells average (an average cell: every dataset of its setting)."""
    protocol_of = {spec.name or name: name for name, specs in tabled_protocols() for spec in specs}  # a table's name -> its protocol
    wanted = {(protocol_of.get(c.protocol, c.protocol), c.prefix, c.method, c.config, c.dataset, c.shots) for c in cells}
    keys = []
    for key in results.stats:
        for protocol, prefix, method, config, dataset, shots in wanted:
            same = (key.protocol, key.prefix, key.method, key.config) == (protocol, prefix, method, config)
            if same and dataset in (AVERAGE, key.dataset) and (shots is None or key.shots == shots):
                keys.append(key)
                break
    return keys


def add_cost_columns(tables: Sequence[Table], results: Results) -> None:
    """Add params / ms/iter / peak MB to every row: the mean over seeds of the cost its training
    runs recorded (``run.json``); ``-`` where none did (evaluations, zero-shot, older runs, the
    Dassl backend)."""
    for table in tables:
        table.headers = [*table.headers, *COST_COLUMNS]
        for row in table.rows:
            cells = [c for c in row if isinstance(c, Cell)]
            records = [r for key in _row_keys(cells, results) for r in results.costs.get(key, [])]
            shots = {c.shots for c in cells}  # a few-shot row: several
            where = dict(protocol=cells[0].protocol, method=cells[0].method, config=cells[0].config, shots=shots.pop() if len(shots) == 1 else None,
                         dataset=cells[0].dataset, prefix=cells[0].prefix, settings=cells[0].settings) if cells else {}  # fmt: skip
            row.extend(cost_cells(records, **where) if cells else [None] * len(COST_COLUMNS))
