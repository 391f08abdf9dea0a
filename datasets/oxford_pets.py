"""Oxford-IIIT Pets (Parkhi et al., CVPR 2012), read as in CoOp (arXiv 2109.01134).

Layout: ``oxford_pets/images/*.jpg`` + ``split_zhou_OxfordPets.json``. To draw a split without the
split file (``datasets.make_split``), the official ``annotations/trainval.txt`` is split 80/20 per
class into train/val and ``annotations/test.txt`` is the test set.
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
        name="OxfordPets",
        config="oxford_pets",
        display_name="OxfordPets",
        template="a photo of a {}, a type of pet.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=2,
        folder="oxford_pets",
        image_subdir="images",
        split_file="split_zhou_OxfordPets.json",
        num_classes=37,
        counts={"train": 2944, "val": 736, "test": 3669},
        layout=(
            "oxford_pets/\n"
            "  images/*.jpg\n"
            "  annotations/trainval.txt, test.txt   (only needed without the split file)\n"
            "  split_zhou_OxfordPets.json"
        ),
        metadata=("annotations/trainval.txt", "annotations/test.txt"),
        artifacts=(
            split_artifact("oxford_pets", "split_zhou_OxfordPets.json", "1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs"),
            Artifact(
                description="images archive",
                filename="images.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",),
                target="oxford_pets/images",
                checksums=(Checksum("md5", "5c4f3ee8e5d25df40f4fd59a7f44e54c", "torchvision (datasets.OxfordIIITPet)"),),
                unpack=(("images", "oxford_pets/images"),),
                kind="images",
            ),
            Artifact(
                description="annotations archive",
                filename="annotations.tar.gz",
                urls=("https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz",),
                target="oxford_pets/annotations",
                checksums=(Checksum("md5", "95a8c909bbe2e81eed6a22bccdf3f68f", "torchvision (datasets.OxfordIIITPet)"),),
                unpack=(("annotations", "oxford_pets/annotations"),),
                kind="images",
            ),
        ),
    )
)


def breed_of(image_name: str) -> str:
    """CoOp's class name: the file stem without its number, lower-cased (``Abyssinian_12`` -> ``abyssinian``)."""
    return "_".join(image_name.split("_")[:-1]).lower()


def read_pets_list(path: str) -> list[Item]:
    """Items of an official list (lines ``<image> <class id 1..37> <species> <breed id>``)."""
    items: list[Item] = []
    bad: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            parts = line.split()
            if not parts or parts[0].startswith("#"):
                continue
            if len(parts) < 2 or not parts[1].isdigit():
                bad.append(f"line {lineno}: {line.strip()!r}")
                continue
            items.append((parts[0] + ".jpg", int(parts[1]) - 1, breed_of(parts[0])))
    if bad:
        raise DatasetError(f"{path}: lines not in the form `<image> <class id> <species> <breed id>`: {bad[:5]}")
    return items


@DATASET_REGISTRY.register()
class OxfordPets(CoOpSplitReader):
    """37 cat and dog breeds."""

    spec = SPEC
    dataset_dir = SPEC.folder

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        anno_dir = osp.join(root, spec.folder, "annotations")
        source = {key: read_pets_list(osp.join(anno_dir, f"{key}.txt")) for key in ("trainval", "test")}
        return source, anno_dir


def _fake_lists(dataset_dir: str, classes: list[str], written) -> None:
    """annotations/trainval.txt and test.txt: ``<image> <class id> <species> <breed id>``."""
    lines: dict[str, list[str]] = {"trainval": [], "test": []}
    for im, rel in written:
        species = 1 if im.raw[:1].isupper() else 2  # cat breeds are capitalised in the release
        stem = osp.splitext(rel)[0]
        lines["test" if im.part == "test" else "trainval"].append(f"{stem} {im.label + 1} {species} {im.label + 1}")
    for name, part in lines.items():
        write_lines(osp.join(dataset_dir, "annotations", f"{name}.txt"), part)


# A fake copy (datasets.synthetic): images named <Breed>_<k>.jpg and the official lists.
register_fake_tree(SPEC, FakeTree(
    classes=("Abyssinian", "american_bulldog", "Bengal", "basset_hound", "Birman", "beagle", "Bombay", "boxer"),
    image=lambda im, _: f"{im.raw}_{im.k + 1}.jpg",
    extra_class=lambda i: f"breed{i:03d}",
    classname=lambda raw: breed_of(f"{raw}_1"),
    drawn="trainval",
    metadata=_fake_lists,
))  # fmt: skip
