"""Grids (``parse_results.py --grid KEY``): the runs of one setting that differ only in swept
config keys (``sweep.py --grid``), as tables against one of those keys.

A setting is (prefix, protocol, method, recipe, shots), the recipe being the run folder's config
name without its override tag (``vit_b16_c2_ep10_batch4_depth9`` of
``vit_b16_c2_ep10_batch4_depth9+n_ctx4-prompt_depth3``). Each run's values are read from its
``config.yaml`` (the run folder's contract), never from the folder name: the grid point equal to
the recipe is the recipe's own folder and still has its value. The *swept keys* of a setting are
the keys whose value differs between its runs of one dataset and step, the seed and the keys that
cannot change results (``runconfig.non_result_keys()``) aside. ``KEY`` is the x axis;
every combination of the other swept keys is a line (of each method and recipe).

One table per (prefix, protocol, shots) and dataset, and one of the average over the datasets
when there are several: a row per (method, recipe, other swept values, KEY value) with Base / New /
HM (base-to-new) or the metric, mean ± spread over seeds as in the other tables. Runs without a
``config.yaml`` (other repositories' layouts) and zero-shot or "other" runs are not in grids.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

from protocols.definitions import BASE_NEW, PROTOCOLS, TRANSFER, Protocol

from .benchmarks import benchmarks
from .layouts import BASE, NEW, SOURCE, RunKey
from .settings import method_info, read_config_yaml, recipe_of
from .tables import (
    AVERAGE,
    BASE_COLUMN,
    HM_COLUMN,
    NEW_COLUMN,
    Cell,
    Results,
    Table,
    base2new_average_cells,
    base2new_cells,
    stat_cell,
)

__all__ = ["GRID", "grid_tables", "short_keys"]

GRID = "grid"  # the kind of a grid table
SEED_KEY = "SEED"
ABSENT = "(absent)"  # a key one run's config.yaml does not have (written by another version)

AVERAGE_CAPTION = {
    True: "mean over the datasets of the means over seeds; HM of the mean Base and New",
    False: "mean over the datasets of the means over seeds",
}

Values = tuple[tuple[str, str], ...]  # (swept key, value) in key order


@dataclass(frozen=True)
class _Point:
    """A row of a grid table: the method and recipe, the other swept values, the x value."""

    method: str
    recipe: str
    line: Values
    x: str


def _value_order(value: str) -> tuple[int, float, str]:
    """Numbers by value, then text."""
    try:
        return (0, float(value), value)
    except ValueError:
        return (1, 0.0, value)


def short_keys(keys: Sequence[str]) -> dict[str, str]:
    """Each key by its last part where no other key of ``keys`` has it (``N_CTX``), else in full."""
    last = [k.split(".")[-1] for k in keys]
    return {k: (name if last.count(name) == 1 else k) for k, name in zip(keys, last)}


def _ignored() -> set[str]:
    from runconfig import non_result_keys

    return set(non_result_keys()) | {SEED_KEY}


def _configs(results: Results) -> dict[RunKey, dict[str, str]]:
    """The config.yaml of one averaged run of each key (a key's runs differ only by seed)."""
    configs = {}
    for key, runs in results.runs.items():
        if key.protocol not in PROTOCOLS:  # our protocols' runs have a config.yaml; zero-shot and other runs are not swept
            continue
        for run in runs:
            values = read_config_yaml(run.path, every_key=True)
            if values is not None:
                configs[key] = values
                break
    return configs


def _swept(keys: Sequence[RunKey], configs: dict[RunKey, dict[str, str]], ignored: set[str]) -> set[str]:
    """The keys whose values differ between the runs of one dataset and step of a setting."""
    by_step: dict[tuple[str, str], list[dict[str, str]]] = defaultdict(list)
    for key in keys:
        by_step[(key.dataset, key.role)].append(configs[key])
    swept: set[str] = set()
    for group in by_step.values():
        names = set().union(*group) - ignored
        swept |= {name for name in names if len({c.get(name, ABSENT) for c in group}) > 1}
    return swept


def _sweeps(method: str, config: dict[str, str], x_key: str) -> bool:
    """Whether a run of ``method`` can be on a grid over ``x_key``: it trains, its config has the
    key, and a ``TRAINER.<NODE>.*`` key is of its own node (a config.yaml holds every trainer's
    node: CoOp's has TRAINER.MUDPT.N_CTX too, unread)."""
    node, zero_shot, _ = method_info(method, config)
    parts = x_key.split(".")
    own = not (len(parts) == 3 and parts[0] == "TRAINER" and parts[1] != node)
    return not zero_shot and own and x_key in config


def grid_tables(results: Results, x_key: str, keyword: str) -> list[Table]:
    """The grid tables of every setting whose runs' configs have ``x_key`` (see the module)."""
    configs = _configs(results)
    ignored = _ignored()
    settings: dict[tuple[str, str, str, str, int | None], list[RunKey]] = defaultdict(list)
    for key in configs:
        if _sweeps(key.method, configs[key], x_key):
            settings[(key.prefix, key.protocol, key.method, recipe_of(key.config), key.shots)].append(key)
    # (prefix, protocol, shots) -> point -> (dataset, role) -> key
    tables: dict[tuple[str, str, int | None], dict[_Point, dict[tuple[str, str], RunKey]]] = defaultdict(lambda: defaultdict(dict))
    for (prefix, protocol, method, recipe, shots), keys in settings.items():
        swept = sorted(_swept(keys, configs, ignored) - {x_key})
        for key in keys:
            line = tuple((name, configs[key].get(name, ABSENT)) for name in swept)
            point = _Point(method, recipe, line, configs[key][x_key])
            tables[(prefix, protocol, shots)][point].setdefault((key.dataset, key.role), key)
    out = []
    for (prefix, protocol, shots), points in sorted(tables.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        out += _setting_tables(prefix, PROTOCOLS[protocol], shots, points, results, x_key, keyword)
    return out


def _point_order(point: _Point) -> tuple:
    return (point.method, point.recipe, [(k, _value_order(v)) for k, v in point.line], _value_order(point.x))


def _setting_tables(
    prefix: str,
    protocol: Protocol,
    shots: int | None,
    points: dict[_Point, dict[tuple[str, str], RunKey]],
    results: Results,
    x_key: str,
    keyword: str,
) -> list[Table]:
    bm = benchmarks()
    line_keys = sorted({k for point in points for k, _ in point.line})
    names = short_keys([*line_keys, x_key])
    labels = ["Method", "Config", *(["Other swept keys"] if line_keys else []), names[x_key]]
    kind = protocol.table_kind
    columns = [BASE_COLUMN, NEW_COLUMN, HM_COLUMN] if kind == BASE_NEW else [keyword]
    datasets = sorted({dataset for steps in points.values() for dataset, _ in steps}, key=bm.sort_key)
    # transfer: the average over the targets of its first table (the cross-dataset ones), as that table's
    targets = set(bm.roles[protocol.tables[0].targets]) if kind == TRANSFER else set()
    averaged = [d for d in datasets if kind != TRANSFER or d in targets]
    detail = f"{protocol.label}, {shots} shot{'' if shots == 1 else 's'}" + (f", under {prefix}/" if prefix else "")
    ordered = sorted(points, key=_point_order)
    out = []
    for dataset in [*datasets, *([AVERAGE] if len(averaged) > 1 else [])]:
        name = "Average" if dataset == AVERAGE else bm.display_name(dataset)
        if dataset == AVERAGE and kind == TRANSFER:
            name = f"Average over the {protocol.label} targets"
        table = Table(
            f"Grid over {x_key}: {name} ({detail})", [*labels, *columns], label_columns=len(labels), kind=GRID, name=GRID,
            heading=protocol.table_title(), prefix=prefix, shots=shots, protocol=protocol.name, dataset=dataset, grid_key=x_key,
            settings=AVERAGE_CAPTION[kind == BASE_NEW] if dataset == AVERAGE else "",
        )  # fmt: skip
        for point in ordered:
            steps = points[point]
            values = ", ".join(f"{names[k]}={v}" for k, v in point.line)
            config = next(iter(steps.values())).config  # the run folder of the point (the cost columns find its runs by it)
            where = dict(protocol=protocol.name, method=point.method, config=config, shots=shots, prefix=prefix,
                         settings=", ".join(f"{names[k]}={v}" for k, v in (*point.line, (x_key, point.x))))  # fmt: skip
            if dataset == AVERAGE:
                cells = _average_cells(kind, steps, averaged, results, columns, where)
            else:
                cells = _dataset_cells(kind, steps, dataset, results, columns, where)
            if any(c is not None for c in cells):
                table.rows.append([point.method, point.recipe, *([values] if line_keys else []), point.x, *cells])
        if table.rows:
            out.append(table)
    return out


def _dataset_cells(kind: str, steps: dict[tuple[str, str], RunKey], dataset: str, results: Results, columns: list[str], where: dict) -> list[Cell | None]:
    if kind != BASE_NEW:
        key = next((k for (d, _), k in steps.items() if d == dataset), None)
        return [stat_cell(results.stats.get(key) if key else None, dataset=dataset, column=columns[0], **where)]
    base, new = (results.stats.get(steps[(dataset, role)]) if (dataset, role) in steps else None for role in (BASE, NEW))
    return base2new_cells(base, new, dataset, **where)


def _average_cells(kind: str, steps: dict[tuple[str, str], RunKey], datasets: list[str], results: Results, columns: list[str], where: dict) -> list[Cell | None]:
    """The mean over the datasets a point has (HM of the mean Base and New), with how many when
    fewer than the table's."""
    if kind == BASE_NEW:
        pairs = [(results.stats[steps[(d, BASE)]].mean, results.stats[steps[(d, NEW)]].mean) for d in datasets if (d, BASE) in steps and (d, NEW) in steps]
        if not pairs:
            return [None] * 3
        covers = "" if len(pairs) == len(datasets) else f"{len(pairs)}/{len(datasets)}"
        return base2new_average_cells(pairs, covers, f"({covers})" if covers else "", **where)
    values = [results.stats[k].mean for (d, role), k in steps.items() if d in datasets and role != SOURCE]
    if not values:
        return [None]
    covers = "" if len(values) == len(datasets) else f"{len(values)}/{len(datasets)}"
    note = f"({covers})" if covers else ""
    return [Cell(dataset=AVERAGE, column=columns[0], mean=math.fsum(values) / len(values), covers=covers, note=note, **where)]
