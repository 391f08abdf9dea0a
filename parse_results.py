"""Collect test results from Dassl-style run logs and print them as tables (and figures).

The work is done by the :mod:`results` package; this file is its command line and keeps the
names other code imports from it (``run_status``, ``find_runs``, ...).

Usage::

    python parse_results.py output/                       # all tables
    python parse_results.py output/base2new --format md   # markdown
    python parse_results.py output/ --format csv --out results.csv
    python parse_results.py output/ --plot figures/       # PNG figures too
    python parse_results.py --status output/base2new/train_base/dtd/shots_16/MuDPT/cfg/seed1

``--status`` prints ``complete``, ``incomplete`` or ``missing`` and exits with 0, 1 or 2.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from results.cli import build_parser, main  # noqa: E402
from results.layouts import Run, RunKey, classify, find_runs  # noqa: E402
from results.logs import (  # noqa: E402
    COMPLETE,
    INCOMPLETE,
    MISSING,
    STATUS_EXIT_CODES,
    LogResult,
    choose_log,
    log_files,
    parse_log,
    run_status,
)
from results.render import CSV_FIELDS, render_csv, render_tables  # noqa: E402
from results.tables import (  # noqa: E402
    Cell,
    Results,
    Stat,
    Table,
    aggregate,
    build_tables,
    group_results,
    harmonic_mean,
)

__all__ = [
    "COMPLETE",
    "CSV_FIELDS",
    "INCOMPLETE",
    "MISSING",
    "STATUS_EXIT_CODES",
    "Cell",
    "LogResult",
    "Results",
    "Run",
    "RunKey",
    "Stat",
    "Table",
    "aggregate",
    "build_parser",
    "build_tables",
    "choose_log",
    "classify",
    "find_runs",
    "group_results",
    "harmonic_mean",
    "log_files",
    "main",
    "parse_log",
    "render_csv",
    "render_tables",
    "run_status",
]

if __name__ == "__main__":
    sys.exit(main())
