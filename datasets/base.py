"""Base classes of the readers: CoOp's split-file protocol and its class-folder form.

Neither class is registered; each benchmark module subclasses one and registers it under the
name the CoOp family uses. Only the Dassl API of ``DatasetBase`` is used, so the readers work
with the built-in engine and with real Dassl alike. No benchmark's own code lives here (the
ImageNet variants' base class, ``ImageNetFolderTestSet``, is in ``datasets.imagenet``).
"""
from __future__ import annotations

import os.path as osp
from typing import Any

from engine.seam import DatasetBase

from .class_subsets import subsample_classes
from .config import check_subsample, dataset_root, split_file_setting
from .errors import DatasetError
from .fewshot import fewshot_cache_path, load_or_sample_fewshot
from .hints import check_command, missing_split_message, refetch_fix, require_dataset_folder
from .images import build_datums, list_class_folders
from .specs import DatasetSpec
from .split_files import SPLITS, Item, read_split

__all__ = ["ClassFolderReader", "CoOpSplitReader"]


def _subsample_setting(cfg: Any) -> str:
    # The key is added by datasets.add_dataset_config; a config without it means "all".
    return check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))


class CoOpSplitReader(DatasetBase):
    """A benchmark read through CoOp's protocol.

    1. the split: ``DATASET.SPLIT_FILE`` if set, else the official ``split_zhou_<Name>.json``;
       a benchmark without one (FGVCAircraft) reads its official lists (``read_source``). A
       missing official split file stops the run with the fix: CoOp would draw a new random
       split in its place, silently making results incomparable (``python -m datasets.make_split``
       draws one on purpose, under a name of its own);
    2. with ``DATASET.NUM_SHOTS >= 1``: the cached few-shot subset of this seed, or a new one;
    3. ``DATASET.SUBSAMPLE_CLASSES``: all / base / new.

    ``data_files`` names the files that define the data the run sees (recorded with their sha256
    in the run's ``run.json``). Subclasses set ``spec`` (their benchmark's facts) and
    ``dataset_dir`` (its folder, Dassl's attribute) and implement ``read_source``.
    """

    spec: DatasetSpec
    dataset_dir = ""

    def __init__(self, cfg: Any):
        spec = self.spec
        self.template = spec.template
        subsample = _subsample_setting(cfg)
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_folder(spec, root)
        self.image_dir = osp.join(self.dataset_dir, spec.image_subdir) if spec.image_subdir else self.dataset_dir
        self.split_path = split_file_setting(cfg, self.dataset_dir) or (
            osp.join(self.dataset_dir, spec.split_file) if spec.split_file else None
        )
        self.split_fewshot_dir = osp.join(self.dataset_dir, "split_fewshot")

        if self.split_path is not None:
            if not osp.isfile(self.split_path):
                raise DatasetError(missing_split_message(spec, root, self.split_path))
            split, source = read_split(self.split_path, fix=self._split_fix(root)), self.split_path
            self.data_files = {"split": self.split_path}
        else:
            split, source = self.read_source(spec, root)
            if sorted(split) != sorted(SPLITS):  # unsplit official lists and no split file
                raise DatasetError(
                    f"{spec.name} has no official split file: draw one with `python -m datasets.make_split --root {root} "
                    f"--dataset {spec.name}` and pass the file it writes as DATASET.SPLIT_FILE."
                )
            self.data_files = {osp.basename(m): osp.join(self.dataset_dir, m) for m in spec.metadata}
        datums = build_datums(spec, root, self.image_dir, split, source)
        train, val, test = datums["train"], datums["val"], datums["test"]

        num_shots = cfg.DATASET.NUM_SHOTS
        if num_shots >= 1:
            train, val = load_or_sample_fewshot(
                self, self.split_fewshot_dir, self.image_dir, num_shots, cfg.SEED, train, val
            )
            self.data_files["fewshot"] = fewshot_cache_path(self.split_fewshot_dir, num_shots, cfg.SEED)
        train, val, test = subsample_classes(train, val, test, subsample=subsample)
        super().__init__(train_x=train, val=val, test=test)

    @classmethod
    def check_command(cls, cfg: Any) -> str:
        """The data check of this benchmark under ``DATASET.ROOT`` (named by the engine's image errors)."""
        return check_command(dataset_root(cfg), cls.spec.name)

    def _split_fix(self, root: str) -> str:
        """The fix for a malformed split file: the official one is fetched again, one of your own
        (``DATASET.SPLIT_FILE``) is yours to correct."""
        if self.spec.split_file and self.split_path == osp.join(self.dataset_dir, self.spec.split_file):
            return refetch_fix(self.spec, root, self.split_path)
        return (
            f"correct {self.split_path} (CoOp's format: {{\"train\": [[path, label, classname], ...], \"val\": ..., "
            "\"test\": ...}), or leave DATASET.SPLIT_FILE empty for the official split"
        )

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        """The benchmark's official files as unsplit item lists (no randomness), and their location.

        Returns ``{"all": items}`` (split 50/20/30 per class by ``make_split``),
        ``{"trainval": ..., "test": ...}`` (trainval split 80/20) or ``{"train", "val", "test"}``
        (the official split itself, read on every run).
        """
        raise NotImplementedError


class ClassFolderReader(CoOpSplitReader):
    """A benchmark whose images sit in one folder per class (DTD, Food101, Caltech101, EuroSAT):
    without a split file, CoOp splits each class folder 50/20/30. Subclasses may leave folders
    out (``ignored_folders``) and rename classes (``new_cnames``: folder -> class name)."""

    ignored_folders: tuple[str, ...] = ()
    new_cnames: dict[str, str] = {}

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        image_dir = osp.join(root, spec.image_dir_rel)
        items = list_class_folders(spec, root, image_dir, ignored=cls.ignored_folders, new_cnames=cls.new_cnames)
        return {"all": items}, image_dir
