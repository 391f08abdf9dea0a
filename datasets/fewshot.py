"""Few-shot subsets: ``split_fewshot/shot_<K>-seed_<S>.json``, sampled with the reader's
``generate_fewshot_dataset`` (Dassl's sampler: Python's ``random`` consumed exactly as in
Dassl/CoOp, train with K, then val with min(K, 4)) and cached as JSON (CoOp's ``.pkl`` caches
are never read or written). Paths are relative to the image folder."""
from __future__ import annotations

import os.path as osp
from collections import defaultdict
from typing import Any, Sequence

from engine.seam import Datum, atomic_write_json, get_logger

from .errors import MAX_LISTED, DatasetError
from .images import relative_path
from .split_files import parse_split, read_json_file

__all__ = ["fewshot_cache_fix", "fewshot_cache_path", "load_or_sample_fewshot", "sample_fewshot", "warn_short_classes"]

_log = get_logger("datasets.fewshot")


def fewshot_cache_path(fewshot_dir: str, num_shots: int, seed: int) -> str:
    """``split_fewshot/shot_<K>-seed_<S>.json`` (CoOp's name with .json instead of .pkl)."""
    return osp.join(fewshot_dir, f"shot_{num_shots}-seed_{seed}.json")


def fewshot_cache_fix(path: str) -> str:
    """The fix for a damaged few-shot cache: it is made by the runs, not downloaded."""
    return (
        f"delete {path} and rerun: the run draws the subset again and saves it (the same subset: it is drawn from "
        "the seed and the split)"
    )


def sample_fewshot(dataset: Any, train: list[Datum], val: list[Datum] | None, num_shots: int):
    """K shots per class from train, then min(K, 4) from val: the order CoOp draws them in.

    Uses the reader's own ``generate_fewshot_dataset`` (Dassl's API), so the subsets are the
    ones Dassl and CoOp give for the same state of Python's ``random``.
    """
    train = dataset.generate_fewshot_dataset(train, num_shots=num_shots)
    if val is not None:
        val = dataset.generate_fewshot_dataset(val, num_shots=min(num_shots, 4))
    return train, val


def load_or_sample_fewshot(
    dataset: Any,
    fewshot_dir: str,
    image_dir: str,
    num_shots: int,
    seed: int,
    train: list[Datum],
    val: list[Datum] | None,
) -> tuple[list[Datum], list[Datum] | None]:
    """The cached K-shot subset for this seed, or a new one (sampled, then cached atomically).

    ``val=None`` (ImageNet) caches the train subset only. The cache stores paths relative to the
    image folder, so a moved data root keeps working; an entry that is not in the current split
    (an edited split file) is an error rather than a silent mix.

    The subset is drawn even when the cache is there (and then the cache is used): Python's
    ``random`` must leave the reader in the same state whether or not a cache existed, or a run
    restarted from scratch would not repeat the first attempt exactly.
    """
    warn_short_classes(train, num_shots)
    sampled_train, sampled_val = sample_fewshot(dataset, train, val, num_shots)
    path = fewshot_cache_path(fewshot_dir, num_shots, seed)
    pkl = path[: -len(".json")] + ".pkl"
    if osp.isfile(pkl) and not osp.isfile(path):
        _log.info(f"Note: {pkl} is a pickle cache (CoOp's); it is not read. Caches here are JSON.")
    keys = ("train",) if val is None else ("train", "val")
    if osp.isfile(path):
        _log.info(f"Loading preprocessed few-shot data from {path}")
        fix = fewshot_cache_fix(path)
        cached = parse_split(read_json_file(path, fix), path, keys, fix)
        pools = {"train": train, "val": val}
        out = {}
        for key in keys:
            by_rel = {relative_path(d.impath, image_dir): d for d in pools[key]}
            stale = [item for item in cached[key] if item[0] not in by_rel or by_rel[item[0]].label != item[1]]
            if stale:
                raise DatasetError(
                    f"{path} does not match the current split: {len(stale)} {key} entries are not in it "
                    f"(first: {stale[0][0]}). The split file changed after this cache was written. "
                    f"Fix: delete {fewshot_dir} and rerun (the subset is resampled from the seed)."
                )
            out[key] = [by_rel[rel] for rel, _, _ in cached[key]]
        return out["train"], out.get("val")
    train, val = sampled_train, sampled_val
    data = {"train": train} if val is None else {"train": train, "val": val}
    obj = {k: [[relative_path(d.impath, image_dir), d.label, d.classname] for d in v] for k, v in data.items()}
    _log.info(f"Saving preprocessed few-shot data to {path}")
    try:
        atomic_write_json(obj, path)
    except OSError as e:
        _log.warning(f"WARNING: could not write {path} ({e}); continuing without the cache.")
    return train, val


def warn_short_classes(train: Sequence[Datum], num_shots: int) -> None:
    """Warn (once) when classes have fewer training images than ``num_shots``: as in Dassl, they
    keep all their images, so the subset holds fewer than ``num_shots`` per class."""
    counts: dict[str, int] = defaultdict(int)
    for d in train:
        counts[d.classname] += 1
    short = [(c, n) for c, n in counts.items() if n < num_shots]
    if short:
        listed = ", ".join(f"{c} {n}" for c, n in short[:MAX_LISTED]) + (f", ... ({len(short)} classes)" if len(short) > MAX_LISTED else "")
        _log.warning(
            f"WARNING: DATASET.NUM_SHOTS {num_shots} exceeds the training images of {len(short)} of {len(counts)} classes "
            f"({listed}): as in Dassl, those classes keep all their images."
        )


