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

from .caltech101 import NEW_CNAMES as CALTECH_NEW_CNAMES
from .eurosat import NEW_CNAMES as EUROSAT_NEW_CNAMES
from .oxford_flowers import flower_image_name
from .oxford_pets import breed_of
from .specs import DatasetSpec, spec_for
from .stanford_cars import car_classname
from .sun397 import sun_classname
from .ucf101 import ucf_classname

__all__ = ["SyntheticDataset", "make_synthetic_dataset", "imagenet_class_lines", "SYNTHETIC_NAMES"]

# A few real class identifiers per benchmark (folder names, list names); more classes than
# listed get generic names in the same format.
DEFAULT_CLASSES: dict[str, tuple[str, ...]] = {
    "DescribableTextures": ("banded", "blotchy", "braided", "bubbly", "bumpy", "chequered", "cobwebbed", "cracked"),
    "EuroSAT": tuple(EUROSAT_NEW_CNAMES),
    "Caltech101": ("accordion", "airplanes", "anchor", "ant", "Faces", "Leopards", "Motorbikes", "barrel"),
    "Food101": ("apple_pie", "baby_back_ribs", "baklava", "beef_carpaccio", "beef_tartare", "beet_salad"),
    "OxfordPets": ("Abyssinian", "american_bulldog", "Bengal", "basset_hound", "Birman", "beagle", "Bombay", "boxer"),
    "StanfordCars": (
        "AM General Hummer SUV 2000",
        "Acura RL Sedan 2012",
        "Acura TL Sedan 2012",
        "Acura TL Type-S 2008",
        "Acura TSX Sedan 2012",
        "Acura Integra Type R 2001",
    ),
    "OxfordFlowers": ("pink primrose", "hard-leaved pocket orchid", "canterbury bells", "sweet pea", "english marigold"),
    "SUN397": (
        "a/abbey", "a/airplane_cabin", "a/airport_terminal", "a/alley", "a/apartment_building/outdoor", "a/apse/indoor",
    ),
    "UCF101": ("ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching"),
    "FGVCAircraft": ("707-320", "727-200", "737-200", "737-300", "737-400", "737-500"),
}
SYNTHETIC_NAMES = tuple(DEFAULT_CLASSES) + ("ImageNet", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR")
# Images per Caltech/DTD/... class folder below which CoOp's 50/20/30 split leaves a part empty.
_FOLDER_SPLIT = ("DescribableTextures", "EuroSAT", "Caltech101", "Food101")
_TRAINVAL_SPLIT = ("OxfordPets", "StanfordCars", "SUN397", "UCF101")
IMAGENET_NUM_CLASSES = 1000


def _extra_class(name: str, i: int) -> str:
    """A generic class identifier in the format the benchmark's reader expects."""
    return {
        "OxfordPets": f"breed{i:03d}",
        "StanfordCars": f"Synthetic Car {i:03d} 2012",
        "OxfordFlowers": f"flower {i:03d}",
        "SUN397": f"s/scene_{i:03d}",
        "UCF101": f"Synthetic{chr(ord('A') + i % 26)}Action{i:03d}",
        "FGVCAircraft": f"variant-{i:03d}",
    }.get(name, f"class_{i:03d}")


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


def _write_text(path: str, lines: Sequence[str]) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in lines))


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
    if spec.name.startswith("ImageNet"):
        return _make_imagenet_family(spec, root, writer, n_classes, n_train, n_test, classes, class_lines)
    if classes is None:
        defaults = DEFAULT_CLASSES[spec.name]
        classes = [defaults[i] if i < len(defaults) else _extra_class(spec.name, i) for i in range(n_classes)]
    classes = list(classes)
    if spec.name in _FOLDER_SPLIT or spec.name == "SUN397":
        classes = sorted(classes)  # these readers label classes in sorted folder order
    return _make_split_dataset(spec, root, writer, classes, n_train, n_val, n_test, write_split)


def _make_split_dataset(
    spec: DatasetSpec,
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
    name = spec.name
    classnames: list[str] = []
    # Per-benchmark official metadata, filled while the images are written.
    lists: dict[str, list[str]] = {"trainval": [], "test": [], "val": [], "train": []}
    flower_labels: list[int] = []
    cars_annos: dict[str, list[tuple[str, int]]] = {"cars_train": [], "cars_test": []}
    image_counter = 0

    for label, raw in enumerate(classes):
        if name == "EuroSAT":
            cname = EUROSAT_NEW_CNAMES.get(raw, raw)
        elif name == "Caltech101":
            cname = CALTECH_NEW_CNAMES.get(raw, raw)
        elif name == "OxfordPets":
            cname = breed_of(f"{raw}_1")
        elif name == "StanfordCars":
            cname = car_classname(raw)
        elif name == "SUN397":
            cname = sun_classname(raw)
        elif name == "UCF101":
            cname = ucf_classname(raw)
        else:
            cname = raw
        classnames.append(cname)
        for k, part in enumerate(_parts(n_train, n_val, n_test)):
            image_counter += 1
            if name == "DescribableTextures":
                rel = f"{raw}/{raw}_{k + 1:04d}.jpg"
            elif name == "EuroSAT":
                rel = f"{raw}/{raw}_{k + 1}.jpg"
            elif name == "Caltech101":
                rel = f"{raw}/image_{k + 1:04d}.jpg"
            elif name == "Food101":
                rel = f"{raw}/{100000 + image_counter}.jpg"
            elif name == "OxfordPets":
                stem = f"{raw}_{k + 1}"
                rel = stem + ".jpg"
                species = 1 if raw[:1].isupper() else 2  # cat breeds are capitalised in the release
                lists["test" if part == "test" else "trainval"].append(f"{stem} {label + 1} {species} {label + 1}")
            elif name == "StanfordCars":
                folder = "cars_test" if part == "test" else "cars_train"
                fname = f"{len(cars_annos[folder]) + 1:05d}.jpg"
                cars_annos[folder].append((fname, label + 1))
                rel = f"{folder}/{fname}"
            elif name == "OxfordFlowers":
                rel = flower_image_name(len(flower_labels))
                flower_labels.append(label + 1)
            elif name == "SUN397":
                rel = f"{raw}/sun_{label:03d}{k:05d}.jpg"
                lists["test" if part == "test" else "trainval"].append("/" + rel)
            elif name == "UCF101":
                fname = f"v_{raw}_g{k + 1:02d}_c01"
                rel = f"{cname}/{fname}.jpg"
                avi = f"{raw}/{fname}.avi"
                lists["test" if part == "test" else "trainval"].append(avi if part == "test" else f"{avi} {label + 1}")
            elif name == "FGVCAircraft":
                image_id = f"{1000000 + image_counter:07d}"
                rel = image_id + ".jpg"
                lists[part].append(f"{image_id} {raw}")
            else:  # pragma: no cover - every split benchmark is handled above
                raise ValueError(name)
            writer.write(osp.join(image_dir, rel), label)
            split[part].append((rel, label, cname))

    # Official metadata, so that the reader can also build the split itself.
    if name == "OxfordPets":
        _write_text(osp.join(dataset_dir, "annotations", "trainval.txt"), lists["trainval"])
        _write_text(osp.join(dataset_dir, "annotations", "test.txt"), lists["test"])
    elif name == "StanfordCars":
        _write_cars_mats(dataset_dir, classes, cars_annos)
    elif name == "OxfordFlowers":
        _write_flowers_meta(dataset_dir, classes, flower_labels)
    elif name == "SUN397":
        _write_text(osp.join(dataset_dir, "ClassName.txt"), ["/" + c for c in classes])
        _write_text(osp.join(dataset_dir, "Training_01.txt"), lists["trainval"])
        _write_text(osp.join(dataset_dir, "Testing_01.txt"), lists["test"])
    elif name == "UCF101":
        list_dir = osp.join(dataset_dir, "ucfTrainTestlist")
        _write_text(osp.join(list_dir, "classInd.txt"), [f"{i + 1} {c}" for i, c in enumerate(classes)])
        _write_text(osp.join(list_dir, "trainlist01.txt"), lists["trainval"])
        _write_text(osp.join(list_dir, "testlist01.txt"), lists["test"])
    elif name == "FGVCAircraft":
        _write_text(osp.join(dataset_dir, "variants.txt"), classes)
        for part in ("train", "val", "test"):
            _write_text(osp.join(dataset_dir, f"images_variant_{part}.txt"), lists[part])

    if spec.split_file and write_split:
        _write_split(osp.join(dataset_dir, spec.split_file), split)
        counts = {k: len(v) for k, v in split.items()}
    else:
        counts = _reader_counts(name, len(classes), n_train, n_val, n_test)
    return SyntheticDataset(
        spec.name, spec.config, root, dataset_dir, image_dir, classnames, counts, files=writer.written
    )


def _reader_counts(name: str, n_classes: int, n_train: int, n_val: int, n_test: int) -> dict[str, int]:
    """Split sizes the reader produces when it builds the split itself (CoOp's rounding)."""
    if name == "FGVCAircraft":
        per_class = (n_train, n_val, n_test)
    elif name in _TRAINVAL_SPLIT:
        trainval = n_train + n_val
        held_out = round(trainval * 0.2)
        per_class = (trainval - held_out, held_out, n_test)
    else:  # 50/20/30 per class
        total = n_train + n_val + n_test
        tr, va = round(total * 0.5), round(total * 0.2)
        per_class = (tr, va, total - tr - va)
    return {k: n * n_classes for k, n in zip(("train", "val", "test"), per_class)}


def _write_cars_mats(dataset_dir: str, classes: list[str], annos: dict[str, list[tuple[str, int]]]) -> None:
    import numpy as np
    from scipy.io import savemat

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


def _write_flowers_meta(dataset_dir: str, classes: list[str], labels: list[int]) -> None:
    import numpy as np
    from scipy.io import savemat

    savemat(osp.join(dataset_dir, "imagelabels.mat"), {"labels": np.array([labels], dtype=np.uint8)})
    with open(osp.join(dataset_dir, "cat_to_name.json"), "w", encoding="utf-8") as f:
        json.dump({str(i + 1): c for i, c in enumerate(classes)}, f)


def _make_imagenet_family(
    spec: DatasetSpec,
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
    index_of = {wnid: i for i, (wnid, _) in enumerate(lines)}
    wnids = sorted(classes) if classes is not None else [w for w, _ in lines[:n_classes]]
    unknown = [w for w in wnids if w not in names]
    if unknown:
        raise ValueError(f"classes not in class_lines: {unknown[:5]}")
    dataset_dir = osp.join(root, spec.folder)
    image_dir = osp.join(dataset_dir, spec.image_subdir)
    _write_text(osp.join(dataset_dir, "classnames.txt"), [f"{w} {n}" for w, n in lines])
    counts = {"train": 0, "test": 0}
    if spec.name == "ImageNet":
        val_index = 0
        for label, wnid in enumerate(wnids):
            for k in range(n_train):
                writer.write(osp.join(image_dir, "train", wnid, f"{wnid}_{k + 1}.JPEG"), label)
            for _ in range(n_test):
                val_index += 1
                writer.write(osp.join(image_dir, "val", wnid, f"ILSVRC2012_val_{val_index:08d}.JPEG"), label)
        counts = {"train": n_train * len(wnids), "val": n_test * len(wnids), "test": n_test * len(wnids)}
        classnames = [names[w] for w in wnids]
    elif spec.name == "ImageNetV2":
        ordered = sorted(wnids, key=index_of.get)
        for wnid in ordered:
            label = index_of[wnid]
            for k in range(n_test):
                writer.write(osp.join(image_dir, str(label), f"{label:04d}{k:04d}.jpeg"), label)
        counts = {"train": n_test * len(wnids), "test": n_test * len(wnids)}
        classnames = [names[w] for w in ordered]
    else:
        ext = "JPEG" if spec.name == "ImageNetSketch" else "jpg"
        for label, wnid in enumerate(wnids):
            for k in range(n_test):
                writer.write(osp.join(image_dir, wnid, f"{spec.config}_{k + 1}.{ext}"), label)
        if spec.name in ("ImageNetA", "ImageNetR"):
            _write_text(osp.join(image_dir, "README.txt"), ["A README as in the release (not a class)."])
        counts = {"train": n_test * len(wnids), "test": n_test * len(wnids)}
        classnames = [names[w] for w in wnids]
    return SyntheticDataset(
        spec.name, spec.config, root, dataset_dir, image_dir, classnames, counts, files=writer.written
    )
