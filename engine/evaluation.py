"""Classification evaluator and ``compute_accuracy``, printing Dassl's result block verbatim.

The result block (``=> result`` / ``* total:`` / ``* correct:`` / ``* accuracy: x.x%`` /
``* error:`` / ``* macro_f1:``) is what every CoOp-family results parser reads.
"""
from __future__ import annotations

import os.path as osp
from collections import OrderedDict
from typing import Any, Sequence

import torch

from .errors import ConfigError
from .registry import Registry, unknown_name_message
from .utils import CONSOLE, get_logger

__all__ = ["EVALUATOR_REGISTRY", "Classification", "build_evaluator", "compute_accuracy", "macro_f1_score"]

_log = get_logger("engine.evaluation")

EVALUATOR_REGISTRY = Registry("EVALUATOR")


def build_evaluator(cfg: Any, **kwargs) -> "Classification":
    name = cfg.TEST.EVALUATOR
    if name not in EVALUATOR_REGISTRY:
        raise ConfigError(unknown_name_message("evaluator", name, EVALUATOR_REGISTRY.registered_names(), "TEST.EVALUATOR"))
    if cfg.VERBOSE:
        _log.info(f"Loading evaluator: {name}")
    return EVALUATOR_REGISTRY.get(name)(cfg, **kwargs)


def macro_f1_score(y_true: torch.Tensor, y_pred: torch.Tensor) -> float:
    """Macro-averaged F1 over the labels present in ``y_true`` (sklearn's ``average="macro",
    labels=unique(y_true)``); a class with no true positives scores 0."""
    labels = torch.unique(y_true)
    scores = []
    for label in labels:
        tp = ((y_pred == label) & (y_true == label)).sum().item()
        fp = ((y_pred == label) & (y_true != label)).sum().item()
        fn = ((y_pred != label) & (y_true == label)).sum().item()
        denom = 2 * tp + fp + fn
        scores.append(2 * tp / denom if denom else 0.0)
    return sum(scores) / len(scores) if scores else 0.0


@EVALUATOR_REGISTRY.register()
class Classification:
    """Accumulates predictions batch by batch; ``evaluate`` prints and returns the metrics."""

    def __init__(self, cfg: Any, lab2cname: dict[int, str] | None = None, **kwargs):
        self.cfg = cfg
        self._lab2cname = lab2cname
        if cfg.TEST.PER_CLASS_RESULT and lab2cname is None:
            raise ConfigError("TEST.PER_CLASS_RESULT needs the label -> class name mapping")
        self.reset()

    def reset(self) -> None:
        # Kept on the model's device and concatenated once in evaluate(): no host sync per batch.
        self._y_true: list[torch.Tensor] = []
        self._y_pred: list[torch.Tensor] = []

    def process(self, mo: torch.Tensor, gt: torch.Tensor) -> None:
        """``mo``: logits (B, n_cls); ``gt``: labels (B,)."""
        self._y_true.append(gt.detach().reshape(-1))
        self._y_pred.append(mo.detach().argmax(dim=1).reshape(-1))

    def evaluate(self) -> "OrderedDict[str, float]":
        y_true = torch.cat(self._y_true).cpu() if self._y_true else torch.zeros(0, dtype=torch.long)
        y_pred = torch.cat(self._y_pred).cpu() if self._y_pred else torch.zeros(0, dtype=torch.long)
        total = y_true.numel()
        if total == 0:
            raise ValueError("Nothing to evaluate: the evaluator processed no samples")
        matches = y_pred.eq(y_true)
        correct = int(matches.sum())
        acc = 100.0 * correct / total
        err = 100.0 - acc
        macro_f1 = 100.0 * macro_f1_score(y_true, y_pred)

        results: OrderedDict[str, float] = OrderedDict()
        results["accuracy"] = acc  # the first value is what trainer.test() returns
        results["error_rate"] = err
        results["macro_f1"] = macro_f1
        _log.info(
            "=> result\n"
            f"* total: {total:,}\n"
            f"* correct: {correct:,}\n"
            f"* accuracy: {acc:.1f}%\n"
            f"* error: {err:.1f}%\n"
            f"* macro_f1: {macro_f1:.1f}%",
            extra=CONSOLE,
        )

        if self.cfg.TEST.PER_CLASS_RESULT:
            _log.info("=> per-class result")
            accs = []
            for label in sorted(torch.unique(y_true).tolist()):
                mask = y_true == label
                n, c = int(mask.sum()), int(matches[mask].sum())
                accs.append(100.0 * c / n)
                _log.info(
                    f"* class: {label} ({self._lab2cname[label]})\ttotal: {n:,}\tcorrect: {c:,}\tacc: {accs[-1]:.1f}%"
                )
            mean_acc = sum(accs) / len(accs)
            _log.info(f"* average: {mean_acc:.1f}%")
            results["perclass_accuracy"] = mean_acc

        if self.cfg.TEST.COMPUTE_CMAT:
            n_cls = int(max(y_true.max(), y_pred.max())) + 1
            cmat = torch.zeros(n_cls, n_cls, dtype=torch.float64)
            cmat.index_put_((y_true, y_pred), torch.ones(total, dtype=torch.float64), accumulate=True)
            labels = torch.unique(torch.cat([y_true, y_pred]))  # sklearn's label set
            cmat = cmat[labels][:, labels]
            # Row-normalised (recall per true class); a predicted-only class keeps a zero row.
            cmat = cmat / cmat.sum(dim=1, keepdim=True).clamp_min(1)
            save_path = osp.join(self.cfg.OUTPUT_DIR, "cmat.pt")
            torch.save(cmat, save_path)
            _log.info(f"Confusion matrix is saved to {save_path}")
        return results


def compute_accuracy(output: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor, topk=(1,)) -> list[torch.Tensor]:
    """Top-k accuracy in percent, one 1-element tensor per k (Dassl's return shape)."""
    if isinstance(output, (tuple, list)):
        output = output[0]
    maxk = max(topk)
    batch_size = target.size(0)
    _, pred = output.topk(maxk, 1, True, True)
    correct = pred.t().eq(target.view(1, -1).expand_as(pred.t()))
    return [correct[:k].reshape(-1).float().sum(0, keepdim=True).mul_(100.0 / batch_size) for k in topk]
