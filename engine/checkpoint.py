"""Checkpoints: Dassl's file names and keys, plain contents, safe loading.

A checkpoint is ``<dir>/<model name>/model.pth.tar-<epoch>`` (or ``model-best.pth.tar``) next to a
text file ``checkpoint`` naming the newest one. The file holds ``state_dict``, ``epoch``,
``optimizer``, ``scheduler`` and ``val_result`` (Dassl's keys) plus the trainer's extras (the
run's ``config`` yaml and, for an exact resume, ``rng_state`` and ``best_result``), all plain
tensors/numbers/strings, so :func:`load_checkpoint` uses ``torch.load(weights_only=True)``.
Checkpoints written by real Dassl contain pickled torch optimizer/scheduler objects; those few
classes are allow-listed, anything else is refused with a message.

Loading a checkpoint into a model checks that it fits (:func:`check_config_fits`: the config it
records builds the same model; :func:`load_fitting_state`: the tensors have its shapes), and
:func:`prune_checkpoints` keeps a run's newest ones (``TRAIN.CHECKPOINT_KEEP_LAST``).
"""
from __future__ import annotations

import collections
import io
import os
import os.path as osp
import pickle
import re
import shutil
from typing import Any, Collection, Iterable

import torch
import torch.nn as nn

from .config_compare import DASSL_RESULT_KEYS, ResultKeys, config_differences, describe_differences
from .errors import CheckpointError
from .utils import atomic_write_bytes, atomic_write_text, get_logger, mkdir_if_missing

__all__ = [
    "BEST_NAME",
    "apply_checkpoint",
    "checkpoint_epoch",
    "checkpoint_epochs",
    "checkpoint_name",
    "check_config_fits",
    "latest_checkpoint",
    "load_checkpoint",
    "load_fitting_state",
    "load_pretrained_weights",
    "model_file",
    "prune_checkpoints",
    "resume_hint",
    "save_checkpoint",
    "shape_mismatches",
]

_log = get_logger("engine.checkpoint")

# Globals that checkpoints written by real Dassl contain besides tensors: its warmup scheduler
# state embeds the successor scheduler object, which embeds the optimizer object.
_SAFE_GLOBAL_PREFIXES = ("torch.optim.",)
_SAFE_GLOBALS = {"collections.defaultdict": collections.defaultdict, "builtins.dict": dict}

BEST_NAME = "model-best.pth.tar"  # TEST.FINAL_MODEL best_val: the best validation epoch
_EPOCH_RE = re.compile(r"model\.pth\.tar-(\d+)")


def checkpoint_name(epoch: int) -> str:
    """``model.pth.tar-<epoch>``: the checkpoint written at the end of ``epoch`` (1-based)."""
    return f"model.pth.tar-{epoch}"


def checkpoint_epoch(path: str) -> int:
    """The epoch a checkpoint file ends (from its name, or from its content for model-best)."""
    match = _EPOCH_RE.fullmatch(osp.basename(path))
    return int(match.group(1)) if match else int(load_checkpoint(path)["epoch"])


def checkpoint_epochs(folder: str) -> list[int]:
    """The epochs of the ``model.pth.tar-<epoch>`` files in ``folder``, ascending."""
    if not osp.isdir(folder):
        return []
    return sorted(int(m.group(1)) for f in os.listdir(folder) if (m := _EPOCH_RE.fullmatch(f)))


def model_file(folder: str, epoch: int | None = None) -> str:
    """The checkpoint to evaluate in ``folder`` (``<run>/<model name>``): ``model.pth.tar-<epoch>``;
    without an epoch, ``model-best.pth.tar`` if the run kept one, else its newest epoch."""
    available = [checkpoint_name(e) for e in checkpoint_epochs(folder)]
    if osp.isfile(osp.join(folder, BEST_NAME)):
        available.append(BEST_NAME)
    if not available:
        raise CheckpointError(
            f"No checkpoint in {folder}. Train first, or check --model-dir (the output folder of the training run)."
        )
    if epoch is not None:
        name = checkpoint_name(epoch)
        if name not in available:
            raise CheckpointError(
                f'Model not found at "{osp.join(folder, name)}". Available: {", ".join(available)}; '
                "pass --load-epoch accordingly (or leave it out for the last one)."
            )
    else:
        name = BEST_NAME if BEST_NAME in available else available[-1]
    return osp.join(folder, name)


def _strip_module_prefix(state_dict: dict) -> "collections.OrderedDict[str, Any]":
    return collections.OrderedDict((k[len("module.") :] if k.startswith("module.") else k, v) for k, v in state_dict.items())


def save_checkpoint(state: dict, save_dir: str, is_best: bool = False, remove_module_from_keys: bool = True, model_name: str = "") -> str:
    """Write ``state`` atomically to ``save_dir/model.pth.tar-<epoch>`` (or ``model_name``) and
    record its name in ``save_dir/checkpoint``. Returns the path."""
    mkdir_if_missing(save_dir)
    if remove_module_from_keys:
        state = dict(state, state_dict=_strip_module_prefix(state["state_dict"]))
    fname = model_name or checkpoint_name(state["epoch"])
    fpath = osp.join(save_dir, fname)
    # Serialised in memory: torch.save names the archive inside the file after the file it writes
    # to, and a temporary name would make equal checkpoints differ byte for byte.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(fpath, buffer.getvalue())
    _log.info(f"Checkpoint saved to {fpath}")
    atomic_write_text(osp.join(save_dir, "checkpoint"), f"{fname}\n")
    if is_best:
        best = osp.join(save_dir, BEST_NAME)
        shutil.copyfile(fpath, best)
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
        raise CheckpointError(f'No checkpoint at "{fpath}".')
    if osp.getsize(fpath) == 0:
        raise CheckpointError(f'"{fpath}" is empty (0 bytes): an interrupted copy? Expected a checkpoint written by torch.save.')
    map_location = None if torch.cuda.is_available() else "cpu"
    try:
        return torch.load(fpath, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # maybe written by real Dassl: look at what it references
    except Exception as e:
        raise CheckpointError(
            f'Cannot read the checkpoint "{fpath}" ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}). '
            "Expected a file written by torch.save; it may be truncated or not a checkpoint."
        ) from e

    try:
        unsafe = torch.serialization.get_unsafe_globals_in_checkpoint(fpath)
    except Exception as e:
        raise CheckpointError(f'Cannot read the checkpoint "{fpath}" ({type(e).__name__}): not a torch.save file.') from e
    allowed, refused = [], []
    for name in unsafe:
        if name in _SAFE_GLOBALS:
            allowed.append(_SAFE_GLOBALS[name])
        elif name.startswith(_SAFE_GLOBAL_PREFIXES):
            allowed.append(_resolve_global(name))
        else:
            refused.append(name)
    if refused:
        raise CheckpointError(
            f'Refusing to load "{fpath}": it would run arbitrary code to rebuild {refused}. '
            "Checkpoints of this project hold only tensors and numbers; if you trust this file, "
            "re-save its 'state_dict' with torch.save({'state_dict': ...}) and load that instead."
        )
    with torch.serialization.safe_globals(allowed):
        return torch.load(fpath, map_location=map_location, weights_only=True)


def latest_checkpoint(fdir: str) -> str | None:
    """The file named in ``fdir/checkpoint`` (the newest checkpoint written there), or None. When
    that file was deleted (a corrupt checkpoint removed, as :func:`resume_hint` says), the newest
    ``model.pth.tar-<epoch>`` left, or None if there is none."""
    pointer = osp.join(fdir, "checkpoint")
    if not osp.isfile(pointer):
        return None
    with open(pointer, "r", encoding="utf-8") as f:
        lines = f.read().split()
    if not lines:
        raise CheckpointError(f"{pointer} is empty; rerun with --restart to train from scratch.")
    named = osp.join(fdir, lines[0])
    if osp.exists(named):
        return named
    left = checkpoint_epochs(fdir)
    return osp.join(fdir, checkpoint_name(left[-1])) if left else None


def resume_hint(fpath: str) -> str:
    """The way forward from a checkpoint a run cannot resume from (unreadable): delete it to go on
    from the run's previous checkpoint (:func:`latest_checkpoint` then finds that one), or
    ``--restart``."""
    name = osp.basename(fpath)
    match = _EPOCH_RE.fullmatch(name)
    earlier = [e for e in checkpoint_epochs(osp.dirname(fpath)) if match is None or e < int(match.group(1))]
    if earlier:
        return (
            f'To resume from the previous checkpoint ({checkpoint_name(earlier[-1])}), delete "{fpath}" and rerun the '
            "same command; or rerun with --restart to train from scratch."
        )
    return f'Delete "{fpath}" and rerun the same command to train from scratch (or rerun with --restart).'


def apply_checkpoint(checkpoint: dict, model: nn.Module, optimizer=None, scheduler=None) -> int:
    """Load a checkpoint's model/optimizer/scheduler state; return the epoch to start from."""
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
        raise CheckpointError(
            f'No tensor of "{weight_path}" matches the model by name and shape '
            f"(model keys: {list(model_dict)[:5]}..., file keys: {list(state_dict)[:5]}...). "
            "Check MODEL.INIT_WEIGHTS points to a checkpoint of the same trainer."
        )
    model_dict.update(matched)
    model.load_state_dict(model_dict)
    _log.info(f"Successfully loaded pretrained weights from {weight_path}")
    if discarded:
        _log.info(f"Layers discarded due to unmatched keys or size: {discarded}")


def prune_checkpoints(folder: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` ``model.pth.tar-<epoch>`` files of ``folder`` (the one
    named in the ``checkpoint`` pointer is always kept); returns the deleted names."""
    current = latest_checkpoint(folder)
    deleted = []
    for epoch in checkpoint_epochs(folder)[:-keep]:
        fname = checkpoint_name(epoch)
        if osp.join(folder, fname) != current:
            os.remove(osp.join(folder, fname))
            deleted.append(fname)
    return deleted


def check_config_fits(
    model_path: str, checkpoint: dict, config: str, model_keys: Iterable[str], keys: ResultKeys = DASSL_RESULT_KEYS,
    defaults: str | None = None,
) -> None:
    """Refuse a checkpoint whose recorded config (``checkpoint["config"]``) builds another model
    than ``config`` (the run's dump): a key of ``model_keys`` (those that define the model's
    tensors) differs. Keys a checkpoint of an older version lacks count as their ``defaults``.
    Checkpoints written by Dassl or the anchor repositories record no config: only their shapes
    can be checked (:func:`load_fitting_state`)."""
    if not isinstance(checkpoint.get("config"), str):
        return
    wanted = set(model_keys)
    diffs = [d for d in config_differences(checkpoint["config"], config, defaults, keys) if d[0] in wanted]
    if diffs:
        raise CheckpointError(
            f'"{model_path}" was trained with another model config:\n'
            f"{describe_differences(diffs, 'checkpoint', 'this run')}\n"
            "Evaluate with the training run's values (its config.yaml), e.g. by passing them as KEY VALUE pairs."
        )


def shape_mismatches(module: nn.Module, state_dict: dict) -> list[tuple[str, tuple, tuple]]:
    """(key, checkpoint shape, module shape) for each tensor both have with different shapes."""
    own = module.state_dict()
    return [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items() if k in own and own[k].shape != v.shape]


def load_fitting_state(module: nn.Module, model_path: str, checkpoint: dict, drop: Collection[str] = (), hint: str = "") -> None:
    """Load ``checkpoint["state_dict"]`` into ``module``, leaving out the tensors whose last name
    part is in ``drop`` (class-dependent buffers of the anchor repositories' checkpoints); a
    checkpoint whose tensors have other shapes, or that misses some, is a :class:`CheckpointError`
    naming them, followed by ``hint`` (why, and what to do)."""
    state_dict = {k: v for k, v in checkpoint["state_dict"].items() if k.rpartition(".")[2] not in drop}
    fix = hint or "Use the trainer config of the training run (its config.yaml)."
    mismatched = shape_mismatches(module, state_dict)
    if mismatched:
        shapes = "\n".join(f"  {key}: checkpoint {tuple(a)}, this run {tuple(b)}" for key, a, b in mismatched)
        raise CheckpointError(f'"{model_path}" does not fit the model built from this config; tensors of other shapes:\n{shapes}\n{fix}')
    try:
        module.load_state_dict(state_dict)
    except RuntimeError as e:
        raise CheckpointError(
            f'"{model_path}" does not fit the {type(module).__name__} built from this config ({e}). '
            "Use the trainer config of the training run (its config.yaml)."
        ) from e
