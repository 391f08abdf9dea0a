"""Speed and memory benchmark of the CLIP prompt-tuning trainers on a randomly initialised CLIP.

Methods: every method with a bench recipe in its spec (``trainers.METHODS``: MuDPT, arXiv
2306.11400; CoOp, 2109.01134; CoCoOp, 2203.05557; KgCoOp, 2303.13283; MaPLe, 2210.03117; IVLP;
VPT; PromptSRC, 2307.06948; zero-shot and linear-probe CLIP, 2103.00020); the last two are timed in
evaluation only (they take no optimizer steps). Each model is built as ``train.py`` builds it: the
config by the config module (``runconfig.build_config``) from the method's bench recipe, the model
by the model factory (``trainers.create_model(cfg, classnames, clip_model)``), with the first
``n_cls`` ImageNet class names, and the optimizer from the config. The training step is the
trainers' own (autocast, the model's ``loss``, ``trainers.base.optimizer_step``: backward and step,
through the GradScaler when fp16); evaluation is the model under autocast; both on synthetic
batches (no data loading). Times and peak memory are measured with the engine's own instruments
(``engine.measure``: ``StepTimer``, ``PeakMemory``).

Reported per method / precision / fused path / n_cls, in the shape of issue 7's table of the
official implementations:

* train ms/iter: median over ``--iters`` steps after ``--warmup`` (CUDA events on GPU, so the loop
  itself has no host sync; wall clock on CPU);
* peak MB: on GPU ``torch.cuda.max_memory_allocated`` over model build and training (weights,
  optimizer state, activations); on CPU the growth of the process's peak RSS over one training
  step after the timed ones (``VmHWM``, reset through ``/proc/self/clear_refs`` after glibc's
  ``malloc_trim`` handed the freed memory back: the same for a row whatever rows ran before it in
  the process), or n/a where it cannot be measured (no /proc; no growth at all);
* eval img/s at the config's test batch (100): median batch time after a first batch, in eval mode
  without gradients. Prompt-only methods compute their text features in that first batch and
  reuse them afterwards, as in a real evaluation (its time is kept as ``eval_first_batch_ms``);
* trainable parameters: the learner's.

Usage (from the repository root)::

    python -m bench.bench                                   # ViT-B/16 on GPU, tiny on CPU
    python -m bench.bench --size vitb16 --n-cls 500 --prec amp fp16 fp32 --json bench.jsonl
    python -m bench.bench --size tiny --fused both --methods CoOp CoCoOp
    python -m bench.bench --size vitl14 --methods MuDPT MaPLe       # OpenAI's shapes: vitb16, vitb32, vitl14, rn50
    python -m bench.bench --size open_clip:ViT-B-32 --image-size 64  # open_clip's architectures, by name
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import gc
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
import torch.nn as nn

from engine.errors import ConfigError
from engine.measure import CUDA_MAX_ALLOCATED, MB, PeakMemory, StepTimer

from .common import (
    IMAGENET_CLASSNAMES,
    REPO,
    RowSpec,
    Runner,
    add_backbone_arguments,
    append_json,
    available_methods,
    backbone_opts,
    bench_methods,
    build_clip,
    load_classnames,
    load_method_cfg,
    prec_key_of,
    quiet_trainer_logs,
    resolve_device,
)

__all__ = ["build_parser", "main", "run_bench"]

PREC_DEFAULT_GPU = ("amp", "fp16", "fp32")
FUSED_CHOICES = {"both": (True, False), "on": (True,), "off": (False,)}
CPU_RSS_GROWTH = "cpu_rss_growth"  # the bench's CPU peak: how far the peak RSS rose over one training step

# Issue 7's numbers of the official code of each method (its spec's bench_official): one H200,
# random-init ViT-B/16, synthetic inputs, median of 20 train iterations / 10 eval batches of 100.
OFFICIAL_SHAPE = "vitb16"
OFFICIAL_INPUT = (224, 224)  # their input size (--image-size changes ours)


_log = logging.getLogger("bench")


# --- command line -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench",
        description="Train ms/iter, peak memory, eval images/s and trainable parameters of each method "
        "on a random-init CLIP (synthetic inputs, no data loading).",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add_backbone_arguments(p)
    p.add_argument("--methods", nargs="+", default=None, help=f"trainers to run (default: every method with a bench recipe: {', '.join(bench_methods())})")
    p.add_argument("--n-cls", nargs="+", type=int, default=[500, 50], help="numbers of classes (the first N ImageNet class names)")
    p.add_argument("--prec", nargs="+", default=None, help="precisions, space- or comma-separated (default: amp fp16 fp32 on GPU, fp32 on CPU)")
    p.add_argument("--fused", choices=sorted(FUSED_CHOICES), default="on", help="MODEL.BACKBONE.FUSED: optimised path (on), CLIP's own blocks (off), or both")
    p.add_argument("--iters", type=int, default=20, help="timed training iterations (0: no training)")
    p.add_argument("--warmup", type=int, default=5, help="untimed training iterations first")
    p.add_argument("--eval-batches", type=int, default=10, help="timed eval batches after a first one (0: no evaluation)")
    p.add_argument("--batch", type=int, default=None, help="training batch size (default: the config's DATALOADER.TRAIN_X.BATCH_SIZE)")
    p.add_argument("--eval-batch", type=int, default=None, help="eval batch size (default: the config's DATALOADER.TEST.BATCH_SIZE)")
    p.add_argument("--json", type=str, default="", help="append one JSON line per row to this file as each row finishes")
    p.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available, else cpu)")
    p.add_argument("--config", action="append", default=[], metavar="METHOD=FILE", help="benchmark METHOD with another yaml (repeatable)")
    p.add_argument("--classnames", type=str, default="", help=f"class-name list, one per line (default: {IMAGENET_CLASSNAMES} if present)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random CLIP, the prompts and the synthetic inputs")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice); 1 is steadier on a busy machine")
    p.add_argument("--backend", choices=("auto", "dassl", "builtin"), default=None, help="engine backend, as in train.py (default: $MUDPT_BACKEND or auto)")
    p.add_argument("--verbose", action="store_true", help="keep the trainers' build messages")
    return p


def _split_list(values: Sequence[str] | None) -> list[str]:
    return [v for item in values or [] for v in item.split(",") if v]


def _check_args(args: argparse.Namespace) -> None:
    for name in ("iters", "warmup", "eval_batches"):
        if getattr(args, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(args, name)}")
    for name in ("batch", "eval_batch", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if any(n < 1 for n in args.n_cls):
        raise ValueError(f"--n-cls values must be >= 1, got {args.n_cls}")


def _config_overrides(pairs: Sequence[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        method, sep, path = pair.partition("=")
        if not sep or not method or not path:
            raise ValueError(f"--config takes METHOD=FILE (e.g. MuDPT=configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml); got {pair!r}")
        out[method] = path
    return out


# --- measurement helpers ----------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- one row ----------------------------------------------------------------------------------
def _median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def step_memory(runner: Runner, batch: dict, device: torch.device) -> tuple[float, float | None]:
    """One extra, untimed training step (after the timed ones): the MB of the tensors it keeps for
    backward (distinct storages), without the model's own parameters and buffers (the activation
    memory, deterministic on any device); and on a CPU how far the process's peak RSS rose over
    it (:class:`PeakMemory`, which first hands the allocator's freed memory back to the system, so
    that the pages earlier rows freed do not hide it), None on a GPU or where it cannot be
    measured (no /proc, or no growth at all: the step reused pages still held)."""
    resident = {t.untyped_storage().data_ptr() for t in (*runner.model.parameters(), *runner.model.buffers())}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage.data_ptr() not in resident:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    memory = PeakMemory(device) if device.type == "cpu" else None
    if memory is not None:
        memory.reset()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        runner.train_step(batch)
    growth = memory.growth_mb() if memory is not None else None
    return sum(saved.values()) / MB, growth if growth else None


def time_training(runner: Runner, batch: dict, iters: int, warmup: int, device: torch.device) -> dict[str, Any]:
    """Warm-up, then ``iters`` timed training steps."""
    runner.model.train()  # as run_epoch does at the start of every epoch
    for _ in range(warmup):
        runner.train_step(batch)
    timer = StepTimer(device)
    _sync(device)
    start = time.perf_counter()
    timer.mark()
    out: dict = {}
    host_ms = []
    for _ in range(iters):
        t = time.perf_counter()
        out = runner.train_step(batch)
        host_ms.append(1000.0 * (time.perf_counter() - t))
        timer.mark()
    steps = timer.intervals_ms()  # synchronises on CUDA
    wall_ms = 1000.0 * (time.perf_counter() - start)
    loss = float(out["loss"]) if "loss" in out else None
    if loss is not None and not torch.isfinite(torch.tensor(loss)):
        raise FloatingPointError("non-finite training loss")
    return {
        "train_ms": _median(steps),
        "train_ms_mean": wall_ms / iters if iters else None,
        "train_ms_min": min(steps) if steps else None,
        # Host time spent issuing one step (no sync): close to train_ms on a GPU means the step is
        # bound by kernel launches (where CUDA graphs pay off), far below it means GPU-bound.
        "train_host_ms": _median(host_ms),
        "loss": loss,
    }


@torch.no_grad()
def time_interleaved(calls: Sequence[Callable[[], torch.Tensor]], batches: int, device: torch.device, n_images: int) -> list[dict[str, Any]]:
    """Each call once untimed (its first batch: text features computed and cached where the method
    allows; the memory it adds), then ``batches`` rounds in which every call runs once, in
    alternating order. Interleaved, the paths of a row pair see the same machine state: timed one
    after the other in a process, the second ran up to 20% faster on a CPU whichever path it was
    (the process's allocator warmed up by the first). Returns per call ``batch_ms`` (median),
    ``img_s``, ``first_batch_ms``, ``peak_mb`` (growth of the peak over the first batch) and the
    last output."""
    out = []
    memory = PeakMemory(device)
    for call in calls:
        before = torch.cuda.memory_allocated(device) / MB if device.type == "cuda" else 0.0
        memory.reset()
        _sync(device)
        start = time.perf_counter()
        result = call()
        _sync(device)
        first_ms = 1000.0 * (time.perf_counter() - start)
        growth = memory.growth_mb()
        out.append({"first_batch_ms": first_ms, "peak_mb": None if growth is None else growth - before, "times": [], "output": result})
    for round_ in range(batches):
        order = range(len(calls)) if round_ % 2 == 0 else reversed(range(len(calls)))
        for i in order:
            _sync(device)
            start = time.perf_counter()
            out[i]["output"] = calls[i]()
            _sync(device)
            out[i]["times"].append(1000.0 * (time.perf_counter() - start))
    for entry in out:
        median = _median(entry.pop("times"))
        entry.update(batch_ms=median, img_s=n_images / (median / 1000.0) if median else None)
        if not torch.isfinite(entry["output"]).all():
            raise FloatingPointError("non-finite outputs in evaluation")
    return out


def text_seq_len(model: nn.Module) -> int | None:
    """Tokens the text tower runs per prompt when the method exposes its ClassPrompts."""
    prompts = getattr(getattr(model, "learner", None), "prompts", None)
    return getattr(prompts, "seq_len", None)


def official_for(method: str, precision: str, n_cls: int, size: str) -> dict[str, Any] | None:
    """Issue 7's official row for the same method at n_cls 500 on ViT-B/16 (its spec's
    ``bench_official``): same precision if there is one, else the method's fastest official
    configuration."""
    from trainers import method_of_trainer

    spec = method_of_trainer(method)
    if size != OFFICIAL_SHAPE or spec is None:
        return None
    rows = [dict(o, method=method) for o in spec.bench_official if o["n_cls"] == n_cls]
    exact = [o for o in rows if o["precision"] == precision]
    return (exact or sorted(rows, key=lambda o: o["train_ms"]) or [None])[0]


def bench_row(spec: RowSpec, trainer_cls: type, clip_master: nn.Module, classnames: list[str], args: argparse.Namespace,
              device: torch.device, size: str) -> dict[str, Any]:
    """Build one model and measure its training (its inference: :func:`bench_inference`); errors
    (CUDA out of memory, a method that does not fit the backbone) are recorded, not raised."""
    from trainers.clip_loader import image_size
    from trainers.precision import Precision

    height, width = image_size(clip_master)
    cfg = load_method_cfg(spec, prec_key_of(trainer_cls), (height, width), args.batch, args.eval_batch, backbone_opts(size))

    record: dict[str, Any] = {
        "method": spec.method,
        "config": spec.config_file,
        "precision": spec.precision,
        "precision_run": str(Precision(spec.precision, device)),
        "fused": spec.fused,
        "n_cls": spec.n_cls,
        "batch": None,
        "eval_batch": cfg.DATALOADER.TEST.BATCH_SIZE,
        "size": size,
        "device": device.type,
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads() if device.type == "cpu" else None,
        "iters": args.iters,
        "warmup": args.warmup,
        "eval_batches": args.eval_batches,
        "train_ms": None,
        "train_ms_mean": None,
        "train_ms_min": None,
        "train_host_ms": None,
        "loss": None,
        "peak_mb": None,
        "peak_kind": None,
        "activation_mb": None,
        "eval_img_s": None,
        "eval_batch_ms": None,
        "eval_first_batch_ms": None,
        "eval_peak_mb": None,
        "predict_img_s": None,
        "predict_batch_ms": None,
        "predict_first_batch_ms": None,
        "trainable_params": None,
        "text_seq_len": None,
        "build_s": None,
        "error": None,
    }
    memory = PeakMemory(device)
    peak_kind = CUDA_MAX_ALLOCATED if device.type == "cuda" else CPU_RSS_GROWTH
    runner = None
    try:
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        memory.reset()  # GPU: the peak covers the model build too (weights + optimizer + activations)
        torch.manual_seed(args.seed)
        start = time.perf_counter()
        from trainers.clip_loader import freeze

        clip_model = freeze(copy.deepcopy(clip_master))
        runner = Runner(cfg, classnames, clip_model, device)
        _sync(device)
        record["build_s"] = time.perf_counter() - start
        record["trainable_params"] = runner.n_trainable
        record["text_seq_len"] = text_seq_len(runner.model)

        if runner.trains and args.iters > 0:
            batch_size = cfg.DATALOADER.TRAIN_X.BATCH_SIZE
            record["batch"] = batch_size
            gen = torch.Generator().manual_seed(args.seed)
            batch = {
                "img": torch.randn(batch_size, 3, height, width, generator=gen).to(device),
                "label": torch.randint(spec.n_cls, (batch_size,), generator=gen).to(device),
            }
            record.update(time_training(runner, batch, args.iters, args.warmup, device))
            gpu_peak = memory.growth_mb() if device.type == "cuda" else None
            record["activation_mb"], cpu_peak = step_memory(runner, batch, device)
            # GPU: over build and training. CPU: over one step after the timed ones, so that no
            # earlier phase or row (one-time initialisation, memory freed and kept) changes it.
            record["peak_mb"], record["peak_kind"] = gpu_peak if device.type == "cuda" else cpu_peak, peak_kind
    except torch.cuda.OutOfMemoryError as e:
        record["error"] = f"CUDA out of memory: {str(e).splitlines()[0]}"
    except ConfigError as e:  # the method does not fit this backbone (visual prompts on a ResNet, a prompt depth)
        record["error"] = str(e)
    finally:
        del runner
        _release(device)
    return record


def _release(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def _pil_images(n: int, size: tuple[int, int], seed: int) -> list:
    """``n`` random RGB images, 8/7 of the input size (as photos are larger than the crop): the
    test transform resizes and crops them, as for files."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[0] * 8 // 7, size[1] * 8 // 7, 3)
    return [Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8)) for _ in range(n)]


def bench_inference(specs: Sequence[RowSpec], records: list[dict[str, Any]], trainer_cls: type, clip_master: nn.Module,
                    classnames: list[str], args: argparse.Namespace, device: torch.device, size: str) -> None:  # fmt: skip
    """Evaluation and prediction of rows that differ only in their path (``--fused both``), timed
    interleaved (:func:`time_interleaved`) into their ``records``. Evaluation is the model on
    preprocessed batches, in eval mode without gradients, as ``train.py``'s test; prediction is the
    API (``mudpt.Classifier.predict``, what ``predict.py`` runs) on PIL images of the eval batch
    size: the test transform, the model and the softmax."""
    from mudpt import Classifier
    from trainers.clip_loader import freeze, image_size
    from trainers.factory import dataset_template

    height, width = image_size(clip_master)
    live = [(spec, record) for spec, record in zip(specs, records) if not record["error"]]
    if not live:
        return
    batch = records[0]["eval_batch"]
    images = torch.randn(batch, 3, height, width, generator=torch.Generator().manual_seed(args.seed + 1)).to(device)
    photos = _pil_images(batch, (height, width), args.seed + 1)
    runners, classifiers = [], []
    try:
        clip_model = freeze(copy.deepcopy(clip_master))  # the same precision in every row of the group: one copy
        for spec, _ in live:
            cfg = load_method_cfg(spec, prec_key_of(trainer_cls), (height, width), args.batch, args.eval_batch, backbone_opts(size))
            torch.manual_seed(args.seed)
            runners.append(Runner(cfg, classnames, clip_model, device))
            runners[-1].model.eval()  # as test() does: the learner's text cache starts empty
            classifiers.append(Classifier(cfg, classnames, dataset_template(cfg), clip_model, None, None, device, "bench"))
        evals = time_interleaved([lambda r=r: r.inference(images) for r in runners], args.eval_batches, device, batch)
        predicts = time_interleaved([lambda c=c: c.predict(photos, batch_size=batch).probs for c in classifiers],
                                    args.eval_batches, device, batch)  # fmt: skip
    except torch.cuda.OutOfMemoryError as e:
        for _, record in live:
            record["error"] = f"CUDA out of memory: {str(e).splitlines()[0]}"
        return
    finally:
        del runners, classifiers
        _release(device)
    for (spec, record), ev, pr in zip(live, evals, predicts):
        record.update(
            eval_img_s=ev["img_s"], eval_batch_ms=ev["batch_ms"], eval_first_batch_ms=ev["first_batch_ms"], eval_peak_mb=ev["peak_mb"],
            logits_shape=list(ev["output"].shape), predict_img_s=pr["img_s"], predict_batch_ms=pr["batch_ms"],
            predict_first_batch_ms=pr["first_batch_ms"],
        )
        if record["peak_kind"] is None:
            record["peak_kind"] = CUDA_MAX_ALLOCATED if device.type == "cuda" else CPU_RSS_GROWTH


def attach_official(record: dict[str, Any], spec: RowSpec, size: str, input_size: tuple[int, int]) -> None:
    """Issue 7's official row for ``record`` where one applies (ViT-B/16 at its input size), with the speed-ups."""
    official = official_for(spec.method, spec.precision, spec.n_cls, size) if input_size == OFFICIAL_INPUT else None
    if official is not None:
        record["official"] = official
        if record["train_ms"]:
            record["train_speedup"] = official["train_ms"] / record["train_ms"]
        if record["eval_img_s"]:
            record["eval_speedup"] = record["eval_img_s"] / official["eval_img_s"]


# --- output -----------------------------------------------------------------------------------
def _fmt(value: Any, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "ms":
        return f"{value:,.1f}" if value >= 10 else f"{value:.2f}"
    if kind == "mb":
        return f"{value:,.0f}" if value >= 10 else f"{value:.1f}"
    if kind == "rate":
        return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"
    return f"{value:,}"


HEADERS = ["method", "precision", "fused", "n_cls", "batch", "train ms/iter", "peak MB", "eval img/s", "predict img/s", "trainable params",
           "activations MB"]  # fmt: skip


def format_table(records: list[dict[str, Any]]) -> str:
    """The issue-7 shaped table; below a row with an official counterpart, that official row."""
    from tabulate import tabulate

    rows = []
    for r in records:
        prec = r["precision"] if r["precision_run"].startswith(r["precision"]) else f"{r['precision']} (ran {r['precision_run']})"
        rows.append([
            r["method"], prec, "on" if r["fused"] else "off", r["n_cls"], r["batch"] or "-",
            _fmt(r["train_ms"], "ms") if not r["error"] else "ERROR", _fmt(r["peak_mb"], "mb"),
            _fmt(r["eval_img_s"], "rate"), _fmt(r.get("predict_img_s"), "rate"), _fmt(r["trainable_params"], "int"),
            _fmt(r.get("activation_mb"), "mb"),
        ])
        o = r.get("official")
        if o is not None:
            speed = []
            if r.get("train_speedup"):
                speed.append(f"train x{r['train_speedup']:.1f}")
            if r.get("eval_speedup"):
                speed.append(f"eval x{r['eval_speedup']:.1f}")
            rows.append([
                f"  official {o['method']}", o["label"], "", o["n_cls"], o["batch"], _fmt(o["train_ms"], "ms"),
                _fmt(o["peak_mb"], "mb"), _fmt(o["eval_img_s"], "rate"), "-", ", ".join(speed), "",
            ])
    return tabulate(rows, headers=HEADERS, tablefmt="github", disable_numparse=True)


# --- driver -----------------------------------------------------------------------------------
def plan_rows(args: argparse.Namespace, methods: dict[str, type], precisions: list[str]) -> list[RowSpec]:
    overrides = _config_overrides(args.config)
    wanted = args.methods or list(methods)
    for m in list(wanted) + list(overrides):
        if m not in methods:
            raise ValueError(
                f"Unknown or unavailable method {m!r}. Available here: {', '.join(methods) or 'none'} "
                "(the methods whose spec names a bench recipe)."
            )
    recipes = bench_methods()
    rows = []
    for method in wanted:
        config = overrides.get(method, recipes[method])
        path = Path(config) if Path(config).is_absolute() else REPO / config
        if not path.is_file():
            raise FileNotFoundError(f"Config file of {method} not found: {path}. Pass --config {method}=FILE.")
        for n_cls in args.n_cls:
            for prec in precisions:
                for fused in FUSED_CHOICES[args.fused]:
                    rows.append(RowSpec(method, str(path), prec, fused, n_cls))
    return rows


def run_bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Run every row; returns the records (also appended to ``args.json`` when given)."""
    _check_args(args)
    if args.backend:
        os.environ["MUDPT_BACKEND"] = args.backend  # read by engine.seam at first import
    with quiet_trainer_logs(not args.verbose):
        return _run_bench(args)


def _run_bench(args: argparse.Namespace) -> list[dict[str, Any]]:
    from trainers.precision import PREC_CHOICES

    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cudnn.benchmark = True  # as train.py
    size = args.size or ("vitb16" if device.type == "cuda" else "tiny")
    precisions = _split_list(args.prec) or (list(PREC_DEFAULT_GPU) if device.type == "cuda" else ["fp32"])
    for prec in precisions:
        if prec not in PREC_CHOICES:
            raise ValueError(f"--prec {prec!r} is not valid; choose from {', '.join(PREC_CHOICES)}")
    if device.type != "cuda" and any(p != "fp32" for p in precisions):
        _log.warning("Note: on %s every precision runs as fp32 (trainers.base.Precision)", device.type)
    methods = available_methods()
    rows = plan_rows(args, methods, precisions)

    names_by_n = {n: load_classnames(n, args.classnames) for n in sorted(set(args.n_cls))}
    sources = {src for _, src in names_by_n.values()}
    _log.info("bench: %s, torch %s, random-init CLIP %s, class names: %s, %d rows",
              torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)",
              torch.__version__, size, "; ".join(sorted(sources)), len(rows))
    if any(src.startswith("generated") for src in sources):
        _log.warning("Note: %s not found; using generated class names 'class 0', 'class 1', ... "
                     "(shorter prompts than ImageNet's). Pass --classnames FILE for real ones.", IMAGENET_CLASSNAMES)
    clip_master = build_clip(size, args.image_size, seed=args.seed)

    from trainers.clip_loader import image_size

    records = []
    for group in _path_pairs(rows):
        names = names_by_n[group[0].n_cls][0]
        trainer_cls = methods[group[0].method]
        done = [bench_row(spec, trainer_cls, clip_master, names, args, device, size) for spec in group]
        if args.eval_batches > 0:
            bench_inference(group, done, trainer_cls, clip_master, names, args, device, size)
        for spec, record in zip(group, done):
            record["classnames"] = names_by_n[spec.n_cls][1]
            attach_official(record, spec, size, image_size(clip_master))
            records.append(record)
            if args.json:
                append_json(args.json, record)
            _log.info("[%d/%d] %s %s fused=%s n_cls=%d: train %s ms/iter, peak %s MB, eval %s img/s, predict %s img/s%s", len(records),
                      len(rows), spec.method, spec.precision, "on" if spec.fused else "off", spec.n_cls, _fmt(record["train_ms"], "ms"),
                      _fmt(record["peak_mb"], "mb"), _fmt(record["eval_img_s"], "rate"), _fmt(record["predict_img_s"], "rate"),
                      f" ERROR {record['error']}" if record["error"] else "")
    return records


def _path_pairs(rows: Sequence[RowSpec]) -> list[list[RowSpec]]:
    """The rows in groups that differ only in their path (``fused``; consecutive in the plan)."""
    groups: list[list[RowSpec]] = []
    for spec in rows:
        if groups and dataclasses.replace(groups[-1][0], fused=spec.fused) == spec:
            groups[-1].append(spec)
        else:
            groups.append([spec])
    return groups


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    try:
        records = run_bench(args)
    except (ValueError, FileNotFoundError, KeyError) as e:
        print(f"error: {e.args[0] if isinstance(e, KeyError) and e.args else e}", file=sys.stderr)
        return 2
    peak_note = {
        CUDA_MAX_ALLOCATED: "peak MB: torch.cuda.max_memory_allocated over model build and training",
        CPU_RSS_GROWTH: "peak MB: growth of the process's peak RSS over one training step after the timed ones (CPU; "
                        "the allocator's freed memory handed back first; '-' where it cannot be measured)",
    }
    print()
    print(format_table(records))
    notes = [peak_note[k] for k in sorted({r["peak_kind"] for r in records if r["peak_kind"]})]
    notes += [
        "activations MB: tensors one training step keeps for backward (distinct storages, CLIP weights excluded)",
        (f"train: median of {args.iters} iterations after {args.warmup} warm-up; " if args.iters else "train: not run (--iters 0); ")
        + "eval (the model on preprocessed batches) and "
        f"predict (mudpt.Classifier.predict on PIL images: transform, model, softmax): median of {args.eval_batches} batches "
        "after a first one (which computes and caches the text features where the method allows); the paths of a row "
        "pair (--fused both) are timed interleaved",
    ]
    if any(r.get("official") for r in records):
        notes.append("official: issue 7's numbers for the official code on one H200 (same shapes; precision as labelled)")
    print("\n".join(notes))
    return 1 if any(r["error"] for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
