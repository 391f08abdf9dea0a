"""Split files in CoOp's JSON format: read, validated and written (atomically), and the name a
drawn split is saved under (:func:`generated_split_name`).

``{"train"|"val"|"test": [[relative_path, label, classname], ...]}``, paths relative to the
benchmark's image folder. The few-shot caches use the same item format (``datasets.fewshot``).
"""
from __future__ import annotations

import json
from typing import Any, Sequence

from engine.seam import atomic_write_json, atomic_write_text, get_logger

from .errors import MAX_LISTED, DatasetError, listing, not_utf8

__all__ = [
    "Item",
    "SPLITS",
    "Split",
    "generated_split_name",
    "parse_split",
    "read_json_file",
    "read_split",
    "write_split",
]

_log = get_logger("datasets.split_files")

Item = tuple[str, int, str]  # (path relative to the image folder, label, classname)
Split = dict[str, list[Item]]

SPLITS = ("train", "val", "test")


# The fix for a malformed split file when its caller names none (a benchmark's: no split is drawn
# in place of an official one, so the way on is the original file).
BENCHMARK_SPLIT_FIX = "replace it with the original file (DATASETS.md says where to get it)"


def generated_split_name(name: str, seed: int) -> str:
    """The file name of a drawn split: never one of the official ``split_zhou_*`` names."""
    return f"split_generated_{name}_seed{seed}.json"


def parse_split(obj: Any, path: str, keys: Sequence[str] = SPLITS, fix: str = BENCHMARK_SPLIT_FIX) -> Split:
    """Validate a split object (CoOp's format) and return it with int labels.

    Checks: the keys, each item is ``[str, int, str]``, one classname per label, labels of the
    first list run 0..N-1 without gaps, and the other lists only use those labels.
    """
    problems: list[str] = []
    if not isinstance(obj, dict) or any(k not in obj or not isinstance(obj[k], list) for k in keys):
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DatasetError(f"{path} is not a split file: expected lists under keys {list(keys)}, found {found}. Fix: {fix}.")
    split: Split = {}
    cname_of: dict[int, str] = {}
    for key in keys:
        items: list[Item] = []
        for i, item in enumerate(obj[key]):
            ok = (
                isinstance(item, (list, tuple))
                and len(item) == 3
                and isinstance(item[0], str)
                and isinstance(item[1], int)
                and not isinstance(item[1], bool)
                and isinstance(item[2], str)
            )
            if not ok:
                problems.append(f"{key}[{i}] = {item!r} is not [relative_path, label, classname]")
                continue
            rel, label, cname = item
            if cname_of.setdefault(label, cname) != cname:
                problems.append(f"{key}[{i}]: label {label} is '{cname}' here but '{cname_of[label]}' elsewhere")
            items.append((rel, label, cname))
        split[key] = items
    if not problems and split[keys[0]]:
        labels = sorted({label for _, label, _ in split[keys[0]]})
        if labels != list(range(len(labels))):
            problems.append(f"the {keys[0]} labels are not 0..{len(labels) - 1} without gaps")
        for key in keys[1:]:
            extra = sorted({label for _, label, _ in split[key]} - set(labels))
            if extra:
                problems.append(f"{key} uses labels not in {keys[0]}: {extra[:MAX_LISTED]}")
    elif not problems:
        problems.append(f"the {keys[0]} list is empty")
    if problems:
        raise DatasetError(
            f"{path} is not a valid split file:\n{listing(problems)}\nFix: {fix}."
        )
    return split



def read_split(path: str, keys: Sequence[str] = SPLITS, fix: str | None = None) -> Split:
    """Read and validate a split file (``Reading split from <path>``, as CoOp prints); ``fix``:
    the advice for a malformed one (default: a benchmark's)."""
    _log.info(f"Reading split from {path}")
    if fix is None:
        return parse_split(read_json_file(path), path, keys)
    return parse_split(read_json_file(path, fix), path, keys, fix)


def read_json_file(path: str, fix: str = BENCHMARK_SPLIT_FIX) -> Any:
    """A JSON file (UTF-8, a byte-order mark allowed), or the error with ``fix`` for a malformed one."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return json.load(f)
    except UnicodeDecodeError as e:
        raise not_utf8(path, e) from None
    except json.JSONDecodeError as e:
        raise DatasetError(f"{path} is not valid JSON ({e}). Fix: {fix}.") from None


def write_split(split: Split, path: str, compact: bool = False) -> None:
    """Write a split in CoOp's format, atomically (``Saved split to <path>``).

    A read-only data root is not an error: the split is determined by the seed, so the run goes
    on without the file and logs a warning.
    """
    obj = {k: [list(item) for item in v] for k, v in split.items()}
    try:
        if compact:  # ImageNet's 1.3M items: the indented form would be ~130 MB
            atomic_write_text(path, json.dumps(obj, separators=(",", ":")))
        else:
            atomic_write_json(obj, path)
    except OSError as e:
        _log.warning(f"WARNING: could not write {path} ({e}); continuing without it.")
        return
    _log.info(f"Saved split to {path}")

