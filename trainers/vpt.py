"""VPT: deep visual prompt tuning (Jia et al., "Visual Prompt Tuning", ECCV 2022, arXiv 2203.12119)
in CLIP's image tower, as the MaPLe repository runs it (Khattak et al., CVPR 2023): the "Deep
Vision Prompting" baseline.

Learnable visual prompts appended to the image tokens, deep ones replacing them before blocks
1..J-1; the class text features are frozen CLIP features of the hand-crafted prompt
"<CTX_INIT> <class>." ("a photo of a <class>." by default, the only prompt the official code
uses: its CTX_INIT key is read by nothing). Plain cross-entropy.

Keys and defaults are the official ones (PREC: ours; the official code always runs CLIP in fp32
and rounds the prompts through fp16 where they enter it). The official prompts are created inside
CLIP's constructor (``VPT``, then ``VPT_shallow`` of each block, between CLIP's own initialisation
draws); ours are drawn in the same order from the same distribution, so the values differ.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import HandcraftedTextFeatures, PromptedCLIP, check_prompt_depth, clip_logits
from .prompt_learners import IndependentPromptLearner
from .spec import MethodSpec, register_method

__all__ = ["SPEC", "VPT", "VisualPromptedCLIP", "add_config"]


def add_config(cfg: CN) -> None:
    """TRAINER.VPT, with the official keys and defaults."""
    cfg.TRAINER.VPT = CN()
    # Prompt tokens per layer in the image tower.
    cfg.TRAINER.VPT.N_CTX_VISION = 2
    # The words before the class name in the frozen text prompt.
    cfg.TRAINER.VPT.CTX_INIT = "a photo of a"
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.VPT.PREC = "amp"
    # J: image blocks that receive prompts, counting block 0 (1 = shallow prompts only).
    cfg.TRAINER.VPT.PROMPT_DEPTH_VISION = 1


class VisualPromptedCLIP(PromptedCLIP):
    """CLIP with learned visual prompts and frozen hand-crafted class text features:
    ``forward(image) -> logits`` (B, n_cls)."""

    def __init__(self, clip_model: nn.Module, learner: IndependentPromptLearner, classnames: list[str], template: str, fused: bool = True):
        super().__init__(clip_model, learner, fused)
        self.text_features = HandcraftedTextFeatures(clip_model, classnames, [template], fused=fused)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        _, _, shallow, deep = self.learner()
        return clip_logits(self.image_encoder(image, shallow, deep), self.text_features(), self.logit_scale)


@TRAINER_REGISTRY.register()
class VPT(ClipPromptTrainer):
    """VPT trainer (registered model: ``prompt_learner``, the official checkpoint folder name)."""

    CFG_NODE = "VPT"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        c = cfg.TRAINER.VPT
        if c.N_CTX_VISION < 1:
            raise ConfigError(f"TRAINER.VPT.N_CTX_VISION = {c.N_CTX_VISION} is not valid; use a positive number of prompt tokens (e.g. 8).")
        if c.PROMPT_DEPTH_VISION < 1:
            raise ConfigError(f"TRAINER.VPT.PROMPT_DEPTH_VISION = {c.PROMPT_DEPTH_VISION} is not valid; use 1 (shallow) to the number of image blocks.")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> VisualPromptedCLIP:
        c = cfg.TRAINER.VPT
        check_prompt_depth(clip_model, "TRAINER.VPT.PROMPT_DEPTH_VISION", c.PROMPT_DEPTH_VISION, "image", cfg.MODEL.BACKBONE.NAME)
        learner = IndependentPromptLearner(None, False, 0, clip_model.visual.conv1.out_channels, c.N_CTX_VISION, c.PROMPT_DEPTH_VISION)
        words = c.CTX_INIT.replace("_", " ").strip()
        prompt = f"{words} {{}}." if words else "{}."
        return VisualPromptedCLIP(clip_model, learner, classnames, prompt, fused=cfg.MODEL.BACKBONE.FUSED)


RECIPE = "configs/trainers/VPT/vit_b16_c2_ep5_batch4_4.yaml"

SPEC = register_method(
    MethodSpec(
        name="vpt",
        trainer=VPT,
        paper="VPT, deep visual prompting (Jia et al., arXiv 2203.12119) as MaPLe's repository runs it",
        add_config=add_config,
        order=6,
        recipes={"base2new": RECIPE, "xd": RECIPE},
        bench_recipe=RECIPE,
        caption_keys=("N_CTX_VISION", "PROMPT_DEPTH_VISION"),
    )
)
