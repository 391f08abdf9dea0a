"""Oxford Flowers 102 (Nilsback & Zisserman, ICVGIP 2008), read as in CoOp (arXiv 2109.01134).

Layout: ``oxford_flowers/jpg/image_*.jpg`` + ``split_zhou_OxfordFlowers.json``. To draw a split
without the split file (``datasets.make_split``), ``imagelabels.mat`` gives each image's class
(1..102), ``cat_to_name.json`` the names, and each class is shuffled and split 50/20/30.
"""
from __future__ import annotations

import json
import os.path as osp

from engine.seam import DATASET_REGISTRY, read_json

from .base import CoOpSplitReader
from .download_specs import GDRIVE, Artifact, Checksum, split_artifact
from .errors import DatasetError
from .fake_trees import FakeTree, register_fake_tree
from .hints import DRAW_SPLIT, require_files
from .specs import DatasetSpec, register_spec
from .split_files import Item

SPEC = register_spec(
    DatasetSpec(
        name="OxfordFlowers",
        config="oxford_flowers",
        display_name="Flowers102",
        template="a photo of a {}, a type of flower.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=4,
        folder="oxford_flowers",
        image_subdir="jpg",
        split_file="split_zhou_OxfordFlowers.json",
        num_classes=102,
        counts={"train": 4093, "val": 1633, "test": 2463},
        layout=(
            "oxford_flowers/\n"
            "  jpg/image_*.jpg\n"
            "  imagelabels.mat, cat_to_name.json   (only needed without the split file)\n"
            "  split_zhou_OxfordFlowers.json"
        ),
        metadata=("imagelabels.mat", "cat_to_name.json"),
        artifacts=(
            split_artifact("oxford_flowers", "split_zhou_OxfordFlowers.json", "1Pp0sRXzZFZq15zVOzKjKBu4A9i01nozT"),
            Artifact(
                description="class names (cat_to_name.json)",
                filename="cat_to_name.json",
                urls=(GDRIVE + "1AkcxCXeK_RCGCEC_GvmWxjcjaNhu-at0",),
                target="oxford_flowers/cat_to_name.json",
                verify="cat_to_name",
            ),
            Artifact(
                description="images archive",
                filename="102flowers.tgz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/102flowers.tgz",),
                target="oxford_flowers/jpg",
                checksums=(Checksum("md5", "52808999861908f626f3c1f4e79d11fa", "torchvision (datasets.Flowers102)"),),
                unpack=(("jpg", "oxford_flowers/jpg"),),
                kind="images",
            ),
            Artifact(
                description="labels (imagelabels.mat)",
                filename="imagelabels.mat",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/flowers/102/imagelabels.mat",),
                target="oxford_flowers/imagelabels.mat",
                checksums=(Checksum("md5", "e0620be6f572b9609742df49c70aed4d", "torchvision (datasets.Flowers102)"),),
            ),
        ),
    )
)


def flower_image_name(index: int) -> str:
    """File name of the ``index``-th image (0-based) of the label file: ``image_00001.jpg``, ..."""
    return f"image_{index + 1:05d}.jpg"


@DATASET_REGISTRY.register()
class OxfordFlowers(CoOpSplitReader):
    """102 flower species."""

    spec = SPEC
    dataset_dir = SPEC.folder

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


def _fake_labels(dataset_dir: str, classes: list[str], written) -> None:
    """imagelabels.mat (1-based label per image, in image order) and cat_to_name.json."""
    import numpy as np
    from scipy.io import savemat

    labels = [im.label + 1 for im, _ in written]
    savemat(osp.join(dataset_dir, "imagelabels.mat"), {"labels": np.array([labels], dtype=np.uint8)})
    with open(osp.join(dataset_dir, "cat_to_name.json"), "w", encoding="utf-8") as f:
        json.dump({str(i + 1): c for i, c in enumerate(classes)}, f)


# A fake copy (datasets.synthetic): image_<n>.jpg in label-file order, the label files.
register_fake_tree(SPEC, FakeTree(
    classes=("pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold"),
    image=lambda im, _: flower_image_name(im.index),
    extra_class=lambda i: f"flower {i:03d}",
    metadata=_fake_labels,
))  # fmt: skip
