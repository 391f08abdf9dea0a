"""Base / new classes: CoOp's base-to-new halves of a dataset's classes (CoCoOp's protocol)."""
from __future__ import annotations

import math

from engine.seam import Datum, get_logger

from .config import check_subsample

__all__ = ["subsample_classes"]

_log = get_logger("datasets.class_subsets")


def subsample_classes(*data: list[Datum], subsample: str = "all") -> list[list[Datum]]:
    """CoOp's base-to-new split of the classes.

    "all" returns the lists unchanged. Otherwise the sorted labels of the *first* list are cut
    at m = ceil(n / 2): "base" keeps the first m, "new" the rest; every list is filtered to those
    labels and relabelled 0..len-1 in sorted order (class names kept, new ``Datum`` objects).
    """
    subsample = check_subsample(subsample)
    if subsample == "all":
        return list(data)
    labels = sorted({item.label for item in data[0]})
    m = math.ceil(len(labels) / 2)
    _log.info(f"SUBSAMPLE {subsample.upper()} CLASSES!")
    selected = labels[:m] if subsample == "base" else labels[m:]
    relabeler = {y: y_new for y_new, y in enumerate(selected)}
    return [
        [Datum(impath=d.impath, label=relabeler[d.label], classname=d.classname) for d in items if d.label in relabeler]
        for items in data
    ]

