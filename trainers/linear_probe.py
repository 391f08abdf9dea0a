"""Linear-probe CLIP: logistic regression on frozen CLIP image features (Radford et al., "Learning
Transferable Visual Models From Natural Language Supervision", arXiv 2103.00020, appendix A.3), as
CoOp's ``lpclip`` runs it for the few-shot protocol (Zhou et al., arXiv 2109.01134).

Image features (CLIP's image embedding, not normalised) are extracted with the test transform (no
augmentation) for the K-shot training set, the validation set and the test set, and cached as
safetensors files per dataset, backbone and image list (``TRAINER.LINEARPROBECLIP.FEATURE_CACHE``),
so the test set is encoded once for every shot count and seed. scikit-learn's L2-regularised
``LogisticRegression`` (lbfgs) is fitted on the training features; its inverse regularisation
strength C is chosen on the validation accuracy as lpclip does: the best of a coarse grid, then
``SEARCH_STEPS`` halvings of a log-interval around it. The classifier becomes a Linear head on
CLIP's image tower: checkpointed like any learner, evaluated by ``--eval-only`` like any method.

Differences from lpclip: the backbone is the config's (lpclip always uses RN50; the protocols here
use ViT-B/16 like every other method); the K-shot training and validation sets are the ones every
other method of this repository gets for the same seed (lpclip draws its own subsets with NumPy).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import os.path as osp
import warnings

import numpy as np
import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import (
    CONSOLE,
    TRAINER_REGISTRY,
    ConfigError,
    DatasetWrapper,
    atomic_write_bytes,
    build_transform,
    get_logger,
    sha256_file,
)

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, Learner
from .clip_loader import weights_file
from .clip_prompting import PromptedImageEncoder
from .factory import create_model
from .spec import MethodSpec, register_method

__all__ = ["SPEC", "LinearHead", "LinearProbeCLIP", "LinearProbeModel", "add_config", "search_c"]

_log = get_logger("trainers.linear_probe")

# lpclip's coarse grid of C and its number of refinement steps.
C_GRID = (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6)
SEARCH_STEPS = 8
MAX_ITER = 1000


def add_config(cfg: CN) -> None:
    """TRAINER.LINEARPROBECLIP: lpclip's search of C and where the features are cached."""
    cfg.TRAINER.LINEARPROBECLIP = CN()
    # fp32 | fp16 | amp: how CLIP runs to extract the features (GPU only; fp32 on CPU).
    cfg.TRAINER.LINEARPROBECLIP.PREC = "amp"
    # Candidate C (inverse L2 strength) of the coarse search, then halvings of the log-interval.
    cfg.TRAINER.LINEARPROBECLIP.C_GRID = C_GRID
    cfg.TRAINER.LINEARPROBECLIP.SEARCH_STEPS = SEARCH_STEPS
    # lbfgs iterations per fit.
    cfg.TRAINER.LINEARPROBECLIP.MAX_ITER = MAX_ITER
    # Folder of the feature cache ("" = $XDG_CACHE_HOME/mudpt/clip_features, else ~/.cache/...).
    cfg.TRAINER.LINEARPROBECLIP.FEATURE_CACHE = ""


class LinearHead(Learner):
    """The classifier ``W f + b`` on image features f (E): the weights scikit-learn fitted."""

    def __init__(self, dim: int, n_cls: int):
        super().__init__()
        self.linear = nn.Linear(dim, n_cls)

    @torch.no_grad()
    def set_from(self, coef: np.ndarray, intercept: np.ndarray) -> None:
        """Copy a fitted ``LogisticRegression``'s ``coef_`` / ``intercept_`` (a binary one has one
        row, the score of class 1: class 0 then scores 0, which ranks them the same)."""
        if coef.shape[0] == 1 and self.linear.out_features == 2:
            coef = np.concatenate([np.zeros_like(coef), coef])
            intercept = np.concatenate([np.zeros_like(intercept), intercept])
        self.linear.weight.copy_(torch.from_numpy(coef))
        self.linear.bias.copy_(torch.from_numpy(intercept))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.linear(features.float())  # (B, n_cls)


class LinearProbeModel(nn.Module):
    """CLIP's image tower and the linear head: ``forward(image) -> logits`` (B, n_cls)."""

    def __init__(self, clip_model: nn.Module, n_cls: int, fused: bool = True):
        super().__init__()
        self.image_encoder = PromptedImageEncoder(clip_model, fused=fused)
        self.learner = LinearHead(clip_model.visual.output_dim, n_cls)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.learner(self.image_encoder(image))


def _accuracy(clf, x: np.ndarray, y: np.ndarray) -> float:
    return float((clf.predict(x) == y).mean())


def search_c(train_x: np.ndarray, train_y: np.ndarray, val_x: np.ndarray, val_y: np.ndarray,
             grid=C_GRID, steps: int = SEARCH_STEPS, max_iter: int = MAX_ITER):  # fmt: skip
    """lpclip's choice of C on the validation accuracy, and the classifier fitted with it.

    The best C of ``grid`` (the first of equal ones, i.e. the largest, in lpclip's descending
    grid); then, from the log-interval [C/10, 10 C], ``steps`` times: fit at both ends, keep the
    better end (the left one on a tie) and halve the interval towards it. Returns
    (classifier, C, validation accuracy, [(C, validation accuracy) of every fit])."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression

    fits: dict[float, tuple] = {}
    history = []

    def fit(c: float):
        if c not in fits:
            clf = LogisticRegression(solver="lbfgs", max_iter=max_iter, C=c)  # L2 (the default penalty)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                clf.fit(train_x, train_y)
            if any(issubclass(w.category, ConvergenceWarning) for w in caught):
                _log.info(f"Note: the fit at C = {c:.3g} stopped at MAX_ITER {max_iter} before converging (as lpclip's can)")
            fits[c] = (clf, _accuracy(clf, val_x, val_y))
            history.append((c, fits[c][1]))
        return fits[c]

    accuracies = [fit(c)[1] for c in grid]
    peak = grid[int(np.argmax(accuracies))]
    left, right = math.log10(peak) - 1, math.log10(peak) + 1
    chosen = peak
    for _ in range(steps):
        acc_left, acc_right = fit(10**left)[1], fit(10**right)[1]
        if acc_left < acc_right:
            chosen, left = 10**right, (left + right) / 2
        else:
            chosen, right = 10**left, (left + right) / 2
    clf, acc = fit(chosen)
    return clf, chosen, acc, history


def _cache_root(cfg: CN) -> str:
    configured = cfg.TRAINER.LINEARPROBECLIP.FEATURE_CACHE
    if configured:
        return osp.abspath(osp.expanduser(configured))
    return osp.join(os.environ.get("XDG_CACHE_HOME", osp.expanduser("~/.cache")), "mudpt", "clip_features")


def _backbone_identity(cfg: CN) -> str:
    """What the features depend on besides the images: the CLIP weights (by content; by name and
    open_clip tag when their file is not found) and the test transform."""
    path = weights_file(cfg)
    b = cfg.MODEL.BACKBONE
    weights = sha256_file(path) if path and osp.isfile(path) else " ".join(filter(None, (b.NAME, b.PRETRAINED)))
    i = cfg.INPUT
    return json.dumps([weights, list(i.SIZE), i.INTERPOLATION, list(i.PIXEL_MEAN), list(i.PIXEL_STD), cfg.MODEL.BACKBONE.FUSED])


@TRAINER_REGISTRY.register()
class LinearProbeCLIP(ClipPromptTrainer):
    """Linear-probe CLIP; training fits the classifier (no epochs), the registered model is the
    head (``linear_probe``)."""

    CFG_NODE = "LINEARPROBECLIP"
    MODEL_NAME = "linear_probe"
    CLASS_DEPENDENT_KEYS = ()
    GRADIENT_STEPS = False  # fitted by scikit-learn

    @classmethod
    def model_keys(cls, cfg: CN) -> list[str]:
        """A head fits any run of the same backbone and classes (the search settings made it, the
        cache folder does not matter)."""
        return ["TRAINER.NAME", "MODEL.BACKBONE.NAME"]

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        c = cfg.TRAINER.LINEARPROBECLIP
        if not c.C_GRID or any(v <= 0 for v in c.C_GRID):
            raise ConfigError(f"TRAINER.LINEARPROBECLIP.C_GRID = {tuple(c.C_GRID)} is not valid; give positive values, e.g. (1e6, 1e4, 1e2, 1.0, 1e-2, 1e-4, 1e-6).")
        if c.SEARCH_STEPS < 0 or c.MAX_ITER < 1:
            raise ConfigError("TRAINER.LINEARPROBECLIP.SEARCH_STEPS must be >= 0 and MAX_ITER >= 1 (lpclip: 8 and 1000).")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> LinearProbeModel:
        return LinearProbeModel(clip_model, len(classnames), fused=cfg.MODEL.BACKBONE.FUSED)

    def setup_model(self, classnames: list[str], clip_model: nn.Module, template: str | None = None) -> None:
        self.model = create_model(self.cfg, classnames, clip_model, self.device, template)
        self.precision = self.model.precision
        self.scaler = None
        self.register_model(self.MODEL_NAME, self.model.learner, None, None)

    # --- features ------------------------------------------------------------------------------
    @torch.no_grad()
    def features(self, part: str) -> tuple[torch.Tensor, torch.Tensor]:
        """(image features (N, E) fp32, labels (N,)) of ``part`` ("train": the K-shot training set,
        "val", "test"), from the cache when it has them."""
        from safetensors.torch import load_file, save

        dataset = self.dm.dataset
        items = {"train": dataset.train_x, "val": dataset.val or dataset.test, "test": dataset.test}[part]
        root = osp.abspath(osp.expanduser(self.cfg.DATASET.ROOT))
        listing = [(osp.relpath(item.impath, root), int(item.label)) for item in items]
        key = hashlib.sha256(json.dumps([_backbone_identity(self.cfg), listing]).encode()).hexdigest()[:20]
        path = osp.join(_cache_root(self.cfg), self.cfg.DATASET.NAME, f"{part}-{key}.safetensors")
        if osp.isfile(path):
            cached = load_file(path)
            _log.info(f"{part} features: {len(items)} images, from the cache {path}")
            return cached["features"], cached["labels"]
        loader = torch.utils.data.DataLoader(
            DatasetWrapper(self.cfg, items, transform=build_transform(self.cfg, is_train=False), is_train=False),
            batch_size=self.cfg.DATALOADER.TEST.BATCH_SIZE, shuffle=False, num_workers=self.cfg.DATALOADER.NUM_WORKERS,
            pin_memory=self.device.type == "cuda",
        )  # fmt: skip
        self.model.eval()
        feats, labels = [], []
        for batch in loader:
            with self.precision.autocast():
                feats.append(self.model.image_encoder(batch["img"].to(self.device)).float().cpu())
            labels.append(batch["label"])
        features, labels_t = torch.cat(feats), torch.cat(labels)
        atomic_write_bytes(path, save({"features": features, "labels": labels_t}, metadata={"dataset": self.cfg.DATASET.NAME, "part": part}))
        _log.info(f"{part} features: {len(items)} images, extracted and cached in {path}", extra=CONSOLE)
        return features, labels_t

    # --- training: fit the classifier ------------------------------------------------------------
    def train(self, *args, **kwargs) -> None:  # type: ignore[override]
        c = self.cfg.TRAINER.LINEARPROBECLIP
        train_x, train_y = self.features("train")
        val_x, val_y = self.features("val")
        clf, chosen, val_acc, history = search_c(train_x.numpy(), train_y.numpy(), val_x.numpy(), val_y.numpy(), tuple(c.C_GRID), c.SEARCH_STEPS, c.MAX_ITER)
        _log.info(f"Fits (C, val accuracy): {', '.join(f'({v:.3g}, {a:.4f})' for v, a in history)}")
        _log.info(f"Logistic regression: C = {chosen:.4g} (validation accuracy {100 * val_acc:.2f}%, {len(history)} fits)", extra=CONSOLE)
        self.model.learner.set_from(clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32))
        self.save_model(0, self.output_dir)
        _log.info("Finish training")
        if not self.cfg.TEST.NO_TEST:
            self.test()

    @torch.no_grad()
    def test(self, split: str | None = None) -> float:
        """Accuracy of the head on the cached features of the test (or val) set."""
        split = split or self.cfg.TEST.SPLIT
        self.set_model_mode("eval")
        self.evaluator.reset()
        _log.info(f"Evaluate on the *{split}* set", extra=CONSOLE)
        features, labels = self.features("val" if split == "val" else "test")
        head = self.model.learner
        for start in range(0, len(labels), self.cfg.DATALOADER.TEST.BATCH_SIZE):
            chunk = slice(start, start + self.cfg.DATALOADER.TEST.BATCH_SIZE)
            self.evaluator.process(head(features[chunk].to(self.device)), labels[chunk].to(self.device))
        return list(self.evaluator.evaluate().values())[0]


SPEC = register_method(
    MethodSpec(
        name="lpclip",
        trainer=LinearProbeCLIP,
        paper="Linear-probe CLIP (Radford et al., arXiv 2103.00020) as CoOp's lpclip runs it",
        add_config=add_config,
        order=8,
        recipes={"fewshot": "configs/trainers/LinearProbeCLIP/vit_b16.yaml"},
        bench_recipe="configs/trainers/LinearProbeCLIP/vit_b16.yaml",
        non_result_keys=("FEATURE_CACHE",),  # where features are cached
    )
)
