"""The command line of ``parse_results.py``: find the runs, print the tables, write the figures.

Usage::

    python parse_results.py output/                       # all tables
    python parse_results.py output/base2new --format md   # markdown
    python parse_results.py output/ --format csv --out results.csv
    python parse_results.py output/ --plot figures/       # and one PNG per table kind and setting
    python parse_results.py output/ --grid TRAINER.MUDPT.PROMPT_DEPTH --plot figures/  # a sweep.py --grid
    python parse_results.py output/ --cost                # params, ms/iter and peak MB columns too
    python parse_results.py --status output/base2new/train_base/dtd/shots_16/MuDPT/cfg/seed1

``--status`` prints ``complete``, ``incomplete`` or ``missing`` and exits with 0, 1 or 2.
Otherwise the exit status is 0 when there is a table, 1 when no run has a result (the runs found
are listed with the reason), 2 for bad arguments (``error: ...``, saying what to fix).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Sequence

from .logs import DEFAULT_KEYWORD, STATUS_EXIT_CODES, run_status

__all__ = ["build_parser", "main"]

EXIT_NO_RESULTS = 1
EXIT_USAGE = 2
KEYWORD_RE = re.compile(r"\w+")


def build_parser() -> argparse.ArgumentParser:
    from .render import FORMATS

    parser = argparse.ArgumentParser(
        prog="parse_results.py",
        description="Tabulate the test results of MuDPT / CoOp / CoCoOp / MaPLe runs found below a directory.",
        epilog="Example: python parse_results.py output/ --format md --out results.md --plot figures/",
    )
    parser.add_argument("directory", nargs="?", type=Path, help="directory to search for runs (e.g. output/)")
    parser.add_argument(
        "--status", metavar="RUN_DIR", type=Path, help="print complete/incomplete/missing for one run dir; exit 0/1/2"
    )
    parser.add_argument("--keyword", default=DEFAULT_KEYWORD, help="metric to report (default: accuracy, or macro_f1)")
    parser.add_argument("--ci95", action="store_true", help="report the 95%% confidence interval of the mean (Student's t, sample std) instead of the std over seeds")
    parser.add_argument("--format", choices=FORMATS, default="text", help="output format (default: text)")
    parser.add_argument("--out", type=Path, help="write the output to this file (atomically) instead of stdout")
    parser.add_argument("--runs", action="store_true", help="list every run with its metrics instead of the tables")
    parser.add_argument(
        "--plot",
        metavar="DIR",
        type=Path,
        help="also write figures (PNG) of the base-to-new, few-shot, cross-dataset and DG tables into DIR",
    )
    parser.add_argument("--plot-note", default="", metavar="TEXT", help="a note for every figure's title (e.g. \"synthetic data\")")
    parser.add_argument(
        "--grid",
        metavar="KEY",
        help="the grids of sweep.py --grid instead of the tables: accuracy against the swept config key KEY "
        "(e.g. TRAINER.MUDPT.PROMPT_DEPTH), one row (and line, with --plot) per combination of the other swept keys",
    )
    parser.add_argument(
        "--cost",
        action="store_true",
        help="add the columns params / ms/iter / peak MB (mean over seeds of the training runs' run.json cost; - where none)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from engine.errors import UserError

    try:
        return _main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE


def _out_error(out: Path, reason: str):
    from engine.errors import ConfigError

    return ConfigError(f"--out {out} cannot be written: {reason}. Give a file in a folder you can write to, e.g. --out results.txt")


def _plot_error(plot: Path, reason: str):
    from engine.errors import ConfigError

    return ConfigError(f"--plot {plot} cannot be created: {reason}. Give a folder you can write to, e.g. --plot figures/ (it is created if needed)")


def _check_paths(root: Path, out: Path | None, plot: Path | None) -> None:
    """Bad paths stop before any work (not after the tables were printed)."""
    from engine.errors import ConfigError
    from engine.utils import unwritable_reason

    if not root.exists():
        raise ConfigError(f"directory not found: {root} (give the runs' output directory, e.g. output/)")
    if not root.is_dir():
        raise ConfigError(f"{root} is a file; give the directory that holds the runs (e.g. output/)")
    if out is not None and out.is_dir():
        raise ConfigError(f"--out {out} is a directory; give a file name, e.g. --out {out / 'results.txt'}")
    if plot is not None and plot.exists() and not plot.is_dir():
        raise ConfigError(f"--plot {plot} is a file; give a directory for the figures (it is created if needed)")
    for path, error in ((out, _out_error), (plot, _plot_error)):
        reason = None if path is None else unwritable_reason(str(path))
        if reason:
            raise error(path, reason)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not KEYWORD_RE.fullmatch(args.keyword):
        parser.error(f"--keyword must be a metric name such as accuracy or macro_f1, got {args.keyword!r}")
    if args.status is not None:
        if args.directory is not None:
            parser.error("give either DIR or --status RUN_DIR, not both")
        status = run_status(args.status, args.keyword)
        print(status)
        return STATUS_EXIT_CODES[status]
    if args.directory is None:
        parser.error("the directory to parse is required (e.g. python parse_results.py output/)")
    if args.runs and args.plot is not None:
        parser.error("--plot draws the tables; --runs lists runs instead of tables: give one of them")
    if args.runs and (args.grid or args.cost):
        parser.error(f"{'--grid' if args.grid else '--cost'} shapes the tables; --runs lists runs instead of tables: give one of them")
    root: Path = args.directory
    _check_paths(root, args.out, args.plot)

    from .layouts import find_runs
    from .render import render_incomplete, render_repeats

    runs = find_runs(root, args.keyword)
    if not runs:
        print(f"No runs found under {root}: no log.txt and no seed<N> directory below it.", file=sys.stderr)
        return EXIT_NO_RESULTS
    abs_root = Path(os.path.abspath(root))
    report, results, tables = _report(runs, abs_root, args)
    if args.out is not None:
        from engine.utils import atomic_write_text, error_under

        try:
            atomic_write_text(str(args.out), report)
        except OSError as e:
            if not error_under(e, str(args.out.parent)):
                raise
            raise _out_error(args.out, f"{e.strerror} ({os.fsdecode(e.filename)})") from None
        print(f"Wrote {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(report)
    if args.format == "csv" and not args.runs:
        # stdout / the file stay pure CSV; the listings go to stderr.
        for section in (render_repeats(results.repeats, abs_root, "csv"), render_incomplete(runs, abs_root, "csv")):
            sys.stderr.write(section)
    if args.plot is not None:
        from engine.utils import error_under

        from .plots import plot_tables

        try:
            paths = plot_tables(tables, args.plot, ci95=args.ci95, note=args.plot_note)
        except OSError as e:
            if not error_under(e, str(args.plot)):
                raise
            raise _plot_error(args.plot, f"{e.strerror} ({os.fsdecode(e.filename)})") from None
        nothing = f"no grid over {args.grid}" if args.grid else "no base-to-new, few-shot, cross-dataset or DG results"
        where = ", ".join(str(p) for p in paths) if paths else f"none: {nothing}"
        print(f"Figures: {where}", file=sys.stderr)
    return 0 if tables or args.runs else EXIT_NO_RESULTS


def _report(runs, root: Path, args: argparse.Namespace):
    """The text to write, the seed averages and the tables."""
    from .render import (
        render_csv,
        render_incomplete,
        render_repeats,
        render_runs,
        render_tables,
    )
    from .grids import grid_tables
    from .tables import Results, add_cost_columns, build_tables, group_results

    if args.runs:
        return render_runs(runs, root, args.format, args.keyword), Results(), []
    results = group_results(runs, args.keyword, args.ci95)
    tables = grid_tables(results, args.grid, args.keyword) if args.grid else build_tables(results, args.keyword)
    if args.cost:
        add_cost_columns(tables, results)
    if args.format == "csv":
        return render_csv(tables), results, tables
    if tables:
        sections = [render_tables(tables, args.format, args.ci95)]
    elif args.grid:
        sections = [f"No grid over {args.grid}: no complete run (with '{args.keyword}') of this repository has it in its config.yaml.\n"]
    else:
        sections = [f"No complete results for '{args.keyword}'.\n"]
    for section in (render_repeats(results.repeats, root, args.format), render_incomplete(runs, root, args.format)):
        if section:
            sections.append(section)
    return "\n".join(sections), results, tables
