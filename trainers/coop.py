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

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, Learner, check_choice
from .clip_prompting import ClassPrompts, PromptedCLIP, clip_logits, prompt_context

__all__ = ["CoOp", "CoOpModel", "PromptLearner", "add_config", "context_words"]

_log = get_logger("trainers.coop")

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")


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


def context_words(n_ctx: int, ctx_init: str) -> tuple[str, int, bool]:
    """(context text, context length, initialised from words) as CoOp, CoCoOp and KgCoOp set
    them: ``ctx_init`` and its word count, or ``n_ctx`` "X" placeholders and random vectors."""
    words = ctx_init.replace("_", " ").split()
    n = len(words) if words else n_ctx
    return prompt_context(" ".join(words), n, "TRAINER.COOP"), n, bool(words)


class PromptLearner(Learner):
    """The CoOp context ``ctx`` (n_ctx, D) or (n_cls, n_ctx, D), and the class prompts it fills.

    Args:
        clip_model: frozen CLIP (for token embeddings).
        classnames: class names, in label order.
        n_ctx: context length M (overridden by the word count of ``ctx_init``).
        ctx_init: initial context words, or "" for random init.
        csc: class-specific context.
        class_token_position: "end", "middle" or "front".
    """

    def __init__(self, clip_model: nn.Module, classnames: list[str], n_ctx: int, ctx_init: str = "", csc: bool = False, class_token_position: str = "end"):
        super().__init__()
        text, self.n_ctx, from_words = context_words(n_ctx, ctx_init)
        self.prompts = ClassPrompts(clip_model, classnames, self.n_ctx, text)
        csc = csc and not from_words  # the official code shares a context initialised from words
        self.ctx = nn.Parameter(self.prompts.initial_context(from_words, *((len(classnames),) if csc else ())))
        self.class_token_position = class_token_position
        kind = "class-specific" if csc else "unified"
        _log.info(f'Initial context: "{text}"; number of context words (tokens): {self.n_ctx} ({kind})')

    def forward(self, length: int | None = None) -> torch.Tensor:
        """Prompt embeddings (n_cls, L, D)."""
        return self.prompts.assemble(self.ctx, self.class_token_position, length)


class CoOpModel(PromptedCLIP):
    """CLIP whose text prompts carry the learned context: ``forward(image) -> logits`` (B, n_cls)."""

    def text_features(self) -> torch.Tensor:
        """(n_cls, E); computed once per evaluation (they do not depend on the image)."""
        p = self.learner.prompts

        def compute() -> torch.Tensor:
            return self.text_encoder(self.learner(self.text_length(p)), p.eot_idx)

        return self.learner.text_cache.get(self.learner, compute)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(self.image_encoder(image), self.text_features(), self.logit_scale)


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
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> CoOpModel:
        c = cfg.TRAINER.COOP
        learner = PromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, c.CSC, c.CLASS_TOKEN_POSITION)
        return CoOpModel(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)
