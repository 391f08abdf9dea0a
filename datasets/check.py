"""The data check: ``python -m datasets.check --root DATA [--dataset NAME ...]``, or
``--dataset imagefolder|csvdataset --folder F`` for your own data.

For each benchmark it reports whether the folder is there, the expected (published) and found
number of images per split and of classes, the images a split lists that are missing, the
images that cannot be decoded, and for every problem the exact fix (what to download, where to
put it, which file is missing). It reads with the same code as the readers and writes nothing.
The checks are :mod:`datasets.benchmark_check` and :mod:`datasets.own_data_check`.

Severity: FAIL (the reader would stop, or an image cannot be loaded), WARN (it would run, but
not on the published benchmark: a missing split file, other counts), MISSING (no dataset
folder). The exit code is 1 when anything FAILs or is MISSING (with ``--strict`` also on WARN),
else 0.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Sequence

from engine.seam import get_logger

from .benchmark_check import check_benchmarks
from .findings import FAIL, WARN
from .own_data import own_data_kind
from .own_data_check import check_own_data, format_own_report
from .specs import dataset_names, spec_for

__all__ = ["main"]

_log = get_logger("datasets.check")

# The default of --workers (processes that decode images).
DEFAULT_WORKERS = 8


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.check",
        description="Check the benchmark folders under a data root and say how to fix what is wrong.",
    )
    parser.add_argument("--root", default=os.environ.get("DATA"), help="the data root (DATASET.ROOT); default $DATA")
    parser.add_argument(
        "--dataset",
        nargs="+",
        default=None,
        metavar="NAME",
        help=f"benchmarks to check (default: all): {', '.join(dataset_names())}",
    )
    own = parser.add_argument_group("your own data (--dataset imagefolder or csvdataset; DATASETS.md, 'Your own data')")
    own.add_argument("--folder", help="the folder of your data (DATASET.FOLDER: relative to --root, or absolute)")
    own.add_argument("--shots", type=int, default=0, help="warn about classes with fewer training images (DATASET.NUM_SHOTS)")
    own.add_argument("--classnames", default="", help="a class-name file (DATASET.CLASSNAMES; default: classnames.txt/.json there)")
    parser.add_argument("--no-decode", action="store_true", help="only check that files exist; do not open the images")
    parser.add_argument(
        "--workers", type=int, default=min(DEFAULT_WORKERS, os.cpu_count() or 1), help="processes that decode images"
    )
    parser.add_argument("--strict", action="store_true", help="warnings (other counts, missing split file) also fail")
    parser.add_argument(
        "--skip-missing", action="store_true", help="benchmarks without a folder are listed but do not fail the check"
    )
    args = parser.parse_args(argv)
    if not args.root:
        parser.error("--root is required (or set $DATA)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    root = osp.abspath(osp.expanduser(args.root))
    if not osp.isdir(root):
        _log.info(f"Data root {root} does not exist. Create it and lay the datasets out as DATASETS.md describes.")
        return 1
    if args.folder:
        return _main_own_data(args, root)
    own = [n for n in args.dataset or () if own_data_kind(n)]
    if own:
        _log.info(f"--dataset {own[0]} is your own data: name its folder with --folder (relative to --root, or absolute).")
        return 2
    try:
        names = [spec_for(n).name for n in (args.dataset or dataset_names())]
    except KeyError as e:
        _log.info(str(e.args[0]))
        return 2
    return check_benchmarks(root, names, not args.no_decode, args.workers, args.strict, args.skip_missing)


def _main_own_data(args: argparse.Namespace, root: str) -> int:
    """``--folder``: check your own data (one folder, as --dataset imagefolder or csvdataset)."""
    if not args.dataset or len(args.dataset) != 1:
        _log.info("--folder goes with one --dataset: imagefolder or csvdataset (the reader of that folder).")
        return 2
    try:
        report = check_own_data(
            root, args.dataset[0], args.folder, args.shots, args.classnames, decode=not args.no_decode, workers=args.workers
        )
    except KeyError as e:
        _log.info(str(e.args[0]))
        return 2
    _log.info(format_own_report(report))
    failing = {FAIL} | ({WARN} if args.strict else set())
    code = 1 if report.status in failing else 0
    _log.info(f"Summary: {report.status}. " + ("Something needs fixing (see above)." if code else "The folder is usable."))
    return code


if __name__ == "__main__":
    sys.exit(main())
