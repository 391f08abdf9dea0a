"""FGVC-Aircraft (Maji et al., 2013), read as in CoOp (arXiv 2109.01134).

Layout: the ``data/`` folder of fgvc-aircraft-2013b renamed ``fgvc_aircraft/``: ``images/*.jpg``,
``variants.txt`` (the 100 classes, in label order) and ``images_variant_{train,val,test}.txt``.
There is no split file: the official lists are the split, read on every run.
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .download_specs import Artifact, Checksum
from .errors import DatasetError
from .fake_trees import FakeTree, register_fake_tree, write_lines
from .hints import require_files
from .specs import DatasetSpec, register_spec
from .split_files import Item

SPEC = register_spec(
    DatasetSpec(
        name="FGVCAircraft",
        config="fgvc_aircraft",
        display_name="FGVCAircraft",
        template="a photo of a {}, a type of aircraft.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=6,
        folder="fgvc_aircraft",
        image_subdir="images",
        split_file=None,
        num_classes=100,
        counts={"train": 3334, "val": 3333, "test": 3333},
        layout=(
            "fgvc_aircraft/               (the data/ folder of fgvc-aircraft-2013b, renamed)\n"
            "  images/*.jpg\n"
            "  variants.txt\n"
            "  images_variant_train.txt, images_variant_val.txt, images_variant_test.txt"
        ),
        metadata=(
            "variants.txt",
            "images_variant_train.txt",
            "images_variant_val.txt",
            "images_variant_test.txt",
        ),
        artifacts=(
            Artifact(
                description="dataset archive (2.6 GB)",
                filename="fgvc-aircraft-2013b.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/fgvc-aircraft/archives/fgvc-aircraft-2013b.tar.gz",),
                target="fgvc_aircraft/images",
                checksums=(Checksum("md5", "d4acdd33327262359767eeaa97a4f732", "google-deepmind/dm_nevis (fgvc_aircraft handler)"),),
                unpack=(("fgvc-aircraft-2013b/data", "fgvc_aircraft"),),
                kind="images",
            ),
        ),
    )
)


def read_variant_list(path: str, cname2lab: dict[str, int]) -> list[Item]:
    """Items of ``images_variant_<split>.txt`` (lines ``<image id> <variant name>``)."""
    items: list[Item] = []
    unknown: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            parts = line.strip().split(" ")
            if not parts[0]:
                continue
            classname = " ".join(parts[1:])
            if classname not in cname2lab:
                unknown.append(line.strip())
                continue
            items.append((parts[0] + ".jpg", cname2lab[classname], classname))
    if unknown:
        raise DatasetError(f"FGVCAircraft: {path} has variants missing from variants.txt: {unknown[:5]}")
    return items


@DATASET_REGISTRY.register()
class FGVCAircraft(CoOpSplitReader):
    """100 aircraft variants."""

    spec = SPEC
    dataset_dir = SPEC.folder

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, "read the official split lists")
        dataset_dir = osp.join(root, spec.folder)
        with open(osp.join(dataset_dir, "variants.txt"), encoding="utf-8") as f:
            classnames = [line.strip() for line in f if line.strip()]
        cname2lab = {c: i for i, c in enumerate(classnames)}
        split = {
            key: read_variant_list(osp.join(dataset_dir, f"images_variant_{key}.txt"), cname2lab)
            for key in ("train", "val", "test")
        }
        return split, osp.join(dataset_dir, "images_variant_*.txt")


def _fake_lists(dataset_dir: str, classes: list[str], written) -> None:
    """variants.txt and images_variant_{train,val,test}.txt (``<image id> <variant>``)."""
    write_lines(osp.join(dataset_dir, "variants.txt"), classes)
    for part in ("train", "val", "test"):
        lines = [f"{osp.splitext(rel)[0]} {im.raw}" for im, rel in written if im.part == part]
        write_lines(osp.join(dataset_dir, f"images_variant_{part}.txt"), lines)


# A fake copy (datasets.synthetic): numbered images and the official train/val/test lists.
register_fake_tree(SPEC, FakeTree(
    classes=("707-320", "727-200", "737-200", "737-300", "737-400", "737-500"),
    image=lambda im, _: f"{1000000 + im.index + 1:07d}.jpg",
    extra_class=lambda i: f"variant-{i:03d}",
    drawn="official",
    metadata=_fake_lists,
))  # fmt: skip
