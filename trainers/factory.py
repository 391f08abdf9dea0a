"""The model factory: (config, class names, frozen CLIP) -> a method's model, as training builds it.

:func:`create_model` is the one way a method's model is built: the trainers (``setup_model``),
the bench, the alignment analysis and the precision check call it. It takes a config the config
module built and checked (``runconfig.build_config``) and builds no data loader and no optimizer.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger, load_pretrained_weights, unknown_name_message

from datasets.specs import DEFAULT_TEMPLATE, SPECS

from .clip_loader import freeze, image_size, load_clip_from_cfg, normalization, open_clip_model
from .keys import user_set
from .precision import Precision

__all__ = ["check_input_size", "check_normalization", "create_model", "dataset_template", "load_frozen_clip", "trainer_class"]

_log = get_logger("trainers.factory")


def trainer_class(name: str) -> type:
    """The registered trainer class named ``name`` (``TRAINER.NAME``)."""
    if name not in TRAINER_REGISTRY.registered_names():
        raise ConfigError(unknown_name_message("trainer", name, TRAINER_REGISTRY.registered_names(), "--trainer / TRAINER.NAME"))
    return TRAINER_REGISTRY.get(name)


def dataset_template(cfg: CN) -> str:
    """The hand-crafted prompt: ``DATASET.TEMPLATE`` if set, else that of ``cfg.DATASET.NAME`` (its
    spec's), else :data:`~datasets.specs.DEFAULT_TEMPLATE` (your own data: ImageFolder, CSVDataset)."""
    if cfg.DATASET.get("TEMPLATE", ""):
        return cfg.DATASET.TEMPLATE
    spec = SPECS.get(cfg.DATASET.NAME)
    return spec.template if spec is not None else DEFAULT_TEMPLATE


def load_frozen_clip(cfg: CN) -> nn.Module:
    """CLIP from ``cfg.MODEL.BACKBONE``, frozen (fp32, CPU, eval mode), once the config's image
    normalisation is checked against it (:func:`check_normalization`)."""
    b = cfg.MODEL.BACKBONE
    weights = b.PATH or (f"{b.NAME}, weights {b.PRETRAINED}" if b.PRETRAINED else b.NAME)
    _log.info(f"Loading CLIP (backbone: {weights})")
    clip_model = freeze(load_clip_from_cfg(cfg))
    check_normalization(cfg, clip_model)
    return clip_model


def check_input_size(cfg: CN, clip_model: nn.Module) -> None:
    """INPUT.SIZE must equal the CLIP image tower's input size."""
    size = image_size(clip_model)
    if tuple(cfg.INPUT.SIZE) != size:
        raise ConfigError(
            f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} does not match the CLIP backbone's input size {size}; "
            f'set INPUT.SIZE "({size[0]}, {size[1]})".'
        )


def check_normalization(cfg: CN, clip_model: nn.Module) -> None:
    """INPUT.PIXEL_MEAN / PIXEL_STD (the data's normalisation) must be those the backbone was
    trained with: OpenAI's for its models (every recipe has them), the weights tag's for an
    open_clip model (some use other constants). Checked where a run loads its CLIP, not changed."""
    def same(given: Sequence[float], trained: Sequence[float]) -> bool:
        return len(given) == len(trained) and all(abs(a - b) < 1e-6 for a, b in zip(given, trained))

    mean, std = normalization(clip_model)
    if not (same(cfg.INPUT.PIXEL_MEAN, mean) and same(cfg.INPUT.PIXEL_STD, std)):
        b = cfg.MODEL.BACKBONE
        weights = f" ({b.PRETRAINED} weights)" if open_clip_model(b.NAME) and b.PRETRAINED else ""
        raise ConfigError(
            f"INPUT.PIXEL_MEAN {list(cfg.INPUT.PIXEL_MEAN)} / INPUT.PIXEL_STD {list(cfg.INPUT.PIXEL_STD)} are not the normalisation "
            f"{b.NAME or f'the CLIP of {b.PATH}'}{weights} was trained with; set INPUT.PIXEL_MEAN \"{list(mean)}\" INPUT.PIXEL_STD \"{list(std)}\"."
        )


def create_model(
    cfg: CN, classnames: Sequence[str], clip_model: nn.Module, device: torch.device | str = "cpu", template: str | None = None
) -> nn.Module:
    """Method ``cfg.TRAINER.NAME``'s model for ``classnames`` on a loaded, frozen ``clip_model``,
    exactly as training builds it: the method's builder, the trainable-list checks, the
    pretrained learner weights (``MODEL.INIT_WEIGHTS``), CLIP cast for the precision, moved to
    ``device``. ``cfg`` is a checked config (``runconfig.build_config``); ``template`` is the
    dataset's hand-crafted prompt (default: that of ``cfg.DATASET.NAME``), for the methods that use
    hand-crafted text features.

    The model has ``forward(image) -> logits``, ``loss(image, label) -> (loss, logits)``, a
    ``learner`` (its trainable tensors; None for zero-shot methods) and ``precision`` (how it
    runs: ``with model.precision.autocast(): ...``).
    """
    cls = trainer_class(cfg.TRAINER.NAME)
    device = torch.device(device)
    node = cfg.TRAINER[cls.CFG_NODE]
    precision = Precision(node.PREC, device, f"TRAINER.{cls.CFG_NODE}.PREC", asked=user_set(node, "PREC"))
    check_input_size(cfg, clip_model)
    _log.info(f"Building custom CLIP ({cls.__name__}, precision {precision})")
    model = cls.build_custom_model(cfg, list(classnames), clip_model, template or dataset_template(cfg))
    learner = getattr(model, "learner", None)
    if learner is not None:
        _check_trainable(clip_model, learner)
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learner, cfg.MODEL.INIT_WEIGHTS)
    precision.prepare_clip(clip_model)  # learner tensors stay fp32
    model.precision = precision
    return model.to(device)


def _check_trainable(clip_model: nn.Module, learner: nn.Module) -> None:
    """The learner's parameters are exactly its trainable list, and CLIP is fully frozen."""
    named = learner.trainable_parameters()
    listed = {id(p) for _, p in named}
    owned = {id(p) for p in learner.parameters()}
    if listed != owned:
        raise RuntimeError("trainable_parameters() must list exactly the learner's parameters")
    if any(p.requires_grad for p in clip_model.parameters()):
        raise RuntimeError("a CLIP parameter requires grad; CLIP must stay frozen")
    if not all(p.requires_grad for _, p in named):
        raise RuntimeError("every listed trainable tensor must require grad")
