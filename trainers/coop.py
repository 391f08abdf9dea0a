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

from engine.seam import TRAINER_REGISTRY, ConfigError

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, check_choice
from .clip_prompting import ContextPromptedCLIP
from .prompt_learners import CLASS_TOKEN_POSITIONS, ContextPromptLearner

__all__ = ["CoOp", "add_config"]


def add_config(cfg: CN) -> None:
    """TRAINER.COOP, with CoOp's keys and defaults (PREC defaults to amp: bf16 autocast on GPU)."""
    cfg.TRAINER.COOP = CN()
    # Number of learnable context tokens M (ignored when CTX_INIT is given: its word count is used).
    cfg.TRAINER.COOP.N_CTX = 16
    # Class-specific context: one set of M vectors per class instead of one shared set (random
    # init only: with CTX_INIT the context is shared, as in the official code).
    cfg.TRAINER.COOP.CSC = False
    # Initialise the context from these words (e.g. "a photo of a"); "" = random N(0, 0.02^2).
    cfg.TRAINER.COOP.CTX_INIT = ""
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.COOP.PREC = "amp"
    # Where the class name goes: "end", "middle" (between the two context halves) or "front".
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"


@TRAINER_REGISTRY.register()
class CoOp(ClipPromptTrainer):
    """CoOp trainer (registered model: ``prompt_learner``, as in the CoOp repository)."""

    CFG_NODE = "COOP"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_choice(cfg.TRAINER.COOP.CLASS_TOKEN_POSITION, CLASS_TOKEN_POSITIONS, "TRAINER.COOP.CLASS_TOKEN_POSITION")
        if cfg.TRAINER.COOP.N_CTX < 1 and not cfg.TRAINER.COOP.CTX_INIT:
            raise ConfigError(f"TRAINER.COOP.N_CTX must be >= 1, got {cfg.TRAINER.COOP.N_CTX}")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> ContextPromptedCLIP:
        c = cfg.TRAINER.COOP
        learner = ContextPromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, c.CSC, c.CLASS_TOKEN_POSITION)
        return ContextPromptedCLIP(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)
