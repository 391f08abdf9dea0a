"""The check of the dataset keys after merging (:func:`check_dataset_config`): the keys every
dataset reads (``datasets.config``) and those of your own data (``datasets.own_data``), each
error with the fix."""
from __future__ import annotations

from typing import Any

from .config import NUM_SHOTS_ALL, check_subsample
from .errors import DatasetError
from .own_data import check_own_data_config

__all__ = ["check_dataset_config"]


def check_dataset_config(cfg: Any) -> None:
    """Validate the dataset keys after merging (before freezing: ``DATASET.FOLDER`` is written back
    normalised); raises ``DatasetError`` with the fix."""
    check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))
    check_own_data_config(cfg)
    shots = cfg.DATASET.NUM_SHOTS
    if not isinstance(shots, int) or isinstance(shots, bool) or (shots < 1 and shots != NUM_SHOTS_ALL):
        raise DatasetError(
            f"DATASET.NUM_SHOTS={shots!r} is not valid: use a positive number of training images per class "
            f"(e.g. 16), or {NUM_SHOTS_ALL} for all of them."
        )
