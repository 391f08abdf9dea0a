"""MuDPT: Multi-modal Deep-symphysis Prompt Tuning (Miao, Li, Tang, Wang, "MuDPT: Multi-modal
Deep-symphysis Prompt Tuning for Large Pre-trained Vision-Language Models", ICME 2023,
arXiv 2306.11400).

Frozen CLIP with learnable prompts in both towers: shallow textual prompts ``T_0`` replace the
``n`` tokens after SOS, shallow visual prompts ``V_0`` are appended to the image tokens, and deep
prompts ``T_i`` / ``V_i`` replace those rows before blocks ``1..J-1``. A modality-agnostic
**Injection Model** carries each deep layer's prompts into the other modality (``T'_i``,
``V'_i``); hierarchical fusion feeds the text tower ``T_i + V'_i`` and the image tower
``V_i + T'_i``.

This file holds, top to bottom: the prompt-text helpers, the paper's :class:`InjectionModel` and
:class:`HierarchicalFusion`, the two couplings of the released code (:class:`LinearInjection`,
:class:`TransformerInjection`), the prompt learner (every trainable tensor), the model
(learner + substrate encoders -> logits), the builders that read the config, and the registered
trainer. ``docs/mudpt.md`` gives the equations, the evidence for each choice and the differences
from the released code.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, Learner, check_choice
from .clip_loader import clip
from .clip_prompting import ClassPrompts, DeepPromptedCLIP, is_vit, prompt_context
from .prompt_learners import new_prompts

__all__ = [
    "HierarchicalFusion",
    "INJECTION_CHOICES",
    "InjectionModel",
    "LinearInjection",
    "MuDPT",
    "MuDPTModel",
    "MuDPTPromptLearner",
    "PREFIX_MODES",
    "PromptTransformer",
    "TransformerInjection",
    "add_config",
    "build_injection",
    "build_prompt_learner",
    "check_config",
    "context_of",
]

_log = get_logger("trainers.mudpt")

#: ``TRAINER.MUDPT.INJECTION``: the paper's cross-attention Injection Model (default), the released
#: UUMuDPT transformer, the released MuDPT linear maps, or no coupling (IVLP).
INJECTION_CHOICES = ("cross_attention", "transformer", "linear", "none")
#: ``TRAINER.MUDPT.PREFIX_MODE``: how much of CTX_INIT stays in the prompt text.
PREFIX_MODES = ("full_init", "first_n_words")
FFN_EXPANSION = 4  # feed-forward width = 4 x model width (the Transformer convention CLIP also uses)
CLIP_HEAD_WIDTH = 64  # CLIP's blocks use width // 64 heads; so does the released light transformer


def add_config(cfg: CN) -> None:
    """TRAINER.MUDPT: the method's keys, each with a typed default (see docs/mudpt.md)."""
    cfg.TRAINER.MUDPT = CN()
    # Prompt tokens per layer in the text tower (n).
    cfg.TRAINER.MUDPT.N_CTX = 2
    # Prompt tokens per layer in the image tower: -1 = N_CTX; 0 = no visual prompts. Fusion adds
    # prompts token by token, so a value other than N_CTX needs INJECTION none.
    cfg.TRAINER.MUDPT.N_CTX_VISION = -1
    # Initial words of the text prompt; T_0 starts from the embeddings of their first N_CTX
    # tokens. "" = random N(0, 0.02^2) T_0 with "X" placeholders in the prompt text.
    cfg.TRAINER.MUDPT.CTX_INIT = "a photo of a"
    # full_init: the whole CTX_INIT stays in the prompt and T_0 replaces its first N_CTX tokens
    # ("a photo of a" -> [SOS] T_0 T_0 of a <class> . [EOT], as MaPLe); first_n_words: the prompt
    # keeps only the first N_CTX words (the released MuDPT code).
    cfg.TRAINER.MUDPT.PREFIX_MODE = "full_init"
    # J: blocks that receive prompts in each tower, counting block 0 (1 = shallow prompts only).
    cfg.TRAINER.MUDPT.PROMPT_DEPTH = 9
    # cross_attention (the paper's Injection Model) | transformer (released UUMuDPT) |
    # linear (released MuDPT) | none (independent vision-language prompts, IVLP).
    cfg.TRAINER.MUDPT.INJECTION = "cross_attention"
    # cross_attention only: also fuse the shallow prompts (T_0 + V'_0, V_0 + T'_0). The linear and
    # transformer couplings keep the released code's fixed layer-0 rule (text -> vision only).
    cfg.TRAINER.MUDPT.INJECT_LAYER0 = False
    # Width d of the Injection Model (cross_attention).
    cfg.TRAINER.MUDPT.INJ_WIDTH = 512
    # Attention heads of the Injection Model (cross_attention); must divide INJ_WIDTH.
    cfg.TRAINER.MUDPT.INJ_HEADS = 8
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.MUDPT.PREC = "amp"


# --- the paper's Injection Model -----------------------------------------------------------------
class InjectionModel(nn.Module):
    """The modality-agnostic Injection Model (MuDPT, Sec. II-B1 and its figure): cross-modal
    attention from one modality's prompts to the other's, in one post-LN transformer layer.

    Adapters map both modalities into a shared width ``d``. Then, for every layer ``i`` and both
    directions at once: queries = one modality's ``n`` prompts of layer ``i``, keys/values = the
    other modality's ``n`` prompts of layer ``i``; Add & Norm; feed-forward (d -> 4d -> d, GELU);
    Add & Norm; a Linear into the *target* modality's width ("transformative context"). The
    attention, norms and feed-forward are shared by both directions and all layers.

    Args:
        text_dim: width of the text prompts (CLIP's ``ln_final`` width).
        vision_dim: width of the visual prompts (CLIP's ``visual.conv1`` width).
        width: shared width ``d`` of the layer.
        heads: attention heads (must divide ``width``).
    """

    def __init__(self, text_dim: int, vision_dim: int, width: int = 512, heads: int = 8):
        super().__init__()
        self.text_adapter = nn.Linear(text_dim, width)
        self.vision_adapter = nn.Linear(vision_dim, width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)  # no dropout
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, FFN_EXPANSION * width), nn.GELU(), nn.Linear(FFN_EXPANSION * width, width))
        self.ln_2 = nn.LayerNorm(width)
        self.to_vision = nn.Linear(width, vision_dim)
        self.to_text = nn.Linear(width, text_dim)

    def forward(self, text: torch.Tensor, vision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(T', V')`` for text prompts (L, n, D_t) and visual prompts (L, n, D_v) of L layers:
        ``T'`` (L, n, D_v) = text carried into the image tower, ``V'`` (L, n, D_t) the reverse."""
        n_layers = text.shape[0]
        t = self.text_adapter(text)  # (L, n, d)
        v = self.vision_adapter(vision)  # (L, n, d)
        query = torch.cat([t, v])  # (2L, n, d): rows < L text->vision, rows >= L vision->text
        context = torch.cat([v, t])  # (2L, n, d): the other modality, same layer
        x = self.ln_1(query + self.attn(query, context, context, need_weights=False)[0])  # (2L, n, d)
        x = self.ln_2(x + self.mlp(x))  # (2L, n, d)
        t2v, v2t = x.split(n_layers)  # (L, n, d) each
        return self.to_vision(t2v), self.to_text(v2t)  # (L, n, D_v), (L, n, D_t)


class HierarchicalFusion(nn.Module):
    """The paper's hierarchical fusion: before block ``i`` the text tower gets ``T_i + V'_i`` and
    the image tower ``V_i + T'_i``, with ``(T', V')`` from one shared :class:`InjectionModel`
    acting on the raw prompts. Deep layers always; the shallow layer too when ``inject_layer0``
    (the paper's figure draws no shallow injection)."""

    def __init__(self, injection_model: InjectionModel, inject_layer0: bool = False):
        super().__init__()
        self.injection_model = injection_model
        self.inject_layer0 = inject_layer0

    def forward(self, text_l0: torch.Tensor, text_deep: torch.Tensor, vision_l0: torch.Tensor, vision_deep: torch.Tensor):
        """(n, D_t), (J-1, n, D_t), (n, D_v), (J-1, n, D_v) -> the same four, fused."""
        text, vision = text_deep, vision_deep
        if self.inject_layer0:
            text = torch.cat([text_l0.unsqueeze(0), text_deep])  # (J, n, D_t)
            vision = torch.cat([vision_l0.unsqueeze(0), vision_deep])  # (J, n, D_v)
        t2v, v2t = self.injection_model(text, vision)  # (., n, D_v), (., n, D_t)
        text, vision = text + v2t, vision + t2v
        if self.inject_layer0:
            return text[0], text[1:], vision[0], vision[1:]
        return text_l0, text, vision_l0, vision


# --- the couplings of the released code ----------------------------------------------------------
class LinearInjection(nn.Module):
    """The released ``MuDPT`` trainer's coupling: shared Linear maps, no attention.

    Text block 0 gets ``T_0``; image block 0 gets ``V_0 + A_0(T_0)``; before deep block ``i`` the
    text tower gets ``T_i + B(V_i)`` and the image tower ``V_i + A(T_i)``, with one ``A`` and one
    ``B`` shared by all deep layers. Without deep layers (``deep=False``) ``A`` and ``B`` would
    get no input and are not built.

    Args:
        text_dim: width of the text prompts.
        vision_dim: width of the visual prompts.
        deep: build the deep maps ``A`` (text -> vision) and ``B`` (vision -> text).
    """

    def __init__(self, text_dim: int, vision_dim: int, deep: bool = True):
        super().__init__()
        self.embed_projection = nn.Linear(text_dim, vision_dim)  # A_0
        self.text_to_vision = nn.Linear(text_dim, vision_dim) if deep else None  # A
        self.vision_to_text = nn.Linear(vision_dim, text_dim) if deep else None  # B

    def forward(self, text_l0: torch.Tensor, text_deep: torch.Tensor, vision_l0: torch.Tensor, vision_deep: torch.Tensor):
        """(n, D_t), (J-1, n, D_t), (n, D_v), (J-1, n, D_v) -> the same four, fused."""
        vision_l0 = vision_l0 + self.embed_projection(text_l0)  # (n, D_v)
        if self.text_to_vision is None:
            return text_l0, text_deep, vision_l0, vision_deep
        fused_text = text_deep + self.vision_to_text(vision_deep)  # (J-1, n, D_t)
        fused_vision = vision_deep + self.text_to_vision(text_deep)  # (J-1, n, D_v)
        return text_l0, fused_text, vision_l0, fused_vision


class PromptTransformer(nn.Module):
    """One direction of the released ``UUMuDPT`` coupling ("light transformer"): LayerNorm, one
    CLIP residual block (pre-LN, ``width // 64`` heads, QuickGELU MLP 4x), LayerNorm, Linear into
    the other modality's width. Attention runs over the ``n`` tokens of one layer; layers form
    the batch.

    Args:
        in_dim: width of the source prompts.
        out_dim: width of the target modality.
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.ln_pre = clip.model.LayerNorm(in_dim)
        self.block = clip.model.ResidualAttentionBlock(in_dim, max(in_dim // CLIP_HEAD_WIDTH, 1))
        self.ln_post = clip.model.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """(L, n, D_in) -> (L, n, D_out)."""
        x = self.ln_pre(prompts).transpose(0, 1)  # (n, L, D_in): CLIP's blocks are sequence-first
        x = self.ln_post(self.block(x).transpose(0, 1))  # (L, n, D_in)
        return self.proj(x)  # (L, n, D_out)


class TransformerInjection(nn.Module):
    """The released ``UUMuDPT`` coupling: ``S' = P_tv([T_0; T])`` covers all J layers,
    ``V'' = P_vt(V)`` only the deep ones. Text block 0 gets ``T_0``, image block 0
    ``V_0 + S'_0``; deep block ``i``: text ``T_i + V''_i``, image ``V_i + S'_i``.

    Args:
        text_dim: width of the text prompts.
        vision_dim: width of the visual prompts.
        deep: build the vision -> text branch (it has no input without deep layers).
    """

    def __init__(self, text_dim: int, vision_dim: int, deep: bool = True):
        super().__init__()
        self.text_to_vision = PromptTransformer(text_dim, vision_dim)
        self.vision_to_text = PromptTransformer(vision_dim, text_dim) if deep else None

    def forward(self, text_l0: torch.Tensor, text_deep: torch.Tensor, vision_l0: torch.Tensor, vision_deep: torch.Tensor):
        """(n, D_t), (J-1, n, D_t), (n, D_v), (J-1, n, D_v) -> the same four, fused."""
        s = self.text_to_vision(torch.cat([text_l0.unsqueeze(0), text_deep]))  # (J, n, D_v)
        vision_l0 = vision_l0 + s[0]  # (n, D_v)
        if self.vision_to_text is None:
            return text_l0, text_deep, vision_l0, vision_deep
        return text_l0, text_deep + self.vision_to_text(vision_deep), vision_l0, vision_deep + s[1:]


# --- the prompt learner --------------------------------------------------------------------------
class MuDPTPromptLearner(Learner):
    """Every trainable tensor of MuDPT: the textual prompts ``T_0`` (``ctx``) and ``T_1..T_{J-1}``
    (``deep_prompts``), the visual prompts ``V_0`` (``visual_ctx``) and ``V_1..V_{J-1}``
    (``visual_deep_prompts``), and the coupling (``fusion``). ``forward()`` returns the fused
    prompts the encoders insert. The class prompts (SOS / class-name embeddings) are
    non-persistent buffers of ``prompts``.

    Args:
        class_prompts: tokenised class prompts whose first ``n`` context tokens ``T_0`` replaces.
        ctx_vectors: initial ``T_0`` (n, D_t).
        vision_dim: width of the visual prompts (unused when ``n_ctx_vision`` is 0).
        depth: J, the blocks that receive prompts counting block 0.
        n_ctx_vision: visual prompt tokens per layer (default ``n``; 0 = none).
        fusion: coupling module (:class:`HierarchicalFusion`, :class:`LinearInjection`,
            :class:`TransformerInjection`) or None for independent prompts.
    """

    def __init__(
        self,
        class_prompts: ClassPrompts,
        ctx_vectors: torch.Tensor,
        vision_dim: int,
        depth: int,
        n_ctx_vision: int | None = None,
        fusion: nn.Module | None = None,
    ):
        super().__init__()
        n_ctx, text_dim = ctx_vectors.shape
        if n_ctx != class_prompts.n_ctx:
            raise ValueError(f"T_0 has {n_ctx} tokens but the class prompts reserve {class_prompts.n_ctx}")
        n_ctx_vision = n_ctx if n_ctx_vision is None else n_ctx_vision
        if fusion is not None and n_ctx_vision != n_ctx:
            raise ValueError(f"fusion adds prompts token by token: it needs as many visual ({n_ctx_vision}) as text ({n_ctx}) prompts")
        if depth < 1:
            raise ValueError(f"prompt depth must be >= 1, got {depth}")
        self.prompts = class_prompts
        self.n_ctx, self.n_ctx_vision, self.depth = n_ctx, n_ctx_vision, depth
        self.text_dim, self.vision_dim = text_dim, vision_dim
        n_deep = depth - 1

        self.ctx = nn.Parameter(ctx_vectors.clone())  # T_0 (n, D_t)
        self.deep_prompts = new_prompts(n_deep, n_ctx, text_dim)  # T (J-1, n, D_t)
        self.visual_ctx = new_prompts(n_ctx_vision, vision_dim)  # V_0 (n_v, D_v)
        self.visual_deep_prompts = new_prompts(n_deep, n_ctx_vision, vision_dim)  # V (J-1, n_v, D_v)
        self.fusion = fusion

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Prompts of both modalities, then every weight of the coupling."""
        named = [(name, getattr(self, name)) for name in ("ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts")]
        named = [(name, p) for name, p in named if p is not None]
        if self.fusion is not None:
            named += [(f"fusion.{name}", p) for name, p in self.fusion.named_parameters()]
        return named

    def _deep(self, param: nn.Parameter | None, n: int, dim: int) -> torch.Tensor:
        return param if param is not None else self.ctx.new_zeros(0, n, dim)  # (J-1, n, D)

    def forward(self) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None, list[torch.Tensor]]:
        """``(text_l0 (n, D_t), text_deep [J-1 x (n, D_t)], vision_l0 (n_v, D_v) | None,
        vision_deep [J-1 x (n_v, D_v)] or [])``, fused: entry ``i`` of a deep list goes before
        block ``i + 1``."""
        text_l0 = self.ctx
        text_deep = self._deep(self.deep_prompts, self.n_ctx, self.text_dim)
        if self.visual_ctx is None:
            return text_l0, list(text_deep.unbind(0)), None, []
        vision_l0 = self.visual_ctx
        vision_deep = self._deep(self.visual_deep_prompts, self.n_ctx_vision, self.vision_dim)
        if self.fusion is not None:
            text_l0, text_deep, vision_l0, vision_deep = self.fusion(text_l0, text_deep, vision_l0, vision_deep)
        return text_l0, list(text_deep.unbind(0)), vision_l0, list(vision_deep.unbind(0))


class MuDPTModel(DeepPromptedCLIP):
    """Frozen CLIP fed with MuDPT's (fused) prompts: ``forward(image) -> logits`` (B, n_cls)."""


# --- builders (the only readers of the config) ---------------------------------------------------
def build_injection(
    injection: str,
    text_dim: int,
    vision_dim: int,
    depth: int,
    inject_layer0: bool = False,
    width: int = 512,
    heads: int = 8,
) -> nn.Module | None:
    """The coupling module for ``injection`` (one of :data:`INJECTION_CHOICES`), or None when
    there is nothing to couple (``none``; ``cross_attention`` with J = 1 and no layer-0 fusion)."""
    check_choice(injection, INJECTION_CHOICES, "TRAINER.MUDPT.INJECTION")
    deep = depth > 1
    if injection == "linear":
        return LinearInjection(text_dim, vision_dim, deep=deep)
    if injection == "transformer":
        return TransformerInjection(text_dim, vision_dim, deep=deep)
    if injection == "cross_attention" and (deep or inject_layer0):
        return HierarchicalFusion(InjectionModel(text_dim, vision_dim, width, heads), inject_layer0)
    return None


def _n_ctx_vision(c: CN) -> int:
    return c.N_CTX if c.N_CTX_VISION == -1 else c.N_CTX_VISION


def build_prompt_learner(cfg: CN, classnames: Sequence[str], clip_model: nn.Module) -> MuDPTPromptLearner:
    """The learner described by ``cfg.TRAINER.MUDPT``, sized from ``clip_model``."""
    c = cfg.TRAINER.MUDPT
    check_config(c)
    n_ctx, depth, n_ctx_vision = c.N_CTX, c.PROMPT_DEPTH, _n_ctx_vision(c)
    text_dim = clip_model.ln_final.weight.shape[0]
    text_blocks = len(clip_model.transformer.resblocks)
    vision_dim, vision_blocks = 0, None
    if n_ctx_vision > 0:
        if not is_vit(clip_model):
            raise ConfigError(
                f"Visual prompts need a ViT backbone (MODEL.BACKBONE.NAME {cfg.MODEL.BACKBONE.NAME!r}); use ViT-B/16, "
                "or TRAINER.MUDPT.INJECTION none with TRAINER.MUDPT.N_CTX_VISION 0 for text prompts only."
            )
        vision_dim = clip_model.visual.conv1.out_channels
        vision_blocks = len(clip_model.visual.transformer.resblocks)
    max_depth = min(text_blocks, vision_blocks or text_blocks)
    if depth > max_depth:
        raise ConfigError(
            f"TRAINER.MUDPT.PROMPT_DEPTH = {depth} but the backbone has {text_blocks} text and "
            f"{vision_blocks if vision_blocks is not None else 'no prompted'} image blocks; use 1..{max_depth}."
        )
    context_text = context_of(c)
    class_prompts = ClassPrompts(clip_model, classnames, n_ctx, context_text)
    ctx_vectors = class_prompts.initial_context(from_words=bool(c.CTX_INIT.strip()))
    fusion = build_injection(c.INJECTION, text_dim, vision_dim, depth, c.INJECT_LAYER0, c.INJ_WIDTH, c.INJ_HEADS)
    _log.info(
        f'Prompt text: "{context_text} <class>."; T_0 replaces its first {n_ctx} tokens '
        f"({'initialised from them' if c.CTX_INIT.strip() else 'random init'}); visual prompts per layer: {n_ctx_vision}"
    )
    layer0 = " (layer 0 fused too)" if c.INJECT_LAYER0 else ""
    _log.info(f"Prompt depth J = {depth} (blocks 0..{depth - 1}); injection: {c.INJECTION}{layer0}")
    if c.INJECTION == "cross_attention" and fusion is None:
        _log.info("Note: PROMPT_DEPTH 1 without INJECT_LAYER0 leaves nothing to fuse: independent shallow prompts")
    return MuDPTPromptLearner(class_prompts, ctx_vectors, vision_dim, depth, n_ctx_vision, fusion)


def check_config(c: CN, key: str = "TRAINER.MUDPT") -> None:
    """Validate ``TRAINER.MUDPT``; each error names the key, the valid values and the fix."""
    check_choice(c.INJECTION, INJECTION_CHOICES, f"{key}.INJECTION")
    check_choice(c.PREFIX_MODE, PREFIX_MODES, f"{key}.PREFIX_MODE")
    if c.N_CTX < 1:
        raise ConfigError(f"{key}.N_CTX = {c.N_CTX} is not valid; use a positive number of prompt tokens (e.g. 2).")
    if c.PROMPT_DEPTH < 1:
        raise ConfigError(
            f"{key}.PROMPT_DEPTH = {c.PROMPT_DEPTH} is not valid; use 1 (shallow prompts only) up to the number of "
            "transformer blocks (12 for ViT-B/16)."
        )
    if c.N_CTX_VISION < -1:
        raise ConfigError(f"{key}.N_CTX_VISION = {c.N_CTX_VISION} is not valid; use -1 (= N_CTX), 0 (no visual prompts) or a positive count.")
    n_ctx_vision = _n_ctx_vision(c)
    if c.INJECTION != "none" and n_ctx_vision != c.N_CTX:
        raise ConfigError(
            f"{key}.N_CTX_VISION = {c.N_CTX_VISION} with INJECTION {c.INJECTION!r}: fusion adds prompts token by "
            f"token, so it needs N_CTX_VISION -1 (= N_CTX = {c.N_CTX}); other values need INJECTION 'none'."
        )
    if c.INJECT_LAYER0 and c.INJECTION != "cross_attention":
        raise ConfigError(
            f"{key}.INJECT_LAYER0 True applies to INJECTION 'cross_attention' only (got {c.INJECTION!r}: its layer-0 "
            "rule is fixed, as in the released code); set INJECT_LAYER0 False."
        )
    if c.INJ_WIDTH < 1 or c.INJ_HEADS < 1 or c.INJ_WIDTH % c.INJ_HEADS:
        raise ConfigError(
            f"{key}.INJ_HEADS = {c.INJ_HEADS} must be a positive divisor of {key}.INJ_WIDTH = {c.INJ_WIDTH} "
            "(e.g. INJ_WIDTH 512 with INJ_HEADS 8)."
        )
    context_of(c, key)


def context_of(c: CN, key: str = "TRAINER.MUDPT") -> str:
    """The prompt's context text for ``c.CTX_INIT``, ``c.N_CTX`` and ``c.PREFIX_MODE``."""
    return prompt_context(c.CTX_INIT, c.N_CTX, key, keep="all" if c.PREFIX_MODE == "full_init" else "first_words")


@TRAINER_REGISTRY.register()
class MuDPT(ClipPromptTrainer):
    """MuDPT trainer. The registered model is the prompt learner alone, under the released
    code's checkpoint folder name ``MultimodalDeepPromptTuning``."""

    CFG_NODE = "MUDPT"
    MODEL_NAME = "MultimodalDeepPromptTuning"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_config(cfg.TRAINER.MUDPT)

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> MuDPTModel:
        learner = build_prompt_learner(cfg, classnames, clip_model)
        return MuDPTModel(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)
