"""CoOp: Context Optimization (Zhou et al., "Learning to Prompt for Vision-Language Models",
IJCV 2022, arXiv 2109.01134).

Learnable context vectors replace the words of a hand-crafted prompt in CLIP's text input:
``[SOS] [V]_1 ... [V]_M [CLASS] . [EOT]``. The context is shared by all classes (unified) or
one per class (``CSC``); the class token sits at the end, the middle or the front.

As the official code: with ``CTX_INIT`` the context has one vector per *word* of it, initialised
from the embeddings of its first tokens (a word of several BPE tokens leaves its last tokens in
the frozen prompt, after the context), and is shared by all classes whatever ``CSC`` says.
"""
from __future__ import annotations

import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import ContextPromptedCLIP
from .prompt_learners import add_context_keys, build_context_learner, check_context_keys

__all__ = ["CoOp", "add_config"]


def add_config(cfg: CN) -> None:
    """TRAINER.COOP, with CoOp's keys and defaults (PREC defaults to amp: bf16 autocast on GPU)."""
    cfg.TRAINER.COOP = CN()
    add_context_keys(cfg.TRAINER.COOP)


@TRAINER_REGISTRY.register()
class CoOp(ClipPromptTrainer):
    """CoOp trainer (registered model: ``prompt_learner``, as in the CoOp repository)."""

    CFG_NODE = "COOP"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_context_keys(cfg.TRAINER.COOP, "TRAINER.COOP")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> ContextPromptedCLIP:
        learner = build_context_learner(cfg.TRAINER.COOP, "TRAINER.COOP", classnames, clip_model)
        return ContextPromptedCLIP(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)
