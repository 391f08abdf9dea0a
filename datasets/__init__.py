"""Readers of the 15 CoOp-family benchmarks, the data check and the download helper.

Importing this package registers every reader in ``DATASET_REGISTRY`` under the names the CoOp
family uses (``DescribableTextures``, ``ImageNetA``, ...). ``add_dataset_config`` adds the
project's dataset keys to a yacs config before any yaml is merged. Tools:
``python -m datasets.check --root DATA`` and ``python -m datasets.download --root DATA``.
"""
from __future__ import annotations

from typing import Any

from . import (  # noqa: F401  (imported to register the readers)
    caltech101,
    dtd,
    eurosat,
    fgvc_aircraft,
    food101,
    imagenet,
    imagenet_a,
    imagenet_r,
    imagenet_sketch,
    imagenetv2,
    oxford_flowers,
    oxford_pets,
    stanford_cars,
    sun397,
    ucf101,
)
from .common import SUBSAMPLE_CHOICES, DatasetError, check_subsample
from .specs import DATASET_NAMES, SPECS, spec_for

__all__ = [
    "DATASET_NAMES",
    "DatasetError",
    "SPECS",
    "SUBSAMPLE_CHOICES",
    "add_dataset_config",
    "check_dataset_config",
    "spec_for",
]


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
