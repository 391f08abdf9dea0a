"""Your own data: what ``ImageFolder`` and ``CSVDataset`` share.

Both read ``DATASET.FOLDER`` (relative to ``DATASET.ROOT``, or absolute) and give CoOp's three
splits, then go through the same few-shot sampler and JSON cache (``split_fewshot/`` in the
folder) and the same base/new halves as the benchmarks. What is theirs:

* class names: the class keys (folder names, or the CSV's ``label``/``classname`` values) with
  ``_`` read as a space, or a mapping key -> name in ``DATASET.CLASSNAMES`` (default: a
  ``classnames.txt`` (``key name`` per line) or ``classnames.json`` in the folder, if there);
* the zero-shot prompt: ``DATASET.TEMPLATE`` (default :data:`DEFAULT_TEMPLATE`);
* a split drawn when the data has none (CoOp's proportions, seed :data:`SPLIT_SEED`, whatever the
  run's seed), with Python's ``random`` left as it was, so the first run and the later ones (which
  read the saved split) sample the same few-shot subsets.

Each reader lists the files that define its data in ``data_files`` (their sha256 goes into the
run's ``run.json``, so a resumed run refuses changed data).
"""
from __future__ import annotations

import os.path as osp
import random
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Sequence

from engine.seam import ConfigError, DatasetBase, Datum

from .class_subsets import subsample_classes
from .config import check_subsample, dataset_root
from .errors import DatasetError, listing, not_utf8
from .fewshot import fewshot_cache_path, load_or_sample_fewshot
from .hints import check_command
from .images import find_missing
from .split_drawing import split_per_class, split_trainval
from .specs import DEFAULT_TEMPLATE
from .split_files import Item, Split, generated_split_name, read_json_file

__all__ = [
    "FEWSHOT_DIR",
    "OWN_DATA",
    "OwnDataKind",
    "OwnDataReader",
    "SPLIT_SEED",
    "check_distinct_names",
    "check_own_data_config",
    "default_class_name",
    "drawn_split",
    "name_classes",
    "normalise_folder",
    "own_data_kind",
    "own_datums",
    "register_own_data",
    "require_two_classes",
    "split_source",
]

# The seed of a drawn split: fixed, so that every run (any --seed) trains on the same split and
# only the few-shot subsets change with the seed, as with the benchmarks' fixed split files.
SPLIT_SEED = 1
# Looked for in the folder when DATASET.CLASSNAMES is empty (in this order).
CLASSNAME_FILES = ("classnames.txt", "classnames.json")
# The few-shot caches, inside the folder (never taken for a class folder).
FEWSHOT_DIR = "split_fewshot"


@dataclass(frozen=True)
class OwnDataKind:
    """A reader of your own data, for the tools that list datasets (protocol runner, data check).

    Args:
        name: the registered reader (``DATASET.NAME``).
        config: stem of ``configs/datasets/<config>.yaml``, the name on the protocol runner's
            command line and in run folders.
        display_name: the name in tables.
        layout: the expected tree, for messages.
        protocols: the protocols it can take part in when named (never by default).
        order: after every benchmark in tables.
    """

    name: str
    config: str
    display_name: str
    layout: str
    protocols: tuple[str, ...] = ("base2new", "fewshot")
    order: int = 1000


# Reader name -> kind; image_folder.py and csv_dataset.py register theirs.
OWN_DATA: dict[str, OwnDataKind] = {}


def register_own_data(kind: OwnDataKind) -> OwnDataKind:
    OWN_DATA[kind.name] = kind
    return kind


def own_data_kind(name: str) -> OwnDataKind | None:
    """The kind named by its reader or config name (any case), or None."""
    key = name.strip().lower()
    for kind in OWN_DATA.values():
        if key in (kind.name.lower(), kind.config.lower()):
            return kind
    return None


# ---------------------------------------------------------------------------------------------
# Config keys
# ---------------------------------------------------------------------------------------------
def check_template(value: Any, key: str = "DATASET.TEMPLATE") -> str:
    """A prompt template with exactly one ``{}`` (where the class name goes)."""
    if not isinstance(value, str) or value.count("{}") != 1 or value.replace("{}", "").count("{") or value.replace("{}", "").count("}"):
        raise ConfigError(
            f"{key}={value!r} is not a prompt template: write it with one {{}} where the class name goes and no "
            f"other braces, e.g. `{key} \"a satellite photo of {{}}.\"` (empty: the dataset's own prompt)."
        )
    return value


def normalise_folder(value: str) -> str:
    """``DATASET.FOLDER`` in one spelling (``my_pets/`` and ``./my_pets`` are ``my_pets``; "" stays "")."""
    return osp.normpath(value) if value else ""


def check_own_data_config(cfg: Any) -> None:
    """DATASET.FOLDER / CLASSNAMES / TEMPLATE: set where they apply, well-formed; else the fix.
    Writes DATASET.FOLDER back in one spelling (:func:`normalise_folder`): call before freezing."""
    name = cfg.DATASET.NAME
    folder, classnames = cfg.DATASET.get("FOLDER", ""), cfg.DATASET.get("CLASSNAMES", "")
    for key, value in (("DATASET.FOLDER", folder), ("DATASET.CLASSNAMES", classnames), ("DATASET.TEMPLATE", cfg.DATASET.get("TEMPLATE", ""))):
        if not isinstance(value, str):
            raise ConfigError(f"{key}={value!r} must be a string (a path or a prompt); e.g. `{key} my_data`.")
    if cfg.DATASET.get("TEMPLATE", ""):
        check_template(cfg.DATASET.TEMPLATE)
    if folder:
        cfg.DATASET.FOLDER = normalise_folder(folder)  # one run folder and config.yaml for every spelling
    kinds = ", ".join(OWN_DATA)
    if name in OWN_DATA:
        if not folder:
            raise ConfigError(
                f"DATASET.FOLDER is empty: {name} reads your images from it. Pass the folder (relative to --root, or "
                f"absolute), e.g. `DATASET.FOLDER my_flowers`. Layout:\n{OWN_DATA[name].layout}"
            )
    elif name:
        for key, value in (("DATASET.FOLDER", folder), ("DATASET.CLASSNAMES", classnames)):
            if value:
                raise ConfigError(
                    f"{key}={value!r} applies to your own data ({kinds}), not to {name}: leave it empty, or set "
                    f"DATASET.NAME to one of {kinds}."
                )


def own_folder(cfg: Any, kind: OwnDataKind) -> str:
    """``DATASET.FOLDER`` as an absolute path (relative to ``DATASET.ROOT``), or the fix."""
    folder = osp.expanduser(cfg.DATASET.FOLDER)
    path = folder if osp.isabs(folder) else osp.join(dataset_root(cfg), folder)
    path = osp.abspath(path)
    if not osp.isdir(path):
        raise DatasetError(
            f"{kind.name}: DATASET.FOLDER {cfg.DATASET.FOLDER!r} is not a folder ({path} not found; relative paths "
            f"are inside DATASET.ROOT={cfg.DATASET.ROOT}).\nExpected layout:\n{kind.layout}\n"
            f"Fix: pass the folder that holds your data; check it with "
            f"`{check_command(dataset_root(cfg), kind.config, cfg.DATASET.FOLDER)}`."
        )
    return path


# ---------------------------------------------------------------------------------------------
# Class names
# ---------------------------------------------------------------------------------------------
def default_class_name(key: str) -> str:
    """``golden_retriever`` -> ``golden retriever``."""
    return " ".join(key.replace("_", " ").split())


def classnames_path(folder: str, setting: str) -> str | None:
    """The class-name file: ``DATASET.CLASSNAMES`` (relative to the folder, or absolute), else
    the first of :data:`CLASSNAME_FILES` in the folder, else None."""
    if setting:
        path = osp.join(folder, osp.expanduser(setting))
        if not osp.isfile(path):
            raise DatasetError(
                f"DATASET.CLASSNAMES {setting!r} not found ({path}). Fix: point it at a classnames.txt "
                "(`key class name` per line) or a JSON object {\"key\": \"class name\"}, relative to DATASET.FOLDER "
                "or absolute; or leave it empty to use the folder names."
            )
        return path
    for name in CLASSNAME_FILES:
        if osp.isfile(osp.join(folder, name)):
            return osp.join(folder, name)
    return None


def read_class_names(path: str) -> dict[str, str]:
    """key -> class name from ``classnames.txt`` (``key name`` per line; ``#`` comments) or a
    JSON object; errors name the line."""
    problems: list[str] = []
    names: dict[str, str] = {}
    if path.lower().endswith(".json"):
        obj = read_json_file(path, fix=f"write {path} as a JSON object {{\"key\": \"class name\", ...}}")
        if not isinstance(obj, dict) or not all(isinstance(v, str) and v.strip() for v in obj.values()):
            raise DatasetError(f"{path}: expected a JSON object {{\"key\": \"class name\", ...}} with non-empty names.")
        names = {str(k): " ".join(v.split()) for k, v in obj.items()}
    else:
        try:
            with open(path, encoding="utf-8-sig") as f:
                lines = f.read().splitlines()
        except UnicodeDecodeError as e:
            raise not_utf8(path, e) from None
        for lineno, line in enumerate(lines, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            key, _, name = line.partition(" ")
            if not name.strip():
                problems.append(f"line {lineno}: {line[:60]!r} is not `key class name`")
            elif key in names:
                problems.append(f"line {lineno}: {key} appears twice")
            else:
                names[key] = " ".join(name.split())
    if problems:
        raise DatasetError(f"{path} is not a valid class-name file:\n{listing(problems)}\nFix: one `key class name` per line.")
    return names


def name_classes(keys: Sequence[str], folder: str, setting: str, what: str) -> tuple[dict[str, str], str | None]:
    """key -> class name for every key (``what`` says what a key is, for messages), and the file
    read (None: the keys themselves, ``_`` read as a space)."""
    path = classnames_path(folder, setting)
    if path is None:
        return check_distinct_names({k: default_class_name(k) for k in keys}, what, "the keys themselves"), None
    mapping = read_class_names(path)
    missing = [k for k in keys if k not in mapping]
    unknown = [k for k in mapping if k not in set(keys)]
    if missing or unknown:
        lines = [f"no name for {what} {k!r}" for k in missing] + [f"{k!r} is not a {what}" for k in unknown]
        raise DatasetError(
            f"{path} does not match the data:\n{listing(lines)}\n"
            f"Fix: give one line per {what} (keys: {', '.join(keys[:8])}{', ...' if len(keys) > 8 else ''})."
        )
    return check_distinct_names({k: mapping[k] for k in keys}, what, path), path


def check_distinct_names(names: dict[str, str], what: str, source: str) -> dict[str, str]:
    """``names`` (key -> class name) if no two classes share a name (they would share their
    prompts); else the error listing the keys of each shared name (``source``: where the names
    come from, for the message)."""
    keys_of: dict[str, list[str]] = {}
    for key, name in names.items():
        keys_of.setdefault(name, []).append(key)
    shared = [f"{name!r}: {what}s {', '.join(map(repr, keys))}" for name, keys in keys_of.items() if len(keys) > 1]
    if shared:
        raise DatasetError(
            f"Several classes have the same name (from {source}), so the same prompt:\n{listing(shared)}\n"
            f"Fix: merge those classes into one, or give each its own name (a classnames.txt with `key class name` per line)."
        )
    return names


# ---------------------------------------------------------------------------------------------
# Drawing a split (without touching the run's random stream)
# ---------------------------------------------------------------------------------------------
@contextmanager
def _own_random(seed: int) -> Iterator[None]:
    state = random.getstate()
    random.seed(seed)
    try:
        yield
    finally:
        random.setstate(state)


def drawn_split(kind: OwnDataKind, items: Sequence[Item] | None = None, train: Sequence[Item] | None = None,
                test: Sequence[Item] | None = None) -> Split:
    """CoOp's proportions with seed :data:`SPLIT_SEED`: all ``items`` 50/20/30 per class, or
    ``train`` 80/20 into train/val when ``test`` is given."""
    with _own_random(SPLIT_SEED):
        if items is not None:
            return split_per_class(kind, list(items), fix=(
                "add images (a class needs at least 3, better 10 or more), remove those classes, or give the split "
                "yourself (train/val/test folders or CSVs)"
            ))
        assert train is not None and test is not None
        tr, va = split_trainval(kind, list(train), fix=(
            "add training images to that class (5 or more), or give a validation set yourself (a val/ folder or val.csv)"
        ))
        return {"train": tr, "val": va, "test": list(test)}


# ---------------------------------------------------------------------------------------------
# The reader
# ---------------------------------------------------------------------------------------------
class OwnDataReader(DatasetBase):
    """Your own data through CoOp's protocol: the split (``read_split``, the subclass's), then
    ``DATASET.NUM_SHOTS`` (the cached few-shot subset of this seed, or a new one), then
    ``DATASET.SUBSAMPLE_CLASSES``. Subclasses set ``kind`` and implement ``read_split``."""

    kind: OwnDataKind
    dataset_dir = ""

    def __init__(self, cfg: Any):
        kind = self.kind
        subsample = check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))
        self.template = cfg.DATASET.get("TEMPLATE", "") or DEFAULT_TEMPLATE
        self.dataset_dir = self.image_dir = own_folder(cfg, kind)
        split, self.data_files = self.read_split(self.dataset_dir, cfg, write=True)
        require_two_classes(kind, self.dataset_dir, split)
        datums = own_datums(kind, self.image_dir, split, split_source(self.data_files))
        train, val, test = datums["train"], datums["val"], datums["test"]
        self.split_fewshot_dir = osp.join(self.dataset_dir, FEWSHOT_DIR)
        num_shots = cfg.DATASET.NUM_SHOTS
        if num_shots >= 1:
            train, val = load_or_sample_fewshot(self, self.split_fewshot_dir, self.image_dir, num_shots, cfg.SEED, train, val)
            self.data_files["fewshot"] = fewshot_cache_path(self.split_fewshot_dir, num_shots, cfg.SEED)
        train, val, test = subsample_classes(train, val, test, subsample=subsample)
        super().__init__(train_x=train, val=val, test=test)

    @classmethod
    def check_command(cls, cfg: Any) -> str:
        """The data check of this folder (named by the engine's image errors): ``--folder`` and
        ``--classnames`` as the run reads them."""
        return check_command(dataset_root(cfg), cls.kind.config, cfg.DATASET.FOLDER, cfg.DATASET.get("CLASSNAMES", ""))

    @classmethod
    def read_split(cls, folder: str, cfg: Any, write: bool) -> tuple[Split, dict[str, str]]:
        """The split of ``folder`` (keys train/val/test, labels 0..N-1) and the files that define
        it (role -> path). ``write``: a drawn split may be saved (the data check passes False)."""
        raise NotImplementedError


def require_two_classes(kind: OwnDataKind, folder: str, split: Split) -> None:
    """At least two classes: CLIP tells classes apart (and base-to-new needs a class in each half)."""
    classes = {label for items in split.values() for _, label, _ in items}
    if len(classes) < 2:
        raise DatasetError(
            f"{kind.name}: {folder} holds {len(classes)} class; a classifier needs at least 2 (and base-to-new one in "
            f"each half). Fix: add the images of at least one more class.\nExpected layout:\n{kind.layout}"
        )


def split_source(files: dict[str, str]) -> str:
    """The file(s) a split was read from, for messages: the split file, else the CSV files."""
    return files.get("split") or ", ".join(p for role, p in files.items() if role.endswith("_csv"))


def own_datums(kind: OwnDataKind, image_dir: str, split: Split, source: str) -> dict[str, list[Datum]]:
    """``Datum`` lists after one bulk check that every image of ``split`` exists."""
    rels = [rel for items in split.values() for rel, _, _ in items]
    missing = find_missing(image_dir, rels)
    if missing:
        raise DatasetError(
            f"{kind.name}: {len(missing):,} of {len(rels):,} images listed in {source} are missing under {image_dir}:\n"
            f"{listing(missing)}\nFix: restore them, or fix {source}"
            + (" (or delete it: the split is drawn again from the images there)."
               if osp.basename(source) == generated_split_name(kind.name, SPLIT_SEED) else ".")
        )
    return {
        key: [Datum(impath=osp.join(image_dir, rel), label=label, classname=cname) for rel, label, cname in items]
        for key, items in split.items()
    }
