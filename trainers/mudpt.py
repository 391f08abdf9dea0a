"""MuDPT: Multi-modal Deep-symphysis Prompt Tuning (Miao, Li, Tang, Wang, "MuDPT: Multi-modal
Deep-symphysis Prompt Tuning for Large Pre-trained Vision-Language Models", ICME 2023,
arXiv 2306.11400).

Frozen CLIP with learnable prompts in both towers: shallow textual prompts ``T_0`` replace the
``n`` tokens after SOS, shallow visual prompts ``V_0`` are appended to the image tokens, and deep
prompts ``T_i`` / ``V_i`` replace those rows before blocks ``1..J-1``. A modality-agnostic
**Injection Model** carries each deep layer's prompts into the other modality (``T'_i``,
``V'_i``); hierarchical fusion feeds the text tower ``T_i + V'_i`` and the image tower
``V_i + T'_i``.

One name for one concept: the *injection* (config ``INJECTION`` and ``INJ_*``, the learner's
``injection`` module, checkpoint keys ``injection.*``) is what one modality's prompts carry into
the other; *hierarchical fusion* is only the addition, done in one place
(:meth:`MuDPTPromptLearner.forward`).

This file holds, top to bottom: the config, the paper's :class:`InjectionModel` (its
:class:`InjectionLayer`), the two injections of the released code (:class:`LinearInjection`,
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
from .clip_prompting import ClassPrompts, DeepPromptedCLIP, check_prompt_depth, prompt_context
from .prompt_learners import new_prompts
from .spec import MethodSpec, register_method

__all__ = [
    "INJECTION_CHOICES",
    "default_heads",
    "INJ_NORMS",
    "INJ_SPANS",
    "InjectionLayer",
    "InjectionModel",
    "LinearInjection",
    "MuDPT",
    "MuDPTModel",
    "MuDPTPromptLearner",
    "PREFIX_MODES",
    "PromptTransformer",
    "SPEC",
    "TransformerInjection",
    "add_config",
    "build_injection",
    "build_prompt_learner",
    "check_config",
    "context_of",
]

_log = get_logger("trainers.mudpt")

#: ``TRAINER.MUDPT.INJECTION``: the paper's cross-attention Injection Model (default), the released
#: UUMuDPT transformer, the released MuDPT linear maps, or no injection (IVLP).
INJECTION_CHOICES = ("cross_attention", "transformer", "linear", "none")
#: ``TRAINER.MUDPT.PREFIX_MODE``: how much of CTX_INIT stays in the prompt text.
PREFIX_MODES = ("full_init", "first_n_words")
#: ``TRAINER.MUDPT.INJ_SPAN``: the keys of the Injection Model's attention: the other modality's
#: prompts of the same layer (the paper's figure pairs layer with layer), or of every injected layer.
INJ_SPANS = ("layer", "all")
#: ``TRAINER.MUDPT.INJ_NORM``: Add & Norm after each sub-layer (``Inject.pdf``), or the norm before it.
INJ_NORMS = ("post", "pre")
FFN_EXPANSION = 4  # feed-forward width = 4 x model width (the Transformer convention CLIP also uses)
CLIP_HEAD_WIDTH = 64  # CLIP's blocks use width // 64 heads; so does the released light transformer


def default_heads(width: int) -> int:
    """CLIP's number of attention heads for a width: ``width // 64`` (at least 1)."""
    return max(width // CLIP_HEAD_WIDTH, 1)


def effective_heads(heads: int, config: dict) -> int:
    """The heads ``INJ_HEADS`` means (0: ``INJ_WIDTH // 64``): runs compare by it (the spec)."""
    return heads or default_heads(int(config.get("TRAINER.MUDPT.INJ_WIDTH", 512)))


def add_config(cfg: CN) -> None:
    """TRAINER.MUDPT: the method's keys, each with a typed default (see docs/mudpt.md)."""
    cfg.TRAINER.MUDPT = CN()
    # Prompt tokens per layer in the text tower (n).
    cfg.TRAINER.MUDPT.N_CTX = 2
    # Prompt tokens per layer in the image tower: -1 = N_CTX; 0 = no visual prompts. Injection adds
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
    # cross_attention only: also inject into the shallow prompts (T_0 + V'_0, V_0 + T'_0). The linear and
    # transformer injections keep the released code's fixed layer-0 rule (text -> vision only).
    cfg.TRAINER.MUDPT.INJECT_LAYER0 = False
    # The Injection Model (cross_attention; docs/mudpt.md: what the paper fixes and what it leaves
    # open). Width d:
    cfg.TRAINER.MUDPT.INJ_WIDTH = 512
    # Attention heads; 0 = INJ_WIDTH // 64, as CLIP's blocks (8 at d = 512); must divide INJ_WIDTH.
    # Runs compare by the heads it means (a run written with INJ_HEADS 8 at width 512 is the same run).
    cfg.TRAINER.MUDPT.INJ_HEADS = 0
    # Layers (attention + feed-forward) refining the carried prompts (the paper's figure: 1).
    cfg.TRAINER.MUDPT.INJ_LAYERS = 1
    # The keys of the attention: "layer" (the other modality's prompts of the same layer) or "all"
    # (of every injected layer).
    cfg.TRAINER.MUDPT.INJ_SPAN = "layer"
    # "post" (Add & Norm after each sub-layer, Inject.pdf) or "pre" (norm first, as CLIP's blocks).
    cfg.TRAINER.MUDPT.INJ_NORM = "post"
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.MUDPT.PREC = "amp"


# --- the injection: what one modality's prompts carry into the other -----------------------------
# Every injection module maps the raw prompts of all J prompted layers, ``text`` (J, n, D_t) and
# ``vision`` (J, n, D_v), to what it carries into each tower, ``(into_text (J, n, D_t), into_vision
# (J, n, D_v))``, zero at the layers it leaves alone. The learner adds them (hierarchical fusion:
# text ``T_i + V'_i``, image ``V_i + T'_i``) in one place, :meth:`MuDPTPromptLearner.forward`.
def _zeros_before(x: torch.Tensor, layers: int) -> torch.Tensor:
    """``x`` (L, n, D) preceded by ``layers`` zero layers: (layers + L, n, D)."""
    return torch.cat([x.new_zeros(layers, *x.shape[1:]), x]) if layers else x


class InjectionLayer(nn.Module):
    """One layer of the Injection Model: cross-attention from queries to a context, then a
    feed-forward (d -> 4d -> d, GELU), each with a residual and a LayerNorm, post-LN (``Inject.pdf``:
    Add & Norm after each sub-layer) or pre-LN (``norm="pre"``: the norm before each sub-layer, as
    CLIP's own blocks). No dropout.

    Args:
        width: d.
        heads: attention heads (must divide ``width``).
        norm: "post" or "pre".
    """

    def __init__(self, width: int, heads: int, norm: str = "post"):
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, FFN_EXPANSION * width), nn.GELU(), nn.Linear(FFN_EXPANSION * width, width))
        self.ln_2 = nn.LayerNorm(width)
        self.pre_norm = norm == "pre"

    def forward(self, query: torch.Tensor, context: torch.Tensor, need_weights: bool = False) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, q, d), (B, k, d) -> (B, q, d) and, with ``need_weights``, the attention weights
        averaged over heads (B, q, k)."""
        if self.pre_norm:
            q, c = self.ln_1(query), self.ln_1(context)
            attended, weights = self.attn(q, c, c, need_weights=need_weights)
            x = query + attended
            return x + self.mlp(self.ln_2(x)), weights
        attended, weights = self.attn(query, context, context, need_weights=need_weights)
        x = self.ln_1(query + attended)
        return self.ln_2(x + self.mlp(x)), weights


class InjectionModel(nn.Module):
    """The paper's modality-agnostic Injection Model (MuDPT, Sec. II-B1 and ``Inject.pdf``):
    cross-modal attention from one modality's prompts to the other's.

    Adapters map both modalities into a shared width ``d``. For every injected layer ``i`` and both
    directions at once, the queries are one modality's ``n`` prompts of layer ``i`` and the keys and
    values the other modality's prompts: of layer ``i`` (``span="layer"``, the default) or of every
    injected layer (``span="all"``, ``L n`` keys). ``n_layers`` :class:`InjectionLayer` refine the
    queries in turn against the same keys and values (as a transformer decoder attends to its
    memory); pre-LN stacks end with one more LayerNorm. A Linear then maps into the *target*
    modality's width ("transformative context"). Every weight is shared by both directions and all
    prompted layers.

    Args:
        text_dim, vision_dim: widths of the text and visual prompts.
        width: d.
        heads: attention heads (0: ``width // 64``, as CLIP's blocks).
        n_layers: InjectionLayers (the paper draws one).
        span: "layer" or "all".
        norm: "post" (``Inject.pdf``) or "pre".
        inject_layer0: also carry the shallow prompts (layer 0); the paper's figure does not.
    """

    def __init__(self, text_dim: int, vision_dim: int, width: int = 512, heads: int = 0, n_layers: int = 1,
                 span: str = "layer", norm: str = "post", inject_layer0: bool = False):  # fmt: skip
        super().__init__()
        heads = heads or default_heads(width)
        self.text_adapter = nn.Linear(text_dim, width)
        self.vision_adapter = nn.Linear(vision_dim, width)
        self.layers = nn.ModuleList(InjectionLayer(width, heads, norm) for _ in range(n_layers))
        self.ln_out = nn.LayerNorm(width) if norm == "pre" else None
        self.to_vision = nn.Linear(width, vision_dim)
        self.to_text = nn.Linear(width, text_dim)
        self.span, self.skip = span, 0 if inject_layer0 else 1

    def carry(self, text: torch.Tensor, vision: torch.Tensor, need_weights: bool = False):
        """``T'`` (L, n, D_v) and ``V'`` (L, n, D_t) for the prompts (L, n, D_t), (L, n, D_v) of the
        L injected layers, and the attention weights (n_layers, 2, L, n, k) averaged over heads
        (direction 0: text queries -> vision keys; 1: vision -> text; ``k`` = n or L n) or None."""
        L, n = text.shape[:2]
        t = self.text_adapter(text)  # (L, n, d)
        v = self.vision_adapter(vision)  # (L, n, d)
        x = torch.cat([t, v])  # (2L, n, d): rows < L text -> vision, rows >= L vision -> text
        context = torch.cat([v, t])  # (2L, n, d): the other modality, same layer
        if self.span == "all":  # every injected layer of the other modality: (2L, L n, d)
            context = torch.cat([v.reshape(1, L * n, -1).expand(L, -1, -1), t.reshape(1, L * n, -1).expand(L, -1, -1)])
        weights = []
        for layer in self.layers:
            x, w = layer(x, context, need_weights)  # (2L, n, d)
            weights.append(w)
        if self.ln_out is not None:
            x = self.ln_out(x)
        t2v, v2t = x.split(L)  # (L, n, d) each
        attention = torch.stack([w.reshape(2, L, n, -1) for w in weights]) if need_weights else None
        return self.to_vision(t2v), self.to_text(v2t), attention

    def forward(self, text: torch.Tensor, vision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, n, D_t), (J, n, D_v) -> into_text (J, n, D_t), into_vision (J, n, D_v)."""
        t2v, v2t, _ = self.carry(text[self.skip :], vision[self.skip :])
        return _zeros_before(v2t, self.skip), _zeros_before(t2v, self.skip)

    @torch.no_grad()
    def attention(self, text: torch.Tensor, vision: torch.Tensor) -> dict:
        """The attention weights of :meth:`carry` on the prompts of all J layers: ``{"layers": the
        prompted layers i, "weights": (n_layers, 2, L, n, k)}``."""
        _, _, weights = self.carry(text[self.skip :], vision[self.skip :], need_weights=True)
        return {"layers": list(range(self.skip, text.shape[0])), "weights": weights}


# --- the injections of the released code ---------------------------------------------------------
class LinearInjection(nn.Module):
    """The released ``MuDPT`` trainer's injection: shared Linear maps, no attention.

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

    def forward(self, text: torch.Tensor, vision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, n, D_t), (J, n, D_v) -> into_text (J, n, D_t), into_vision (J, n, D_v)."""
        into_vision = self.embed_projection(text[:1])  # (1, n, D_v)
        if self.text_to_vision is None:
            return torch.zeros_like(text), into_vision
        into_vision = torch.cat([into_vision, self.text_to_vision(text[1:])])  # (J, n, D_v)
        return _zeros_before(self.vision_to_text(vision[1:]), 1), into_vision


class PromptTransformer(nn.Module):
    """One direction of the released ``UUMuDPT`` injection ("light transformer"): LayerNorm, one
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
        self.block = clip.model.ResidualAttentionBlock(in_dim, default_heads(in_dim))
        self.ln_post = clip.model.LayerNorm(in_dim)
        self.proj = nn.Linear(in_dim, out_dim)

    def forward(self, prompts: torch.Tensor) -> torch.Tensor:
        """(L, n, D_in) -> (L, n, D_out)."""
        x = self.ln_pre(prompts).transpose(0, 1)  # (n, L, D_in): CLIP's blocks are sequence-first
        x = self.ln_post(self.block(x).transpose(0, 1))  # (L, n, D_in)
        return self.proj(x)  # (L, n, D_out)


class TransformerInjection(nn.Module):
    """The released ``UUMuDPT`` injection: ``S' = P_tv([T_0; T])`` covers all J layers,
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

    def forward(self, text: torch.Tensor, vision: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(J, n, D_t), (J, n, D_v) -> into_text (J, n, D_t), into_vision (J, n, D_v)."""
        into_vision = self.text_to_vision(text)  # S' (J, n, D_v)
        if self.vision_to_text is None:
            return torch.zeros_like(text), into_vision
        return _zeros_before(self.vision_to_text(vision[1:]), 1), into_vision


# --- the prompt learner --------------------------------------------------------------------------
#: Checkpoints written before the injection got its one name (``fusion.``, and the paper's model
#: under ``fusion.injection_model.`` with its one layer unnumbered) load under today's names.
LEGACY_PREFIXES = (
    ("fusion.injection_model.attn.", "injection.layers.0.attn."),
    ("fusion.injection_model.ln_1.", "injection.layers.0.ln_1."),
    ("fusion.injection_model.mlp.", "injection.layers.0.mlp."),
    ("fusion.injection_model.ln_2.", "injection.layers.0.ln_2."),
    ("fusion.injection_model.", "injection."),
    ("fusion.", "injection."),
)


def _rename_legacy_keys(module, state_dict, prefix, *args) -> None:
    for key in [k for k in state_dict if k.startswith(prefix + "fusion.")]:
        rest = key[len(prefix) :]
        old, new = next((o, n) for o, n in LEGACY_PREFIXES if rest.startswith(o))
        state_dict[prefix + new + rest[len(old) :]] = state_dict.pop(key)


class MuDPTPromptLearner(Learner):
    """Every trainable tensor of MuDPT: the textual prompts ``T_0`` (``ctx``) and ``T_1..T_{J-1}``
    (``deep_prompts``), the visual prompts ``V_0`` (``visual_ctx``) and ``V_1..V_{J-1}``
    (``visual_deep_prompts``), and the injection module (``injection``). ``forward()`` returns the
    fused prompts the encoders insert. The class prompts (SOS / class-name embeddings) are
    non-persistent buffers of ``prompts``.

    Args:
        class_prompts: tokenised class prompts whose first ``n`` context tokens ``T_0`` replaces.
        ctx_vectors: initial ``T_0`` (n, D_t).
        vision_dim: width of the visual prompts (unused when ``n_ctx_vision`` is 0).
        depth: J, the blocks that receive prompts counting block 0.
        n_ctx_vision: visual prompt tokens per layer (default ``n``; 0 = none; other values need
            ``injection`` None: injection adds prompts token by token).
        injection: :class:`InjectionModel`, :class:`LinearInjection`, :class:`TransformerInjection`
            or None (independent prompts).
    """

    def __init__(
        self,
        class_prompts: ClassPrompts,
        ctx_vectors: torch.Tensor,
        vision_dim: int,
        depth: int,
        n_ctx_vision: int | None = None,
        injection: nn.Module | None = None,
    ):
        super().__init__()
        n_ctx, text_dim = ctx_vectors.shape
        self.prompts = class_prompts
        self.n_ctx, self.n_ctx_vision, self.depth = n_ctx, n_ctx if n_ctx_vision is None else n_ctx_vision, depth
        self.text_dim, self.vision_dim = text_dim, vision_dim
        n_deep = depth - 1

        self.ctx = nn.Parameter(ctx_vectors.clone())  # T_0 (n, D_t)
        self.deep_prompts = new_prompts(n_deep, n_ctx, text_dim)  # T (J-1, n, D_t)
        self.visual_ctx = new_prompts(self.n_ctx_vision, vision_dim)  # V_0 (n_v, D_v)
        self.visual_deep_prompts = new_prompts(n_deep, self.n_ctx_vision, vision_dim)  # V (J-1, n_v, D_v)
        self.injection = injection
        self.register_load_state_dict_pre_hook(_rename_legacy_keys)

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """Prompts of both modalities, then every weight of the injection module."""
        named = [(name, getattr(self, name)) for name in ("ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts")]
        named = [(name, p) for name, p in named if p is not None]
        if self.injection is not None:
            named += [(f"injection.{name}", p) for name, p in self.injection.named_parameters()]
        return named

    def raw_prompts(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The prompts of all J layers before injection: text (J, n, D_t), vision (J, n_v, D_v) or None."""
        text = self.ctx.unsqueeze(0)  # (1, n, D_t)
        if self.deep_prompts is not None:
            text = torch.cat([text, self.deep_prompts])  # (J, n, D_t)
        if self.visual_ctx is None:
            return text, None
        vision = self.visual_ctx.unsqueeze(0)  # (1, n_v, D_v)
        if self.visual_deep_prompts is not None:
            vision = torch.cat([vision, self.visual_deep_prompts])  # (J, n_v, D_v)
        return text, vision

    def forward(self) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor | None, list[torch.Tensor]]:
        """``(text_l0 (n, D_t), text_deep [J-1 x (n, D_t)], vision_l0 (n_v, D_v) | None,
        vision_deep [J-1 x (n_v, D_v)] or [])``, fused: entry ``i`` of a deep list goes before
        block ``i + 1``."""
        text, vision = self.raw_prompts()
        if vision is None:
            return text[0], list(text[1:].unbind(0)), None, []
        if self.injection is not None:
            into_text, into_vision = self.injection(text, vision)  # V'_i (J, n, D_t), T'_i (J, n, D_v)
            text, vision = text + into_text, vision + into_vision  # hierarchical fusion
        return text[0], list(text[1:].unbind(0)), vision[0], list(vision[1:].unbind(0))

    def injection_attention(self) -> dict | None:
        """The Injection Model's attention weights (see :meth:`InjectionModel.attention`), or None
        for the other injections and independent prompts."""
        if not isinstance(self.injection, InjectionModel):
            return None
        return self.injection.attention(*self.raw_prompts())


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
    heads: int = 0,
    layers: int = 1,
    span: str = "layer",
    norm: str = "post",
) -> nn.Module | None:
    """The injection module for ``injection`` (one of :data:`INJECTION_CHOICES`; the other
    arguments are :class:`InjectionModel`'s), or None when nothing is injected (``none``;
    ``cross_attention`` with J = 1 and no layer-0 injection)."""
    deep = depth > 1
    if injection == "linear":
        return LinearInjection(text_dim, vision_dim, deep=deep)
    if injection == "transformer":
        return TransformerInjection(text_dim, vision_dim, deep=deep)
    if injection == "cross_attention" and (deep or inject_layer0):
        return InjectionModel(text_dim, vision_dim, width, heads, layers, span, norm, inject_layer0)
    return None


def _n_ctx_vision(c: CN) -> int:
    return c.N_CTX if c.N_CTX_VISION == -1 else c.N_CTX_VISION


def build_prompt_learner(cfg: CN, classnames: Sequence[str], clip_model: nn.Module) -> MuDPTPromptLearner:
    """The learner described by ``cfg.TRAINER.MUDPT`` (validated by :func:`check_config`, which the
    model factory runs first), sized from ``clip_model``."""
    c = cfg.TRAINER.MUDPT
    n_ctx, depth, n_ctx_vision = c.N_CTX, c.PROMPT_DEPTH, _n_ctx_vision(c)
    text_dim = clip_model.ln_final.weight.shape[0]
    check_prompt_depth(clip_model, "TRAINER.MUDPT.PROMPT_DEPTH", depth, "both" if n_ctx_vision > 0 else "text", cfg.MODEL.BACKBONE.NAME,
                       vit_fix="or TRAINER.MUDPT.INJECTION none with TRAINER.MUDPT.N_CTX_VISION 0 for text prompts only")  # fmt: skip
    vision_dim = clip_model.visual.conv1.out_channels if n_ctx_vision > 0 else 0
    context_text = context_of(c)
    class_prompts = ClassPrompts(clip_model, classnames, n_ctx, context_text, "TRAINER.MUDPT.N_CTX")
    ctx_vectors = class_prompts.initial_context(from_words=bool(c.CTX_INIT.strip()))
    injection = build_injection(c.INJECTION, text_dim, vision_dim, depth, c.INJECT_LAYER0, c.INJ_WIDTH, c.INJ_HEADS,
                                c.INJ_LAYERS, c.INJ_SPAN, c.INJ_NORM)  # fmt: skip
    _log.info(
        f'Prompt text: "{context_text} <class>."; T_0 replaces its first {n_ctx} tokens '
        f"({'initialised from them' if c.CTX_INIT.strip() else 'random init'}); visual prompts per layer: {n_ctx_vision}"
    )
    layer0 = " (layer 0 too)" if c.INJECT_LAYER0 else ""
    design = ""
    if isinstance(injection, InjectionModel):
        heads = injection.layers[0].attn.num_heads
        design = f": {c.INJ_LAYERS} layer(s), width {c.INJ_WIDTH}, {heads} heads, span {c.INJ_SPAN}, {c.INJ_NORM}-LN"
    _log.info(f"Prompt depth J = {depth} (blocks 0..{depth - 1}); injection: {c.INJECTION}{layer0}{design}")
    if c.INJECTION == "cross_attention" and injection is None:
        _log.info("Note: PROMPT_DEPTH 1 without INJECT_LAYER0 leaves nothing to inject: independent shallow prompts")
    return MuDPTPromptLearner(class_prompts, ctx_vectors, vision_dim, depth, n_ctx_vision, injection)


def check_config(c: CN, key: str = "TRAINER.MUDPT") -> None:
    """Validate ``TRAINER.MUDPT`` (once, where the model factory reads it); each error names the
    key, the valid values and the fix. What depends on the backbone (PROMPT_DEPTH against its
    blocks, visual prompts on a ResNet) is checked where the learner is sized."""
    check_choice(c.INJECTION, INJECTION_CHOICES, f"{key}.INJECTION")
    check_choice(c.PREFIX_MODE, PREFIX_MODES, f"{key}.PREFIX_MODE")
    check_choice(c.INJ_SPAN, INJ_SPANS, f"{key}.INJ_SPAN")
    check_choice(c.INJ_NORM, INJ_NORMS, f"{key}.INJ_NORM")
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
            f"{key}.N_CTX_VISION = {c.N_CTX_VISION} with INJECTION {c.INJECTION!r}: injection adds prompts token by "
            f"token, so it needs N_CTX_VISION -1 (= N_CTX = {c.N_CTX}); other values need INJECTION 'none'."
        )
    if c.INJECT_LAYER0 and c.INJECTION != "cross_attention":
        raise ConfigError(
            f"{key}.INJECT_LAYER0 True applies to INJECTION 'cross_attention' only (got {c.INJECTION!r}: its layer-0 "
            "rule is fixed, as in the released code); set INJECT_LAYER0 False."
        )
    if c.INJ_LAYERS < 1:
        raise ConfigError(f"{key}.INJ_LAYERS = {c.INJ_LAYERS} is not valid; use 1 (the paper's figure) or more Injection Model layers.")
    heads = c.INJ_HEADS or default_heads(c.INJ_WIDTH)
    if c.INJ_WIDTH < 1 or c.INJ_HEADS < 0 or c.INJ_WIDTH % heads:
        raise ConfigError(
            f"{key}.INJ_HEADS = {c.INJ_HEADS} must be 0 (= INJ_WIDTH // 64) or a positive divisor of {key}.INJ_WIDTH = {c.INJ_WIDTH} "
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


RECIPES = "configs/trainers/MuDPT"

SPEC = register_method(
    MethodSpec(
        name="mudpt",
        trainer=MuDPT,
        paper="MuDPT (Miao et al., arXiv 2306.11400)",
        add_config=add_config,
        order=0,
        recipes={
            "base2new": f"{RECIPES}/vit_b16_c2_ep10_batch4_depth9.yaml",
            "xd": f"{RECIPES}/vit_b16_c2_ep5_batch4_depth9_xd.yaml",
            "fewshot": f"{RECIPES}/vit_b16_c2_ep10_batch4_depth9_fewshot.yaml",
        },
        bench_recipe=f"{RECIPES}/vit_b16_c2_ep10_batch4_depth9.yaml",
        bench_official=(
            dict(precision="fp32", label="its default (really fp32)", n_cls=500, batch=4, train_ms=208, peak_mb=14677, eval_img_s=576),
            dict(precision="amp", label="amp", n_cls=500, batch=4, train_ms=66, peak_mb=8874, eval_img_s=574),
        ),
        # DEEP_PROMPT_DEPTH: the released code's name of the prompt depth (in its logs).
        caption_keys=("N_CTX", "N_CTX_VISION", "PROMPT_DEPTH", "DEEP_PROMPT_DEPTH", "INJECTION"),
        # Runs compare by the heads INJ_HEADS means (a run written with INJ_HEADS 8 at width 512 is the same run).
        effective_values={"INJ_HEADS": effective_heads},
    )
)
