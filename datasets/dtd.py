"""DescribableTextures (DTD; Cimpoi et al., CVPR 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``dtd/images/<class>/*.jpg`` + ``split_zhou_DescribableTextures.json``. Without the split
file, each class folder is shuffled and split 50/20/30.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .common import Item, list_class_folders
from .specs import DatasetSpec


@DATASET_REGISTRY.register()
class DescribableTextures(CoOpSplitReader):
    """47 texture classes; class names are the folder names."""

    spec_name = "DescribableTextures"
    dataset_dir = "dtd"

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        image_dir = osp.join(root, spec.image_dir_rel)
        return {"all": list_class_folders(spec, root, image_dir)}, image_dir
