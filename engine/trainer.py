"""Trainer lifecycle with Dassl's hooks, loop, log lines and checkpoint layout.

``TrainerX`` is the base every CoOp-family trainer subclasses. A trainer overrides
``check_cfg``, ``build_model``, ``forward_backward``, ``parse_batch_train``, ``load_model`` and
(zero-shot only) ``model_inference``; the engine owns the epoch loop, evaluation, meters,
checkpoints and resume. Schedulers are stepped by the trainers (``update_lr`` at the last batch
of an epoch), never by the engine, exactly as in Dassl.

Departures from Dassl, all invisible in the log text: meters and the evaluator keep tensors on
the device and synchronise only when a line is printed; a non-finite loss on an accelerator is
detected at the next print instead of every step (on CPU it raises at once); checkpoints hold
plain state plus the run's config; progress bars go to stderr.

Exact resume: a checkpoint also holds every random-number state (Python, NumPy, torch CPU and
CUDA: they drive data order, augmentation and the DataLoader workers' seeds) and the best
validation result, taken when it is written; resuming restores them last, right before the next
epoch. A run interrupted at any point and resumed from its last checkpoint therefore redoes the
lost epochs exactly and ends with the same checkpoints as an uninterrupted run.
"""
from __future__ import annotations

import datetime
import os.path as osp
import statistics
import sys
import time
from collections import OrderedDict
from typing import Any, Iterable

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

from .checkpoint import BEST_NAME, apply_checkpoint, latest_checkpoint, load_checkpoint, model_file, resume_hint, save_checkpoint
from .config_compare import DASSL_RESULT_KEYS, ResultKeys, config_differences, describe_differences
from .data import DataManager
from .errors import CheckpointError, ConfigError, NonFiniteLossError
from .evaluation import build_evaluator
from .measure import PeakMemory, StepTimer
from .registry import Registry, unknown_name_message
from .utils import CONSOLE, PROGRESS, get_logger, get_rng_state, mkdir_if_missing, set_rng_state

__all__ = ["TRAINER_REGISTRY", "AverageMeter", "MetricMeter", "SimpleTrainer", "TrainerBase", "TrainerX", "build_trainer"]

_log = get_logger("engine.trainer")

TRAINER_REGISTRY = Registry("TRAINER")


def build_trainer(cfg: Any) -> "TrainerBase":
    """Instantiate the trainer registered under ``cfg.TRAINER.NAME``."""
    name = cfg.TRAINER.NAME
    if name not in TRAINER_REGISTRY:
        raise ConfigError(unknown_name_message("trainer", name, TRAINER_REGISTRY.registered_names(), "TRAINER.NAME / --trainer"))
    if cfg.VERBOSE:
        _log.info(f"Loading trainer: {name}")
    return TRAINER_REGISTRY.get(name)(cfg)


def _as_number(v: Any) -> float:
    return v.item() if isinstance(v, torch.Tensor) else float(v)


class AverageMeter:
    """Current value and running average; tensor values stay on their device until read."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self._val: Any = 0.0
        self._sum: Any = 0.0
        self.count = 0

    def update(self, val: Any, n: int = 1) -> None:
        if isinstance(val, torch.Tensor):
            val = val.detach().float().reshape(())
        self._val = val
        self._sum = self._sum + val * n
        self.count += n

    @property
    def val(self) -> float:
        return _as_number(self._val)

    @property
    def avg(self) -> float:
        return _as_number(self._sum) / max(self.count, 1)


class MetricMeter:
    """A named set of :class:`AverageMeter`; ``str()`` gives Dassl's ``name val (avg)`` text."""

    def __init__(self, delimiter: str = " ") -> None:
        self.meters: "OrderedDict[str, AverageMeter]" = OrderedDict()
        self.delimiter = delimiter

    def update(self, input_dict: dict | None) -> None:
        if input_dict is None:
            return
        if not isinstance(input_dict, dict):
            raise TypeError("forward_backward() must return a dict of named losses/metrics")
        for k, v in input_dict.items():
            self.meters.setdefault(k, AverageMeter()).update(v)

    def __str__(self) -> str:
        return self.delimiter.join(f"{name} {m.val:.4f} ({m.avg:.4f})" for name, m in self.meters.items())


class TrainerBase:
    """Registered models/optimizers/schedulers and the generic epoch loop."""

    def __init__(self) -> None:
        self._models: "OrderedDict[str, nn.Module]" = OrderedDict()
        self._optims: "OrderedDict[str, Any]" = OrderedDict()
        self._scheds: "OrderedDict[str, Any]" = OrderedDict()
        self._writer = None
        self._nonfinite: torch.Tensor | None = None

    # --- registration -------------------------------------------------------------------------
    def register_model(self, name: str = "model", model: nn.Module | None = None, optim=None, sched=None) -> None:
        if self.__dict__.get("_models") is None:
            raise AttributeError("Cannot assign model before super().__init__() call")
        if name in self._models:
            raise KeyError(f"A model named '{name}' is already registered")
        self._models[name] = model
        self._optims[name] = optim
        self._scheds[name] = sched

    def get_model_names(self, names: str | Iterable[str] | None = None) -> list[str]:
        real = list(self._models.keys())
        if names is None:
            return real
        names = [names] if isinstance(names, str) else list(names)
        for name in names:
            if name not in real:
                raise KeyError(f"No registered model '{name}' (registered: {real})")
        return names

    # --- checkpoints --------------------------------------------------------------------------
    def _checkpoint_extras(self) -> dict:
        """Extra plain entries stored in every checkpoint: the run's config, and what an exact
        resume needs besides the model, optimizer and scheduler (see :meth:`_restore_extras`)."""
        extras: dict[str, Any] = {"rng_state": get_rng_state()}
        cfg = getattr(self, "cfg", None)
        if cfg is not None:
            extras["config"] = cfg.dump()
        best = getattr(self, "best_result", None)
        if best is not None and np.isfinite(best):
            extras["best_result"] = float(best)
        return extras

    def _restore_extras(self, checkpoint: dict) -> None:
        """Restore what :meth:`_checkpoint_extras` saved (on resume, right before training goes on).
        Checkpoints of real Dassl or the anchor repos have no extras: resume is then not exact."""
        if "best_result" in checkpoint:
            self.best_result = checkpoint["best_result"]
        if "rng_state" in checkpoint:
            set_rng_state(checkpoint["rng_state"])
        else:
            _log.warning(
                "WARNING: the checkpoint holds no random-number state (written by another tool): data order and "
                "augmentation after the resume differ from an uninterrupted run."
            )

    def save_model(self, epoch: int, directory: str, is_best: bool = False, val_result: float | None = None, model_name: str = "") -> None:
        for name in self.get_model_names():
            optim, sched = self._optims[name], self._scheds[name]
            state = {
                "state_dict": self._models[name].state_dict(),
                "epoch": epoch + 1,
                "optimizer": optim.state_dict() if optim is not None else None,
                "scheduler": sched.state_dict() if sched is not None else None,
                "val_result": val_result,
                **self._checkpoint_extras(),
            }
            save_checkpoint(state, osp.join(directory, name), is_best=is_best, model_name=model_name)

    def resume_model_if_exist(self, directory: str) -> int:
        names = self.get_model_names()
        paths = {name: latest_checkpoint(osp.join(directory, name)) for name in names}
        if not names or any(path is None for path in paths.values()):
            _log.info("No checkpoint found, train from scratch")
            return 0
        _log.info(f"Found checkpoint at {directory} (will resume training)")
        start_epoch, checkpoint = 0, {}
        for name, fpath in paths.items():
            _log.info(f'Loading checkpoint from "{fpath}"')
            try:
                checkpoint = load_checkpoint(fpath)
            except CheckpointError as e:  # say the way forward: the previous checkpoint, or --restart
                raise CheckpointError(f"{e} {resume_hint(fpath)}") from e
            self._check_resumable(fpath, checkpoint)
            start_epoch = apply_checkpoint(checkpoint, self._models[name], self._optims[name], self._scheds[name])
        self._restore_extras(checkpoint)
        return start_epoch

    def result_keys(self) -> ResultKeys:
        """Which config keys cannot change results (Dassl's; a project's trainers add theirs)."""
        return DASSL_RESULT_KEYS

    def _check_resumable(self, fpath: str, checkpoint: dict) -> None:
        """A checkpoint written with another config is not resumed (its keys are named)."""
        cfg = getattr(self, "cfg", None)
        if cfg is None or not isinstance(checkpoint.get("config"), str):
            return
        diffs = config_differences(checkpoint["config"], cfg.dump(), keys=self.result_keys())
        if diffs:
            raise CheckpointError(
                f'"{fpath}" was written with another config; resuming it would mix two runs:\n'
                f"{describe_differences(diffs, 'checkpoint', 'this run')}\n"
                "Resume with the checkpoint's config, or start a new run (--restart, or another --output-dir)."
            )

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        if not directory:
            _log.info("Note that load_model() is skipped as no pretrained model is given (ignore this if it's done on purpose)")
            return
        for name in self.get_model_names():
            model_path = model_file(osp.join(directory, name), epoch)
            checkpoint = load_checkpoint(model_path)
            val = checkpoint.get("val_result")
            val_txt = f"{val:.1f}" if isinstance(val, (int, float)) else "n/a"
            _log.info(f"Load {model_path} to {name} (epoch={checkpoint['epoch']}, val_result={val_txt})")
            self._models[name].load_state_dict(checkpoint["state_dict"])

    # --- modes and updates --------------------------------------------------------------------
    def set_model_mode(self, mode: str = "train", names=None) -> None:
        for name in self.get_model_names(names):
            if mode == "train":
                self._models[name].train()
            elif mode in ("test", "eval"):
                self._models[name].eval()
            else:
                raise KeyError(f"Unknown model mode '{mode}' (use 'train', 'eval' or 'test')")

    def update_lr(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._scheds[name] is not None:
                self._scheds[name].step()

    def detect_anomaly(self, loss: torch.Tensor) -> None:
        """Raise on a non-finite loss. On CPU at once; on an accelerator the check is folded
        into a device flag read at the next log line (a per-step read would stall the GPU)."""
        if loss.device.type == "cpu":
            if not torch.isfinite(loss).all():
                raise self._nonfinite_error()
            return
        bad = ~torch.isfinite(loss.detach()).all()
        self._nonfinite = bad if self._nonfinite is None else (self._nonfinite | bad)

    def _nonfinite_error(self) -> NonFiniteLossError:
        where = f"epoch {getattr(self, 'epoch', 0) + 1}, batch {getattr(self, 'batch_idx', 0) + 1}"
        return NonFiniteLossError.diverged("Loss", where)

    def check_nonfinite(self) -> None:
        """Raise if any loss since the last check was non-finite (accelerator path)."""
        if self._nonfinite is not None and bool(self._nonfinite):
            raise self._nonfinite_error()
        self._nonfinite = None

    def model_zero_grad(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].zero_grad(set_to_none=True)

    def model_backward(self, loss: torch.Tensor) -> None:
        self.detect_anomaly(loss)
        loss.backward()

    def model_update(self, names=None) -> None:
        for name in self.get_model_names(names):
            if self._optims[name] is not None:
                self._optims[name].step()

    def model_backward_and_update(self, loss: torch.Tensor, names=None) -> None:
        self.model_zero_grad(names)
        self.model_backward(loss)
        self.model_update(names)

    # --- tensorboard (optional: used only if the tensorboard package is installed) ------------
    def init_writer(self, log_dir: str) -> None:
        if self._writer is not None:
            return
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            return  # tensorboard is not a requirement of this project: no (empty) folder for it either
        _log.info(f"Initialize tensorboard (log_dir={log_dir})")
        mkdir_if_missing(log_dir)
        self._writer = SummaryWriter(log_dir=log_dir)

    def close_writer(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def write_scalar(self, tag: str, scalar_value: Any, global_step: int | None = None) -> None:
        if self._writer is not None:
            self._writer.add_scalar(tag, _as_number(scalar_value), global_step)

    # --- loop ---------------------------------------------------------------------------------
    def train(self, start_epoch: int, max_epoch: int) -> None:
        self.start_epoch = start_epoch
        self.max_epoch = max_epoch
        self.before_train()
        for self.epoch in range(self.start_epoch, self.max_epoch):
            self.before_epoch()
            self.run_epoch()
            self.after_epoch()
        self.after_train()

    def before_train(self) -> None:
        pass

    def after_train(self) -> None:
        pass

    def before_epoch(self) -> None:
        pass

    def after_epoch(self) -> None:
        pass

    def run_epoch(self) -> None:
        raise NotImplementedError

    def test(self, split: str | None = None):
        raise NotImplementedError

    def parse_batch_train(self, batch):
        raise NotImplementedError

    def parse_batch_test(self, batch):
        raise NotImplementedError

    def forward_backward(self, batch) -> dict:
        raise NotImplementedError

    def model_inference(self, input):
        raise NotImplementedError


class SimpleTrainer(TrainerBase):
    """Builds data, model and evaluator from ``cfg``; trains, checkpoints and tests."""

    def __init__(self, cfg: Any) -> None:
        super().__init__()
        self.check_cfg(cfg)
        self.device = torch.device("cuda") if torch.cuda.is_available() and cfg.USE_CUDA else torch.device("cpu")
        self.start_epoch = self.epoch = 0
        self.max_epoch = cfg.OPTIM.MAX_EPOCH
        self.output_dir = cfg.OUTPUT_DIR
        self.cfg = cfg
        self.build_data_loader()
        self.build_model()
        self.evaluator = build_evaluator(cfg, lab2cname=self.lab2cname)
        self.best_result = -np.inf
        self.memory = PeakMemory(self.device)  # of training: reset when it starts, read after each epoch
        self.epoch_costs: list[dict[str, Any]] = []  # per epoch trained by this process: ms/iter, peak MB

    def check_cfg(self, cfg: Any) -> None:
        """Validate trainer-specific settings (runs before ``self.cfg`` is set)."""

    def build_data_loader(self) -> None:
        dm = DataManager(self.cfg)
        self.train_loader_x = dm.train_loader_x
        self.train_loader_u = dm.train_loader_u
        self.val_loader = dm.val_loader
        self.test_loader = dm.test_loader
        self.num_classes = dm.num_classes
        self.num_source_domains = dm.num_source_domains
        self.lab2cname = dm.lab2cname
        self.dm = dm

    def build_model(self) -> None:
        raise NotImplementedError("A trainer must implement build_model() (the engine has no default network)")

    def train(self) -> None:  # type: ignore[override]
        super().train(self.start_epoch, self.max_epoch)

    def before_train(self) -> None:
        directory = self.cfg.RESUME or self.cfg.OUTPUT_DIR
        self.start_epoch = self.resume_model_if_exist(directory)
        self.init_writer(osp.join(self.output_dir, "tensorboard"))
        self.time_start = time.time()
        self.memory.reset()  # the peak of training, not of building

    def after_train(self) -> None:
        _log.info("Finish training")
        if not self.cfg.TEST.NO_TEST:
            if self.cfg.TEST.FINAL_MODEL == "best_val":
                _log.info("Deploy the model with the best val performance")
                self.load_model(self.output_dir)
            else:
                _log.info("Deploy the last-epoch model")
            self.test()
        elapsed = str(datetime.timedelta(seconds=round(time.time() - self.time_start)))
        _log.info(f"Elapsed: {elapsed}", extra=CONSOLE)
        self.close_writer()

    def after_epoch(self) -> None:
        self.check_nonfinite()
        self._log_epoch_stats()
        last_epoch = (self.epoch + 1) == self.max_epoch
        do_test = not self.cfg.TEST.NO_TEST
        freq = self.cfg.TRAIN.CHECKPOINT_FREQ
        meet_checkpoint_freq = freq > 0 and (self.epoch + 1) % freq == 0
        if do_test and self.cfg.TEST.FINAL_MODEL == "best_val":
            curr_result = self.test(split="val")
            if curr_result > self.best_result:
                self.best_result = curr_result
                self.save_model(self.epoch, self.output_dir, val_result=curr_result, model_name=BEST_NAME)
        if meet_checkpoint_freq or last_epoch:
            self.save_model(self.epoch, self.output_dir)

    def _log_epoch_stats(self) -> None:
        stats = getattr(self, "_epoch_stats", None)
        if not stats:
            return
        averages = " ".join(f"{name} {meter.avg:.4f}" for name, meter in stats["losses"].meters.items())
        msg = (
            f"epoch [{self.epoch + 1}/{self.max_epoch}] done: {averages} lr {stats['lr']:.4e}, "
            f"{stats['iter_ms']:.1f} ms/iter over {stats['iters']} iters"
        )
        if self.device.type == "cuda":
            msg += f", peak GPU memory {stats['peak_mb']:,.0f} MB"
        _log.info(msg, extra=CONSOLE)

    def training_cost(self) -> dict[str, Any] | None:
        """What this process's training cost, for ``run.json`` and the results tables: trainable
        parameters, the median over its epochs of ms per iteration (wall clock, data loading
        included; the first epoch left out when there are more: it pays the warm-up of workers,
        allocator and kernels), and the peak memory of training at the end of its last epoch
        (:class:`~engine.measure.PeakMemory`); None when it trained no epoch."""
        if not self.epoch_costs:
            return None
        timed = [c["iter_ms"] for c in self.epoch_costs][1:] or [self.epoch_costs[0]["iter_ms"]]
        peak = self.epoch_costs[-1]["peak_mb"]
        params = sum(p.numel() for m in self._models.values() for p in m.parameters() if p.requires_grad)
        return {
            "trainable_params": params,
            "train_ms_per_iter": round(statistics.median(timed), 3),
            "peak_memory_mb": None if peak is None else round(peak, 1),
            "memory_kind": self.memory.kind,
            "epochs_timed": len(timed),
        }

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
        self.set_model_mode("eval")
        self.evaluator.reset()
        if split is None:
            split = self.cfg.TEST.SPLIT
        if split == "val" and self.val_loader is not None:
            data_loader = self.val_loader
        else:
            split = "test"
            data_loader = self.test_loader
        _log.info(f"Evaluate on the *{split}* set", extra=CONSOLE)
        # Progress bars go to stderr (never into log.txt) and only on a terminal.
        for batch in tqdm(data_loader, file=sys.stderr, desc=f"test ({split})", leave=False, dynamic_ncols=True, disable=None):
            input, label = self.parse_batch_test(batch)
            output = self.model_inference(input)
            self.evaluator.process(output, label)
        results = self.evaluator.evaluate()
        for k, v in results.items():
            self.write_scalar(f"{split}/{k}", v, self.epoch)
        return list(results.values())[0]

    def model_inference(self, input):
        return self.model(input)

    def parse_batch_test(self, batch: dict):
        return batch["img"].to(self.device, non_blocking=True), batch["label"].to(self.device, non_blocking=True)

    def get_current_lr(self, names=None) -> float:
        name = self.get_model_names(names)[0]
        return self._optims[name].param_groups[0]["lr"]


class TrainerX(SimpleTrainer):
    """A trainer using labelled data only (the base of every CLIP prompt-tuning trainer)."""

    def run_epoch(self) -> None:
        self.set_model_mode("train")
        losses = MetricMeter()
        batch_time, data_time = AverageMeter(), AverageMeter()
        self.num_batches = len(self.train_loader_x)
        print_freq = self.cfg.TRAIN.PRINT_FREQ
        lr = self.get_current_lr()
        timer = StepTimer(self.device)
        timer.mark()
        end = time.time()
        bar = tqdm(self.train_loader_x, file=sys.stderr, desc=f"epoch {self.epoch + 1}/{self.max_epoch}", leave=False, dynamic_ncols=True, disable=None)
        for self.batch_idx, batch in enumerate(bar):
            data_time.update(time.time() - end)
            loss_summary = self.forward_backward(batch)
            batch_time.update(time.time() - end)
            losses.update(loss_summary)

            if (self.batch_idx + 1) % print_freq == 0 or self.num_batches < print_freq:
                self.check_nonfinite()
                nb_remain = self.num_batches - self.batch_idx - 1 + (self.max_epoch - self.epoch - 1) * self.num_batches
                eta = str(datetime.timedelta(seconds=int(batch_time.avg * nb_remain)))
                info = [
                    f"epoch [{self.epoch + 1}/{self.max_epoch}]",
                    f"batch [{self.batch_idx + 1}/{self.num_batches}]",
                    f"time {batch_time.val:.3f} ({batch_time.avg:.3f})",
                    f"data {data_time.val:.3f} ({data_time.avg:.3f})",
                    f"{losses}",
                    f"lr {self.get_current_lr():.4e}",
                    f"eta {eta}",
                ]
                _log.info(" ".join(info), extra=PROGRESS)
                # Scalars are written when the values are read anyway (no extra device sync).
                n_iter = self.epoch * self.num_batches + self.batch_idx
                for name, meter in losses.meters.items():
                    self.write_scalar("train/" + name, meter.avg, n_iter)
                self.write_scalar("train/lr", self.get_current_lr(), n_iter)
            end = time.time()
        bar.close()
        timer.mark()
        iters = max(self.num_batches, 1)
        cost = {"iter_ms": timer.intervals_ms()[0] / iters, "peak_mb": self.memory.peak_mb()}  # one device sync per epoch
        self.epoch_costs.append(cost)
        # The LR the epoch trained with (trainers step the scheduler at its last batch).
        self._epoch_stats = {"iters": iters, "losses": losses, "lr": lr, **cost}

    def parse_batch_train(self, batch: dict):
        to = lambda t: t.to(self.device, non_blocking=True)  # noqa: E731
        return to(batch["img"]), to(batch["label"]), to(batch["domain"])
