"""DescribableTextures (DTD; Cimpoi et al., CVPR 2014), read as in CoOp (arXiv 2109.01134).

Layout: ``dtd/images/<class>/*.jpg`` + ``split_zhou_DescribableTextures.json``. To draw a split
without the split file (``datasets.make_split``), each class folder is shuffled and split 50/20/30.
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader
from .download_specs import Artifact, Checksum, split_artifact
from .fake_trees import FakeTree, register_fake_tree
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="DescribableTextures",
        config="dtd",
        display_name="DTD",
        template="{} texture.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=8,
        folder="dtd",
        image_subdir="images",
        split_file="split_zhou_DescribableTextures.json",
        num_classes=47,
        counts={"train": 2820, "val": 1128, "test": 1692},
        layout=(
            "dtd/\n"
            "  images/<class>/*.jpg\n"
            "  split_zhou_DescribableTextures.json"
        ),
        artifacts=(
            split_artifact("dtd", "split_zhou_DescribableTextures.json", "1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x"),
            Artifact(
                description="dataset archive",
                filename="dtd-r1.0.1.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",),
                target="dtd/images",
                checksums=(Checksum("md5", "fff73e5086ae6bdbea199a49dfb8a4c1", "torchvision (datasets.DTD)"),),
                unpack=(("dtd", "dtd"),),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class DescribableTextures(ClassFolderReader):
    """47 texture classes; class names are the folder names."""

    spec = SPEC
    dataset_dir = SPEC.folder


# A fake copy (datasets.synthetic): real class folders, DTD's image names.
register_fake_tree(SPEC, FakeTree(
    classes=("banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked"),
    image=lambda im, _: f"{im.raw}/{im.raw}_{im.k + 1:04d}.jpg",
    sorted_classes=True,
))  # fmt: skip
