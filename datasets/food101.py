"""Food-101 (Bossard et al., ECCV 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``food-101/images/<class>/*.jpg`` + ``split_zhou_Food101.json``. Without the split file,
each class folder is shuffled and split 50/20/30 (CoOp does not use the official meta/ lists).
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .common import Item, list_class_folders
from .specs import DatasetSpec


@DATASET_REGISTRY.register()
class Food101(CoOpSplitReader):
    """101 dishes; class names are the folder names (``apple_pie``)."""

    spec_name = "Food101"
    dataset_dir = "food-101"

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        image_dir = osp.join(root, spec.image_dir_rel)
        return {"all": list_class_folders(spec, root, image_dir)}, image_dir
