"""How to fake a benchmark: the recipe its reader module registers next to its reader.

``datasets.synthetic`` writes tiny copies of the benchmarks in their real layout (tests, offline
smoke runs). What a copy looks like is a fact of each benchmark, so it lives in the benchmark's
module: a few real class identifiers, how an image is named, how a class identifier becomes a
class name, which official files describe the images, how the reader splits the images when there
is no split file. This module only holds the recipe types and their table.
"""
from __future__ import annotations

import os
import os.path as osp
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = [
    "FAKE_TREES",
    "FakeImage",
    "FakeTree",
    "WnidFakeTree",
    "register_fake_tree",
    "wnid_folder_tree",
    "write_lines",
]

# How a reader splits a benchmark's images when there is no split file (datasets.split_drawing):
# 50/20/30 per class folder, 80/20 of an official trainval list (test as given), or the official
# train/val/test lists as they are.
DRAWN_SPLITS = ("per_class", "trainval", "official")


@dataclass(frozen=True)
class FakeImage:
    """One image of a fake benchmark, as its recipe names it.

    Attributes:
        raw: the class identifier as the official layout names it (folder, list name, wnid).
        cname: the class name the reader gives it.
        label: its label (0-based, the order of the classes).
        k: its index within its class (0-based).
        part: "train", "val" or "test".
        index: its index in the whole dataset (0-based, in the order written).
    """

    raw: str
    cname: str
    label: int
    k: int
    part: str
    index: int


# An image written: what it is and where (relative to the image folder).
Written = tuple[FakeImage, str]


def _same(raw: str) -> str:
    return raw


def _generic_class(i: int) -> str:
    return f"class_{i:03d}"


@dataclass(frozen=True)
class FakeTree:
    """The recipe of a benchmark read through a split (CoOp's split-file readers).

    Args:
        classes: a few real class identifiers (folder names, list names), used first.
        image: the image's path relative to the image folder, given the image and the images
            written before it.
        extra_class: the identifier of class ``i`` beyond ``classes``, in the benchmark's format.
        classname: identifier -> the class name the reader yields.
        sorted_classes: the reader labels classes in sorted folder order.
        drawn: how the reader splits without a split file (see :data:`DRAWN_SPLITS`).
        metadata: writes the official files (lists, ``.mat`` labels, ...) into the dataset folder,
            given the class identifiers and every image written; None when there are none.
    """

    classes: tuple[str, ...]
    image: Callable[[FakeImage, Sequence[Written]], str]
    extra_class: Callable[[int], str] = _generic_class
    classname: Callable[[str], str] = _same
    sorted_classes: bool = False
    drawn: str = "per_class"
    metadata: Callable[[str, list[str], Sequence[Written]], None] | None = None

    def __post_init__(self) -> None:
        if self.drawn not in DRAWN_SPLITS:
            raise ValueError(f"drawn={self.drawn!r}; valid: {DRAWN_SPLITS}")


@dataclass(frozen=True)
class WnidFakeTree:
    """The recipe of an ImageNet-family benchmark (class folders named by wnid, or by index, plus
    ``classnames.txt``).

    Args:
        write: ``write(image_dir, wnids, lines, n_train, n_test, write_image)`` writes the images
            of the classes ``wnids`` (sorted) with ``write_image(path, label)``, ``lines`` being the
            ``(wnid, name)`` lines of ``classnames.txt``; returns the split sizes the reader yields
            and the class names by label.
    """

    write: Callable[..., tuple[dict[str, int], list[str]]]


# Reader name -> recipe; the reader modules fill it when ``datasets`` is imported.
FAKE_TREES: dict[str, FakeTree | WnidFakeTree] = {}


def register_fake_tree(spec, tree: FakeTree | WnidFakeTree) -> None:
    """Register the recipe of benchmark ``spec`` (a ``DatasetSpec``)."""
    if spec.name in FAKE_TREES:
        raise ValueError(f"{spec.name}: a fake tree is already registered")
    FAKE_TREES[spec.name] = tree


def write_lines(path: str, lines: Sequence[str]) -> None:
    """A text file of ``lines`` (one per line), its folder created."""
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


def wnid_folder_tree(prefix: str, ext: str, readme: bool = False) -> WnidFakeTree:
    """The recipe of a test-only variant laid out as ``<wnid>/<prefix>_<k>.<ext>`` (Sketch, -A,
    -R); ``readme``: the release has a README.txt beside the class folders."""

    def write(image_dir, wnids, lines, n_train, n_test, write_image):
        names = dict(lines)
        for label, wnid in enumerate(wnids):
            for k in range(n_test):
                write_image(osp.join(image_dir, wnid, f"{prefix}_{k + 1}.{ext}"), label)
        if readme:
            write_lines(osp.join(image_dir, "README.txt"), ["A README as in the release (not a class)."])
        n = n_test * len(wnids)
        return {"train": n, "test": n}, [names[w] for w in wnids]

    return WnidFakeTree(write=write)
