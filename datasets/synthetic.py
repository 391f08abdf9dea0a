"""Tiny fake datasets in the real layout of each benchmark, for tests and offline smoke runs.

``make_synthetic_dataset(root, "dtd", n_classes=4)`` writes ``root/dtd/images/<class>/*.jpg``
(tiny valid JPEGs, one colour per class) and the files the reader needs (split file, official
lists, ``.mat`` label files, ``classnames.txt``), so the registered reader, the data check and
the trainers run on it unchanged. Nothing here needs the real data or network access.
"""
from __future__ import annotations

import io
import json
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Sequence

from .fake_trees import FAKE_TREES, FakeImage, FakeTree, WnidFakeTree, write_lines
from .specs import SPECS, DatasetSpec, spec_for
from .split_drawing import per_class_counts, trainval_counts

__all__ = ["SyntheticDataset", "make_synthetic_dataset", "imagenet_class_lines", "SYNTHETIC_NAMES"]

# The benchmarks with a recipe (datasets/<benchmark>.py registers it), in table order.
SYNTHETIC_NAMES = tuple(name for name in SPECS if name in FAKE_TREES)
IMAGENET_NUM_CLASSES = 1000


def imagenet_class_lines() -> list[tuple[str, str]]:
    """1000 generic ``(wnid, class name)`` pairs, wnids sorted as ImageNet's are."""
    return [(f"n{i:08d}", f"synthetic class {i}") for i in range(IMAGENET_NUM_CLASSES)]


@dataclass
class SyntheticDataset:
    """What was written and what the reader will give (all classes, no few-shot).

    Attributes:
        name: registered reader name (``DATASET.NAME``).
        config: stem of ``configs/datasets/<config>.yaml``.
        root: the data root (``DATASET.ROOT``).
        dataset_dir / image_dir: the dataset folder and its image folder.
        classnames: class names by label, as the reader yields them.
        counts: images per split the reader yields ("val" absent for the test-only sets).
        files: every image path written.
    """

    name: str
    config: str
    root: str
    dataset_dir: str
    image_dir: str
    classnames: list[str]
    counts: dict[str, int]
    files: list[str] = field(default_factory=list, repr=False)

    @property
    def num_classes(self) -> int:
        return len(self.classnames)


class _ImageWriter:
    """Writes tiny solid-colour images (one colour per class), or empty placeholders."""

    def __init__(self, size: int, empty: bool):
        self.size = size
        self.empty = empty
        self._cache: dict[tuple[int, str], bytes] = {}
        self.written: list[str] = []

    def _bytes(self, label: int, fmt: str) -> bytes:
        if self.empty:
            return b""
        key = (label, fmt)
        if key not in self._cache:
            from PIL import Image

            # Spread the class colours over the RGB cube so classes are visually distinct.
            color = ((label * 73) % 256, (label * 151 + 64) % 256, (label * 199 + 128) % 256)
            buf = io.BytesIO()
            Image.new("RGB", (self.size, self.size), color).save(buf, format=fmt)
            self._cache[key] = buf.getvalue()
        return self._cache[key]

    def write(self, path: str, label: int) -> None:
        os.makedirs(osp.dirname(path), exist_ok=True)
        fmt = "PNG" if path.lower().endswith(".png") else "JPEG"
        with open(path, "wb") as f:
            f.write(self._bytes(label, fmt))
        self.written.append(path)


def _write_split(path: str, split: dict[str, list]) -> None:
    # CoOp's format: indent 4, no trailing newline.
    with open(path, "w", encoding="utf-8") as f:
        json.dump({k: [list(i) for i in v] for k, v in split.items()}, f, indent=4, separators=(",", ": "))


def _parts(n_train: int, n_val: int, n_test: int) -> list[str]:
    return ["train"] * n_train + ["val"] * n_val + ["test"] * n_test


def make_synthetic_dataset(
    root: str,
    name: str,
    n_classes: int = 4,
    n_train: int = 4,
    n_val: int = 2,
    n_test: int = 2,
    image_size: int = 16,
    classes: Sequence[str] | None = None,
    class_lines: Sequence[tuple[str, str]] | None = None,
    write_split: bool = True,
    empty_images: bool = False,
) -> SyntheticDataset:
    """Write a tiny dataset under ``root`` in the real layout of benchmark ``name``.

    Args:
        root: the data root (a folder per dataset is created in it).
        name: reader name, config name or folder name ("DescribableTextures", "dtd", ...).
        n_classes: number of classes (ignored when ``classes`` is given).
        n_train / n_val / n_test: images per class and split. Without a split file the reader
            splits the class itself (50/20/30 or trainval 80/20), see ``SyntheticDataset.counts``.
            ImageNet: train images and val (= test) images per class; variants: n_test per class.
        image_size: side of the square images, in pixels.
        classes: the class identifiers as the official layout names them (folder names,
            ``a/abbey`` for SUN397, ``ApplyEyeMakeup`` for UCF101, wnids for the ImageNet family).
        class_lines: ImageNet family: the ``(wnid, name)`` lines of ``classnames.txt`` (default:
            1000 generic ones).
        write_split: also write ``split_zhou_<Name>.json`` where the benchmark has one.
        empty_images: write empty placeholder files instead of images (readers only check that
            files exist; training and the image check need real images).
    """
    spec = spec_for(name)
    root = osp.abspath(root)
    writer = _ImageWriter(image_size, empty_images)
    tree = FAKE_TREES.get(spec.name)
    if tree is None:
        raise KeyError(f"{spec.name} has no fake tree: register one in its module (datasets.fake_trees).")
    if isinstance(tree, WnidFakeTree):
        return _make_imagenet_family(spec, tree, root, writer, n_classes, n_train, n_test, classes, class_lines)
    if classes is None:
        classes = [tree.classes[i] if i < len(tree.classes) else tree.extra_class(i) for i in range(n_classes)]
    classes = list(classes)
    if tree.sorted_classes:
        classes = sorted(classes)  # these readers label classes in sorted folder order
    return _make_split_dataset(spec, tree, root, writer, classes, n_train, n_val, n_test, write_split)


def _make_split_dataset(
    spec: DatasetSpec,
    tree: FakeTree,
    root: str,
    writer: _ImageWriter,
    classes: list[str],
    n_train: int,
    n_val: int,
    n_test: int,
    write_split: bool,
) -> SyntheticDataset:
    dataset_dir = osp.join(root, spec.folder)
    image_dir = osp.join(dataset_dir, spec.image_subdir) if spec.image_subdir else dataset_dir
    split: dict[str, list] = {"train": [], "val": [], "test": []}
    classnames = [tree.classname(raw) for raw in classes]
    written: list[tuple[FakeImage, str]] = []
    for label, (raw, cname) in enumerate(zip(classes, classnames)):
        for k, part in enumerate(_parts(n_train, n_val, n_test)):
            image = FakeImage(raw, cname, label, k, part, len(written))
            rel = tree.image(image, written)
            writer.write(osp.join(image_dir, rel), label)
            written.append((image, rel))
            split[part].append((rel, label, cname))
    if tree.metadata is not None:  # the official files, so that the reader can also build the split itself
        tree.metadata(dataset_dir, classes, written)
    if spec.split_file and write_split:
        _write_split(osp.join(dataset_dir, spec.split_file), split)
        counts = {k: len(v) for k, v in split.items()}
    else:
        counts = _reader_counts(tree, len(classes), n_train, n_val, n_test)
    return SyntheticDataset(
        spec.name, spec.config, root, dataset_dir, image_dir, classnames, counts, files=writer.written
    )


def _reader_counts(tree: FakeTree, n_classes: int, n_train: int, n_val: int, n_test: int) -> dict[str, int]:
    """Split sizes the reader produces when it builds the split itself (CoOp's rounding)."""
    if tree.drawn == "official":
        per_class = (n_train, n_val, n_test)
    elif tree.drawn == "trainval":
        per_class = (*trainval_counts(n_train + n_val), n_test)
    else:  # 50/20/30 per class
        per_class = per_class_counts(n_train + n_val + n_test)
    return {k: n * n_classes for k, n in zip(("train", "val", "test"), per_class)}


def _make_imagenet_family(
    spec: DatasetSpec,
    tree: WnidFakeTree,
    root: str,
    writer: _ImageWriter,
    n_classes: int,
    n_train: int,
    n_test: int,
    classes: Sequence[str] | None,
    class_lines: Sequence[tuple[str, str]] | None,
) -> SyntheticDataset:
    lines = list(class_lines) if class_lines is not None else imagenet_class_lines()
    names = dict(lines)
    wnids = sorted(classes) if classes is not None else [w for w, _ in lines[:n_classes]]
    unknown = [w for w in wnids if w not in names]
    if unknown:
        raise ValueError(f"classes not in class_lines: {unknown[:5]}")
    dataset_dir = osp.join(root, spec.folder)
    image_dir = osp.join(dataset_dir, spec.image_subdir)
    write_lines(osp.join(dataset_dir, "classnames.txt"), [f"{w} {n}" for w, n in lines])
    counts, classnames = tree.write(image_dir, wnids, lines, n_train, n_test, writer.write)
    return SyntheticDataset(
        spec.name, spec.config, root, dataset_dir, image_dir, classnames, counts, files=writer.written
    )
