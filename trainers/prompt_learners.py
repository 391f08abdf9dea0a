"""Prompt learners that several methods share (substrate: trainers import these, never each other).

* :class:`ContextPromptLearner`: CoOp's learnable context in the class prompts, unified or
  class-specific, with the class token at the end, the middle or the front (CoOp, KgCoOp);
  :func:`context_words` is the CoOp family's rule for the context length and text (CoCoOp too).
* :class:`IndependentPromptLearner`: independent deep prompts in both towers, each with its own
  length and depth (IVLP, PromptSRC; VPT uses its visual half only). No coupling between them.
* :func:`new_prompts`, :func:`layered_prompts`: fresh N(0, 0.02^2) prompt parameters, or None
  for an empty shape.

Every learner's ``forward`` hands the encoders what they insert; the models that run them are in
:mod:`trainers.clip_prompting` (:class:`~trainers.clip_prompting.DeepPromptedCLIP` for deep
prompts).
"""
from __future__ import annotations

import torch
import torch.nn as nn

from yacs.config import CfgNode as CN

from engine.seam import CONSOLE, ConfigError, get_logger

from .base import Learner, check_choice
from .clip_prompting import ClassPrompts, check_prompt_depth, prompt_context, random_prompts
from .keys import user_set

__all__ = [
    "ContextPromptLearner",
    "IndependentPromptLearner",
    "add_independent_keys",
    "build_independent_learner",
    "check_independent_keys",
    "context_words",
    "layered_prompts",
    "new_prompts",
    "official_context",
]

_log = get_logger("trainers.prompt_learners")

CLASS_TOKEN_POSITIONS = ("end", "middle", "front")
DeepPrompts = tuple[torch.Tensor, list[torch.Tensor], "torch.Tensor | None", list[torch.Tensor]]


def new_prompts(*shape: int) -> nn.Parameter | None:
    """A trainable N(0, 0.02^2) prompt tensor of ``shape``; None when the shape is empty (no deep
    layers, no visual prompts): no empty tensors in the optimizer or the checkpoint."""
    return None if 0 in shape else nn.Parameter(random_prompts(*shape))


def layered_prompts(layers: int, n: int, dim: int) -> nn.Parameter | None:
    """Deep prompts (layers, n, dim) drawn one layer after another, as the official code creates
    one tensor per block (torch draws a large tensor in blocks, so one draw of the whole stack
    would give other values); None when empty."""
    if 0 in (layers, n, dim):
        return None
    return nn.Parameter(torch.stack([random_prompts(n, dim) for _ in range(layers)]))


def context_words(n_ctx: int, ctx_init: str, key: str = "TRAINER.COOP", asked: bool = False) -> tuple[str, int, bool]:
    """(context text, context length, initialised from words) as CoOp, CoCoOp and KgCoOp set
    them: ``ctx_init`` and its word count (the official code's ``len(ctx_init.split(" "))``: a
    word of several BPE tokens leaves its last tokens in the frozen prompt), or ``n_ctx`` "X"
    placeholders and random vectors. Where the word count replaces another ``n_ctx``, one line
    says so: on the console where the user ``asked`` for that N_CTX (:func:`trainers.keys.user_set`),
    in the log otherwise (CoOp's ctxv1 recipes leave N_CTX at its default, 16)."""
    words = ctx_init.replace("_", " ").split()
    n = len(words) if words else n_ctx
    if words and n != n_ctx:
        _log.info(
            f'Note: {key}.N_CTX {n_ctx} is replaced by the {n} words of {key}.CTX_INIT "{" ".join(words)}" (one context '
            f'vector per word, as in the official code); set N_CTX {n} to say so, or CTX_INIT "" for {n_ctx} random vectors.',
            extra=CONSOLE if asked else None,
        )
    return prompt_context(" ".join(words), n, key), n, bool(words)


#: MaPLe's, IVLP's and PromptSRC's official code start the text context from CTX_INIT's tokens only
#: up to this many context tokens; with more, the context starts random ("X" placeholders in the
#: prompt), whatever CTX_INIT says. (CoOp, CoCoOp and KgCoOp take CTX_INIT's word count as the
#: context length instead, :func:`context_words`; MuDPT's released code always starts from CTX_INIT.)
WORDS_INIT_MAX_CTX = 4


def official_context(ctx_init: str, n_ctx: int, key: str, n_ctx_key: str = "N_CTX", note: bool = True) -> tuple[str, bool]:
    """(prompt context text, initialised from words) as MaPLe's, IVLP's and PromptSRC's official code
    set them (:data:`WORDS_INIT_MAX_CTX`), with one line saying so where ``ctx_init`` is not used
    (``note``: the model is being built; the config check passes False); ``key`` is the method's
    node (``TRAINER.MAPLE``) and ``n_ctx_key`` its key of ``n_ctx``."""
    if ctx_init.strip() and n_ctx > WORDS_INIT_MAX_CTX:
        if note:
            _log.info(
                f'Note: {key}.{n_ctx_key} {n_ctx} > {WORDS_INIT_MAX_CTX}: {key}.CTX_INIT "{ctx_init.strip()}" is not used and the '
                f'context starts random, as in the official code (CTX_INIT "" says so; {n_ctx_key} <= {WORDS_INIT_MAX_CTX} starts '
                "from its words).",
                extra=CONSOLE,
            )
        ctx_init = ""
    return prompt_context(ctx_init, n_ctx, key), bool(ctx_init.strip())


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
        key: the method's config node (for messages); asked: the user set its N_CTX (see :func:`context_words`).
    """

    def __init__(self, clip_model: nn.Module, classnames: list[str], n_ctx: int, ctx_init: str = "", csc: bool = False,
                 class_token_position: str = "end", key: str = "TRAINER.COOP", asked: bool = False):  # fmt: skip
        super().__init__()
        text, self.n_ctx, from_words = context_words(n_ctx, ctx_init, key, asked)
        self.prompts = ClassPrompts(clip_model, classnames, self.n_ctx, text, f"{key}.N_CTX")
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
        self.visual_deep_prompts = layered_prompts(vision_depth - 1, n_ctx_vision, vision_dim) if visual else None  # (J_v-1, n_v, D_v)
        self.prompts = class_prompts
        self.n_ctx = class_prompts.n_ctx if class_prompts is not None else 0
        text_dim = class_prompts.context_embedding.shape[-1] if class_prompts is not None else 0
        self.deep_prompts = layered_prompts(text_depth - 1, self.n_ctx, text_dim) if class_prompts is not None else None  # (J_t-1, n_t, D_t)
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


# --- the config of CoOp's context (CoOp, KgCoOp) ---------------------------------------------------
def add_context_keys(node: CN) -> None:
    """The keys of CoOp's context (CoOp, KgCoOp), with CoOp's defaults (PREC: ours, amp)."""
    # Number of learnable context tokens M (ignored when CTX_INIT is given: its word count is used).
    node.N_CTX = 16
    # Class-specific context: one set of M vectors per class instead of one shared set (random
    # init only: with CTX_INIT the context is shared, as in the official code).
    node.CSC = False
    # Initialise the context from these words (e.g. "a photo of a"); "" = random N(0, 0.02^2).
    node.CTX_INIT = ""
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    node.PREC = "amp"
    # Where the class name goes: "end", "middle" (between the two context halves) or "front".
    node.CLASS_TOKEN_POSITION = "end"


def check_context_keys(c: CN, key: str) -> None:
    """Validate the keys of :func:`add_context_keys`; errors name the key and the fix."""
    check_choice(c.CLASS_TOKEN_POSITION, CLASS_TOKEN_POSITIONS, f"{key}.CLASS_TOKEN_POSITION")
    if c.N_CTX < 1 and not c.CTX_INIT.strip():
        raise ConfigError(f"{key}.N_CTX = {c.N_CTX} is not valid; use a positive number of context tokens (e.g. 16), or give {key}.CTX_INIT.")


def build_context_learner(c: CN, key: str, classnames: list[str], clip_model: nn.Module) -> ContextPromptLearner:
    """The learner of :func:`add_context_keys`'s node ``c`` (checked by :func:`check_context_keys`)."""
    return ContextPromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, c.CSC, c.CLASS_TOKEN_POSITION, key, user_set(c, "N_CTX"))


# --- the config of independent deep prompts (IVLP, PromptSRC) -----------------------------------
def add_independent_keys(node: CN) -> None:
    """The keys of independent deep prompts (IVLP, PromptSRC), with IVLP's official defaults."""
    # Prompt tokens per layer in the image tower (0: no visual prompts).
    node.N_CTX_VISION = 2
    # Prompt tokens per layer in the text tower.
    node.N_CTX_TEXT = 2
    # The prompt text; the text context replaces its first N_CTX_TEXT tokens ("" = random). Used
    # only for N_CTX_TEXT <= 4, as in the official code: with more, the context starts random.
    node.CTX_INIT = "a photo of a"
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    node.PREC = "amp"
    # J_v: image blocks that receive prompts, counting block 0 (0: none, 1: shallow only).
    node.PROMPT_DEPTH_VISION = 9
    # J_t: text blocks that receive prompts, counting block 0 (1: shallow only).
    node.PROMPT_DEPTH_TEXT = 9


def check_independent_keys(c: CN, key: str) -> None:
    """Validate the keys of :func:`add_independent_keys`; errors name the key and the fix."""
    if c.N_CTX_TEXT < 1:
        raise ConfigError(f"{key}.N_CTX_TEXT = {c.N_CTX_TEXT} is not valid; use a positive number of prompt tokens (e.g. 2).")
    if c.N_CTX_VISION < 0:
        raise ConfigError(f"{key}.N_CTX_VISION = {c.N_CTX_VISION} is not valid; use 0 (no visual prompts) or a positive number.")
    if c.PROMPT_DEPTH_TEXT < 1:
        raise ConfigError(f"{key}.PROMPT_DEPTH_TEXT = {c.PROMPT_DEPTH_TEXT} is not valid; use 1 (shallow prompts) to the number of text blocks.")
    if c.PROMPT_DEPTH_VISION < 0:
        raise ConfigError(f"{key}.PROMPT_DEPTH_VISION = {c.PROMPT_DEPTH_VISION} is not valid; use 0 (no visual prompts) to the number of image blocks.")
    official_context(c.CTX_INIT, c.N_CTX_TEXT, key, "N_CTX_TEXT", note=False)


def build_independent_learner(c: CN, key: str, classnames: list[str], clip_model: nn.Module, backbone: str) -> IndependentPromptLearner:
    """The learner of :func:`add_independent_keys`'s node ``c`` (checked by
    :func:`check_independent_keys`), sized from ``clip_model`` (``backbone``: its name, for errors)."""
    check_prompt_depth(clip_model, f"{key}.PROMPT_DEPTH_TEXT", c.PROMPT_DEPTH_TEXT, "text", backbone)
    visual = c.N_CTX_VISION > 0 and c.PROMPT_DEPTH_VISION > 0
    vision_dim = 0
    if visual:
        check_prompt_depth(clip_model, f"{key}.PROMPT_DEPTH_VISION", c.PROMPT_DEPTH_VISION, "image", backbone, minimum=0,
                           vit_fix=f"or {key}.PROMPT_DEPTH_VISION 0")  # fmt: skip
        vision_dim = clip_model.visual.conv1.out_channels
    text, from_words = official_context(c.CTX_INIT, c.N_CTX_TEXT, key, "N_CTX_TEXT")
    prompts = ClassPrompts(clip_model, classnames, c.N_CTX_TEXT, text, f"{key}.N_CTX_TEXT")
    _log.info(
        f'Prompt text: "{text} <class>."; text prompts: {c.N_CTX_TEXT} tokens, depth {c.PROMPT_DEPTH_TEXT}; '
        f"visual prompts: {c.N_CTX_VISION if visual else 0} tokens, depth {c.PROMPT_DEPTH_VISION if visual else 0}"
    )
    return IndependentPromptLearner(prompts, from_words, c.PROMPT_DEPTH_TEXT, vision_dim, c.N_CTX_VISION, c.PROMPT_DEPTH_VISION)
