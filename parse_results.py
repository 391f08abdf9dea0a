"""Collect test results from Dassl-style run logs and print them as tables (and figures).

The work is done by the :mod:`results` package; this file is its command line.

Usage::

    python parse_results.py output/                       # all tables
    python parse_results.py output/base2new --format md   # markdown
    python parse_results.py output/ --format csv --out results.csv
    python parse_results.py output/ --plot figures/       # PNG figures too
    python parse_results.py --status output/base2new/train_base/dtd/shots_16/MuDPT/cfg/seed1

``--status`` prints ``complete``, ``incomplete`` or ``missing`` and exits with 0, 1 or 2.
"""
from __future__ import annotations

import sys

from results.cli import main

if __name__ == "__main__":
    sys.exit(main())
