"""Food-101 (Bossard et al., ECCV 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``food-101/images/<class>/*.jpg`` + ``split_zhou_Food101.json``. Without the split file,
each class folder is shuffled and split 50/20/30 (CoOp does not use the official meta/ lists).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader


@DATASET_REGISTRY.register()
class Food101(ClassFolderReader):
    """101 dishes; class names are the folder names (``apple_pie``)."""

    spec_name = "Food101"
    dataset_dir = "food-101"
