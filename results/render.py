"""Writing tables out: text, markdown, LaTeX or tidy CSV, and the listings of runs.

Numbers have two decimals, as CoOp's ``parse_test_res.py`` and the papers' tables; a cell is
``mean ± spread``, with ``(2 of 3 seeds)`` when runs of its setting's seeds are missing from it
(failed, interrupted or not run), else ``(n=k)`` when its seed count differs from the table's usual
one. A caption names the table, the effective settings of its runs and what the spread is.
"""
from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from .layouts import Run, relative
from .logs import COMPLETE, EXTRA_METRIC, INCOMPLETE
from .tables import Cell, Repeat, Table, spread_name

__all__ = [
    "CSV_FIELDS",
    "FORMATS",
    "format_cell",
    "modal_seeds",
    "render_csv",
    "render_incomplete",
    "render_repeats",
    "render_runs",
    "render_table",
    "render_tables",
    "table_caption",
]

DECIMALS = 2  # as CoOp's parse_test_res.py and the papers' tables
TABLE_FORMATS: dict[str, str] = {"text": "psql", "md": "pipe", "latex": "latex_raw"}
FORMATS = (*TABLE_FORMATS, "csv")
CSV_FIELDS = (
    "protocol",
    "prefix",
    "method",
    "config",
    "shots",
    "dataset",
    "column",
    "mean",
    "spread",
    "n",
    "seeds_expected",
    "covers",
    "settings",
    "changes",
)


def modal_seeds(table: Table) -> int | None:
    """The most common number of seeds in a table (ties: the larger)."""
    counts = Counter(cell.n for row in table.rows for cell in row if isinstance(cell, Cell) and cell.n is not None)
    if not counts:
        return None
    return max(counts, key=lambda n: (counts[n], n))


def seeds_text(cell: Cell) -> str:
    """``2 of 3 seeds`` for a cell missing runs of its setting's seeds, else ""."""
    return f"{cell.n} of {cell.expected} seeds" if cell.expected and cell.n is not None and cell.n < cell.expected else ""


def format_cell(cell: object, modal_n: int | None) -> str:
    """``71.23 ± 0.31``, ``71.23 ± 0.31 (2 of 3 seeds)`` when runs are missing from it,
    ``71.23 ± 0.31 (n=2)`` when its seed count otherwise differs, or ``-``."""
    if cell is None:
        return "-"
    if not isinstance(cell, Cell):
        return str(cell)
    text = f"{cell.mean:.{DECIMALS if cell.decimals is None else cell.decimals}f}"
    if cell.spread is not None:
        text += f" ± {cell.spread:.{DECIMALS}f}"
    if seeds_text(cell):
        text += f" ({seeds_text(cell)})"
    elif cell.n is not None and cell.n != modal_n:
        text += f" (n={cell.n})"
    if cell.note:
        text += f" {cell.note}"
    return text


def table_caption(table: Table, ci95: bool) -> str:
    """``<title> (<settings>; mean ± std over 3 seeds)``."""
    parts = [table.settings] if table.settings else []
    modal_n = modal_seeds(table)
    if modal_n is not None:
        cells = [c for row in table.rows for c in row if isinstance(c, Cell)]
        missing = any(seeds_text(c) for c in cells)
        mixed = any(c.n is not None and c.n != modal_n and not seeds_text(c) for c in cells)
        marked = ", n=k where marked" if mixed else ""
        marked += ", k of n seeds where runs are missing" if missing else ""
        if modal_n == 1:
            parts.append(f"1 seed, so no ± {spread_name(ci95)}{marked}")
        else:
            parts.append(f"mean ± {spread_name(ci95)} over {modal_n} seeds{marked}")
    return f"{table.title} ({'; '.join(parts)})" if parts else table.title


_LATEX_SPECIAL = {
    "\\": "\\textbackslash{}",
    "&": "\\&",
    "%": "\\%",
    "$": "\\$",
    "#": "\\#",
    "_": "\\_",
    "{": "\\{",
    "}": "\\}",
    "~": "\\textasciitilde{}",
    "^": "\\textasciicircum{}",
    "±": "$\\pm$",
}


def _latex_escape(text: str) -> str:
    """``text`` as LaTeX prints it literally (one pass, so no replacement is escaped again)."""
    return "".join(_LATEX_SPECIAL.get(char, char) for char in text)


def render_table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], fmt: str, title: str, label_columns: int = 1
) -> str:
    """One titled table in text, md or latex; numbers right-aligned after the label columns."""
    if fmt == "latex":
        headers = [_latex_escape(h) for h in headers]
        rows = [[_latex_escape(c) for c in row] for row in rows]
        title = _latex_escape(title)
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
                            cell.prefix,
                            cell.method,
                            cell.config,
                            "" if cell.shots is None else cell.shots,
                            cell.dataset,
                            cell.column,
                            repr(cell.mean),
                            "" if cell.spread is None else repr(cell.spread),
                            "" if cell.n is None else cell.n,
                            "" if cell.expected is None else cell.expected,
                            cell.covers,
                            cell.settings,
                            "" if cell.changes is None else cell.changes,
                        ]
                    )
    return out.getvalue()


def _listing_format(fmt: str) -> str:
    return "text" if fmt == "csv" else fmt


def render_incomplete(runs: Sequence[Run], root: Path, fmt: str) -> str:
    """The section listing runs without a result, and why."""
    incomplete = [run for run in runs if not run.complete]
    if not incomplete:
        return ""
    rows = [[relative(run.path, root), run.reason] for run in incomplete]
    title = f"Incomplete runs ({len(incomplete)})"
    return render_table(["Run", "Reason"], rows, _listing_format(fmt), title, label_columns=2)


def render_repeats(repeats: Sequence[Repeat], root: Path, fmt: str) -> str:
    """The section listing complete runs left out because another run has their key and seed."""
    if not repeats:
        return ""
    rows = [[relative(r.run.path, root), relative(r.used.path, root)] for r in repeats]
    title = (
        f"Repeated runs (not averaged) ({len(repeats)}): each method, config, dataset, shots and seed counts once; "
        "the first run by path is used"
    )
    return render_table(["Run left out", "Run used"], rows, _listing_format(fmt), title, label_columns=2)


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
        rows.append([relative(run.path, root), status, log, run.reason, *numbers])
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerows([headers, *rows])
        return out.getvalue()
    return render_table(headers, rows, fmt, f"Runs ({len(runs)})", label_columns=4)
