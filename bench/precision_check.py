"""Do the fast paths give the same results? Logits and gradients of each method under every
precision and attention path, against CLIP's own blocks in fp32 (the reference path).

For MuDPT (arXiv 2306.11400), CoOp (2109.01134), CoCoOp (2203.05557) and zero-shot CLIP, each
variant is built from the same random CLIP and the same seed (so the learners start identical),
exactly as ``bench.bench`` builds it (real configs, the model factory). Compared with the
reference ``fp32`` / ``MODEL.BACKBONE.FUSED False``:

* eval logits (the model under autocast in eval mode, no grad, text features cached): relative L2
  error, max abs difference, top-1 agreement;
* training loss and the learner's gradients (the model's ``loss`` under the variant's autocast,
  then ``torch.autograd.grad`` with a fixed loss scale under fp16; no optimizer step):
  relative loss difference and cosine similarity of all gradients concatenated.

On CPU every precision runs as fp32, so only the fused-vs-plain comparison is informative there.
Exit status 1 when a variant is outside its tolerance.

    python -m bench.precision_check --size vitb16 --n-cls 500 --json out/precision.jsonl
"""
from __future__ import annotations

import argparse
import copy
import logging
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parents[1]

from bench.common import (
    RowSpec,
    add_backbone_arguments,
    append_json,
    available_methods,
    backbone_opts,
    bench_methods,
    build_clip,
    Runner,
    load_classnames,
    load_method_cfg,
    prec_key_of,
    quiet_trainer_logs,
    resolve_device,
)

__all__ = ["TOLERANCES", "VARIANTS", "compare", "main"]

REFERENCE = ("fp32", False)  # CLIP's own blocks, fp32: bit-identical to encode_text/encode_image
VARIANTS = (("fp32", True), ("amp", True), ("fp16", True), ("amp", False))
# (max logits relative L2 error, min gradient cosine similarity). fp32 fused differs from CLIP's
# blocks only by summation order (~1e-6 measured). bf16 keeps 8 mantissa bits: with bf16 autocast
# on the CPU, ViT-B/16 MuDPT at 50 classes measured 1.5e-2 logits error and 1 - cos 2e-4 (2-3x
# margin here); fp16 keeps 11 bits, so its error should be several times smaller.
# A fixed loss scale for fp16 backward passes (the trainer's GradScaler adapts its own), so that
# small fp16 gradients do not underflow to zero; an overflow shows up as a non-finite cosine.
FP16_LOSS_SCALE = 2.0**12
TOLERANCES = {"fp32": (1e-4, 0.9999), "amp": (5e-2, 0.999), "fp16": (1e-2, 0.999)}

_log = logging.getLogger("bench.precision_check")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.precision_check", description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_backbone_arguments(p)
    p.add_argument("--methods", nargs="+", default=None, help=f"default: every method with a bench recipe: {', '.join(bench_methods())}")
    p.add_argument("--n-cls", type=int, default=500, help="number of classes (first N ImageNet class names)")
    p.add_argument("--images", type=int, default=8, help="images in the eval batch and in the training batch")
    p.add_argument("--json", type=str, default="", help="append one JSON line per comparison")
    p.add_argument("--device", type=str, default=None, help="torch device (default: cuda if available)")
    p.add_argument("--seed", type=int, default=0)
    return p


def run_variant(trainer_cls: type, method: str, config: str, prec: str, fused: bool, master: torch.nn.Module,
                classnames: list[str], images: torch.Tensor, labels: torch.Tensor, device: torch.device,
                seed: int, opts: list[str]) -> dict[str, Any]:
    """Eval logits, training loss and gradients of one (precision, fused) variant."""
    from trainers.clip_loader import freeze, image_size

    cfg = load_method_cfg(RowSpec(method, config, prec, fused, len(classnames)), prec_key_of(trainer_cls), image_size(master), None, None, opts)
    torch.manual_seed(seed)  # same learner initialisation in every variant
    runner = Runner(cfg, classnames, freeze(copy.deepcopy(master)), device)
    model = runner.model
    model.eval()
    logits = runner.inference(images.to(device)).cpu()
    out = {"logits": logits, "loss": None, "grads": None}
    if runner.trains:
        model.train()
        params = [p for _, p in model.learner.trainable_parameters()]
        with model.precision.autocast():
            loss, _ = model.loss(images.to(device), labels.to(device))
        scale = FP16_LOSS_SCALE if model.precision.uses_fp16 else 1.0
        grads = [None if g is None else g / scale for g in torch.autograd.grad(loss * scale, params, allow_unused=True)]
        out["loss"] = float(loss.detach())
        out["grads"] = torch.cat([(g if g is not None else torch.zeros_like(p)).double().flatten().cpu() for g, p in zip(grads, params)])  # float64: exact dot products over millions of entries
    del runner, model
    return out


def compare(ref: dict[str, Any], var: dict[str, Any]) -> dict[str, Any]:
    """Error metrics of ``var`` against ``ref``."""
    a, b = var["logits"], ref["logits"]
    res: dict[str, Any] = {
        "logits_rel_err": float((a - b).norm() / b.norm().clamp_min(1e-12)),
        "logits_max_abs": float((a - b).abs().max()),
        "top1_agree": float((a.argmax(-1) == b.argmax(-1)).float().mean()),
        "loss_rel_diff": None,
        "grad_cos": None,
    }
    if ref["grads"] is not None and var["grads"] is not None:
        res["loss_rel_diff"] = abs(var["loss"] - ref["loss"]) / max(abs(ref["loss"]), 1e-12)
        g, h = var["grads"], ref["grads"]
        res["grad_cos"] = float(F.cosine_similarity(g, h, dim=0)) if torch.isfinite(g).all() else float("nan")
    return res


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stderr)
    with quiet_trainer_logs():
        return _check(args)


def _check(args: argparse.Namespace) -> int:
    from tabulate import tabulate

    from trainers.clip_loader import image_size

    device = resolve_device(args.device)
    size = args.size or ("vitb16" if device.type == "cuda" else "tiny")
    methods = available_methods()
    wanted = args.methods or list(methods)
    unknown = [m for m in wanted if m not in methods]
    if unknown:
        print(f"error: unknown or unavailable methods {unknown}; available: {', '.join(methods)}", file=sys.stderr)
        return 2
    classnames, source = load_classnames(args.n_cls)
    master = build_clip(size, args.image_size, seed=args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    images = torch.randn(args.images, 3, *image_size(master), generator=gen)
    labels = torch.randint(args.n_cls, (args.images,), generator=gen)
    _log.info("precision check: %s, CLIP %s, class names %s", device, size, source)

    rows, failed = [], False
    for method in wanted:
        config = str(REPO / bench_methods()[method])
        common = (methods[method], method, config)
        ref = run_variant(*common, *REFERENCE, master, classnames, images, labels, device, args.seed, backbone_opts(size))
        for prec, fused in VARIANTS:
            try:
                var = run_variant(*common, prec, fused, master, classnames, images, labels, device, args.seed, backbone_opts(size))
                res = compare(ref, var)
            except torch.cuda.OutOfMemoryError as e:
                res = {"error": f"CUDA out of memory: {str(e).splitlines()[0]}"}
            ran = prec if device.type == "cuda" else "fp32"
            max_err, min_cos = TOLERANCES[ran]
            ok = "error" not in res and res["logits_rel_err"] <= max_err and (res["grad_cos"] is None or res["grad_cos"] >= min_cos)
            failed |= not ok
            record = {"kind": "precision_check", "method": method, "precision": prec, "precision_run": ran, "fused": fused,
                      "reference": "fp32, fused off", "n_cls": args.n_cls, "size": size, "device": device.type, "ok": ok,
                      "tolerance": {"logits_rel_err": max_err, "grad_cos": min_cos}, **res}
            if args.json:
                append_json(args.json, record)
            fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
            rows.append([method, f"{prec}{'' if ran == prec else ' (ran fp32)'}", "on" if fused else "off",
                         fmt(res.get("logits_rel_err"), ".2e"), fmt(res.get("logits_max_abs"), ".2e"), fmt(res.get("top1_agree"), ".3f"),
                         fmt(res.get("loss_rel_diff"), ".2e"), fmt(None if res.get("grad_cos") is None else 1 - res["grad_cos"], ".1e"),
                         "ok" if ok else "FAIL " + res.get("error", "")])
    print(tabulate(rows, headers=["method", "precision", "fused", "logits rel err", "max |dlogit|", "top-1 agree",
                                  "loss rel diff", "1 - grad cos", "check"],
                   tablefmt="github", disable_numparse=True))
    print("\nReference: fp32 with CLIP's own blocks (MODEL.BACKBONE.FUSED False). Tolerances (max logits rel err, min grad cos): "
          + ", ".join(f"{k} {v}" for k, v in TOLERANCES.items()))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
