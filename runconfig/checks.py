"""The checks of the engine's keys (Dassl's: the optimiser, the data loaders, the epochs) that a run
reads, each once, where the config is built (:func:`runconfig.build.validate_config`).

yacs already holds every value to its default's type; what is left is the range: a negative
learning rate, a batch size of 0 or a print frequency of 0 would otherwise end in a traceback from
torch (or a ZeroDivisionError) long after the config was read, and ``OPTIM.MAX_EPOCH 0`` would
"train" nothing and evaluate the untrained prompts as a complete run. Each error is one line that
names the key, the value and a valid one. The methods' own keys are checked by their trainers'
``check_cfg``; the dataset keys by :func:`datasets.check_dataset_config`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

from yacs.config import CfgNode as CN

from engine.seam import ConfigError

__all__ = ["EPOCHS_KEY", "RANGES", "Range", "check_engine_keys", "trains_by_epochs"]

EPOCHS_KEY = "OPTIM.MAX_EPOCH"


@dataclass(frozen=True)
class Range:
    """A key whose value must pass ``valid``; ``expect`` says which values do, ``example`` is one."""

    key: str
    valid: Callable[[Any], bool]
    expect: str
    example: str


def _at_least(low: float) -> Callable[[Any], bool]:
    return lambda v: math.isfinite(v) and v >= low


def _fraction(v: Any) -> bool:
    return 0 <= v < 1


RANGES = (
    # torch refuses these in the optimisers' constructors (lr, weight_decay, momentum, betas, alpha).
    Range("OPTIM.LR", _at_least(0), "a finite learning rate >= 0", "0.002"),
    Range("OPTIM.WEIGHT_DECAY", _at_least(0), "a weight decay >= 0", "5e-4"),
    Range("OPTIM.MOMENTUM", _at_least(0), "a momentum >= 0", "0.9"),
    Range("OPTIM.ADAM_BETA1", _fraction, "a value in [0, 1)", "0.9"),
    Range("OPTIM.ADAM_BETA2", _fraction, "a value in [0, 1)", "0.999"),
    Range("OPTIM.RMSPROP_ALPHA", _at_least(0), "a value >= 0", "0.99"),
    # Nothing refuses these: the learning rate would silently become negative.
    Range("OPTIM.GAMMA", _at_least(0), "a decay factor >= 0", "0.1"),
    Range("OPTIM.WARMUP_CONS_LR", _at_least(0), "a learning rate >= 0", "1e-5"),
    Range("OPTIM.WARMUP_MIN_LR", _at_least(0), "a learning rate >= 0", "1e-5"),
    # torch's DataLoader refuses these; a print frequency of 0 divides by zero.
    Range("DATALOADER.TRAIN_X.BATCH_SIZE", _at_least(1), "a batch size >= 1", "32"),
    Range("DATALOADER.TEST.BATCH_SIZE", _at_least(1), "a batch size >= 1", "100"),
    Range("DATALOADER.NUM_WORKERS", _at_least(0), "0 (load in the main process) or more worker processes", "4"),
    Range("TRAIN.PRINT_FREQ", _at_least(1), "a number of batches >= 1", "10"),
)


def _value(cfg: CN, key: str) -> Any:
    node = cfg
    for part in key.split("."):
        node = node[part]
    return node


def trains_by_epochs(trainer_cls: type) -> bool:
    """Whether the trainer's training runs ``OPTIM.MAX_EPOCH`` epochs of optimiser steps: not a
    method that trains nothing (``ZERO_SHOT``: zero-shot CLIP), nor one fitted otherwise
    (``GRADIENT_STEPS`` False: linear-probe CLIP fits a logistic regression once); neither reads
    the key."""
    return not getattr(trainer_cls, "ZERO_SHOT", False) and getattr(trainer_cls, "GRADIENT_STEPS", True)


def check_engine_keys(cfg: CN, trainer_cls: type) -> None:
    """The ranges of :data:`RANGES`, and ``OPTIM.MAX_EPOCH`` >= 1 for a trainer that trains by
    epochs (:func:`trains_by_epochs`)."""
    for rule in RANGES:
        value = _value(cfg, rule.key)
        if not rule.valid(value):
            raise ConfigError(f"{rule.key} = {value!r} is not valid; use {rule.expect} (e.g. `{rule.key} {rule.example}`).")
    epochs = _value(cfg, EPOCHS_KEY)
    if epochs < 1 and trains_by_epochs(trainer_cls):
        raise ConfigError(
            f"{EPOCHS_KEY} = {epochs} is not valid: {cfg.TRAINER.NAME} trains for {EPOCHS_KEY} epochs, and with none its "
            f"untrained prompts would be evaluated as a complete run; use 1 or more (e.g. `{EPOCHS_KEY} 5`)."
        )
