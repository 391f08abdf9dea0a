"""The command line of the analyses.

Usage (from the repository root)::

    python -m analysis alignment RUN_DIR [RUN_DIR ...] --out DIR [--split test|val] [--zero-shot]
        [--max-images N] [--classes base|new|all] [--root DATA] [--load-epoch E] [--no-plots]

Each RUN_DIR is the output folder of a ``train.py`` run (config.yaml, run.json, checkpoints), or a
folder above such runs: every trained run below it (those holding a checkpoint), sorted.
Writes DIR/alignment.json, DIR/alignment.md, DIR/alignment_*.png (see ``docs/alignment.md``) and
DIR/alignment.log (every log line; ``--verbose`` shows them on the console too).

Errors: bad input (``engine.errors.UserError``: not a run folder, no checkpoint, data not found)
prints one line, ``error: ...``, saying what to fix, and exits 1; bad arguments exit 2.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import Sequence

DEBUG_ENV = "MUDPT_DEBUG"  # set: user errors keep their traceback (as train.py)
LOG_NAME = "alignment.log"  # in --out: every log line of building and measuring the runs


def build_parser() -> argparse.ArgumentParser:
    from analysis.alignment import SPLITS

    parser = argparse.ArgumentParser(prog="python -m analysis", description="Analyses of trained prompt-tuning runs.")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser(
        "alignment",
        help="image-text alignment of trained runs against frozen CLIP (docs/alignment.md)",
        description="Modality gap, true-class cosine and margin, movement from frozen CLIP (features and per block), "
        "cross-modal prompt cosine per layer, for each run; written to --out as JSON, Markdown and PNG.",
    )
    p.add_argument("runs", nargs="+", metavar="RUN_DIR",
                   help="output folders of train.py runs, or folders above them (every trained run below, sorted)")  # fmt: skip
    p.add_argument("--out", required=True, help="folder for alignment.json, alignment.md and the figures")
    p.add_argument("--split", choices=SPLITS, default="test", help="the split to measure on (default: test)")
    p.add_argument("--zero-shot", action="store_true", help="add frozen CLIP with the hand-crafted prompt as a reference row")
    p.add_argument("--max-images", type=int, default=None, help="measure on the first N images of the split only")
    p.add_argument("--classes", choices=("base", "new", "all"), default="",
                   help="evaluate on these classes (DATASET.SUBSAMPLE_CLASSES; default: the run's own), e.g. new for a base-trained run")  # fmt: skip
    p.add_argument("--root", default="", help="datasets root, if the data moved since training (DATASET.ROOT)")
    p.add_argument("--load-epoch", type=int, default=None, help="checkpoint epoch (default: as train.py --eval-only)")
    p.add_argument("--no-plots", action="store_true", help="write the JSON and Markdown only")
    p.add_argument("--verbose", action="store_true", help="print every log line of building the runs")
    p.add_argument("--backend", choices=("auto", "dassl", "builtin"), default=None,
                   help="engine, as train.py --backend (default: $MUDPT_BACKEND or auto)")  # fmt: skip
    return parser


def alignment(args: argparse.Namespace) -> int:
    from analysis.alignment import alignment_measures, find_runs, load_run
    from analysis.report import write_report
    from engine.seam import CONSOLE, ConfigError, get_logger, set_verbose, setup_logger
    from trainers.base import load_frozen_clip

    set_verbose(args.verbose)
    log = get_logger("analysis")
    if args.max_images is not None and args.max_images < 1:
        raise ConfigError(f"--max-images {args.max_images}: give a positive number of images (or leave it out for the whole split).")
    check_out(args.out)
    with out_errors(args.out):
        setup_logger(os.path.join(args.out, LOG_NAME))  # every line there; on the console only what says what happens
    rows, references, clips = [], {}, {}
    for run_dir in [run for path in args.runs for run in find_runs(path)]:
        run = load_run(run_dir, root=args.root, classes=args.classes, load_epoch=args.load_epoch)
        if run.unfinished is not None:
            log.warning(run.unfinished.note())
        backbone = (run.cfg.MODEL.BACKBONE.NAME, run.cfg.MODEL.BACKBONE.PATH, run.cfg.TRAINER[run.trainer.CFG_NODE].get("PREC", ""))
        if backbone not in clips:  # one frozen CLIP per backbone for the references
            clips[backbone] = load_frozen_clip(run.cfg)
        mine, ref = alignment_measures(run, args.split, args.max_images, clips[backbone])
        rows.append(mine)
        key = (ref.identity["dataset"], ref.identity["folder"], ref.identity["classes"], backbone, args.split)
        references.setdefault(key, ref)
        log.info(f"{run_dir}: {mine.identity['method']}, {mine.images} images, accuracy {mine.accuracy:.2f}%, "
              f"gap {mine.modality_gap:.4f}, margin {mine.margin:.4f}", extra=CONSOLE)  # fmt: skip
    if args.zero_shot:
        rows = [r for r in references.values() if not any(_same_reference(r, m) for m in rows)] + rows
    with out_errors(args.out):
        written = write_report(rows, args.out, plots=not args.no_plots)
    for path in written:
        log.info(f"wrote {path}", extra=CONSOLE)
    return 0


def _out_error(out: str, reason: str):
    from engine.seam import ConfigError

    return ConfigError(f"--out {out} cannot be created: {reason}. Give a folder you can write to, e.g. --out alignment/ (it is created if needed)")


def check_out(out: str) -> None:
    """``--out`` is a folder that is there or can be created: checked before any run is measured."""
    from engine.utils import unwritable_reason

    if os.path.exists(out) and not os.path.isdir(out):
        raise _out_error(out, "it is a file")
    reason = unwritable_reason(out)
    if reason:
        raise _out_error(out, reason)


@contextlib.contextmanager
def out_errors(out: str):
    """An ``OSError`` of writing into ``--out`` is the one-line error of a bad ``--out``."""
    from engine.utils import error_under

    try:
        yield
    except OSError as e:
        if not error_under(e, out):
            raise
        raise _out_error(out, f"{e.strerror} ({os.fsdecode(e.filename)})") from None


def _same_reference(ref, row) -> bool:
    """A zero-shot run that already is the reference row (no need to add it twice)."""
    same_data = all(ref.identity[k] == row.identity[k] for k in ("dataset", "folder", "classes", "backbone"))
    return same_data and row.identity["method"] == ref.identity["method"]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.backend:
        os.environ["MUDPT_BACKEND"] = args.backend  # read by engine.seam at first import
    from engine.errors import UserError

    from engine.seam import close_logger, write_log_file

    try:
        return alignment(args)
    except UserError as e:
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"error: {e}", file=sys.stderr)
        write_log_file(f"error: {e}")
        return 1
    finally:
        close_logger()


if __name__ == "__main__":
    sys.exit(main())
