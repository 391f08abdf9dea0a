"""Optimizers and LR schedules with Dassl's names, settings and per-epoch learning rates.

The warmup wrappers differ from Dassl's in two ways that users see only as bugs fixed:
they construct on torch >= 2.7 (no ``verbose`` argument), and their ``state_dict`` holds the
successor's *state* instead of a pickled successor object. So a checkpoint loads with
``torch.load(weights_only=True)``, and after a resume the live optimizer's LR keeps following
the schedule (Dassl's resumed successor steps a stale optimizer copy and the LR freezes).
"""
from __future__ import annotations

from typing import Any, Iterable

import torch
import torch.nn as nn
from torch.optim.lr_scheduler import LRScheduler

from .errors import ConfigError
from .registry import unknown_name_message

__all__ = [
    "AVAI_OPTIMS",
    "AVAI_SCHEDS",
    "ConstantWarmupScheduler",
    "LinearWarmupScheduler",
    "build_lr_scheduler",
    "build_optimizer",
]

AVAI_OPTIMS = ("adam", "amsgrad", "sgd", "rmsprop", "radam", "adamw")
AVAI_SCHEDS = ("single_step", "multi_step", "cosine")
AVAI_WARMUPS = ("constant", "linear")


def build_optimizer(model: nn.Module | Iterable, optim_cfg: Any, param_groups=None) -> torch.optim.Optimizer:
    """The optimizer named by ``OPTIM.NAME`` over ``model`` (a module or an iterable of params).

    Pass the explicit list of trainable tensors: a module's ``.parameters()`` would include
    frozen ones (harmless for the update, but the optimizer state would then list them).
    """
    name = optim_cfg.NAME
    if name not in AVAI_OPTIMS:
        raise ConfigError(unknown_name_message("optimizer", name, AVAI_OPTIMS, "OPTIM.NAME"))
    if optim_cfg.STAGED_LR:
        raise ConfigError("OPTIM.STAGED_LR is not supported by the built-in engine; set it False, or use --backend dassl.")
    if param_groups is None:
        param_groups = model.parameters() if isinstance(model, nn.Module) else model
    param_groups = list(param_groups)
    if not param_groups:
        raise ValueError("build_optimizer got no parameters to optimize")

    lr, wd = optim_cfg.LR, optim_cfg.WEIGHT_DECAY
    betas = (optim_cfg.ADAM_BETA1, optim_cfg.ADAM_BETA2)
    if name == "sgd":
        return torch.optim.SGD(
            param_groups,
            lr=lr,
            momentum=optim_cfg.MOMENTUM,
            weight_decay=wd,
            dampening=optim_cfg.SGD_DAMPNING,
            nesterov=optim_cfg.SGD_NESTEROV,
        )
    if name in ("adam", "amsgrad"):
        return torch.optim.Adam(param_groups, lr=lr, weight_decay=wd, betas=betas, amsgrad=name == "amsgrad")
    if name == "adamw":
        return torch.optim.AdamW(param_groups, lr=lr, weight_decay=wd, betas=betas)
    if name == "radam":  # torch's RAdam (Dassl ships its own variant of the same method)
        return torch.optim.RAdam(param_groups, lr=lr, weight_decay=wd, betas=betas)
    return torch.optim.RMSprop(
        param_groups, lr=lr, momentum=optim_cfg.MOMENTUM, weight_decay=wd, alpha=optim_cfg.RMSPROP_ALPHA
    )


class _WarmupScheduler(LRScheduler):
    """Runs its own LR rule for ``warmup_epoch`` epochs, then hands over to ``successor``."""

    def __init__(self, optimizer: torch.optim.Optimizer, successor: LRScheduler, warmup_epoch: int, last_epoch: int = -1):
        self.successor = successor
        self.warmup_epoch = warmup_epoch
        super().__init__(optimizer, last_epoch)

    def warmup_lr(self) -> list[float]:
        raise NotImplementedError

    def get_lr(self) -> list[float]:
        if self.last_epoch >= self.warmup_epoch:
            return self.successor.get_last_lr()
        return self.warmup_lr()

    def step(self, epoch: int | None = None) -> None:
        if self.last_epoch >= self.warmup_epoch:
            self.successor.step()
            self._last_lr = self.successor.get_last_lr()
        else:
            super().step()

    def state_dict(self) -> dict:
        state = {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "successor")}
        state["successor"] = self.successor.state_dict()
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state = dict(state_dict)
        successor = state.pop("successor", None)
        if successor is not None:
            # A checkpoint written by real Dassl holds the successor object itself.
            if not isinstance(successor, dict):
                successor = successor.state_dict()
            self.successor.load_state_dict(successor)
        self.__dict__.update(state)


class ConstantWarmupScheduler(_WarmupScheduler):
    """LR = ``cons_lr`` during warmup."""

    def __init__(self, optimizer, successor, warmup_epoch: int, cons_lr: float, last_epoch: int = -1):
        self.cons_lr = cons_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self) -> list[float]:
        return [self.cons_lr for _ in self.base_lrs]


class LinearWarmupScheduler(_WarmupScheduler):
    """LR = ``min_lr`` in epoch 0, then ``base_lr * epoch / warmup_epoch`` during warmup."""

    def __init__(self, optimizer, successor, warmup_epoch: int, min_lr: float, last_epoch: int = -1):
        self.min_lr = min_lr
        super().__init__(optimizer, successor, warmup_epoch, last_epoch)

    def warmup_lr(self) -> list[float]:
        if self.last_epoch == 0:
            return [self.min_lr for _ in self.base_lrs]
        return [lr * self.last_epoch / self.warmup_epoch for lr in self.base_lrs]


def build_lr_scheduler(optimizer: torch.optim.Optimizer, optim_cfg: Any) -> LRScheduler:
    """The per-epoch schedule of ``OPTIM.LR_SCHEDULER`` (+ warmup), stepped by the trainer."""
    name = optim_cfg.LR_SCHEDULER
    stepsize, gamma, max_epoch = optim_cfg.STEPSIZE, optim_cfg.GAMMA, optim_cfg.MAX_EPOCH
    if name not in AVAI_SCHEDS:
        raise ConfigError(unknown_name_message("LR scheduler", name, AVAI_SCHEDS, "OPTIM.LR_SCHEDULER"))

    if name == "single_step":
        if isinstance(stepsize, (list, tuple)):
            stepsize = stepsize[-1]
        if not isinstance(stepsize, int):
            raise ConfigError(f"OPTIM.STEPSIZE must hold integers for single_step, got {stepsize!r} (e.g. OPTIM.STEPSIZE \"(20,)\").")
        if stepsize <= 0:
            stepsize = max_epoch
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=stepsize, gamma=gamma)
    elif name == "multi_step":
        if not isinstance(stepsize, (list, tuple)):
            raise ConfigError(f"OPTIM.STEPSIZE must be a list of epochs for multi_step, got {stepsize!r} (e.g. OPTIM.STEPSIZE \"(20, 40)\").")
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(stepsize), gamma=gamma)
    else:
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, float(max_epoch))

    if optim_cfg.WARMUP_EPOCH > 0:
        if not optim_cfg.WARMUP_RECOUNT:
            scheduler.last_epoch = optim_cfg.WARMUP_EPOCH
        if optim_cfg.WARMUP_TYPE == "constant":
            scheduler = ConstantWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_CONS_LR)
        elif optim_cfg.WARMUP_TYPE == "linear":
            scheduler = LinearWarmupScheduler(optimizer, scheduler, optim_cfg.WARMUP_EPOCH, optim_cfg.WARMUP_MIN_LR)
        else:
            raise ConfigError(unknown_name_message("warmup type", optim_cfg.WARMUP_TYPE, AVAI_WARMUPS, "OPTIM.WARMUP_TYPE"))
    return scheduler
