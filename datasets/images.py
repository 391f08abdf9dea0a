"""Images on disk: folders listed (images only, sorted), and split items turned into ``Datum``
objects after one bulk existence check, so a bad tree gives one error with the count, the first
paths and the fix."""
from __future__ import annotations

import os
import os.path as osp
from typing import Iterable, Sequence

from engine.seam import Datum

from .errors import DatasetError, listing
from .hints import fetch_instructions, hint_text, misplaced_hints
from .specs import DatasetSpec
from .split_files import Item, Split

__all__ = [
    "IMAGE_EXTENSIONS",
    "build_datums",
    "find_missing",
    "list_class_folders",
    "list_images",
    "relative_path",
    "subdirs",
]

# Files taken as images when a reader lists a folder (CoOp takes every non-hidden entry; stray
# files such as Thumbs.db would then break training, so we keep only image files).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


def subdirs(folder: str) -> list[str]:
    """Names of the non-hidden sub-folders of ``folder``, sorted."""
    return sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith("."))


def list_images(folder: str) -> list[str]:
    """Image file names in ``folder``, sorted (hidden files and non-images skipped)."""
    return sorted(
        e.name
        for e in os.scandir(folder)
        if not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS) and e.is_file()
    )


def list_class_folders(
    spec: DatasetSpec,
    root: str,
    image_dir: str,
    ignored: Sequence[str] = (),
    new_cnames: dict[str, str] | None = None,
) -> list[Item]:
    """Items of a folder-per-class tree, class by class in sorted folder order (the labels).

    File names are sorted, so the split made from them is the same on every file system (CoOp
    shuffles in directory order).
    """
    if not osp.isdir(image_dir):
        raise DatasetError(
            f"{spec.name}: neither {spec.split_file} nor the image folder {image_dir} exists.\n"
            + fetch_instructions(spec, root)
            + hint_text(misplaced_hints(spec, root, image_dir))
        )
    categories = [c for c in subdirs(image_dir) if c not in ignored]
    if not categories:
        raise DatasetError(f"{spec.name}: no class folders in {image_dir}.\n{fetch_instructions(spec, root)}")
    items: list[Item] = []
    for label, category in enumerate(categories):
        cname = new_cnames.get(category, category) if new_cnames else category
        items += [(f"{category}/{name}", label, cname) for name in list_images(osp.join(image_dir, category))]
    return items



def find_missing(base_dir: str, relpaths: Iterable[str]) -> list[str]:
    """The paths of ``relpaths`` (relative to ``base_dir``) that are not files.

    Lists each folder once instead of calling stat per file, which matters for ImageNet.
    """
    listing: dict[str, set[str] | None] = {}
    missing = []
    for rel in relpaths:
        folder, name = osp.split(rel)
        if folder not in listing:
            try:
                with os.scandir(osp.join(base_dir, folder)) as it:
                    listing[folder] = {e.name for e in it if e.is_file()}
            except OSError:
                listing[folder] = None
        names = listing[folder]
        if names is None or name not in names:
            missing.append(rel)
    return missing


def _missing_images_error(
    spec: DatasetSpec, root: str, image_dir: str, missing: list[str], total: int, source: str
) -> DatasetError:
    if not osp.isdir(image_dir):
        head = f"{spec.name}: the image folder {image_dir} does not exist ({total:,} images listed in {source})."
    else:
        head = (
            f"{spec.name}: {len(missing):,} of {total:,} images listed in {source} are missing under {image_dir}:\n"
            f"{listing(missing)}"
        )
    return DatasetError(
        head + "\n" + fetch_instructions(spec, root, kinds=("images",)) + hint_text(misplaced_hints(spec, root, image_dir))
    )


def build_datums(spec: DatasetSpec, root: str, image_dir: str, split: Split, source: str) -> dict[str, list[Datum]]:
    """Turn relative items into ``Datum`` objects after checking that every image exists."""
    all_rel = [rel for items in split.values() for rel, _, _ in items]
    missing = find_missing(image_dir, all_rel)
    if missing:
        raise _missing_images_error(spec, root, image_dir, missing, len(all_rel), source)
    return {
        key: [Datum(impath=osp.join(image_dir, rel), label=label, classname=cname) for rel, label, cname in items]
        for key, items in split.items()
    }


def relative_path(impath: str, image_dir: str) -> str:
    rel = osp.relpath(impath, image_dir)
    return rel.replace(os.sep, "/")

