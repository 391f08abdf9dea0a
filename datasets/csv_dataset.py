"""``CSVDataset``: your own images listed in CSV files.

    DATASET.NAME CSVDataset DATASET.FOLDER <folder>     (relative to --root, or absolute)

``<folder>/train.csv``, ``<folder>/test.csv`` and optionally ``<folder>/val.csv`` (without it,
20% of each training class is held out for validation, seed 1), each with a header and the
columns ``path`` (relative to the CSV's folder, or absolute) and ``label`` and/or ``classname``.
The class key is the label (an integer) when there is a ``label`` column, else the class name;
labels follow the sorted keys. Names: the ``classname`` column (``_`` as a space), or a
``classnames.txt`` / ``classnames.json`` mapping key -> name (``DATASET.CLASSNAMES``; required
when there is only a ``label`` column). The CSV files (and the class-name file) are the split:
the run records their sha256.
"""
from __future__ import annotations

import csv
import os.path as osp
from typing import Any

from engine.seam import DATASET_REGISTRY

from .errors import DatasetError, listing, not_utf8
from .own_data import OwnDataKind, OwnDataReader, check_distinct_names, default_class_name, drawn_split, name_classes, register_own_data
from .split_files import Split

__all__ = ["CSVDataset", "KIND", "read_csv_rows", "read_csv_split"]

KIND = register_own_data(
    OwnDataKind(
        name="CSVDataset",
        config="csvdataset",
        display_name="CSVDataset",
        layout=(
            "  <folder>/train.csv   path,label or path,classname (or both); paths relative to <folder>\n"
            "  <folder>/val.csv     (optional: 20% of train is held out otherwise)\n"
            "  <folder>/test.csv\n"
            "  <folder>/classnames.txt  (optional: `key class name` per line; required with labels only)"
        ),
    )
)
CSV_FILES = ("train.csv", "val.csv", "test.csv")

Row = tuple[str, str, str | None, int]  # (path, class key, classname column or None, line number)


def read_csv_rows(path: str) -> tuple[list[Row], bool]:
    """The rows of one CSV (path, key, classname column, line) and whether the key is an integer
    label (written ``str(int(label))``: ``05`` and ``5`` are one class)."""
    try:
        return _read_rows(path)
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None


def _read_rows(path: str) -> tuple[list[Row], bool]:
    problems: list[str] = []
    rows: list[Row] = []
    with open(path, encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        if "path" not in columns or not ({"label", "classname"} & set(columns)):
            raise DatasetError(
                f"{path}: the header is {','.join(columns) or '(empty)'}; expected `path,label`, `path,classname` or "
                "`path,label,classname`. Fix: add that header line (paths relative to the CSV's folder)."
            )
        has_label = "label" in columns
        for row in reader:
            lineno = reader.line_num  # counts blank lines and the lines of multi-line fields
            rel = (row.get("path") or "").strip()
            label = (row.get("label") or "").strip() if has_label else None
            cname = (row.get("classname") or "").strip() if "classname" in columns else None
            if not rel:
                problems.append(f"line {lineno}: empty path")
            elif has_label and not _is_int(label):
                problems.append(f"line {lineno}: label {label!r} is not an integer")
            elif cname is not None and not cname and not has_label:
                problems.append(f"line {lineno}: empty classname")
            else:
                rows.append((rel, str(int(label)) if has_label else cname, cname or None, lineno))
    if problems:
        raise DatasetError(
            f"{path} has malformed lines:\n{listing(problems)}\n"
            "Fix: one `path,label` (label an integer) or `path,classname` per line."
        )
    if not rows:
        raise DatasetError(f"{path} lists no images. Fix: one line per image under the header.")
    return rows, has_label


def _is_int(text: str | None) -> bool:
    try:
        int(text or "")
        return True
    except ValueError:
        return False


def _check_listed_once(folder: str, paths: dict[str, str], rows: dict[str, list[Row]]) -> None:
    """Each image (its resolved, normalised path) in one line of one CSV: a duplicate, an image in
    two parts (a test image trained on) or with two labels is an error naming both lines."""
    seen: dict[str, tuple[str, int, str]] = {}
    problems: list[str] = []
    for part, part_rows in rows.items():
        for rel, key, _, lineno in part_rows:
            image = osp.normpath(osp.join(folder, rel))
            first = seen.setdefault(image, (part, lineno, key))
            if first == (part, lineno, key):
                continue
            where = f"{paths[first[0]]}:{first[1]} and {paths[part]}:{lineno}"
            what = "listed twice" if first[0] == part else f"in both {first[0]} and {part} (a test image must not be trained on)"
            labels = f", with two classes ({first[2]}, {key})" if first[2] != key else ""
            problems.append(f"{rel}: {what}{labels}: {where}")
    if problems:
        raise DatasetError(
            f"CSVDataset: images listed more than once:\n{listing(problems)}\n"
            "Fix: list each image once, in one of train/val/test, with its one class."
        )


def read_csv_split(folder: str, classnames_setting: str = "") -> tuple[Split, dict[str, str]]:
    """The split the CSV files give (val drawn from train, seed 1, when val.csv is absent) and the
    files that define it (role -> path)."""
    paths = {name[: -len(".csv")]: osp.join(folder, name) for name in CSV_FILES}
    missing = [paths[k] for k in ("train", "test") if not osp.isfile(paths[k])]
    if missing:
        raise DatasetError(
            f"CSVDataset: {', '.join(missing)} not found.\nExpected layout:\n{KIND.layout}\n"
            "Fix: write train.csv and test.csv (and optionally val.csv) in DATASET.FOLDER."
        )
    parts = [k for k in ("train", "val", "test") if osp.isfile(paths[k])]
    rows: dict[str, list[Row]] = {}
    label_kinds = set()
    for part in parts:
        rows[part], has_label = read_csv_rows(paths[part])
        label_kinds.add(has_label)
    _check_listed_once(folder, paths, rows)
    if len(label_kinds) > 1:
        raise DatasetError(f"CSVDataset: some of {', '.join(paths[p] for p in parts)} have a label column and some not. Fix: use the same columns in all.")
    numeric = label_kinds.pop()
    keys = sorted({key for part in parts for _, key, _, _ in rows[part]}, key=(lambda k: int(k)) if numeric else None)
    # The names: a class-name file, else the classname column, else the keys.
    column: dict[str, set[str]] = {}
    for part in parts:
        for _, key, cname, _ in rows[part]:
            if cname:
                column.setdefault(key, set()).add(cname)
    clashes = [f"label {k}: {', '.join(sorted(v))}" for k, v in column.items() if len(v) > 1]
    if clashes:
        raise DatasetError(f"CSVDataset: a label has several class names:\n{listing(clashes)}\nFix: one class name per label.")
    names, names_file = name_classes(keys, folder, classnames_setting, "label" if numeric else "class")
    if names_file is None:
        if numeric and len(column) < len(keys):
            unnamed = [k for k in keys if k not in column]
            raise DatasetError(
                f"CSVDataset: labels {', '.join(unnamed[:8])} have no class name (CLIP needs names, not numbers).\n"
                f"Fix: add a classname column, or a classnames.txt in {folder} with `label class name` per line."
            )
        if numeric:
            names = check_distinct_names({k: default_class_name(next(iter(column[k]))) for k in keys}, "label", "the classname column")
    label_of = {key: label for label, key in enumerate(keys)}
    train_keys = {key for _, key, _, _ in rows["train"]}
    untrained = [k for k in keys if k not in train_keys]
    if untrained:
        raise DatasetError(f"CSVDataset: classes {', '.join(untrained[:8])} have no training images in {paths['train']}. Fix: add some.")
    items = {part: [(rel, label_of[key], names[key]) for rel, key, _, _ in rows[part]] for part in parts}
    files = {f"{part}_csv": paths[part] for part in parts}
    if names_file:
        files["classnames"] = names_file
    if "val" not in items:
        return drawn_split(KIND, train=items["train"], test=items["test"]), files
    return {k: items[k] for k in ("train", "val", "test")}, files


@DATASET_REGISTRY.register()
class CSVDataset(OwnDataReader):
    """Your images listed in train/val/test CSV files (see the module's docstring)."""

    kind = KIND

    @classmethod
    def read_split(cls, folder: str, cfg: Any, write: bool) -> tuple[Split, dict[str, str]]:
        if cfg.DATASET.get("SPLIT_FILE", ""):
            raise DatasetError("DATASET.SPLIT_FILE does not apply to CSVDataset (its CSV files are the split); leave it empty.")
        return read_csv_split(folder, cfg.DATASET.get("CLASSNAMES", ""))
