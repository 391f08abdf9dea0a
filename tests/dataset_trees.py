"""Dataset trees for the reader tests, built from the real split files and class lists.

The reference material lives in ``../shared`` (next to the repository), which exists only in the
development and CI environments: tests that use it skip with a reason when it is absent. The
trees hold empty placeholder files at exactly the listed paths (the readers only check that
files exist), so thousands of images cost milliseconds.
"""
from __future__ import annotations

import contextlib
import json
import os
import os.path as osp
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

from datasets.specs import SPECS

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
SPLITS_DIR = SHARED / "data" / "splits"
GOLDEN_DIR = SHARED / "data" / "fewshot_golden"

# The seven benchmarks whose CoOp split file is in ../shared (reader name -> golden folder).
ZHOU_DATASETS = {
    "Caltech101": "caltech101",
    "DescribableTextures": "dtd",
    "EuroSAT": "eurosat",
    "OxfordFlowers": "oxford_flowers",
    "OxfordPets": "oxford_pets",
    "StanfordCars": "stanford_cars",
    "UCF101": "ucf101",
}

requires_shared = pytest.mark.skipif(
    not SPLITS_DIR.is_dir(), reason=f"reference data {SPLITS_DIR} not found (it exists only in the dev/CI environment)"
)


# Memory-backed scratch space: creating ~86,000 placeholder files there takes about a second,
# against up to 20 s on a busy disk.
SHM = "/dev/shm"


@contextlib.contextmanager
def scratch_dir(fallback: Path) -> Iterator[Path]:
    """A temporary folder in /dev/shm when it is usable, else ``fallback``; removed afterwards."""
    if osp.isdir(SHM) and os.access(SHM, os.W_OK):
        path = Path(tempfile.mkdtemp(prefix="mudpt-datasets-", dir=SHM))
        try:
            yield path
        finally:
            shutil.rmtree(path, ignore_errors=True)
    else:
        yield fallback


@pytest.fixture
def tmp_path(tmp_path_factory) -> Iterator[Path]:
    """pytest's ``tmp_path``, in /dev/shm when usable: the dataset tests write many small files
    and fsync every cache, which a busy disk makes slow. Import it into a test module to use it."""
    with scratch_dir(tmp_path_factory.mktemp("data")) as path:
        yield path


def touch_all(base: str, relpaths) -> None:
    """Create empty files at ``base/<rel>`` for every relative path."""
    made: set[str] = set()
    for rel in relpaths:
        path = osp.join(base, rel)
        folder = osp.dirname(path)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        with open(path, "wb"):
            pass


def read_shared_split(name: str) -> dict:
    """The real split file of a benchmark, parsed."""
    with open(SPLITS_DIR / SPECS[name].split_file, encoding="utf-8") as f:
        return json.load(f)


def build_zhou_tree(root: str, name: str) -> dict:
    """Copy the real split file into ``root/<folder>/`` and create every listed image (empty)."""
    spec = SPECS[name]
    dataset_dir = osp.join(root, spec.folder)
    os.makedirs(dataset_dir, exist_ok=True)
    shutil.copyfile(SPLITS_DIR / spec.split_file, osp.join(dataset_dir, spec.split_file))
    split = read_shared_split(name)
    image_dir = osp.join(dataset_dir, spec.image_subdir) if spec.image_subdir else dataset_dir
    touch_all(image_dir, (item[0] for items in split.values() for item in items))
    return split


def read_lines(path: Path) -> list[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f if line.strip()]


def imagenet_class_lines() -> list[tuple[str, str]]:
    """The real ``wnid name`` lines of ImageNet's classnames.txt (timm's wnids + CLIP's names)."""
    wnids = read_lines(SPLITS_DIR / "imagenet_synsets.txt")
    names = read_lines(SPLITS_DIR / "classnames" / "imagenet.txt")
    assert len(wnids) == len(names) == 1000
    return list(zip(wnids, names))


def sun397_class_paths() -> list[str]:
    """SUN397's class paths (``a/apartment_building/outdoor``) from the CoOp class names.

    CoOp names a class by its path without the letter folder, qualifier first, so the path is the
    reversed name with the first letter in front.
    """
    paths = []
    for name in read_lines(SPLITS_DIR / "classnames" / "sun397.txt"):
        parts = name.split(" ")[::-1]
        paths.append("/".join([parts[0][0]] + parts))
    return paths


def load_golden(folder: str, shots: int, seed: int) -> dict[str, list[tuple[str, int, str]]]:
    """A golden few-shot file as relative items (the ``./data/<folder>/<images>/`` prefix removed)."""
    with open(GOLDEN_DIR / folder / f"shot_{shots}-seed_{seed}.json", encoding="utf-8") as f:
        golden = json.load(f)
    out = {}
    for key in ("train", "val"):
        items = []
        for entry in golden[key]["data"]:
            parts = entry["impath"].split("/")  # ".", "data", <folder>, [<image dir>], rest...
            items.append((parts, entry["label"], entry["classname"]))
        out[key] = items
    return out


def golden_relative(name: str, golden: dict) -> dict[str, list[tuple[str, int, str]]]:
    """Strip the golden prefix for benchmark ``name`` so paths are relative to its image folder."""
    spec = SPECS[name]
    prefix = ["."] + ["data", spec.folder] + ([spec.image_subdir] if spec.image_subdir else [])
    out = {}
    for key, items in golden.items():
        rel = []
        for parts, label, cname in items:
            assert parts[: len(prefix)] == prefix, parts
            rel.append(("/".join(parts[len(prefix) :]), label, cname))
        out[key] = rel
    return out


def golden_files(folder: str) -> list[tuple[int, int]]:
    """(shots, seed) pairs available for a golden folder."""
    pairs = []
    for path in sorted((GOLDEN_DIR / folder).glob("shot_*-seed_*.json")):
        shots, seed = path.stem[len("shot_") :].split("-seed_")
        pairs.append((int(shots), int(seed)))
    return pairs
