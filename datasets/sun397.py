"""SUN397 (Xiao et al., CVPR 2010), read as in CoOp (arXiv 2109.01134).

Layout: ``sun397/SUN397/<letter>/<class>[/<sub>]/*.jpg`` + ``split_zhou_SUN397.json``. Without
the split file, the official partition 01 (``Training_01.txt``, 50 images per class) is split
80/20 into train/val and ``Testing_01.txt`` is the test set; ``ClassName.txt`` gives the labels.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .common import DRAW_SPLIT, DatasetError, Item, require_files
from .specs import DatasetSpec


def sun_classname(class_path: str) -> str:
    """CoOp's class name of a class path: drop the letter folder, put the qualifier first
    (``b/bakery/shop`` -> ``shop bakery``, ``a/abbey`` -> ``abbey``)."""
    return " ".join(class_path.split("/")[1:][::-1])


def read_sun_list(path: str, cname2lab: dict[str, int]) -> list[Item]:
    """Items of a partition file (lines ``/a/abbey/sun_xxx.jpg``)."""
    items: list[Item] = []
    unknown: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            imname = line.strip()[1:]  # drop the leading "/"
            if not imname:
                continue
            class_path = osp.dirname(imname)
            if class_path not in cname2lab:
                unknown.append(imname)
                continue
            items.append((imname, cname2lab[class_path], sun_classname(class_path)))
    if unknown:
        raise DatasetError(f"SUN397: {path} lists images of classes missing from ClassName.txt: {unknown[:5]}")
    return items


@DATASET_REGISTRY.register()
class SUN397(CoOpSplitReader):
    """397 scene categories."""

    spec_name = "SUN397"
    dataset_dir = "sun397"

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        dataset_dir = osp.join(root, spec.folder)
        with open(osp.join(dataset_dir, "ClassName.txt"), encoding="utf-8") as f:
            classnames = [line.strip()[1:] for line in f if line.strip()]
        cname2lab = {c: i for i, c in enumerate(classnames)}
        trainval = read_sun_list(osp.join(dataset_dir, "Training_01.txt"), cname2lab)
        test = read_sun_list(osp.join(dataset_dir, "Testing_01.txt"), cname2lab)
        return {"trainval": trainval, "test": test}, osp.join(dataset_dir, "Training_01.txt")
