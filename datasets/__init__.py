"""Readers of the CoOp-family benchmarks, the data check and the download helper.

Importing this package imports every reader module (one per benchmark, found by name), which
registers its reader in ``DATASET_REGISTRY`` under the name the CoOp family uses
(``DescribableTextures``, ``ImageNetA``, ...) and its facts in ``SPECS``. ``add_dataset_config``
adds the project's dataset keys to a yacs config before any yaml is merged. Tools:
``python -m datasets.check``, ``python -m datasets.download``, ``python -m datasets.make_split``.
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from .common import SUBSAMPLE_CHOICES, DatasetError, check_subsample
from .specs import SPECS, dataset_names, spec_for

__all__ = [
    "DatasetError",
    "SPECS",
    "SUBSAMPLE_CHOICES",
    "add_dataset_config",
    "check_dataset_config",
    "dataset_names",
    "spec_for",
]

# Modules of this package that are not benchmark readers: the shared machinery and the tools run
# with `python -m` (importing those here would make runpy warn). Every other module is a reader.
_NOT_READERS = {"base", "common", "specs", "synthetic", "check", "download", "make_split"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_READERS:
        importlib.import_module(f"{__name__}.{_module.name}")


def add_dataset_config(cfg: Any) -> None:
    """Add the dataset keys of the CoOp family to ``cfg`` (call before merging yaml files)."""
    # Which classes to use (the base-to-new protocol of CoCoOp): "all"; "base" = the first
    # ceil(n/2) labels; "new" = the remaining ones. Both halves are relabelled from 0, after
    # few-shot sampling, so base and new runs of one seed share one few-shot subset.
    cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    # A split file in CoOp's format to use instead of the benchmark's official one (relative to the
    # dataset folder, or absolute), e.g. one drawn by `python -m datasets.make_split`; "" = official.
    cfg.DATASET.SPLIT_FILE = ""


NUM_SHOTS_ALL = -1  # DATASET.NUM_SHOTS: Dassl's value for "the whole training set"


def check_dataset_config(cfg: Any) -> None:
    """Validate the dataset keys after merging; raises ``DatasetError`` with the fix."""
    check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))
    shots = cfg.DATASET.NUM_SHOTS
    if not isinstance(shots, int) or isinstance(shots, bool) or (shots < 1 and shots != NUM_SHOTS_ALL):
        raise DatasetError(
            f"DATASET.NUM_SHOTS={shots!r} is not valid: use a positive number of training images per class "
            f"(e.g. 16), or {NUM_SHOTS_ALL} for all of them."
        )
