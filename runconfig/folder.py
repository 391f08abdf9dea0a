"""A run's config and its run folder: the files it depends on and what a run would do there.

A run folder is bound to its run (:class:`engine.run_folder.RunFolder`): its ``config.yaml`` and
the sha256 of its input files are the contract. Here the project's side of it: which files a run
depends on (:func:`run_inputs`, :func:`data_inputs`), the folder rule applied with the project's
defaults and keys that cannot change results (:func:`bind_folder`), what ``train.py`` would do
with a folder without doing it (:func:`folder_action`, asked by the protocol runner before it
starts a process), and the check that an evaluation reads the split its model was trained on
(:func:`check_same_split`).
"""
from __future__ import annotations

import os
from typing import Any

import yaml
from yacs.config import CfgNode as CN

from datasets.own_data import normalise_folder
from engine.seam import DataError, RunFolder, UserError, file_input, get_logger, model_file

from .defaults import default_config, result_keys

__all__ = ["bind_folder", "check_same_split", "data_inputs", "data_root", "folder_action", "run_inputs"]

_log = get_logger("runconfig.folder")


def data_root(cfg: CN) -> str:
    """``DATASET.ROOT`` as an absolute path ("" when unset)."""
    return os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)) if cfg.DATASET.ROOT else ""


def run_inputs(cfg: CN, model_dir: str = "", load_epoch: int | None = None) -> dict[str, Any]:
    """The input files known before anything is built: the CLIP weights file (when
    ``MODEL.BACKBONE.PATH`` is set; a name is in the config) and, for an evaluation of the training
    run ``model_dir``, the checkpoint files it will load. Missing files are left to the loaders,
    whose errors say what to fix."""
    inputs: dict[str, Any] = {}
    weights = os.path.expanduser(cfg.MODEL.BACKBONE.PATH)
    if weights and os.path.isfile(weights):
        inputs["clip"] = file_input(weights)
    if model_dir:
        for folder in RunFolder(model_dir).model_dirs():
            try:
                inputs[f"model.{os.path.basename(folder)}"] = file_input(model_file(folder, load_epoch))
            except UserError:
                pass
    return inputs


def data_inputs(dataset: Any, root: str) -> dict[str, Any]:
    """The files that define the data a reader read (its ``data_files``), relative to the data root."""
    files = getattr(dataset, "data_files", {}) or {}
    return {f"data.{role}": file_input(path, root) for role, path in files.items() if os.path.isfile(path)}


def bind_folder(folder: RunFolder, cfg: CN, kind: str, inputs: dict[str, Any], restart: bool = False):
    """The run-folder rule for this run (:meth:`engine.run_folder.RunFolder.bind`), with the
    project's defaults and keys that cannot change results."""
    return folder.bind(
        cfg.dump(), kind, inputs, defaults=default_config().dump(), restart=restart, data_root=data_root(cfg), keys=result_keys()
    )


def folder_action(cfg: CN, kind: str, model_dir: str = "", load_epoch: int | None = None, restart: bool = False) -> str:
    """What a run of ``cfg`` would do with its output folder, without doing anything: "complete"
    (nothing to do), "resume", "restart" (from scratch) or "new"; a folder holding another run
    raises the error the run would raise. ``kind`` is "train" or "eval" (of ``model_dir``)."""
    if restart or not cfg.OUTPUT_DIR:
        return "new"
    folder = RunFolder(cfg.OUTPUT_DIR)
    try:
        return bind_folder(folder, cfg, kind, run_inputs(cfg, model_dir, load_epoch)).action
    finally:
        folder.unlock()


def check_same_split(model_dir: str, cfg: CN, current: dict[str, Any]) -> None:
    """An evaluation on the training dataset must use the split the model was trained with:
    another split can put the model's own training images into the test set."""
    folder = RunFolder(model_dir)
    record, config = folder.record(), folder.config_text()
    if not record or config is None:
        _log.info(f"Note: {model_dir} has no run.json: the split it was trained on cannot be checked.")
        return
    trained = (yaml.safe_load(config) or {}).get("DATASET") or {}
    if trained.get("NAME") != cfg.DATASET.NAME:
        return  # another dataset (cross-dataset transfer): nothing to compare
    if normalise_folder(trained.get("FOLDER") or "") != normalise_folder(cfg.DATASET.get("FOLDER", "")):
        return  # another folder of your own data: another dataset too
    theirs = {k: v for k, v in record.get("inputs", {}).items() if k.startswith("data.") and k != "data.fewshot"}
    for name, entry in theirs.items():
        mine = current.get(name)
        if mine is not None and mine["sha256"] != entry["sha256"]:
            raise DataError(
                f"The model in {model_dir} was trained with {entry['path']} (sha256 {entry['sha256'][:12]}); this "
                f"evaluation reads {mine['path']} (sha256 {mine['sha256'][:12]}). On another split the test set can "
                "hold the model's own training images: evaluate with the split file it was trained with."
            )
