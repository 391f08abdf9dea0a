"""DescribableTextures (DTD; Cimpoi et al., CVPR 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``dtd/images/<class>/*.jpg`` + ``split_zhou_DescribableTextures.json``. Without the split
file, each class folder is shuffled and split 50/20/30.
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader


@DATASET_REGISTRY.register()
class DescribableTextures(ClassFolderReader):
    """47 texture classes; class names are the folder names."""

    spec_name = "DescribableTextures"
    dataset_dir = "dtd"
