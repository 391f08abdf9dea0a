"""Checkpoints: Dassl's file names and keys, plain contents, safe loading.

A checkpoint is ``<dir>/<model name>/model.pth.tar-<epoch>`` (or ``model-best.pth.tar``) next to a
text file ``checkpoint`` naming the newest one. The file holds ``state_dict``, ``epoch``,
``optimizer``, ``scheduler`` and ``val_result`` (Dassl's keys) plus ``config`` (the run's yaml),
all plain tensors/numbers/strings, so :func:`load_checkpoint` uses ``torch.load(weights_only=True)``.
Checkpoints written by real Dassl contain pickled torch optimizer/scheduler objects; those few
classes are allow-listed, anything else is refused with a message.
"""
from __future__ import annotations

import collections
import os
import os.path as osp
import pickle
import shutil
import tempfile
from typing import Any

import torch
import torch.nn as nn

from .utils import atomic_write_text, get_logger, mkdir_if_missing

__all__ = ["load_checkpoint", "load_pretrained_weights", "resume_from_checkpoint", "save_checkpoint"]

_log = get_logger("engine.checkpoint")

# Globals that checkpoints written by real Dassl contain besides tensors: its warmup scheduler
# state embeds the successor scheduler object, which embeds the optimizer object.
_SAFE_GLOBAL_PREFIXES = ("torch.optim.",)
_SAFE_GLOBALS = {"collections.defaultdict": collections.defaultdict, "builtins.dict": dict}


def _strip_module_prefix(state_dict: dict) -> "collections.OrderedDict[str, Any]":
    return collections.OrderedDict((k[len("module.") :] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def save_checkpoint(state: dict, save_dir: str, is_best: bool = False, remove_module_from_keys: bool = True, model_name: str = "") -> str:
    """Write ``state`` atomically to ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``) and
    record its name in ``save_dir/checkpoint``. Returns the path."""
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state = dict(state, state_dict=_strip_module_prefix(state["state_dict"]))
    fname = model_name or f"model.pth.tar-{state['epoch']}"
    fpath = osp.join(save_dir, fname)
    fd, tmp = tempfile.mkstemp(dir=save_dir, prefix=f".{fname}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(state, tmp)
        os.replace(tmp, fpath)
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    _log.info(f"Checkpoint saved to {fpath}")
    atomic_write_text(osp.join(save_dir, "checkpoint"), f"{fname}\n")
    if is_best:
        best = osp.join(save_dir, "model-best.pth.tar")
        shutil.copy(fpath, best)
        _log.info(f'Best checkpoint saved to "{best}"')
    return fpath


def _resolve_global(name: str) -> Any:
    module, _, qualname = name.rpartition(".")
    obj = __import__(module, fromlist=[qualname])
    return getattr(obj, qualname)


def load_checkpoint(fpath: str | None) -> dict:
    """Load a checkpoint with ``weights_only=True`` (CPU tensors when CUDA is unavailable)."""
    if fpath is None:
        raise ValueError("File path is None")
    if not osp.exists(fpath):
        raise FileNotFoundError(f'File is not found at "{fpath}"')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # maybe written by real Dassl: look at what it references
    except Exception as e:
        raise RuntimeError(f'Unable to load checkpoint from "{fpath}": {e}') from e

    unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(fpath)
    allowed, refused = [], []
    for name in unsafe:
        if name in _SAFE_GLOBALS:
            allowed.append(_SAFE_GLOBALS[name])
        elif name.startswith(_SAFE_GLOBAL_PREFIXES):
            allowed.append(_resolve_global(name))
        else:
            refused.append(name)
    if refused:
        raise RuntimeError(
            f'Refusing to load "{fpath}": it would run arbitrary code to rebuild {refused}. '
            "Checkpoints of this project hold only tensors and numbers; if you trust this file, "
            "re-save its 'state_dict' with torch.save({'state_dict': ...}) and load that instead."
        )
    with torch.serialization.safe_globals(allowed):
        return torch.load(fpath, map_location=map_location, weights_only=True)


def resume_from_checkpoint(fdir: str, model: nn.Module, optimizer=None, scheduler=None) -> int:
    """Restore model/optimizer/scheduler from the file named in ``fdir/checkpoint``; return its epoch."""
    pointer = osp.join(fdir, "checkpoint")
    with open(pointer, "r", encoding="utf-8") as f:
        lines = f.read().split()
    if not lines:
        raise ValueError(f"{pointer} is empty; delete {fdir} to train from scratch")
    fpath = osp.join(fdir, lines[0])
    _log.info(f'Loading checkpoint from "{fpath}"')
    checkpoint = load_checkpoint(fpath)
    model.load_state_dict(checkpoint["state_dict"])
    _log.info("Loaded model weights")
    if optimizer is not None and checkpoint.get("optimizer") is not None:
        optimizer.load_state_dict(checkpoint["optimizer"])
        _log.info("Loaded optimizer")
    if scheduler is not None and checkpoint.get("scheduler") is not None:
        scheduler.load_state_dict(checkpoint["scheduler"])
        _log.info("Loaded scheduler")
    start_epoch = checkpoint["epoch"]
    _log.info(f"Previous epoch: {start_epoch}")
    return start_epoch


def load_pretrained_weights(model: nn.Module, weight_path: str) -> None:
    """Copy every tensor of a checkpoint whose name and shape match into ``model``."""
    checkpoint = load_checkpoint(weight_path)
    state_dict = checkpoint.get("state_dict", checkpoint)
    model_dict = model.state_dict()
    matched, discarded = collections.OrderedDict(), []
    for k, v in _strip_module_prefix(state_dict).items():
        if k in model_dict and model_dict[k].size() == v.size():
            matched[k] = v
        else:
            discarded.append(k)
    if not matched:
        raise ValueError(
            f'No tensor of "{weight_path}" matches the model by name and shape '
            f"(model keys: {list(model_dict)[:5]}..., file keys: {list(state_dict)[:5]}...). "
            "Check MODEL.INIT_WEIGHTS points to a checkpoint of the same trainer."
        )
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    _log.info(f"Successfully loaded pretrained weights from {weight_path}")
    if discarded:
        _log.info(f"Layers discarded due to unmatched keys or size: {discarded}")
