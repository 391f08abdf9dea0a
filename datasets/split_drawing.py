"""Drawing a split as CoOp's readers do: 50/20/30 per class of a folder tree, or 80/20 of an
official trainval list (Python's ``random`` consumed as in CoOp, so a seed gives CoOp's split)."""
from __future__ import annotations

import random
from collections import defaultdict
from typing import Sequence

from engine.seam import get_logger

from .errors import DatasetError, listing
from .specs import DatasetSpec
from .split_files import SPLITS, Item, Split

__all__ = [
    "P_TRAIN",
    "P_VAL",
    "P_VAL_OF_TRAINVAL",
    "make_split",
    "per_class_counts",
    "split_per_class",
    "split_trainval",
    "trainval_counts",
]

_log = get_logger("datasets.split_drawing")

# CoOp's split ratios: folders are split 50/20/30, official trainval lists 80/20.
P_TRAIN, P_VAL = 0.5, 0.2
P_VAL_OF_TRAINVAL = 0.2


BENCHMARK_FIX = "complete the image folders, or use the published split file (see DATASETS.md)"


def split_per_class(spec: DatasetSpec, items: Sequence[Item], fix: str = BENCHMARK_FIX) -> Split:
    """CoOp's 50/20/30 splitter: per label (in first-appearance order) shuffle, then take 50%
    train, 20% val (``round``) and the rest test. Consumes Python's ``random`` as CoOp does.
    ``fix``: the advice for classes too small to split (your own data has its own)."""
    p_test = 1 - P_TRAIN - P_VAL
    _log.info(f"Splitting into {P_TRAIN:.0%} train, {P_VAL:.0%} val, and {p_test:.0%} test")
    groups: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        groups[item[1]].append(item)
    split: Split = {k: [] for k in SPLITS}
    too_small: list[str] = []
    for label, group in groups.items():
        random.shuffle(group)
        n_train, n_val, n_test = per_class_counts(len(group))
        if n_train <= 0 or n_val <= 0 or n_test <= 0:
            too_small.append(f"{group[0][2]} ({len(group)} images)")
        split["train"] += group[:n_train]
        split["val"] += group[n_train : n_train + n_val]
        split["test"] += group[n_train + n_val :]
    if too_small:
        raise DatasetError(
            f"{spec.name}: cannot split the classes 50/20/30: these classes are too small "
            f"(each part needs at least one image):\n{listing(too_small)}\n"
            f"Fix: {fix}."
        )
    return split


def per_class_counts(n_total: int) -> tuple[int, int, int]:
    """(train, val, test) sizes of one class under the 50/20/30 split (CoOp's rounding)."""
    n_train = round(n_total * P_TRAIN)
    n_val = round(n_total * P_VAL)
    return n_train, n_val, n_total - n_train - n_val


def trainval_counts(n_trainval: int, p_val: float = P_VAL_OF_TRAINVAL) -> tuple[int, int]:
    """(train, val) sizes of one class under the trainval 80/20 split."""
    n_val = round(n_trainval * p_val)
    return n_trainval - n_val, n_val


def make_split(spec: DatasetSpec, source: dict[str, list[Item]]) -> Split:
    """The split CoOp builds from a benchmark's official files (see ``read_source``):
    ``{"all"}`` -> 50/20/30 per class, ``{"trainval", "test"}`` -> 80/20 + test, else as given."""
    if "all" in source:
        return split_per_class(spec, source["all"])
    if "trainval" in source:
        train, val = split_trainval(spec, source["trainval"])
        return {"train": train, "val": val, "test": source["test"]}
    return {k: list(source[k]) for k in SPLITS}


def split_trainval(
    spec: DatasetSpec, trainval: Sequence[Item], p_val: float = P_VAL_OF_TRAINVAL, fix: str = BENCHMARK_FIX
) -> tuple[list[Item], list[Item]]:
    """CoOp's trainval splitter: per label (first-appearance order) shuffle and hold out ``p_val``
    (``fix``: the advice for a class too small to hold out any)."""
    _log.info(f"Splitting trainval into {1 - p_val:.0%} train and {p_val:.0%} val")
    tracker: dict[int, list[int]] = defaultdict(list)
    for idx, item in enumerate(trainval):
        tracker[item[1]].append(idx)
    train: list[Item] = []
    val: list[Item] = []
    for label, idxs in tracker.items():
        n_val = trainval_counts(len(idxs), p_val)[1]
        if n_val <= 0:
            raise DatasetError(
                f"{spec.name}: class '{trainval[idxs[0]][2]}' has only {len(idxs)} trainval images, too few to hold "
                f"out {p_val:.0%} for validation. Fix: {fix}."
            )
        random.shuffle(idxs)
        for n, idx in enumerate(idxs):
            (val if n < n_val else train).append(trainval[idx])
    return train, val

