"""Zero-shot CLIP with hand-crafted prompts (the CoOp/CoCoOp baseline).

CLIP: Radford et al., arXiv 2103.00020. Per-dataset templates as in CoOp (Zhou et al.,
arXiv 2109.01134), taken from the dataset (its ``template``); ``TRAINER.ZEROSHOTCLIP.TEMPLATES
ensemble`` averages the text features of a small ImageNet-tuned template set plus the dataset
template (CoOp's "ZeroshotCLIP2", also registered under that name). Text features are computed
once, at build time; nothing is trained.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, check_choice
from .clip_prompting import HandcraftedTextFeatures, PromptedImageEncoder, clip_logits
from .spec import MethodSpec, register_method

__all__ = ["ENSEMBLE_TEMPLATES", "SPEC", "ZeroshotCLIP", "ZeroshotCLIP2", "ZeroshotModel", "add_config"]

_log = get_logger("trainers.zsclip")

# Seven templates selected from CLIP's 80 ImageNet prompts (the set CoOp's ZeroshotCLIP2 uses).
ENSEMBLE_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)
TEMPLATE_CHOICES = ("dataset", "ensemble")


def add_config(cfg: CN) -> None:
    """TRAINER.ZEROSHOTCLIP and TRAINER.ZEROSHOTCLIP2: options of the zero-shot baselines (one
    node per trainer, named after it, as Dassl's ``clean_cfg`` expects)."""
    for node, templates in (("ZEROSHOTCLIP", "dataset"), ("ZEROSHOTCLIP2", "ensemble")):
        cfg.TRAINER[node] = CN()
        # "dataset": the benchmark's hand-crafted template; "ensemble": mean of ENSEMBLE_TEMPLATES + it.
        cfg.TRAINER[node].TEMPLATES = templates
        # fp32 | fp16 | amp (GPU only; fp32 on CPU).
        cfg.TRAINER[node].PREC = "amp"


class ZeroshotModel(nn.Module):
    """Frozen CLIP with hand-crafted class text features: ``forward(image) -> logits``; no learner."""

    learner = None

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], templates: Sequence[str], fused: bool = True):
        super().__init__()
        self.image_encoder = PromptedImageEncoder(clip_model, fused=fused)
        self.text_features = HandcraftedTextFeatures(clip_model, classnames, templates, fused=fused)
        self.logit_scale = clip_model.logit_scale

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(self.image_encoder(image), self.text_features(), self.logit_scale)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(ClipPromptTrainer):
    """Evaluate CLIP zero-shot; ``--eval-only`` is the intended use (there is nothing to train)."""

    CFG_NODE = "ZEROSHOTCLIP"
    ZERO_SHOT = True  # train.py: evaluates without --model-dir, refuses to train

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_choice(cls.method_cfg(cfg).TEMPLATES, TEMPLATE_CHOICES, f"TRAINER.{cls.CFG_NODE}.TEMPLATES")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> ZeroshotModel:
        templates = [template] if cls.method_cfg(cfg).TEMPLATES == "dataset" else [*ENSEMBLE_TEMPLATES, template]
        _log.info(f"Prompts: {[template.format(c.replace('_', ' ')) for c in classnames]}")
        if len(templates) > 1:
            _log.info(f"Prompt ensemble over {len(templates)} templates: {templates}")
        return ZeroshotModel(clip_model, classnames, templates, fused=cfg.MODEL.BACKBONE.FUSED)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Zero-shot CLIP with the template ensemble (CoOp's name for it)."""

    CFG_NODE = "ZEROSHOTCLIP2"


# Zero-shot CLIP is evaluated with CoOp's config of its backbone (nothing in it trains).
RECIPE = "configs/trainers/CoOp/vit_b16.yaml"

SPEC = register_method(
    MethodSpec(
        name="zsclip",
        trainer=ZeroshotCLIP,
        paper="Zero-shot CLIP (Radford et al., arXiv 2103.00020) with CoOp's hand-crafted prompts",
        add_config=add_config,
        order=9,
        recipes={"base2new": RECIPE, "xd": RECIPE},
        bench_recipe=RECIPE,
    )
)
