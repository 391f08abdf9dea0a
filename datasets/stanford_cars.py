"""Stanford Cars (Krause et al., 3dRR 2013), read as in CoOp (arXiv 2109.01134).

Layout: ``stanford_cars/{cars_train,cars_test}/*.jpg`` + ``split_zhou_StanfordCars.json`` (split
paths start with ``cars_train/`` or ``cars_test/``). Without the split file, the devkit's train
annotations are split 80/20 per class and the labelled test annotations are the test set.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .common import DRAW_SPLIT, DatasetError, Item, require_files
from .specs import DatasetSpec


def car_classname(meta_name: str) -> str:
    """CoOp's class name: the year moved to the front (``AM General Hummer SUV 2000`` -> ``2000 AM General Hummer SUV``)."""
    names = meta_name.split(" ")
    year = names.pop(-1)
    return " ".join([year] + names)


def read_cars_annotations(image_folder: str, anno_file: str, meta_file: str) -> list[Item]:
    """Items of one annotation .mat file (fields ``fname`` and ``class``, 1-based)."""
    from scipy.io import loadmat  # only needed when a split has to be created

    try:
        annos = loadmat(anno_file)["annotations"][0]
        class_names = loadmat(meta_file)["class_names"][0]
        items = []
        for anno in annos:
            label = int(anno["class"][0, 0]) - 1
            items.append((f"{image_folder}/{anno['fname'][0]}", label, car_classname(str(class_names[label][0]))))
    except (KeyError, IndexError, ValueError, TypeError, OSError) as e:
        raise DatasetError(
            f"StanfordCars: cannot read {anno_file} with {meta_file} ({type(e).__name__}: {e}). "
            "Fix: use the original devkit files (see DATASETS.md) or the published split file."
        ) from e
    return items


@DATASET_REGISTRY.register()
class StanfordCars(CoOpSplitReader):
    """196 car models."""

    spec_name = "StanfordCars"
    dataset_dir = "stanford_cars"

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        dataset_dir = osp.join(root, spec.folder)
        meta = osp.join(dataset_dir, "devkit", "cars_meta.mat")
        trainval = read_cars_annotations("cars_train", osp.join(dataset_dir, "devkit", "cars_train_annos.mat"), meta)
        test = read_cars_annotations("cars_test", osp.join(dataset_dir, "cars_test_annos_withlabels.mat"), meta)
        return {"trainval": trainval, "test": test}, osp.join(dataset_dir, "devkit")
