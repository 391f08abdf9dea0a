"""The CoOp reader protocol shared by the benchmark readers, with JSON caches instead of pickle.

CoOp's readers (Zhou et al., arXiv 2109.01134; the same files in CoCoOp and MaPLe) read a fixed
split ``split_zhou_<Name>.json`` (CoOp creates a random one when it is missing; we do not: see
``datasets.make_split``), sample a K-shot subset per seed and cache it, then keep the base or new
half of the classes. This module holds those steps once:

* split files: read, validate, draw (per-class shuffle 50/20/30, or trainval 80/20; used by
  ``python -m datasets.make_split``) and write them in CoOp's JSON format
  (``{"train"|"val"|"test": [[relative_path, label, classname], ...]}``);
* images: checked in bulk, so a bad tree gives one error with the count, the first paths and the fix;
* few-shot subsets: ``split_fewshot/shot_<K>-seed_<S>.json`` (same item format, paths relative
  to the image folder), sampled with the reader's ``generate_fewshot_dataset`` so that Python's
  ``random`` is consumed exactly as in Dassl/CoOp (train with K, then val with min(K, 4));
* ``subsample_classes``: CoOp's base/new halves (base = the first ceil(n/2) labels), relabelled.

CoOp's ``.pkl`` caches are never read or written. Every data problem raises :class:`DatasetError`,
whose message names the file and the fix.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import random
import re
from collections import OrderedDict, defaultdict
from typing import Any, Iterable, Sequence

from engine.seam import DataError, Datum, atomic_write_json, atomic_write_text, get_logger, read_json

from .specs import GDRIVE, SPECS, Artifact, DatasetSpec

__all__ = [
    "DRAW_SPLIT",
    "DatasetError",
    "IMAGE_EXTENSIONS",
    "Item",
    "MAX_LISTED",
    "Split",
    "SPLITS",
    "WNID_PATTERN",
    "SUBSAMPLE_CHOICES",
    "build_datums",
    "check_subsample",
    "dataset_root",
    "display_url",
    "draw_split_hint",
    "fetch_instructions",
    "fewshot_cache_path",
    "find_missing",
    "list_class_folders",
    "list_images",
    "load_or_sample_fewshot",
    "make_split",
    "misplaced_hints",
    "parse_split",
    "per_class_counts",
    "read_imagenet_classnames",
    "read_json_file",
    "read_split",
    "require_dataset_folder",
    "require_files",
    "sample_fewshot",
    "split_per_class",
    "split_trainval",
    "missing_split_message",
    "reject_split_file",
    "split_file_setting",
    "subdirs",
    "subsample_classes",
    "trainval_counts",
    "write_split",
]

_log = get_logger("datasets.common")

Item = tuple[str, int, str]  # (path relative to the image folder, label, classname)
Split = dict[str, list[Item]]

SPLITS = ("train", "val", "test")
SUBSAMPLE_CHOICES = ("all", "base", "new")
# Files taken as images when a reader lists a folder (CoOp takes every non-hidden entry; stray
# files such as Thumbs.db would then break training, so we keep only image files).
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# How many offending paths or lines an error message lists before "... and N more".
MAX_LISTED = 5
# What the official lists are needed for when the split file is absent (require_files' purpose).
DRAW_SPLIT = "draw a split from the official lists (no split file)"
# CoOp's split ratios: folders are split 50/20/30, official trainval lists 80/20.
P_TRAIN, P_VAL = 0.5, 0.2
P_VAL_OF_TRAINVAL = 0.2
WNID_PATTERN = re.compile(r"^n\d{8}$")


class DatasetError(DataError):
    """Missing or malformed data. The message says what is wrong and how to fix it."""


# ---------------------------------------------------------------------------------------------
# Config values
# ---------------------------------------------------------------------------------------------
def check_subsample(value: Any) -> str:
    """Validate ``DATASET.SUBSAMPLE_CLASSES`` (all / base / new)."""
    if not isinstance(value, str) or value.lower() not in SUBSAMPLE_CHOICES:
        raise DatasetError(
            f"DATASET.SUBSAMPLE_CLASSES={value!r} is not valid; use one of {', '.join(SUBSAMPLE_CHOICES)} "
            "(base = first half of the classes, new = second half; e.g. `DATASET.SUBSAMPLE_CLASSES base`)."
        )
    return value.lower()


def split_file_setting(cfg: Any, dataset_dir: str) -> str | None:
    """``DATASET.SPLIT_FILE`` as a path (relative paths are inside the dataset folder), or None."""
    value = cfg.DATASET.get("SPLIT_FILE", "")
    if not value:
        return None
    return osp.join(dataset_dir, osp.expanduser(value))


def reject_split_file(cfg: Any, spec: DatasetSpec) -> None:
    """ImageNet and its test-only variants are read from their folders: no split file applies."""
    if cfg.DATASET.get("SPLIT_FILE", ""):
        raise DatasetError(
            f"DATASET.SPLIT_FILE does not apply to {spec.name} (it is read from its class folders); leave it empty."
        )


def dataset_root(cfg: Any) -> str:
    """``DATASET.ROOT`` as an absolute path (``~`` expanded), or an error if it is unset."""
    root = cfg.DATASET.ROOT
    if not root:
        raise DatasetError(
            "DATASET.ROOT is empty: pass the folder that holds your datasets (e.g. `--root /data`). "
            "DATASETS.md describes the expected layout."
        )
    return osp.abspath(osp.expanduser(root))


# ---------------------------------------------------------------------------------------------
# Messages: how to get a dataset, and where misplaced files are
# ---------------------------------------------------------------------------------------------
def display_url(url: str) -> str:
    """A URL a person can open (Google Drive ids become drive.google.com links)."""
    if url.startswith(GDRIVE):
        return f"https://drive.google.com/uc?id={url[len(GDRIVE):]}"
    return url


def _artifact_line(artifact: Artifact, root: str) -> str:
    urls = " or ".join(display_url(u) for u in artifact.urls)
    if artifact.unpack is None:
        where = f"save it as {osp.join(root, artifact.target)}"
    else:
        where = f"extract it so that {osp.join(root, artifact.target)} exists"
    note = f" ({artifact.note})" if artifact.note else ""
    return f"  - {artifact.description}: {artifact.filename} from {urls}; {where}{note}"


def fetch_instructions(
    spec: DatasetSpec, root: str, kinds: Iterable[str] | None = None, verify: str | None = None
) -> str:
    """The fix for a missing dataset or part of it: the download command and the manual steps.

    ``kinds`` limits the files listed to "metadata" and/or "images"; ``verify`` to one kind of
    small file ("split", "classnames", ...).
    """
    kinds = tuple(kinds) if kinds is not None else ("metadata", "images")
    arts = [a for a in spec.artifacts if a.kind in kinds and (verify is None or a.verify == verify)]
    only_metadata = " --metadata-only" if "images" not in kinds else ""
    lines = [f"Fix: run `python -m datasets.download --root {root} --dataset {spec.name}{only_metadata}`"]
    if arts:
        lines[0] += ", or fetch by hand:"
        lines += [_artifact_line(a, root) for a in arts]
    if spec.manual and "images" in kinds:
        lines.append(f"  {spec.manual.replace('DATA', root)}")
    lines.append(f"  Then check with `python -m datasets.check --root {root} --dataset {spec.name}` (see DATASETS.md).")
    return "\n".join(lines)


def _walk_dirs(top: str, max_depth: int) -> Iterable[tuple[str, int]]:
    """Sub-folders of ``top`` down to ``max_depth`` (top itself excluded)."""
    stack = [(top, 0)]
    while stack:
        path, depth = stack.pop()
        if depth >= max_depth:
            continue
        try:
            entries = sorted(e.path for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
        except OSError:
            continue
        for sub in entries:
            yield sub, depth + 1
            stack.append((sub, depth + 1))


def misplaced_hints(spec: DatasetSpec, root: str, expected: str) -> list[str]:
    """Where a missing folder or file probably is: a nested copy, another name, an unextracted archive."""
    hints: list[str] = []
    dataset_dir = osp.join(root, spec.folder)
    base = osp.basename(expected.rstrip("/"))
    if not osp.isdir(dataset_dir) and osp.isdir(root):
        wanted = spec.folder.lower().replace("-", "_")
        for name in sorted(os.listdir(root)):
            if name != spec.folder and name.lower().replace("-", "_") == wanted and osp.isdir(osp.join(root, name)):
                hints.append(f"found {osp.join(root, name)}: rename it to {dataset_dir}")
    search = [(dataset_dir, 3)] if osp.isdir(dataset_dir) else []
    search.append((root, 2))
    # Folders of the other benchmarks hold their own images/ etc.: never suggest those.
    others = tuple(osp.join(root, s.folder) + os.sep for s in SPECS.values() if s.folder != spec.folder)
    seen: set[str] = set()
    for top, depth in search:
        for path, _ in _walk_dirs(top, depth):
            if (path + os.sep).startswith(others):
                continue
            if osp.basename(path) == base and osp.abspath(path) != osp.abspath(expected) and path not in seen:
                seen.add(path)
                hints.append(f"found a folder named '{base}' at {path}: move it to {expected}")
    # Known alternative names for the same folder in other releases.
    aliases = {"images": ("sketch",), "2750": ("EuroSAT_RGB", "EuroSAT")}
    for alias in aliases.get(base, ()):
        candidate = osp.join(osp.dirname(expected), alias)
        if osp.isdir(candidate):
            hints.append(f"found {candidate}: rename it to {expected}")
    for artifact in spec.artifacts:
        for folder in (root, dataset_dir, osp.join(root, "downloads")):
            path = osp.join(folder, artifact.filename)
            if artifact.unpack is not None and osp.isfile(path):
                hints.append(
                    f"{path} is there but not extracted: run `python -m datasets.download --root {root} "
                    f"--dataset {spec.name}` to verify and unpack it"
                )
    return hints[:MAX_LISTED]


def _hint_text(hints: list[str]) -> str:
    return "".join(f"\nHint: {h}" for h in hints)


def require_dataset_folder(spec: DatasetSpec, root: str) -> str:
    """The dataset folder, or an error with the expected layout and how to get it."""
    dataset_dir = osp.join(root, spec.folder)
    if not osp.isdir(dataset_dir):
        raise DatasetError(
            f"{spec.name}: dataset folder {dataset_dir} not found (DATASET.ROOT={root}).\n"
            f"Expected layout:\n{_indent(spec.layout)}\n"
            + fetch_instructions(spec, root)
            + _hint_text(misplaced_hints(spec, root, dataset_dir))
        )
    return dataset_dir


def require_files(spec: DatasetSpec, root: str, relpaths: Sequence[str], purpose: str) -> None:
    """Raise one error naming every missing file of ``relpaths`` (relative to the dataset folder)."""
    dataset_dir = osp.join(root, spec.folder)
    missing = [p for p in relpaths if not osp.isfile(osp.join(dataset_dir, p))]
    if missing:
        listed = "\n".join(f"  {osp.join(dataset_dir, p)}" for p in missing)
        raise DatasetError(
            f"{spec.name}: cannot {purpose}; missing:\n{listed}\n"
            + fetch_instructions(spec, root, kinds=("metadata",))
            + _hint_text([h for p in missing for h in misplaced_hints(spec, root, osp.join(dataset_dir, p))])
        )


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _listing(paths: Sequence[str]) -> str:
    shown = "\n".join(f"  {p}" for p in paths[:MAX_LISTED])
    more = len(paths) - MAX_LISTED
    return shown + (f"\n  ... and {more} more" if more > 0 else "")


# ---------------------------------------------------------------------------------------------
# Split files
# ---------------------------------------------------------------------------------------------
def parse_split(obj: Any, path: str, keys: Sequence[str] = SPLITS) -> Split:
    """Validate a split object (CoOp's format) and return it with int labels.

    Checks: the keys, each item is ``[str, int, str]``, one classname per label, labels of the
    first list run 0..N-1 without gaps, and the other lists only use those labels.
    """
    problems: list[str] = []
    if not isinstance(obj, dict) or any(k not in obj or not isinstance(obj[k], list) for k in keys):
        found = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise DatasetError(f"{path} is not a split file: expected lists under keys {list(keys)}, found {found}.")
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
            f"{path} is not a valid split file:\n{_listing(problems)}\n"
            "Fix: replace it with the original file (see DATASETS.md), or delete it so that the reader "
            "creates a new split."
        )
    return split


def missing_split_message(spec: DatasetSpec, root: str, path: str) -> str:
    """Why a run stops when its split file is missing, and the three ways on."""
    if spec.split_file is None or osp.basename(path) != spec.split_file:  # DATASET.SPLIT_FILE
        return (
            f"{spec.name}: DATASET.SPLIT_FILE {path} not found. Point DATASET.SPLIT_FILE at a split file in CoOp's "
            f"format (relative to {osp.join(root, spec.folder)} or absolute), or leave it empty for the official split."
        )
    return (
        f"{spec.name}: the official split file {path} is missing. No split is drawn in its place (CoOp would "
        "draw a new random one, and results would no longer compare with published numbers).\n"
        + fetch_instructions(spec, root, kinds=("metadata",), verify="split")
        + "\n"
        + draw_split_hint(spec, root)
    )


def draw_split_hint(spec: DatasetSpec, root: str) -> str:
    """The way on without the official split file: a split drawn on purpose, under its own name."""
    return (
        "  Or train on a split of your own (results not comparable with published ones): "
        f"`python -m datasets.make_split --root {root} --dataset {spec.name}`, then pass the file it writes "
        "as DATASET.SPLIT_FILE."
    )


def read_split(path: str, keys: Sequence[str] = SPLITS) -> Split:
    """Read and validate a split file (``Reading split from <path>``, as CoOp prints)."""
    _log.info(f"Reading split from {path}")
    return parse_split(read_json_file(path), path, keys)


def read_json_file(path: str) -> Any:
    """``read_json`` with a fix-it error for a malformed file."""
    try:
        return read_json(path)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError(f"{path} is not valid JSON ({e}). Fix: delete it and fetch it again (see DATASETS.md).") from e


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
            + _hint_text(misplaced_hints(spec, root, image_dir))
        )
    categories = [c for c in subdirs(image_dir) if c not in ignored]
    if not categories:
        raise DatasetError(f"{spec.name}: no class folders in {image_dir}.\n{fetch_instructions(spec, root)}")
    items: list[Item] = []
    for label, category in enumerate(categories):
        cname = new_cnames.get(category, category) if new_cnames else category
        items += [(f"{category}/{name}", label, cname) for name in list_images(osp.join(image_dir, category))]
    return items


def split_per_class(spec: DatasetSpec, items: Sequence[Item]) -> Split:
    """CoOp's 50/20/30 splitter: per label (in first-appearance order) shuffle, then take 50%
    train, 20% val (``round``) and the rest test. Consumes Python's ``random`` as CoOp does."""
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
            f"(each part needs at least one image):\n{_listing(too_small)}\n"
            "Fix: complete the image folders, or use the published split file (see DATASETS.md)."
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
    spec: DatasetSpec, trainval: Sequence[Item], p_val: float = P_VAL_OF_TRAINVAL
) -> tuple[list[Item], list[Item]]:
    """CoOp's trainval splitter: per label (first-appearance order) shuffle and hold out ``p_val``."""
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
                f"out {p_val:.0%} for validation. Fix: use the complete official lists or the published split file."
            )
        random.shuffle(idxs)
        for n, idx in enumerate(idxs):
            (val if n < n_val else train).append(trainval[idx])
    return train, val


# ---------------------------------------------------------------------------------------------
# Items -> Datum, with one bulk existence check
# ---------------------------------------------------------------------------------------------
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
            f"{_listing(missing)}"
        )
    return DatasetError(
        head + "\n" + fetch_instructions(spec, root, kinds=("images",)) + _hint_text(misplaced_hints(spec, root, image_dir))
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


def _relative(impath: str, image_dir: str) -> str:
    rel = osp.relpath(impath, image_dir)
    return rel.replace(os.sep, "/")


# ---------------------------------------------------------------------------------------------
# Few-shot subsets (JSON cache)
# ---------------------------------------------------------------------------------------------
def fewshot_cache_path(fewshot_dir: str, num_shots: int, seed: int) -> str:
    """``split_fewshot/shot_<K>-seed_<S>.json`` (CoOp's name with .json instead of .pkl)."""
    return osp.join(fewshot_dir, f"shot_{num_shots}-seed_{seed}.json")


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
        cached = _parse_fewshot(read_json_file(path), path, keys)
        pools = {"train": train, "val": val}
        out = {}
        for key in keys:
            by_rel = {_relative(d.impath, image_dir): d for d in pools[key]}
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
    obj = {k: [[_relative(d.impath, image_dir), d.label, d.classname] for d in v] for k, v in data.items()}
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


def _parse_fewshot(obj: Any, path: str, keys: Sequence[str]) -> Split:
    try:
        return parse_split(obj, path, keys)
    except DatasetError as e:
        raise DatasetError(f"{e}\nFor a few-shot cache the fix is simpler: delete {path} and rerun.") from None


# ---------------------------------------------------------------------------------------------
# Base / new classes
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# ImageNet class names (classnames.txt)
# ---------------------------------------------------------------------------------------------
def read_imagenet_classnames(spec: DatasetSpec, root: str, expected: int = 1000) -> "OrderedDict[str, str]":
    """Read ``<dataset>/classnames.txt`` (``wnid class name`` per line) and validate it.

    It must hold ``expected`` lines with distinct, well-formed wnids in ImageNet's class order
    (sorted wnids; ImageNetV2's folder k is the k-th line).
    """
    path = osp.join(root, spec.folder, "classnames.txt")
    fix = _classnames_fix(spec, root)
    if not osp.isfile(path):
        raise DatasetError(f"{spec.name}: {path} not found.\n{fix}")
    classnames: "OrderedDict[str, str]" = OrderedDict()
    problems: list[str] = []
    n_lines = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            n_lines += 1
            wnid, _, name = line.partition(" ")
            if not WNID_PATTERN.match(wnid) or not name.strip():
                problems.append(f"line {lineno}: {line[:60]!r} is not `wnid class name`")
            elif wnid in classnames:
                problems.append(f"line {lineno}: {wnid} appears twice")
            else:
                classnames[wnid] = name.strip()
    if n_lines != expected:
        problems.insert(0, f"{n_lines} class lines, expected {expected}")
    wnids = list(classnames)
    if not problems and wnids != sorted(wnids):
        problems.append("the lines are not in ImageNet's class order (sorted by wnid)")
    if problems:
        raise DatasetError(f"{spec.name}: {path} is not a valid ImageNet classnames.txt:\n{_listing(problems)}\n{fix}")
    return classnames


def _classnames_fix(spec: DatasetSpec, root: str) -> str:
    source = osp.join(root, "imagenet", "classnames.txt")
    target = osp.join(root, spec.folder, "classnames.txt")
    steps = [
        f"Fix: put CoOp's classnames.txt (1000 lines `wnid class name`, from "
        f"https://drive.google.com/uc?id=1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF) at {target}"
    ]
    if spec.folder != "imagenet":
        steps.append(f"(copy {source} if you have it)")
    steps.append(f"or run `python -m datasets.download --root {root} --dataset {spec.name} --metadata-only`.")
    return " ".join(steps)
