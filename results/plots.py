"""Figures of the tables (``--plot DIR``): PNG files drawn with matplotlib's Agg backend.

One figure per table kind and setting, drawn from the same :class:`~results.tables.Table` objects
as the printed tables (so a figure never shows a number the tables do not); figures dispatch on the
table kind and are named after the table (``<name>``: the protocol, or its table's own name):

- base/new, ``<name>_<K>shots[_<prefix>].png`` (``base2new_16shots.png``): grouped bars in three
  panels, Base / New / HM; x = the datasets and their average; one colour per method and config;
  error bars = the spread over seeds (HM and averages are derived values, without error bars);
- shots curve, ``<name>[_<prefix>].png`` (``fewshot.png``): accuracy against shots (log scale), one
  panel per dataset and one for the average, one line per method and config with a shaded band of
  ± the spread over seeds;
- transfer, ``<name>.png`` (``xd.png``, ``dg.png``): cross-dataset and domain-generalisation bars;
  x = the source, the targets and their average, one colour per method and config;
- ``grid_<protocol>_<K>shots_<KEY>[_<prefix>].png`` (``--grid KEY``): accuracy against the swept
  key, a panel per dataset (and column of base-to-new), one line per method, recipe and
  combination of the other swept keys, with a band of ± the spread over seeds.

Bars start at 0 (their length is the accuracy) on one scale for every panel of a figure. An
average over fewer datasets than its protocol has is not comparable with a complete one: its bar
is hatched and its point hollow, with the count ("5/10") next to it.
"""
from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path
import textwrap
from typing import Sequence

from protocols.definitions import BASE_NEW, SHOTS_CURVE, TRANSFER

from .benchmarks import benchmarks
from .grids import GRID
from .tables import (
    AVERAGE,
    BASE_COLUMN,
    COST_COLUMNS,
    HM_COLUMN,
    NEW_COLUMN,
    Cell,
    Table,
    config_label,
    spread_name,
)
from .render import seeds_text
from .settings import recipe_of

__all__ = ["plot_tables"]

DPI = 120
PANEL_HEIGHT = 2.6  # inches per row of panels
TRANSFER_HEIGHT = 4.2  # inches of the one panel of a cross-dataset / DG figure
TITLE_HEIGHT = 0.7  # inches for the two-line title
MIN_BARS_PER_GROUP = 2  # a figure of one method is as wide as one of two
GRID_ALPHA = 0.3
THIN_LINE = 0.8
CAP_SIZE = 2
MARKER_SIZE = 3
BAR_GROUP_WIDTH = 0.8  # share of a dataset's slot taken by its bars
MAX_BAR_WIDTH = 0.3  # so that a lone method does not fill the slot
MIN_FIGURE_WIDTH = 8.0
WIDTH_PER_GROUP = 0.32  # inches per bar in a figure of grouped bars
FEWSHOT_COLUMNS = 4  # panels per row in a few-shot figure
FEWSHOT_PANEL_WIDTH = 3.4
BAND_ALPHA = 0.18
AXIS_MARGIN = 5.0  # accuracy points below the lowest point of a curve / above the highest
AXIS_HEADROOM = 4.0  # above 100%: room for an error bar and a count at 100%
AXIS_STEP = 10.0  # a curve's accuracy axis starts at a multiple of this
PERCENT = 100.0
PARTIAL_HATCH = "///"  # an average over fewer datasets than the protocol has
COVERS_FONT = 6
QUALITATIVE_MAPS = ("tab10", "tab20")  # distinct colours for up to 10, then 20 series
LABEL_ROTATION = 35
LEGEND_FONT = 8
LEGEND_WRAP = 52  # characters per line of a legend entry (run folder names are long)
MAX_MISSING_LISTED = 3  # averages missing runs named in a legend entry, then how many in all
LEGEND_COLUMN_WIDTH = 3.6  # inches per legend column: as many columns as fit the figure
TITLE_FONT = 11
TITLE_CHARS_PER_INCH = 10.5  # of a title line at TITLE_FONT
TICK_FONT = 8
AVERAGE_LABEL = "Average"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _slug(text: str) -> str:
    return re.sub(r"[^\w.-]+", "-", text).strip("-")


def _file_name(stem: str, prefix: str) -> str:
    return f"{stem}_{_slug(prefix)}.png" if prefix else f"{stem}.png"


def _legend_label(method: str, config: str, prefix: str, settings: str, changes: str | None, cells: Sequence[Cell] = (), with_shots: bool = False) -> str:
    """A series in words: the method and its recipe, the settings its runs used (the caption's),
    what they changed from the recipe (``+ OPTIM.LR 0.5``), and the averages that miss runs of their
    seeds. Where what the runs changed cannot be told (no ``config.yaml``, a config that is not a
    recipe here), the run folder's config name stands for the recipe."""
    recipe = config if changes is None else recipe_of(config)
    lines = [f"{method}, {config_label(recipe, prefix)}"]
    if settings:
        lines.append(settings)
    if changes:
        lines.append(f"+ {changes}")
    missing = _missing_text(cells, with_shots)
    if missing:
        lines.append(missing)
    return "\n".join(lines)


def _missing_text(cells: Sequence[Cell], with_shots: bool = False) -> str:
    """``runs missing: DTD New 2 of 3 seeds, ...`` for the cells of a series that miss runs
    (``with_shots``: name the shots of each, as a few-shot series has several)."""
    short = [c for c in cells if seeds_text(c)]
    if not short:
        return ""
    where = [
        _x_label(c.dataset) + (f" {c.column}" if c.column in (BASE_COLUMN, NEW_COLUMN) else "")
        + (f" {c.shots} shots" if with_shots else "") + f" {seeds_text(c)}"
        for c in short
    ]
    shown = ", ".join(where[:MAX_MISSING_LISTED]) + (f", ... ({len(where)} averages)" if len(where) > MAX_MISSING_LISTED else "")
    return f"runs missing: {shown}"


def _spread_text(ci95: bool) -> str:
    return f"± {spread_name(ci95)} over seeds"


def _title(heading: str, detail: str, note: str) -> str:
    title = heading + (f", {detail}" if detail else "")
    return f"{title} ({note})" if note else title


def _suptitle(fig, title: str, detail: str) -> None:
    """The title and what the marks mean, wrapped to the figure's width."""
    width = max(1, int(fig.get_figwidth() * TITLE_CHARS_PER_INCH))
    lines = [*textwrap.wrap(title, width), *textwrap.wrap(detail, width)]
    fig.suptitle("\n".join(lines), fontsize=TITLE_FONT)


def _curve_limits(values: Sequence[float]) -> tuple[float, float]:
    """A curve's accuracy axis, which shows the differences: from a multiple of 10 below the
    lowest value. (Bars always start at 0.)"""
    if not values:
        return 0.0, PERCENT
    bottom = max(0.0, math.floor((min(values) - AXIS_MARGIN) / AXIS_STEP) * AXIS_STEP)
    top = min(PERCENT + AXIS_HEADROOM, max(values) + AXIS_MARGIN)
    return bottom, max(top, bottom + AXIS_STEP)


def _set_accuracy_axis(ax, bottom: float, top: float) -> None:
    """The y range, with ticks up to 100% only."""
    ax.set_ylim(bottom, top)
    ax.set_yticks([t for t in ax.get_yticks() if bottom <= t <= PERCENT])
    ax.set_ylim(bottom, top)  # set_yticks may widen the range


def _measured(row: Sequence[object]) -> list[Cell]:
    """The cells of a row that figures draw: accuracies, not the cost columns (``--cost``)."""
    return [c for c in row if isinstance(c, Cell) and c.column not in COST_COLUMNS]


def _cells(table: Table) -> dict[tuple[str, str], Cell]:
    """(dataset config name or "average", column) -> cell."""
    return {(c.dataset, c.column): c for row in table.rows for c in _measured(row)}


def _dataset_order(datasets: set[str]) -> list[str]:
    bm = benchmarks()
    ordered = sorted((d for d in datasets if d != AVERAGE), key=bm.sort_key)
    return ordered + ([AVERAGE] if AVERAGE in datasets else [])


def _x_label(dataset: str) -> str:
    return AVERAGE_LABEL if dataset == AVERAGE else benchmarks().display_name(dataset)


def _grouped_bars(ax, groups: list[str], series: list[dict[str, Cell]], colours) -> bool:
    """Bars of each series (dataset -> cell) at each group; True when a partial average was drawn."""
    width = min(MAX_BAR_WIDTH, BAR_GROUP_WIDTH / max(1, len(series)))
    span = width * len(series)  # the bars of one group, centred on its tick
    partial = False
    for i, cells in enumerate(series):
        drawn = [(g - span / 2 + width * (i + 0.5), cells[d]) for g, d in enumerate(groups) if d in cells]
        if not drawn:
            continue
        xs = [x for x, _ in drawn]
        ax.bar(xs, [c.mean for _, c in drawn], width, color=colours[i], hatch=[PARTIAL_HATCH if c.covers else "" for _, c in drawn])
        errors = [(x, c) for x, c in drawn if c.spread is not None]  # derived values (HM, averages) have none
        if errors:
            ax.errorbar(
                [x for x, _ in errors], [c.mean for _, c in errors], yerr=[c.spread for _, c in errors],
                fmt="none", ecolor="black", elinewidth=THIN_LINE, capsize=CAP_SIZE,
            )  # fmt: skip
        for x, cell in drawn:
            if cell.covers:
                partial = True
                ax.annotate(cell.covers, (x, cell.mean), xytext=(0, 1), textcoords="offset points", ha="center", va="bottom", fontsize=COVERS_FONT)
    return partial


def _finish_bar_axis(ax, groups: list[str], labels: list[str], ylabel: str, separators: Sequence[int] = ()) -> None:
    """Ticks, a 0-100% axis and dotted lines before the groups of ``separators`` (the average,
    after the source of a transfer figure)."""
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels(labels, rotation=LABEL_ROTATION, ha="right", fontsize=TICK_FONT)
    _set_accuracy_axis(ax, 0.0, PERCENT + AXIS_HEADROOM)
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=GRID_ALPHA)
    ax.set_axisbelow(True)
    for index in (*separators, *([groups.index(AVERAGE)] if AVERAGE in groups else [])):
        ax.axvline(index - 0.5, color="grey", linewidth=THIN_LINE, linestyle=":")


def _colours(count: int):
    """One distinct colour per series (tab10, or tab20 beyond 10; they repeat beyond 20)."""
    plt = _pyplot()
    cmap = plt.get_cmap(QUALITATIVE_MAPS[0] if count <= 10 else QUALITATIVE_MAPS[1])
    return [cmap(i % cmap.N) for i in range(count)]


def _partial_text(partial: bool, marker: str) -> str:
    return f"; {marker}: average over fewer datasets (how many next to it)" if partial else ""


def _table_labels(tables: Sequence[Table], with_shots: bool = False) -> list[str]:
    return [
        _legend_label(t.method, t.config, t.prefix, t.settings, t.changes, [c for row in t.rows for c in _measured(row)], with_shots)
        for t in tables
    ]


def _finish(fig, title: tuple[str, str], labels: Sequence[str], colours, lines: bool, path: Path) -> Path:
    """Title (and what the marks mean), layout, legend (lines or patches), saved to ``path``."""
    _suptitle(fig, *title)
    fig.tight_layout()
    _legend(fig, labels, colours, lines)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _unbroken(text: str) -> str:
    """``text`` with the spaces inside parentheses made non-breaking: a value such as
    ``(32, 32)`` is not split across the lines of a legend entry."""
    return re.sub(r"\([^()]*\)", lambda m: m.group(0).replace(" ", "\u00a0"), text)


def _legend(fig, labels: Sequence[str], colours, lines: bool) -> None:
    """One entry per series (bars: a patch, curves: a line), whatever each panel holds, below the
    panels, in as many columns as fit the figure's width (so that long run names do not make the
    figure wider than its plots)."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    if lines:
        handles = [Line2D([], [], color=c, marker="o", markersize=MARKER_SIZE) for c in colours]
    else:
        handles = [Patch(color=c) for c in colours]
    wrapped = ["\n".join(textwrap.fill(_unbroken(line), LEGEND_WRAP) for line in label.split("\n")) for label in labels]
    columns = max(1, min(len(labels), int(fig.get_figwidth() // LEGEND_COLUMN_WIDTH)))
    fig.legend(
        handles,
        wrapped,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=columns,
        fontsize=LEGEND_FONT,
        frameon=False,
    )


# ---------------------------------------------------------------------------------------------
# Base-to-new
# ---------------------------------------------------------------------------------------------
def _base2new_groups(tables: Sequence[Table]) -> dict[tuple[str, str, int | None], list[Table]]:
    """(table name, prefix, shots) -> its tables; a table without shots (zero-shot CLIP) joins
    every group of its name and prefix, so it is drawn next to the methods it is compared with."""
    groups: dict[tuple[str, str, int | None], list[Table]] = defaultdict(list)
    for table in tables:
        if table.shots is not None:
            groups[(table.name, table.prefix, table.shots)].append(table)
    for table in tables:
        if table.shots is None:
            joined = [key for key in groups if key[:2] == (table.name, table.prefix) and key[2] is not None]
            for key in joined or [(table.name, table.prefix, None)]:
                groups[key].append(table)
    return groups


def plot_base2new(tables: Sequence[Table], out_dir: Path, ci95: bool, note: str) -> list[Path]:
    """Per (table name, prefix, shots): Base / New / HM bars (``<name>_<K>shots[_<prefix>].png``)."""
    plt = _pyplot()
    paths = []
    for (name, prefix, shots), group in sorted(_base2new_groups(tables).items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        cells = [_cells(t) for t in group]
        datasets = _dataset_order({d for c in cells for d, _ in c})
        labels = [_x_label(d) for d in datasets]
        width = max(MIN_FIGURE_WIDTH, WIDTH_PER_GROUP * len(datasets) * max(MIN_BARS_PER_GROUP, len(group)))
        panels = (BASE_COLUMN, NEW_COLUMN, HM_COLUMN)
        fig, axes = plt.subplots(len(panels), 1, figsize=(width, len(panels) * PANEL_HEIGHT + TITLE_HEIGHT), sharex=True)
        colours = _colours(len(group))
        partial = False
        for ax, column in zip(axes, panels):
            series = [{d: c[(d, column)] for d in datasets if (d, column) in c} for c in cells]
            partial |= _grouped_bars(ax, datasets, series, colours)
            _finish_bar_axis(ax, datasets, labels, f"{column} accuracy (%)")
            ax.set_title(column, fontsize=TITLE_FONT, loc="left")
        detail = "zero-shot" if shots is None else f"{shots} shots"
        detail += f", under {prefix}/" if prefix else ""
        stem = f"{name}_zeroshot" if shots is None else f"{name}_{shots}shots"
        title = (
            _title(group[0].heading, detail, note),
            f"mean over seeds, error bars {_spread_text(ci95)}; HM of the mean Base and New{_partial_text(partial, 'hatched')}",
        )
        paths.append(_finish(fig, title, _table_labels(group), colours, False, out_dir / _file_name(stem, prefix)))
    return paths


# ---------------------------------------------------------------------------------------------
# Few-shot
# ---------------------------------------------------------------------------------------------
def _curves(table: Table) -> dict[str, list[tuple[int, Cell]]]:
    """dataset (or "average") -> its (shots, cell) points in shots order."""
    curves: dict[str, list[tuple[int, Cell]]] = defaultdict(list)
    for row in table.rows:
        for cell in _measured(row):
            if cell.shots is not None:
                curves[cell.dataset].append((cell.shots, cell))
    return {dataset: sorted(points, key=lambda p: p[0]) for dataset, points in curves.items()}


def plot_fewshot(tables: Sequence[Table], out_dir: Path, ci95: bool, note: str) -> list[Path]:
    """Per (table name, prefix): accuracy against shots (``<name>[_<prefix>].png``)."""
    plt = _pyplot()
    by_prefix: dict[tuple[str, str], list[Table]] = defaultdict(list)
    for table in tables:
        by_prefix[(table.name, table.prefix)].append(table)
    paths = []
    for (name, prefix), group in sorted(by_prefix.items()):
        # table -> dataset -> [(shots, cell)], in shots order
        curves = [_curves(t) for t in group]
        datasets = _dataset_order({d for c in curves for d in c})
        columns = min(FEWSHOT_COLUMNS, len(datasets))
        rows = math.ceil(len(datasets) / columns)
        fig, axes = plt.subplots(
            rows, columns, figsize=(FEWSHOT_PANEL_WIDTH * columns, PANEL_HEIGHT * rows + TITLE_HEIGHT), squeeze=False
        )
        colours = _colours(len(group))
        partial = False
        for ax, dataset in zip(axes.flat, datasets):
            values = []
            all_shots: set[int] = set()
            for colour, table_curves in zip(colours, curves):
                points = table_curves.get(dataset, [])
                if not points:
                    continue
                shots = [s for s, _ in points]
                means = [c.mean for _, c in points]
                spreads = [c.spread or 0.0 for _, c in points]
                all_shots.update(shots)
                ax.plot(shots, means, color=colour)
                faces = ["white" if c.covers else colour for _, c in points]
                ax.scatter(shots, means, s=(2 * MARKER_SIZE) ** 2, c=faces, edgecolors=[colour], zorder=3)
                for k, cell in points:
                    if cell.covers:
                        partial = True
                        ax.annotate(cell.covers, (k, cell.mean), xytext=(0, 3), textcoords="offset points", ha="center", fontsize=COVERS_FONT)
                if any(spreads):
                    low = [m - s for m, s in zip(means, spreads)]
                    high = [m + s for m, s in zip(means, spreads)]
                    ax.fill_between(shots, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0)
                    values += low + high
                values += means
            ax.set_xscale("log", base=2)
            ticks = sorted(all_shots)
            ax.set_xticks(ticks)
            ax.set_xticklabels([str(t) for t in ticks], fontsize=TICK_FONT)
            ax.minorticks_off()
            _set_accuracy_axis(ax, *_curve_limits(values))
            ax.tick_params(axis="y", labelsize=TICK_FONT)
            ax.grid(alpha=GRID_ALPHA)
            ax.set_title(_x_label(dataset), fontsize=TITLE_FONT)
        for ax in axes.flat[len(datasets) :]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy (%)")
        for ax in axes[-1, :]:
            if ax.get_visible():
                ax.set_xlabel("shots per class")
        detail = f"under {prefix}/" if prefix else ""
        title = (
            _title(group[0].heading, detail, note),
            f"mean over seeds, band {_spread_text(ci95)}; Average: mean over datasets{_partial_text(partial, 'hollow')}",
        )
        paths.append(_finish(fig, title, _table_labels(group, with_shots=True), colours, True, out_dir / _file_name(name, prefix)))
    return paths


# ---------------------------------------------------------------------------------------------
# Cross-dataset transfer and domain generalisation
# ---------------------------------------------------------------------------------------------
def plot_transfer(table: Table, out_dir: Path, ci95: bool, note: str) -> Path:
    """One table's rows as bars over the source, the targets and the targets' average (``<name>.png``)."""
    plt = _pyplot()
    bm = benchmarks()
    source = bm.sources[table.protocol]
    datasets: set[str] = set()
    series, labels = [], []
    for row in table.rows:
        cells = {c.dataset: c for c in _measured(row)}
        if not cells:
            continue
        first = next(iter(cells.values()))
        datasets.update(cells)
        series.append(cells)
        labels.append(_legend_label(first.method, first.config, first.prefix, first.settings, first.changes, list(cells.values())))
    targets = _dataset_order(datasets - {source})
    groups = ([source] if source in datasets else []) + targets
    width = max(MIN_FIGURE_WIDTH, WIDTH_PER_GROUP * len(groups) * max(MIN_BARS_PER_GROUP, len(series)))
    fig, ax = plt.subplots(figsize=(width, TRANSFER_HEIGHT + TITLE_HEIGHT))
    colours = _colours(len(series))
    partial = _grouped_bars(ax, groups, series, colours)
    separators = [1] if groups[:1] == [source] and len(groups) > 1 else []
    _finish_bar_axis(ax, groups, [_x_label(d) for d in groups], "accuracy (%)", separators)
    title = (
        _title(table.heading, f"trained on {bm.display_name(source)}", note),
        f"mean over seeds, error bars {_spread_text(ci95)}; Average: over the targets{_partial_text(partial, 'hatched')}",
    )
    return _finish(fig, title, labels, colours, False, out_dir / f"{table.name}.png")


# ---------------------------------------------------------------------------------------------
# Grids (parse_results.py --grid KEY)
# ---------------------------------------------------------------------------------------------
GRID_COLUMNS = 4  # panels per row of a grid figure that has one column per dataset


def _grid_series(table: Table) -> dict[tuple[str, ...], list[tuple[str, dict[str, Cell]]]]:
    """A grid table's lines: (method, recipe[, other swept values]) -> [(x value, column -> cell)]."""
    series: dict[tuple[str, ...], list[tuple[str, dict[str, Cell]]]] = defaultdict(list)
    for row in table.rows:
        labels = [str(c) for c in row[: table.label_columns]]
        cells = {c.column: c for c in _measured(row[table.label_columns :])}
        series[tuple(labels[:-1])].append((labels[-1], cells))
    return series


def _numeric(values: Sequence[str]) -> bool:
    try:
        [float(v) for v in values]
    except ValueError:
        return False
    return True


def plot_grid(tables: Sequence[Table], out_dir: Path, ci95: bool, note: str) -> list[Path]:
    """One figure per (prefix, protocol, shots) of grid tables: the metric (Base / New / HM in
    three columns for base-to-new) against the swept key, a panel per dataset and the average,
    one line per method, recipe and combination of the other swept keys, with a band of ± the
    spread over seeds (none for HM and averages: derived values)."""
    plt = _pyplot()
    groups: dict[tuple[str, str, int | None, str], list[Table]] = defaultdict(list)
    for table in tables:
        groups[(table.prefix, table.protocol, table.shots, table.grid_key)].append(table)
    paths = []
    for (prefix, protocol, shots, key), group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or 0)):
        series_of = [_grid_series(t) for t in group]
        lines = list(dict.fromkeys(name for s in series_of for name in s))  # first seen first: table order
        columns = [h for h in group[0].headers[group[0].label_columns :] if h not in COST_COLUMNS]
        xs = list(dict.fromkeys(x for s in series_of for points in s.values() for x, _ in points))
        numeric = _numeric(xs)
        position = {x: float(x) if numeric else i for i, x in enumerate(xs)}
        panels = [(t, series, column) for t, series in zip(group, series_of) for column in columns]
        ncols = len(columns) if len(columns) > 1 else min(GRID_COLUMNS, len(panels))
        nrows = math.ceil(len(panels) / ncols)
        fig, axes = plt.subplots(nrows, ncols, figsize=(FEWSHOT_PANEL_WIDTH * ncols, PANEL_HEIGHT * nrows + TITLE_HEIGHT), squeeze=False)
        colours = _colours(len(lines))
        for ax, (table, series, column) in zip(axes.flat, panels):
            values: list[float] = []
            for colour, name in zip(colours, lines):
                points = sorted(((position[x], cells[column]) for x, cells in series.get(name, []) if column in cells), key=lambda p: p[0])
                if not points:
                    continue
                x, means = [p for p, _ in points], [c.mean for _, c in points]
                ax.plot(x, means, color=colour, marker="o", markersize=MARKER_SIZE)
                partial = [(px, c.mean) for px, c in points if c.covers]  # an average over fewer datasets: hollow
                if partial:
                    ax.plot(*zip(*partial), linestyle="none", marker="o", markersize=MARKER_SIZE + 2, markerfacecolor="white", color=colour)
                spreads = [c.spread or 0.0 for _, c in points]
                if any(spreads):
                    low, high = [m - s for m, s in zip(means, spreads)], [m + s for m, s in zip(means, spreads)]
                    ax.fill_between(x, low, high, color=colour, alpha=BAND_ALPHA, linewidth=0)
                    values += low + high
                values += means
            ax.set_xticks([position[x] for x in xs])
            ax.set_xticklabels(xs, fontsize=TICK_FONT)
            _set_accuracy_axis(ax, *_curve_limits(values))
            ax.tick_params(axis="y", labelsize=TICK_FONT)
            ax.grid(alpha=GRID_ALPHA)
            ax.set_title(f"{_x_label(table.dataset)}" + (f": {column}" if len(columns) > 1 else ""), fontsize=TITLE_FONT)
            ax.set_xlabel(key.split(".")[-1], fontsize=TICK_FONT)
        for ax in axes.flat[len(panels) :]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel("accuracy (%)")
        detail = f"{group[0].heading.lower()}, {shots} shot{'' if shots == 1 else 's'}" + (f", under {prefix}/" if prefix else "")
        partial = any(c.covers for t in group for row in t.rows for c in row if isinstance(c, Cell))
        subtitle = f"mean over seeds, band {_spread_text(ci95)}" + ("; hollow: an average over fewer datasets" if partial else "")
        title = (f"Grid over {key}, {detail}" + (f" ({note})" if note else ""), subtitle)
        labels = [", ".join(name) for name in lines]
        stem = f"grid_{protocol}_{shots}shots_{_slug(key)}"
        paths.append(_finish(fig, title, labels, colours, True, out_dir / _file_name(stem, prefix)))
    return paths


def plot_tables(tables: Sequence[Table], out_dir: Path, ci95: bool = False, note: str = "") -> list[Path]:
    """Write the figures of ``tables`` into ``out_dir``; the paths written, in order.

    ``note`` goes into every title (e.g. "synthetic data").
    """
    out_dir = Path(out_dir)
    paths = plot_grid([t for t in tables if t.kind == GRID], out_dir, ci95, note)
    paths += plot_base2new([t for t in tables if t.kind == BASE_NEW], out_dir, ci95, note)
    paths += plot_fewshot([t for t in tables if t.kind == SHOTS_CURVE], out_dir, ci95, note)
    paths += [plot_transfer(t, out_dir, ci95, note) for t in tables if t.kind == TRANSFER]
    return paths
