"""Draw a split of a benchmark from its official files: ``python -m datasets.make_split``.

For when CoOp's published split file cannot be had (offline cluster, Google Drive quota) and
comparability with published numbers is not needed. It draws the split exactly as CoOp's reader
would with that seed (per-class shuffle 50/20/30 of the class folders, or 80/20 of the official
trainval list), checks that every image exists, and writes it in CoOp's format under a name of
its own, ``split_generated_<Name>_seed<S>.json`` next to the official one, never under the
official name. Train on it with ``DATASET.SPLIT_FILE split_generated_<Name>_seed<S>.json``;
the run records the file's sha256 like any other input.

    python -m datasets.make_split --root $DATA --dataset food101 --seed 1
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from typing import Sequence

from engine.seam import DATASET_REGISTRY, UserError, get_logger, set_random_seed

from .base import CoOpSplitReader
from .errors import DatasetError
from .hints import require_dataset_folder
from .images import build_datums
from .specs import dataset_names, spec_for
from .split_drawing import make_split
from .split_files import generated_split_name, write_split

__all__ = ["main", "make_split_file"]

_log = get_logger("datasets.make_split")


def make_split_file(root: str, name: str, seed: int = 1, out: str | None = None) -> str:
    """Draw the split of benchmark ``name`` with ``seed`` and write it; returns its path."""
    spec = spec_for(name)
    reader = DATASET_REGISTRY.get(spec.name)
    if not issubclass(reader, CoOpSplitReader):
        raise DatasetError(f"{spec.name} is read from its class folders; it has no split to draw.")
    dataset_dir = require_dataset_folder(spec, root)
    path = osp.abspath(out or osp.join(dataset_dir, generated_split_name(spec.name, seed)))
    if spec.split_file and osp.basename(path) == spec.split_file:
        raise DatasetError(f"{path} is the official split file's name; a drawn split never takes it. Choose another --out.")
    if osp.exists(path):
        raise DatasetError(f"{path} already exists: train on it with DATASET.SPLIT_FILE, or delete it to draw again.")
    set_random_seed(seed)  # CoOp's reader draws the split first thing after seeding
    official, source = reader.read_source(spec, root)
    split = make_split(spec, official)
    image_dir = osp.join(root, spec.image_dir_rel)
    build_datums(spec, root, image_dir, split, source)  # every image must exist
    write_split(split, path)
    if not osp.isfile(path):
        raise DatasetError(f"Could not write {path} (see the warning above); pass a writable --out.")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datasets.make_split", description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=os.environ.get("DATA"), help="the data root (DATASET.ROOT); default $DATA")
    parser.add_argument("--dataset", required=True, help=f"one of {', '.join(dataset_names())} (or its config name)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the draw (default 1)")
    parser.add_argument("--out", help="where to write it (default: the dataset folder, split_generated_<Name>_seed<S>.json)")
    args = parser.parse_args(argv)
    if not args.root:
        parser.error("--root is required (or set $DATA)")
    root = osp.abspath(osp.expanduser(args.root))
    try:
        path = make_split_file(root, args.dataset, args.seed, args.out)
    except KeyError as e:  # unknown dataset name
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    spec = spec_for(args.dataset)
    rel = osp.relpath(path, osp.join(root, spec.folder))
    _log.info(f"Train on it with: DATASET.SPLIT_FILE {rel if not rel.startswith('..') else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
