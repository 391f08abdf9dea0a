"""SUN397 (Xiao et al., CVPR 2010), read as in CoOp (arXiv 2109.01134).

Layout: ``sun397/SUN397/<letter>/<class>[/<sub>]/*.jpg`` + ``split_zhou_SUN397.json``. To draw a
split without the split file (``datasets.make_split``), the official partition 01
(``Training_01.txt``, 50 images per class) is split 80/20 into train/val and ``Testing_01.txt`` is
the test set; ``ClassName.txt`` gives the labels.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .download_specs import Artifact, Checksum, split_artifact
from .errors import DatasetError
from .fake_trees import FakeTree, register_fake_tree, write_lines
from .hints import DRAW_SPLIT, require_files
from .specs import DatasetSpec, register_spec
from .split_files import Item

SPEC = register_spec(
    DatasetSpec(
        name="SUN397",
        config="sun397",
        display_name="SUN397",
        template="a photo of a {}.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=7,
        folder="sun397",
        image_subdir="SUN397",
        split_file="split_zhou_SUN397.json",
        num_classes=397,
        counts={"train": 15_880, "val": 3970, "test": 19_850},
        layout=(
            "sun397/\n"
            "  SUN397/<letter>/<class>[/<sub>]/*.jpg\n"
            "  ClassName.txt, Training_01.txt, Testing_01.txt   (only needed without the split file)\n"
            "  split_zhou_SUN397.json"
        ),
        metadata=("ClassName.txt", "Training_01.txt", "Testing_01.txt"),
        artifacts=(
            split_artifact("sun397", "split_zhou_SUN397.json", "1y2RD81BYuiyvebdN-JymPfyWYcd8_MUq"),
            Artifact(
                description="images archive (37 GB)",
                filename="SUN397.tar.gz",
                urls=("http://vision.princeton.edu/projects/2010/SUN/SUN397.tar.gz",),
                target="sun397/SUN397",
                checksums=(Checksum("md5", "8ca2778205c41d23104230ba66911c7a", "torchvision (datasets.SUN397)"),),
                unpack=(("SUN397", "sun397/SUN397"),),
                kind="images",
            ),
            Artifact(
                description="official partitions (ClassName.txt, Training_01.txt, Testing_01.txt)",
                filename="Partitions.zip",
                urls=("https://vision.princeton.edu/projects/2010/SUN/download/Partitions.zip",),
                target="sun397/ClassName.txt",
                checksums=(
                    Checksum(
                        "sha256",
                        "e3311ea5f812d4cc6faef194688343d1111f6cd6f70f2c62f393c2b8d6ba1ec9",
                        "TensorFlow Datasets (sun397 checksums.tsv)",
                    ),
                ),
                unpack=(
                    ("ClassName.txt", "sun397/ClassName.txt"),
                    ("Training_01.txt", "sun397/Training_01.txt"),
                    ("Testing_01.txt", "sun397/Testing_01.txt"),
                ),
                note="only needed without the split file",
            ),
        ),
    )
)


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

    spec = SPEC
    dataset_dir = SPEC.folder

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


def _fake_lists(dataset_dir: str, classes: list[str], written) -> None:
    """ClassName.txt, Training_01.txt and Testing_01.txt (``/a/abbey/sun_...jpg`` lines)."""
    write_lines(osp.join(dataset_dir, "ClassName.txt"), ["/" + c for c in classes])
    write_lines(osp.join(dataset_dir, "Training_01.txt"), ["/" + rel for im, rel in written if im.part != "test"])
    write_lines(osp.join(dataset_dir, "Testing_01.txt"), ["/" + rel for im, rel in written if im.part == "test"])


# A fake copy (datasets.synthetic): SUN's a/abbey-style class paths and the first official partition.
register_fake_tree(SPEC, FakeTree(
    classes=("a/abbey", "a/airplane_cabin", "a/airport_terminal", "a/alley", "a/apartment_building/outdoor", "a/apse/indoor"),
    image=lambda im, _: f"{im.raw}/sun_{im.label:03d}{im.k:05d}.jpg",
    extra_class=lambda i: f"s/scene_{i:03d}",
    classname=sun_classname,
    sorted_classes=True,
    drawn="trainval",
    metadata=_fake_lists,
))  # fmt: skip
