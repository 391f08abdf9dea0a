"""Oxford Flowers 102 (Nilsback & Zisserman, ICVGIP 2008), read as in CoOp (arXiv 2109.01134).

Layout: ``oxford_flowers/jpg/image_*.jpg`` + ``split_zhou_OxfordFlowers.json``. Without the split
file, ``imagelabels.mat`` gives each image's class (1..102), ``cat_to_name.json`` the names, and
each class is shuffled and split 50/20/30.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY, read_json

from .base import CoOpSplitReader
from .common import DRAW_SPLIT, DatasetError, Item, require_files
from .specs import DatasetSpec


def flower_image_name(index: int) -> str:
    """File name of the ``index``-th image (0-based) of the label file: ``image_00001.jpg``, ..."""
    return f"image_{index + 1:05d}.jpg"


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpSplitReader):
    """102 flower species."""

    spec_name = "OxfordFlowers"
    dataset_dir = "oxford_flowers"

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        """Every image with its class, in label-file order (split 50/20/30 per class)."""
        from scipy.io import loadmat  # only needed when a split has to be created

        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        dataset_dir = osp.join(root, spec.folder)
        label_file = osp.join(dataset_dir, "imagelabels.mat")
        names_file = osp.join(dataset_dir, "cat_to_name.json")
        try:
            labels = [int(label) for label in loadmat(label_file)["labels"][0]]
        except (KeyError, IndexError, ValueError, OSError) as e:
            raise DatasetError(f"OxfordFlowers: cannot read labels from {label_file} ({e}). Fix: fetch it again.") from e
        lab2cname = read_json(names_file)
        unnamed = sorted({str(label) for label in labels if str(label) not in lab2cname})
        if unnamed:
            raise DatasetError(f"OxfordFlowers: {names_file} has no name for classes {unnamed[:5]}. Fix: fetch it again.")
        items = [(flower_image_name(i), label - 1, lab2cname[str(label)]) for i, label in enumerate(labels)]
        return {"all": items}, label_file
