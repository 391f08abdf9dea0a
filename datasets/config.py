"""The dataset keys of the project's config: declared (``add_dataset_config``, before any yaml is
merged), validated with the fix (``check_subsample``, ...; all of them after merging:
``datasets.config_checks``) and read (``dataset_root``, ...)."""
from __future__ import annotations

import os.path as osp
from typing import Any

from .errors import DatasetError
from .specs import DatasetSpec

__all__ = [
    "NUM_SHOTS_ALL",
    "SUBSAMPLE_CHOICES",
    "add_dataset_config",
    "check_subsample",
    "dataset_root",
    "reject_split_file",
    "split_file_setting",
]

SUBSAMPLE_CHOICES = ("all", "base", "new")
NUM_SHOTS_ALL = -1  # DATASET.NUM_SHOTS: Dassl's value for "the whole training set"


def add_dataset_config(cfg: Any) -> None:
    """Add the dataset keys of the CoOp family to ``cfg`` (call before merging yaml files)."""
    # Which classes to use (the base-to-new protocol of CoCoOp): "all"; "base" = the first
    # ceil(n/2) labels; "new" = the remaining ones. Both halves are relabelled from 0, after
    # few-shot sampling, so base and new runs of one seed share one few-shot subset.
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    # A split file in CoOp's format to use instead of the benchmark's official one (relative to the
    # dataset folder, or absolute), e.g. one drawn by `python -m datasets.make_split`; "" = official.
    cfg.DATASET.SPLIT_FILE = ""
    # Your own data (DATASET.NAME ImageFolder or CSVDataset, datasets/own_data.py): the folder that
    # holds it, relative to DATASET.ROOT or absolute. A result key, unlike DATASET.ROOT: it says
    # *which* dataset a run is on, as DATASET.NAME does (so sweeps on two folders never share a run
    # folder); the content is guarded by the sha256 of its split or CSV files in run.json.
    cfg.DATASET.FOLDER = ""
    # Your own data: a file mapping class keys (folder names, CSV labels) to class names, relative to
    # DATASET.FOLDER or absolute; "" = classnames.txt or classnames.json there if present, else the keys.
    cfg.DATASET.CLASSNAMES = ""
    # The hand-crafted zero-shot prompt, {} standing for the class name; "" = the dataset's own
    # (a benchmark's, from its facts; "a photo of a {}." for your own data).
    cfg.DATASET.TEMPLATE = ""


def check_subsample(value: Any) -> str:
    """Validate ``DATASET.SUBSAMPLE_CLASSES`` (all / base / new)."""
    if not isinstance(value, str) or value.lower() not in SUBSAMPLE_CHOICES:
        raise DatasetError(
            f"DATASET.SUBSAMPLE_CLASSES={value!r} is not valid; use one of {', '.join(SUBSAMPLE_CHOICES)} "
            "(base = first half of the classes, new = second half; e.g. `DATASET.SUBSAMPLE_CLASSES base`)."
        )
    return value.lower()


def split_file_setting(cfg: Any, dataset_dir: str) -> str | None:
    """``DATASET.SPLIT_FILE`` as a path (relative paths are inside the dataset folder), or None."""
    value = cfg.DATASET.get("SPLIT_FILE", "")
    if not value:
        return None
    return osp.join(dataset_dir, osp.expanduser(value))


def reject_split_file(cfg: Any, spec: DatasetSpec) -> None:
    """ImageNet and its test-only variants are read from their folders: no split file applies."""
    if cfg.DATASET.get("SPLIT_FILE", ""):
        raise DatasetError(
            f"DATASET.SPLIT_FILE does not apply to {spec.name} (it is read from its class folders); leave it empty."
        )


def dataset_root(cfg: Any) -> str:
    """``DATASET.ROOT`` as an absolute path (``~`` expanded), or an error if it is unset."""
    root = cfg.DATASET.ROOT
    if not root:
        raise DatasetError(
            "DATASET.ROOT is empty: pass the folder that holds your datasets (e.g. `--root /data`). "
            "DATASETS.md describes the expected layout."
        )
    return osp.abspath(osp.expanduser(root))

