"""Food-101 (Bossard et al., ECCV 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``food-101/images/<class>/*.jpg`` + ``split_zhou_Food101.json``. To draw a split without the
split file (``datasets.make_split``), each class folder is shuffled and split 50/20/30 (CoOp does
not use the official meta/ lists).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader
from .download_specs import Artifact, Checksum, split_artifact
from .fake_trees import FakeTree, register_fake_tree
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="Food101",
        config="food101",
        display_name="Food101",
        template="a photo of {}, a type of food.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=5,
        folder="food-101",
        image_subdir="images",
        split_file="split_zhou_Food101.json",
        num_classes=101,
        counts={"train": 50_500, "val": 20_200, "test": 30_300},
        layout=(
            "food-101/\n"
            "  images/<class>/*.jpg\n"
            "  split_zhou_Food101.json"
        ),
        artifacts=(
            split_artifact("food-101", "split_zhou_Food101.json", "1QK0tGi096I0Ba6kggatX1ee6dJFIcEJl"),
            Artifact(
                description="images archive (5 GB)",
                filename="food-101.tar.gz",
                urls=("http://data.vision.ee.ethz.ch/cvl/food-101.tar.gz",),
                target="food-101/images",
                checksums=(Checksum("md5", "85eeb15f3717b99a5da872d97d918f87", "torchvision (datasets.Food101)"),),
                unpack=(("food-101", "food-101"),),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class Food101(ClassFolderReader):
    """101 dishes; class names are the folder names (``apple_pie``)."""

    spec = SPEC
    dataset_dir = SPEC.folder


# A fake copy (datasets.synthetic): real class folders, numbered images as in the release.
register_fake_tree(SPEC, FakeTree(
    classes=("apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad"),
    image=lambda im, _: f"{im.raw}/{100000 + im.index + 1}.jpg",
    sorted_classes=True,
))  # fmt: skip
