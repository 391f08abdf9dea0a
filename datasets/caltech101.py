"""Caltech101 (Fei-Fei et al., 2004), read as in CoOp (arXiv 2109.01134).

Layout: ``caltech-101/101_ObjectCategories/<class>/image_*.jpg`` + ``split_zhou_Caltech101.json``.
To draw a split without the split file (``datasets.make_split``), the background class and the
duplicate ``Faces_easy`` folder are left out (100 classes), each folder is shuffled and split
50/20/30, and four folders get CoOp's singular names (``Faces`` -> ``face``, ...).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader
from .download_specs import GDRIVE, Artifact, Checksum, split_artifact
from .fake_trees import FakeTree, register_fake_tree
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="Caltech101",
        config="caltech101",
        display_name="Caltech101",
        template="a photo of a {}.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=1,
        folder="caltech-101",
        image_subdir="101_ObjectCategories",
        split_file="split_zhou_Caltech101.json",
        num_classes=100,
        counts={"train": 4128, "val": 1649, "test": 2465},
        layout=(
            "caltech-101/\n"
            "  101_ObjectCategories/<class>/image_*.jpg\n"
            "  split_zhou_Caltech101.json"
        ),
        artifacts=(
            split_artifact("caltech-101", "split_zhou_Caltech101.json", "1hyarUivQE36mY6jSomru6Fjd-JzwcCzN"),
            Artifact(
                description="images archive",
                filename="101_ObjectCategories.tar.gz",
                urls=(GDRIVE + "137RyRjvTBkBiIfeYBNZBtViDHQ6_Ewsp",),
                target="caltech-101/101_ObjectCategories",
                checksums=(Checksum("md5", "b224c7392d521a49829488ab0f1120d9", "torchvision (datasets.Caltech101)"),),
                unpack=(("101_ObjectCategories", "caltech-101/101_ObjectCategories"),),
                kind="images",
                note=(
                    "another source: https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip "
                    "holds caltech-101/101_ObjectCategories.tar.gz"
                ),
            ),
        ),
    )
)

# Folders CoOp leaves out: the clutter class and a near-duplicate of Faces.
IGNORED = ("BACKGROUND_Google", "Faces_easy")
# CoOp's renamed classes (the other 96 keep their folder name).
NEW_CNAMES = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}


@DATASET_REGISTRY.register()
class Caltech101(ClassFolderReader):
    """100 object classes."""

    spec = SPEC
    dataset_dir = SPEC.folder

    ignored_folders = IGNORED
    new_cnames = NEW_CNAMES


# A fake copy (datasets.synthetic): real class folders (some renamed by NEW_CNAMES), Caltech's image names.
register_fake_tree(SPEC, FakeTree(
    classes=("accordion", "airplanes", "anchor", "ant", "Faces", "Leopards", "Motorbikes", "barrel"),
    image=lambda im, _: f"{im.raw}/image_{im.k + 1:04d}.jpg",
    classname=lambda raw: NEW_CNAMES.get(raw, raw),
    sorted_classes=True,
))  # fmt: skip
