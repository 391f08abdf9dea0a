"""Stanford Cars (Krause et al., 3dRR 2013), read as in CoOp (arXiv 2109.01134).

Layout: ``stanford_cars/{cars_train,cars_test}/*.jpg`` + ``split_zhou_StanfordCars.json`` (split
paths start with ``cars_train/`` or ``cars_test/``). To draw a split without the split file
(``datasets.make_split``), the devkit's train annotations are split 80/20 per class and the labelled
test annotations are the test set.
"""
from __future__ import annotations

import os
import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .download_specs import Artifact, Checksum, split_artifact
from .errors import DatasetError
from .fake_trees import FakeTree, register_fake_tree
from .hints import DRAW_SPLIT, require_files
from .specs import DatasetSpec, register_spec
from .split_files import Item

SPEC = register_spec(
    DatasetSpec(
        name="StanfordCars",
        config="stanford_cars",
        display_name="StanfordCars",
        template="a photo of a {}.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=3,
        folder="stanford_cars",
        image_subdir="",
        split_file="split_zhou_StanfordCars.json",
        num_classes=196,
        counts={"train": 6509, "val": 1635, "test": 8041},
        layout=(
            "stanford_cars/\n"
            "  cars_train/*.jpg\n"
            "  cars_test/*.jpg\n"
            "  devkit/cars_meta.mat, devkit/cars_train_annos.mat   (only needed without the split file)\n"
            "  cars_test_annos_withlabels.mat                       (only needed without the split file)\n"
            "  split_zhou_StanfordCars.json"
        ),
        metadata=("devkit/cars_meta.mat", "devkit/cars_train_annos.mat", "cars_test_annos_withlabels.mat"),
        artifacts=(
            split_artifact("stanford_cars", "split_zhou_StanfordCars.json", "1ObCFbaAgVu0I-k_Au-gIUcefirdAuizT"),
            Artifact(
                description="train images archive",
                filename="cars_train.tgz",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_train.tgz",),
                target="stanford_cars/cars_train",
                checksums=(Checksum("md5", "065e5b463ae28d29e77c1b4b166cfe61", "torchvision (datasets.StanfordCars)"),),
                unpack=(("cars_train", "stanford_cars/cars_train"),),
                kind="images",
                note="the Stanford host has been offline for years: take the same archive from a mirror",
            ),
            Artifact(
                description="test images archive",
                filename="cars_test.tgz",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_test.tgz",),
                target="stanford_cars/cars_test",
                checksums=(Checksum("md5", "4ce7ebf6a94d07f1952d94dd34c4d501", "torchvision (datasets.StanfordCars)"),),
                unpack=(("cars_test", "stanford_cars/cars_test"),),
                kind="images",
                note="the Stanford host has been offline for years: take the same archive from a mirror",
            ),
            Artifact(
                description="devkit (train labels and class names)",
                filename="car_devkit.tgz",
                urls=("https://ai.stanford.edu/~jkrause/cars/car_devkit.tgz",),
                target="stanford_cars/devkit",
                checksums=(Checksum("md5", "c3b158d763b6e2245038c8ad08e45376", "torchvision (datasets.StanfordCars)"),),
                unpack=(("devkit", "stanford_cars/devkit"),),
                kind="metadata",
                note="only needed without the split file",
            ),
            Artifact(
                description="test labels",
                filename="cars_test_annos_withlabels.mat",
                urls=("https://ai.stanford.edu/~jkrause/car196/cars_test_annos_withlabels.mat",),
                target="stanford_cars/cars_test_annos_withlabels.mat",
                checksums=(Checksum("md5", "b0a2b23655a3edd16d84508592a98d10", "torchvision (datasets.StanfordCars)"),),
                kind="metadata",
                note="only needed without the split file",
            ),
        ),
    )
)


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

    spec = SPEC
    dataset_dir = SPEC.folder

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        dataset_dir = osp.join(root, spec.folder)
        meta = osp.join(dataset_dir, "devkit", "cars_meta.mat")
        trainval = read_cars_annotations("cars_train", osp.join(dataset_dir, "devkit", "cars_train_annos.mat"), meta)
        test = read_cars_annotations("cars_test", osp.join(dataset_dir, "cars_test_annos_withlabels.mat"), meta)
        return {"trainval": trainval, "test": test}, osp.join(dataset_dir, "devkit")


def _fake_image(im, written) -> str:
    folder = "cars_test" if im.part == "test" else "cars_train"
    n_before = sum(rel.startswith(folder + "/") for _, rel in written)
    return f"{folder}/{n_before + 1:05d}.jpg"


def _fake_mats(dataset_dir: str, classes: list[str], written) -> None:
    """devkit/cars_meta.mat, devkit/cars_train_annos.mat and cars_test_annos_withlabels.mat."""
    import numpy as np
    from scipy.io import savemat

    annos: dict[str, list[tuple[str, int]]] = {"cars_train": [], "cars_test": []}
    for im, rel in written:
        folder, fname = rel.split("/")
        annos[folder].append((fname, im.label + 1))

    def struct(items: list[tuple[str, int]]):
        arr = np.zeros((1, len(items)), dtype=[("fname", "O"), ("class", "O")])
        for i, (fname, label) in enumerate(items):
            arr[0, i]["fname"] = np.array([fname])
            arr[0, i]["class"] = np.array([[label]], dtype=np.uint8)
        return arr

    names = np.empty((1, len(classes)), dtype=object)
    for i, c in enumerate(classes):
        names[0, i] = np.array([c])
    os.makedirs(osp.join(dataset_dir, "devkit"), exist_ok=True)
    savemat(osp.join(dataset_dir, "devkit", "cars_meta.mat"), {"class_names": names})
    savemat(osp.join(dataset_dir, "devkit", "cars_train_annos.mat"), {"annotations": struct(annos["cars_train"])})
    savemat(osp.join(dataset_dir, "cars_test_annos_withlabels.mat"), {"annotations": struct(annos["cars_test"])})


# A fake copy (datasets.synthetic): numbered images in cars_train/ and cars_test/, the .mat files.
register_fake_tree(SPEC, FakeTree(
    classes=(
        "AM General Hummer SUV 2000",
        "Acura RL Sedan 2012",
        "Acura TL Sedan 2012",
        "Acura TL Type-S 2008",
        "Acura TSX Sedan 2012",
        "Acura Integra Type R 2001",
    ),
    image=_fake_image,
    extra_class=lambda i: f"Synthetic Car {i:03d} 2012",
    classname=car_classname,
    drawn="trainval",
    metadata=_fake_mats,
))  # fmt: skip
