"""``ImageFolder``: your own images, one folder per class.

    DATASET.NAME ImageFolder DATASET.FOLDER <folder>     (relative to --root, or absolute)

Layout: ``<folder>/<class>/<images>`` (a split is drawn: CoOp's 50/20/30 per class, seed 1) or
``<folder>/{train,val,test}/<class>/<images>`` (the split is yours; without ``val/``, 20% of each
training class is held out for it, seed 1). Labels follow the sorted class folders; names are the
folder names with ``_`` as a space, or those of ``classnames.txt`` / ``classnames.json``
(``DATASET.CLASSNAMES``). The split is written once, next to the data, as
``split_generated_ImageFolder_seed1.json`` (never an official ``split_zhou_*`` name); later runs
read it, and the run records its sha256. When the folder no longer gives that split (images added
or removed, classes renamed), the run stops and says so instead of training on other data.
"""
from __future__ import annotations

import os.path as osp
from typing import Any

from engine.seam import DATASET_REGISTRY, get_logger

from .config import split_file_setting
from .errors import DatasetError, listing
from .images import list_images, subdirs
from .own_data import (
    FEWSHOT_DIR,
    SPLIT_SEED,
    OwnDataKind,
    OwnDataReader,
    drawn_split,
    name_classes,
    register_own_data,
)
from .split_files import Item, Split, generated_split_name, read_split, write_split

__all__ = ["GENERATED_SPLIT", "ImageFolder", "KIND"]

_log = get_logger("datasets.image_folder")

KIND = register_own_data(
    OwnDataKind(
        name="ImageFolder",
        config="imagefolder",
        display_name="ImageFolder",
        layout=(
            "  <folder>/<class>/<images>                   (split drawn 50/20/30 per class), or\n"
            "  <folder>/{train,val,test}/<class>/<images>  (your split; val/ optional)\n"
            "  <folder>/classnames.txt                     (optional: `folder class name` per line)"
        ),
    )
)
GENERATED_SPLIT = generated_split_name(KIND.name, SPLIT_SEED)
SPLIT_FOLDERS = ("train", "val", "test")


def _class_folders(top: str) -> list[str]:
    """The class folders of ``top``: its sub-folders but the few-shot caches (an error if that
    folder holds images: a class may not take its name)."""
    cache = osp.join(top, FEWSHOT_DIR)
    if osp.isdir(cache) and list_images(cache):
        raise DatasetError(
            f"ImageFolder: {cache} holds images, but {FEWSHOT_DIR}/ is where the few-shot subsets are cached, not a "
            f"class. Fix: rename that class folder (e.g. to split_few_shot; classnames.txt can give it any name)."
        )
    return [c for c in subdirs(top) if c != FEWSHOT_DIR]


def _items(top: str, prefix: str, classes: list[str], names: dict[str, str]) -> tuple[list[Item], list[str]]:
    """Items of the class folders under ``top`` (labels: position in ``classes``) and the empty folders."""
    items: list[Item] = []
    empty: list[str] = []
    for label, key in enumerate(classes):
        folder = osp.join(top, key)
        if not osp.isdir(folder):
            continue
        images = list_images(folder)
        if not images:
            empty.append(osp.join(top, key))
        items += [(f"{prefix}{key}/{name}", label, names[key]) for name in images]
    return items, empty


def list_image_folder(folder: str, classnames_setting: str = "") -> Split:
    """The split the folder gives (drawn with seed 1 where the layout has none; deterministic)."""
    present = [part for part in SPLIT_FOLDERS if osp.isdir(osp.join(folder, part))]
    splits_layout = bool(present)
    if splits_layout and not {"train", "test"} <= set(present):
        absent = " and ".join(f"{p}/" for p in ("train", "test") if p not in present)
        raise DatasetError(
            f"ImageFolder: {folder} has {', '.join(f'{p}/' for p in present)} but no {absent}: a split of your own needs "
            f"train/ and test/ (val/ is optional).\nExpected layout:\n{KIND.layout}\n"
            f"Fix: add {absent} with the same class folders, or put the class folders directly in {folder} (the split is "
            "then drawn)."
        )
    top = osp.join(folder, "train") if splits_layout else folder
    classes = _class_folders(top)
    if not classes:
        raise DatasetError(
            f"ImageFolder: no class folders in {top}.\nExpected layout:\n{KIND.layout}\n"
            "Fix: put the images of each class in a folder of their own (its name is the class name)."
        )
    names, _ = name_classes(classes, folder, classnames_setting, "class folder")
    if not splits_layout:
        items, empty = _items(folder, "", classes, names)
        _no_empty(empty)
        return drawn_split(KIND, items=items)
    parts: dict[str, list[Item]] = {}
    empty: list[str] = []
    for part in SPLIT_FOLDERS:
        top_part = osp.join(folder, part)
        if not osp.isdir(top_part):
            continue
        extra = [c for c in _class_folders(top_part) if c not in names]
        if extra:
            raise DatasetError(
                f"ImageFolder: {top_part} has class folders that train/ lacks: {', '.join(extra[:5])}.\n"
                "Fix: every class needs training images: add them under train/, or remove those folders."
            )
        parts[part], part_empty = _items(top_part, f"{part}/", classes, names)
        empty += part_empty if part == "train" else []
    _no_empty(empty)
    if "val" in parts:
        return {k: parts[k] for k in SPLIT_FOLDERS}
    return drawn_split(KIND, train=parts["train"], test=parts["test"])


def _no_empty(empty: list[str]) -> None:
    if empty:
        raise DatasetError(
            f"ImageFolder: class folders without images (.jpg, .png, ... files):\n{listing(empty)}\n"
            "Fix: add images to them or remove them (images sit directly in the class folder)."
        )


def _images(split: Split) -> dict[str, tuple[str, str]]:
    """Image path -> (part, class name) of every image of a split."""
    return {rel: (part, cname) for part in SPLIT_FOLDERS for rel, _, cname in split.get(part, [])}


def _differences(saved: Split, now: Split) -> tuple[list[str], list[str], list[str]]:
    """What differs between the saved split and the folder, by image: the images added, the saved
    ones gone (a renamed image is one of each), and the class names changed (``classnames.txt``)."""
    before, after = _images(saved), _images(now)
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    renamed = sorted({(before[r][1], after[r][1]) for r in set(before) & set(after) if before[r][1] != after[r][1]})
    return added, removed, [f"{a!r} is now {b!r}" for a, b in renamed]


def _changed_message(folder: str, path: str, saved: Split, now: Split) -> str | None:
    """Why the folder no longer gives the saved split, naming the images added and removed, and
    what to do; None when it still gives it."""
    added, removed, renamed = _differences(saved, now)
    if not (added or removed or renamed):
        if all(sorted(saved.get(k, [])) == sorted(now.get(k, [])) for k in SPLIT_FOLDERS):
            return None
        return (  # the same images and names, labelled or split otherwise (e.g. a split drawn by another version)
            f"ImageFolder: the images of {folder} are those of the split saved in {path}, but labelled or split "
            f"otherwise. Fix: keep {path} as it is (it is what your runs used), or delete it to draw the split again."
        )
    parts = []
    if added:
        parts.append(f"{len(added)} image{'s' if len(added) > 1 else ''} added since the split was saved:\n{listing(added)}")
    if removed:
        parts.append(f"{len(removed)} saved image{'s' if len(removed) > 1 else ''} no longer there:\n{listing(removed)}")
    if renamed:
        parts.append(f"class names changed (classnames.txt):\n{listing(renamed)}")
    steps = [
        what for what, found in (
            ("move the added images out of the folder", added),
            ("put the missing images back", removed),
            ("restore the class names", renamed),
        ) if found
    ]  # fmt: skip
    keep = ", ".join(steps[:-1]) + (" and " if len(steps) > 1 else "") + steps[-1]
    fewshot = osp.join(folder, FEWSHOT_DIR)
    also = f" and {fewshot} (its few-shot subsets come from the old split)" if osp.isdir(fewshot) else ""
    return (
        f"ImageFolder: {folder} no longer gives the split saved in {path}:\n" + "\n".join(parts) + "\n"
        "The data is not changed silently: runs on the saved split stay comparable only with it.\n"
        f"Fix: to keep the saved split, {keep}. To train on the folder as it is now, delete {path} (the split is "
        f"drawn again from the images there){also}; runs made with the old split then refuse to resume (their split "
        "file changed)."
    )


@DATASET_REGISTRY.register()
class ImageFolder(OwnDataReader):
    """Your images in class folders (see the module's docstring)."""

    kind = KIND

    @classmethod
    def read_split(cls, folder: str, cfg: Any, write: bool) -> tuple[Split, dict[str, str]]:
        given = split_file_setting(cfg, folder)  # DATASET.SPLIT_FILE: a split of your own, as it is
        if given is not None:
            if not osp.isfile(given):
                raise DatasetError(
                    f"ImageFolder: DATASET.SPLIT_FILE {given} not found. Point it at a split file in CoOp's format "
                    f"(relative to {folder} or absolute), or leave it empty to use {GENERATED_SPLIT}."
                )
            if cfg.DATASET.get("CLASSNAMES", ""):
                raise DatasetError(
                    f"ImageFolder: DATASET.CLASSNAMES {cfg.DATASET.CLASSNAMES!r} does not apply with DATASET.SPLIT_FILE "
                    f"({given} names the classes). Fix: leave one of them empty."
                )
            fix = (
                f"correct {given} (CoOp's format: {{\"train\": [[path, label, classname], ...], \"val\": ..., \"test\": ...}}), "
                f"or leave DATASET.SPLIT_FILE empty to use the folder's own split"
            )
            return read_split(given, fix=fix), {"split": given}
        split = list_image_folder(folder, cfg.DATASET.get("CLASSNAMES", ""))
        path = osp.join(folder, GENERATED_SPLIT)
        if osp.isfile(path):
            saved = read_split(path, fix=f"delete {path}: the split is drawn again from {folder}")
            changed = _changed_message(folder, path, saved, split)
            if changed:
                raise DatasetError(changed)
            return saved, {"split": path}
        if write:
            write_split(split, path)
            if not osp.isfile(path):
                raise DatasetError(
                    f"ImageFolder: could not save the split to {path} (see the warning above); every run records the "
                    "split it used. Fix: make the folder writable, or copy the data somewhere writable."
                )
            n = {k: len(v) for k, v in split.items()}
            _log.info(f"ImageFolder: saved the split of {folder} ({n['train']} train, {n['val']} val, {n['test']} test) to {path}")
        return split, {"split": path}
