"""CoOp: Context Optimization (Zhou et al., "Learning to Prompt for Vision-Language Models",
IJCV 2022, arXiv 2109.01134).

Learnable context vectors replace the words of a hand-crafted prompt in CLIP's text input:
``[SOS] [V]_1 ... [V]_M [CLASS] . [EOT]``. The context is shared by all classes (unified) or
one per class (``CSC``); the class token sits at the end, the middle or the front.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import ClipPromptTrainer, Learner, check_choice
from .clip_loader import clip
from .clip_prompting import ClassPrompts, PromptedCLIP, clip_logits

__all__ = ["CoOp", "CoOpModel", "PromptLearner", "add_config", "context_init"]

_log = get_logger("trainers.coop")

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")
CTX_INIT_STD = 0.02  # N(0, 0.02^2) for randomly initialised context (CoOp)


def add_config(cfg: CN) -> None:
    """TRAINER.COOP, with CoOp's keys and defaults (PREC defaults to amp: bf16 autocast on GPU)."""
    cfg.TRAINER.COOP = CN()
    # Number of learnable context tokens M (ignored when CTX_INIT is given: its word count is used).
    cfg.TRAINER.COOP.N_CTX = 16
    # Class-specific context: one set of M vectors per class instead of one shared set.
    cfg.TRAINER.COOP.CSC = False
    # Initialise the context from these words (e.g. "a photo of a"); "" = random N(0, 0.02^2).
    cfg.TRAINER.COOP.CTX_INIT = ""
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.COOP.PREC = "amp"
    # Where the class name goes: "end", "middle" (between the two context halves) or "front".
    cfg.TRAINER.COOP.CLASS_TOKEN_POSITION = "end"


def context_init(clip_model: nn.Module, n_ctx: int, ctx_init: str, n_copies: int | None = None) -> tuple[torch.Tensor, str]:
    """Initial context vectors and the prompt prefix text they stand for.

    With ``ctx_init`` words: their token embeddings (n_words, D) and the words themselves. Without:
    N(0, 0.02^2) vectors and "X X ... X" placeholders. ``n_copies`` adds a leading class axis (CSC).
    """
    dim = clip_model.ln_final.weight.shape[0]
    if ctx_init:
        ctx_init = ctx_init.replace("_", " ").strip()
        n_words = len(clip.tokenize(ctx_init)[0].nonzero()) - 2  # minus SOS and EOT
        with torch.no_grad():
            emb = clip_model.token_embedding(clip.tokenize(ctx_init)).float()  # (1, L, D)
        vectors, prefix = emb[0, 1 : 1 + n_words].clone(), ctx_init  # (n, D)
        if n_copies is not None:
            vectors = vectors.unsqueeze(0).repeat(n_copies, 1, 1)  # (n_cls, n, D)
    else:
        shape = (n_ctx, dim) if n_copies is None else (n_copies, n_ctx, dim)
        vectors = torch.empty(shape).normal_(std=CTX_INIT_STD)
        prefix = " ".join(["X"] * n_ctx)
    return vectors, prefix


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
        vectors, prefix = context_init(clip_model, n_ctx, ctx_init, len(classnames) if csc else None)
        self.ctx = nn.Parameter(vectors)
        self.n_ctx = vectors.shape[-2]
        self.class_token_position = class_token_position
        self.prompts = ClassPrompts(clip_model, classnames, self.n_ctx, prefix)
        _log.info(f'Initial context: "{prefix}"; number of context words (tokens): {self.n_ctx}')

    def forward(self, length: int | None = None) -> torch.Tensor:
        """Prompt embeddings (n_cls, L, D)."""
        return self.prompts.assemble(self.ctx, self.class_token_position, length)


class CoOpModel(PromptedCLIP):
    """CLIP whose text prompts carry the learned context: ``forward(image) -> logits`` (B, n_cls)."""

    def text_features(self) -> torch.Tensor:
        """(n_cls, E); computed once per evaluation (they do not depend on the image)."""
        p = self.learner.prompts

        def compute() -> torch.Tensor:
            length = p.seq_len if self.fused else None
            return self.text_encoder(self.learner(length), p.eot_idx)

        return self.learner.text_cache.get(self.learner, compute)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(self.image_encoder(image), self.text_features(), self.logit_scale)


@TRAINER_REGISTRY.register()
class CoOp(ClipPromptTrainer):
    """CoOp trainer (registered model: ``prompt_learner``, as in the CoOp repository)."""

    CFG_NODE = "COOP"
    MODEL_NAME = "prompt_learner"

    def check_method_cfg(self, cfg: CN) -> None:
        check_choice(cfg.TRAINER.COOP.CLASS_TOKEN_POSITION, CLASS_TOKEN_POSITIONS, "TRAINER.COOP.CLASS_TOKEN_POSITION")
        if cfg.TRAINER.COOP.N_CTX < 1 and not cfg.TRAINER.COOP.CTX_INIT:
            raise ConfigError(f"TRAINER.COOP.N_CTX must be >= 1, got {cfg.TRAINER.COOP.N_CTX}")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module) -> CoOpModel:
        c = cfg.TRAINER.COOP
        learner = PromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, c.CSC, c.CLASS_TOKEN_POSITION)
        return CoOpModel(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)
