"""Prompt learners that several methods share (substrate: trainers import these, never each other).

* :class:`ContextPromptLearner`: CoOp's learnable context in the class prompts, unified or
  class-specific, with the class token at the end, the middle or the front (CoOp, KgCoOp);
  :func:`context_words` is the CoOp family's rule for the context length and text (CoCoOp too).
* :class:`IndependentPromptLearner`: independent deep prompts in both towers, each with its own
  length and depth (IVLP, PromptSRC; VPT uses its visual half only). No coupling between them.
* :func:`new_prompts`: a fresh N(0, 0.02^2) prompt parameter, or None for an empty shape.

Every learner's ``forward`` hands the encoders what they insert; the models that run them are in
:mod:`trainers.clip_prompting` (:class:`~trainers.clip_prompting.DeepPromptedCLIP` for deep
prompts).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from engine.seam import get_logger

from .base import Learner
from .clip_prompting import ClassPrompts, prompt_context, random_prompts

__all__ = ["ContextPromptLearner", "IndependentPromptLearner", "context_words", "new_prompts"]

_log = get_logger("trainers.prompt_learners")

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")
DeepPrompts = tuple[torch.Tensor, list[torch.Tensor], "torch.Tensor | None", list[torch.Tensor]]


def new_prompts(*shape: int) -> nn.Parameter | None:
    """A trainable N(0, 0.02^2) prompt tensor of ``shape``; None when the shape is empty (no deep
    layers, no visual prompts): no empty tensors in the optimizer or the checkpoint."""
    return None if 0 in shape else nn.Parameter(random_prompts(*shape))


def context_words(n_ctx: int, ctx_init: str, key: str = "TRAINER.COOP") -> tuple[str, int, bool]:
    """(context text, context length, initialised from words) as CoOp, CoCoOp and KgCoOp set
    them: ``ctx_init`` and its word count (the official code's ``len(ctx_init.split(" "))``: a
    word of several BPE tokens leaves its last tokens in the frozen prompt), or ``n_ctx`` "X"
    placeholders and random vectors."""
    words = ctx_init.replace("_", " ").split()
    n = len(words) if words else n_ctx
    return prompt_context(" ".join(words), n, key), n, bool(words)


class ContextPromptLearner(Learner):
    """CoOp's context ``ctx`` (n_ctx, D) or (n_cls, n_ctx, D) and the class prompts it fills.

    Args:
        clip_model: frozen CLIP (for token embeddings).
        classnames: class names, in label order.
        n_ctx: context length M (overridden by the word count of ``ctx_init``).
        ctx_init: initial context words, or "" for random N(0, 0.02^2) init.
        csc: class-specific context (random init only: a context initialised from words is
            shared by all classes, as in the official code).
        class_token_position: "end", "middle" or "front".
    """

    def __init__(self, clip_model: nn.Module, classnames: list[str], n_ctx: int, ctx_init: str = "", csc: bool = False,
                 class_token_position: str = "end", key: str = "TRAINER.COOP"):  # fmt: skip
        super().__init__()
        text, self.n_ctx, from_words = context_words(n_ctx, ctx_init, key)
        self.prompts = ClassPrompts(clip_model, classnames, self.n_ctx, text)
        csc = csc and not from_words
        self.ctx = nn.Parameter(self.prompts.initial_context(from_words, *((len(classnames),) if csc else ())))
        self.class_token_position = class_token_position
        kind = "class-specific" if csc else "unified"
        _log.info(f'Initial context: "{text}"; number of context words (tokens): {self.n_ctx} ({kind})')

    def forward(self, length: int | None = None) -> torch.Tensor:
        """Prompt embeddings (n_cls, L, D)."""
        return self.prompts.assemble(self.ctx, self.class_token_position, length)


class IndependentPromptLearner(Learner):
    """Independent deep prompts (IVLP, as MaPLe's and PromptSRC's papers define it): the text
    context ``ctx`` (n_t, D_t) in the class prompts and ``deep_prompts`` (J_t-1, n_t, D_t) for text
    blocks 1..J_t-1; the visual prompts ``visual_ctx`` (n_v, D_v), appended to the image tokens,
    and ``visual_deep_prompts`` (J_v-1, n_v, D_v) for image blocks 1..J_v-1. Depth J counts block
    0; 0 visual depth (or 0 visual tokens) means no visual prompts; ``class_prompts`` None means
    no text prompts (VPT).

    Random tensors are drawn in the official construction order: ``visual_ctx``, the visual deep
    prompts by block, the text deep prompts by block, then a random ``ctx`` (the official code
    draws them inside CLIP's constructor, between CLIP's own initialisation draws, so the values
    differ; the distribution is the same).

    Args:
        class_prompts: tokenised class prompts whose first ``n_t`` context tokens ``ctx`` replaces,
            or None.
        ctx_from_words: ``ctx`` starts from the embeddings of those tokens (else random).
        text_depth: J_t (>= 1 with class prompts).
        vision_dim, n_ctx_vision, vision_depth: width, tokens per layer and J_v of the visual prompts.
    """

    def __init__(self, class_prompts: ClassPrompts | None, ctx_from_words: bool, text_depth: int, vision_dim: int,
                 n_ctx_vision: int, vision_depth: int):  # fmt: skip
        super().__init__()
        visual = n_ctx_vision > 0 and vision_depth > 0
        self.n_ctx_vision = n_ctx_vision if visual else 0
        self.visual_ctx = new_prompts(n_ctx_vision, vision_dim) if visual else None  # (n_v, D_v)
        self.visual_deep_prompts = new_prompts(vision_depth - 1, n_ctx_vision, vision_dim) if visual else None  # (J_v-1, n_v, D_v)
        self.prompts = class_prompts
        self.n_ctx = class_prompts.n_ctx if class_prompts is not None else 0
        text_dim = class_prompts.context_embedding.shape[-1] if class_prompts is not None else 0
        self.deep_prompts = new_prompts(text_depth - 1, self.n_ctx, text_dim) if class_prompts is not None else None  # (J_t-1, n_t, D_t)
        self.ctx = nn.Parameter(class_prompts.initial_context(ctx_from_words)) if class_prompts is not None else None  # (n_t, D_t)

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The text prompts, then the visual ones (those that exist)."""
        names = ("ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts")
        return [(name, getattr(self, name)) for name in names if getattr(self, name) is not None]

    @staticmethod
    def _layers(prompts: nn.Parameter | None) -> list[torch.Tensor]:
        return list(prompts.unbind(0)) if prompts is not None else []

    def forward(self) -> DeepPrompts:
        """``(ctx, text deep [J_t-1 x (n_t, D_t)], visual_ctx | None, visual deep [J_v-1 x (n_v, D_v)])``:
        entry ``i`` of a deep list goes before block ``i + 1``."""
        return self.ctx, self._layers(self.deep_prompts), self.visual_ctx, self._layers(self.visual_deep_prompts)
