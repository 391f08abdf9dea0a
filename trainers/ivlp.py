"""IVLP: Independent Vision-Language Prompting, the deep-prompt baseline of MaPLe (Khattak et al.,
CVPR 2023, arXiv 2210.03117) and PromptSRC (ICCV 2023, arXiv 2307.06948).

Deep learnable prompts in both towers, each with its own length and depth and no coupling: the
text context replaces the first ``N_CTX_TEXT`` tokens of "a photo of a" and deep text prompts
replace those rows before blocks 1..J_t-1; visual prompts are appended to the image tokens and
deep ones replace them before blocks 1..J_v-1. Plain cross-entropy.

Keys and defaults are the official ones (PREC: ours). The official code creates the prompts inside
CLIP's constructor (``VPT`` and ``VPT_shallow`` of each block) in the order visual shallow, visual
deep, text deep, then a random text context; ours draws them in that order from the same
distribution, but not between CLIP's own initialisation draws, so the initial values differ.
Official prompts are rounded to fp16 wherever they enter CLIP, even in fp32 runs; ours are cast to
the precision the run uses.
"""
from __future__ import annotations

import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import DeepPromptedCLIP
from .prompt_learners import add_independent_keys, build_independent_learner, check_independent_keys
from .spec import MethodSpec, register_method

__all__ = ["IVLP", "SPEC", "add_config"]


def add_config(cfg: CN) -> None:
    """TRAINER.IVLP, with the official keys and defaults."""
    cfg.TRAINER.IVLP = CN()
    add_independent_keys(cfg.TRAINER.IVLP)


@TRAINER_REGISTRY.register()
class IVLP(ClipPromptTrainer):
    """IVLP trainer; the registered model keeps the official checkpoint folder name ``VLPromptLearner``."""

    CFG_NODE = "IVLP"
    MODEL_NAME = "VLPromptLearner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_independent_keys(cfg.TRAINER.IVLP, "TRAINER.IVLP")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> DeepPromptedCLIP:
        learner = build_independent_learner(cfg.TRAINER.IVLP, "TRAINER.IVLP", classnames, clip_model, cfg.MODEL.BACKBONE.NAME)
        return DeepPromptedCLIP(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)


# MaPLe's recipe; PromptSRC's is IVLP/vit_b16_c2_ep20_batch4_4+4ctx.yaml (CFG=...).
RECIPE = "configs/trainers/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml"

SPEC = register_method(
    MethodSpec(
        name="ivlp",
        trainer=IVLP,
        paper="IVLP, independent vision-language prompting (the baseline of MaPLe, arXiv 2210.03117)",
        add_config=add_config,
        order=5,
        recipes={"base2new": RECIPE, "xd": RECIPE},
        bench_recipe=RECIPE,
        caption_keys=("N_CTX_TEXT", "N_CTX_VISION", "PROMPT_DEPTH_TEXT", "PROMPT_DEPTH_VISION"),
    )
)
