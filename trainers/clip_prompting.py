"""Prompted CLIP: the one place that walks CLIP's transformer blocks.

Every method of this family (CoOp arXiv 2109.01134, CoCoOp 2203.05557, MaPLe 2210.03117,
MuDPT 2306.11400) is "frozen CLIP + learnable tokens inserted at some layers". This module wraps
the *unmodified* CLIP of ``openai-clip`` or ``open_clip`` (arXiv 2212.07143; the models
:func:`trainers.clip_loader.check_promptable` accepts) and provides:

* :class:`PromptedTextEncoder`: token embeddings with the shallow context already in place ->
  text features, with optional deep prompts that **replace** the ``n`` context rows (right after
  SOS) before blocks ``1..J-1``;
* :class:`PromptedImageEncoder`: CLIP's ViT stem with shallow visual prompts **appended** after
  the positional embedding, deep visual prompts replacing the last ``n`` rows before blocks
  ``1..J-1``;
* :class:`ClassPrompts`: tokenised ``"<context> <class name>."`` prompts and the frozen
  ``token_prefix`` / ``token_suffix`` buffers built from them;
* :func:`clip_logits` and :class:`TextFeatureCache`.

Prompts are inserted by concatenation, never written in place, and CLIP's causal text mask is
kept. Two ways to run a block: ``fused=False`` calls the model's own ``ResidualAttentionBlock`` as
its package's ``encode_text``/``encode_image`` does (openai-clip's sequence-first with the mask
the block holds, open_clip's batch-first with the model's mask passed in: bit-identical to
them); ``fused=True`` (default) computes the same function on the same frozen weights
batch-first through ``F.scaled_dot_product_attention`` (with open_clip's layer scale and the
block's activation, GELU or QuickGELU) and lets the text tower stop at the longest EOT position:
the causal mask makes every later token irrelevant to the EOT feature, so this is exact up to
float rounding and several times cheaper. The frozen towers always run as in evaluation (a
ResNet's BatchNorm statistics, open_clip's patch dropout), whatever mode the model is set to.

Hidden states (for analysis, e.g. ``python -m analysis alignment``): both encoders take an optional
``states`` list and append to it, after each block ``i``, the hidden state of their readout token,
the one the final feature is read from: the EOT token of each prompt (text, (N, D_t)) and the CLS
token (image, (B, D_v)), before ``ln_final`` / ``ln_post``. :func:`record_states` passes such a
list to every call of an encoder made inside a ``with`` block, so a model's own ``forward`` can be
observed unchanged. Without ``states`` nothing is collected and nothing else changes.
"""
from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from engine.seam import ConfigError

from .clip_loader import CLIP_TOKENIZER, clip, is_quick_gelu, text_attn_mask

__all__ = [
    "PROMPT_INIT_STD",
    "ClassPrompts",
    "ContextPromptedCLIP",
    "DeepPromptedCLIP",
    "HandcraftedTextFeatures",
    "PromptedCLIP",
    "PromptedImageEncoder",
    "PromptedTextEncoder",
    "TextFeatureCache",
    "assemble_prompts",
    "check_prompt_depth",
    "clip_logits",
    "count_tokens",
    "is_vit",
    "prompt_context",
    "quick_gelu",
    "random_prompts",
    "record_states",
    "run_block",
    "tokenize",
]

# Prompt tensors accepted by the encoders: (n, D) shared by every sequence, or (N, n, D) per sequence.
Prompt = torch.Tensor

# Randomly initialised prompts are N(0, 0.02^2) in every method of the family (CoOp, CoCoOp,
# MaPLe, IVLP, VPT, PromptSRC, KgCoOp, the released MuDPT).
PROMPT_INIT_STD = 0.02


def random_prompts(*shape: int) -> torch.Tensor:
    """Fresh N(0, 0.02^2) prompt vectors of ``shape`` (drawn from torch's global generator, in
    creation order, as the official implementations draw them)."""
    return torch.empty(shape).normal_(std=PROMPT_INIT_STD)


def count_tokens(text: str) -> int:
    """CLIP BPE tokens of ``text`` (without SOS and EOT)."""
    return len(CLIP_TOKENIZER.encode(text))


#: Why a prompt is too long: (the longest text, its token count with SOS and EOT, the context length) -> the message.
TooLong = Callable[[str, int, int], str]


def _shown(text: str, most: int = 80) -> str:
    return text if len(text) <= most else f"{text[: most // 2]} ... {text[-most // 2 :]}"


def _too_long(text: str, n_tokens: int, length: int) -> str:
    return (
        f'The prompt "{_shown(text)}" is {n_tokens} tokens with its start and end tokens; CLIP reads at most {length}. '
        "Shorten the class name (or the prompt template)."
    )


def tokenize(clip_model: nn.Module, texts: Sequence[str], too_long: TooLong = _too_long) -> torch.Tensor:
    """``texts`` as the model's token ids (N, context length): CLIP's BPE, which is the tokenizer of
    every model the loader accepts (OpenAI's; open_clip's ``get_tokenizer`` gives the same
    ``SimpleTokenizer`` for a model over that vocabulary), at the model's context length.

    The one check of a prompt's length, for every method and every prompt: a text longer than the
    context length is a ConfigError whose message ``too_long`` writes for the longest text (the
    caller knows which setting makes it long, e.g. :class:`ClassPrompts` and its context length)."""
    texts = list(texts)
    length = clip_model.context_length
    try:
        return clip.tokenize(texts, context_length=length)
    except RuntimeError:
        counts = [count_tokens(text) + 2 for text in texts]  # + SOS and EOT
        longest = max(range(len(texts)), key=counts.__getitem__)
        if counts[longest] <= length:
            raise
        raise ConfigError(too_long(texts[longest], counts[longest], length)) from None


def prompt_context(ctx_init: str, n_ctx: int, key: str, keep: str = "all") -> str:
    """The words written before each class name, whose first ``n_ctx`` tokens the learned context
    replaces (``ClassPrompts``; its ``context_embedding`` is their initial value).

    ``ctx_init`` "" gives ``n_ctx`` "X" placeholders (random context). ``keep="all"`` keeps the
    whole ``ctx_init`` in the prompt (MaPLe, IVLP, PromptSRC: "a photo of a" with 2 context tokens
    is ``[SOS] v1 v2 of a <class>.``); ``keep="first_words"`` keeps its first ``n_ctx`` words only
    (the released MuDPT code). A ``ctx_init`` shorter than ``n_ctx`` is an error naming ``key``
    (the official code would silently take EOT and padding embeddings as context).
    """
    ctx_init = ctx_init.replace("_", " ").strip()
    if not ctx_init:
        return " ".join(["X"] * n_ctx)
    if keep == "first_words":
        words = ctx_init.split()
        if n_ctx > len(words):
            raise ConfigError(
                f'{key}.N_CTX = {n_ctx} but {key}.CTX_INIT "{ctx_init}" has only {len(words)} words for '
                f"PREFIX_MODE first_n_words. Lower N_CTX to <= {len(words)}, use a longer CTX_INIT, or set "
                'CTX_INIT "" for random prompts.'
            )
        return " ".join(words[:n_ctx])
    n_tokens = count_tokens(ctx_init)
    if n_ctx > n_tokens:
        raise ConfigError(
            f'{key}.N_CTX = {n_ctx} but {key}.CTX_INIT "{ctx_init}" has only {n_tokens} tokens. Lower N_CTX '
            f'to <= {n_tokens}, use a longer CTX_INIT, or set CTX_INIT "" for random prompts.'
        )
    return ctx_init


def is_vit(clip_model: nn.Module) -> bool:
    """True for ViT image towers (the only ones that take visual prompts)."""
    return hasattr(clip_model.visual, "transformer")


TOWERS = ("text", "image", "both")


def check_prompt_depth(clip_model: nn.Module, key: str, depth: int, towers: str, backbone: str, minimum: int = 1, vit_fix: str = "") -> None:
    """The one check of a prompt depth against the backbone, for every method: ``depth`` J (config
    key ``key``; J counts block 0) prompts the blocks of ``towers`` ("text", "image" or "both": one
    depth for both towers), so it must not exceed their blocks, and visual prompts need a ViT image
    tower. Errors name the key, the blocks and the fix (``vit_fix``: the method's way to do without
    visual prompts, e.g. "or TRAINER.IVLP.PROMPT_DEPTH_VISION 0"); ``backbone`` is
    ``MODEL.BACKBONE.NAME`` (for the message); ``minimum``: the smallest valid depth."""
    if towers not in TOWERS:
        raise ValueError(f"towers must be one of {TOWERS}, got {towers!r}")
    if towers != "text" and not is_vit(clip_model):
        raise ConfigError(
            f"Visual prompts need a ViT backbone (MODEL.BACKBONE.NAME {backbone!r} has a ResNet image tower); "
            f"use a ViT one (e.g. ViT-B/16, open_clip:ViT-B-32){', ' + vit_fix if vit_fix else ''}."
        )
    blocks = {}
    if towers != "image":
        blocks["text"] = len(clip_model.transformer.resblocks)
    if towers != "text":
        blocks["image"] = len(clip_model.visual.transformer.resblocks)
    most = min(blocks.values())
    if depth > most:
        has = " and ".join(f"{n} {tower}" for tower, n in blocks.items())
        where = f"the backbone has {has} blocks" if len(blocks) > 1 else f"the {towers} tower has {most} blocks"
        raise ConfigError(f"{key} = {depth} but {where}; use {minimum}..{most}.")


def _as_batch(prompt: Prompt, batch: int, dtype: torch.dtype) -> torch.Tensor:
    """(n, D) or (N, n, D) -> (batch, n, D) in ``dtype`` (the cast happens at insertion)."""
    prompt = prompt.to(dtype)
    if prompt.dim() == 2:
        return prompt.unsqueeze(0).expand(batch, -1, -1)  # (B, n, D)
    if prompt.shape[0] != batch:
        raise ValueError(f"per-sequence prompts have {prompt.shape[0]} rows for a batch of {batch}")
    return prompt


QUICK_GELU_ALPHA = 1.702  # CLIP's activation: x * sigmoid(1.702 x) (clip.model.QuickGELU)


class _QuickGELU(torch.autograd.Function):
    """CLIP's QuickGELU with the same forward ops, saving only its input for backward (the
    sigmoid is recomputed there): the block's widest activation is then stored once, not three
    times (input, ``1.702 x``, sigmoid)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x * torch.sigmoid(QUICK_GELU_ALPHA * x)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        s = torch.sigmoid(QUICK_GELU_ALPHA * x)
        return grad * (s + QUICK_GELU_ALPHA * x * s * (1 - s))


def quick_gelu(x: torch.Tensor) -> torch.Tensor:
    """``x * sigmoid(1.702 x)``, memory-lean in backward."""
    return _QuickGELU.apply(x)


def _mlp(mlp: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A CLIP block's MLP (c_fc, QuickGELU, c_proj); other activations (open_clip's GELU) run as they are.
    Without gradients (evaluation, prediction) QuickGELU runs the same ops in place: one (B, L, 4D)
    buffer instead of three, the same bits."""
    if not is_quick_gelu(getattr(mlp, "gelu", None)):
        return mlp(x)
    h = F.linear(x, mlp.c_fc.weight, mlp.c_fc.bias)  # (B, L, 4D)
    if torch.is_grad_enabled():
        h = quick_gelu(h)
    else:
        h.mul_(h.mul(QUICK_GELU_ALPHA).sigmoid_())  # x * sigmoid(1.702 x), as clip.model.QuickGELU
    return F.linear(h, mlp.c_proj.weight, mlp.c_proj.bias)  # (B, L, D)


def _scaled(block: nn.Module, name: str, x: torch.Tensor) -> torch.Tensor:
    """``x`` through the block's layer scale ``name`` (open_clip's ``ls_1`` / ``ls_2``, an Identity
    when the model has none; openai-clip's blocks have none)."""
    scale = getattr(block, name, None)
    return x if scale is None else scale(x)


def run_block(block: nn.Module, x: torch.Tensor, causal: bool = False, fused: bool = True, mask: torch.Tensor | None = None) -> torch.Tensor:
    """One frozen CLIP ``ResidualAttentionBlock`` on batch-first ``x`` (B, L, D).

    ``fused=False`` calls the block itself as its package's encoders do: sequence-first for
    openai-clip's blocks (``attn.batch_first`` False), which hold their attention mask; with
    ``mask`` (open_clip's text tower: the model's causal mask, :func:`~trainers.clip_loader.text_attn_mask`)
    passed in. The text tower then needs the full context length. ``fused=True`` recomputes the
    same function with ``scaled_dot_product_attention`` on the block's weights (``causal`` says
    whether it is masked): no (L, L) mask tensor, any length, flash/efficient kernels on GPU.
    """
    if not fused:
        sequence_first = not block.attn.batch_first
        h = x.transpose(0, 1) if sequence_first else x  # (L, B, D) for openai-clip's blocks
        h = block(h) if mask is None else block(h, attn_mask=mask)
        return h.transpose(0, 1) if sequence_first else h  # (B, L, D)
    attn = block.attn
    B, L, D = x.shape
    H = attn.num_heads
    h = block.ln_1(x)
    qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)  # (B, L, 3D)
    q, k, v = qkv.view(B, L, 3, H, D // H).permute(2, 0, 3, 1, 4)  # 3 x (B, H, L, D/H)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # (B, H, L, D/H)
    o = o.transpose(1, 2).reshape(B, L, D)  # (B, L, D)
    x = x + _scaled(block, "ls_1", F.linear(o, attn.out_proj.weight, attn.out_proj.bias))
    mlp = _scaled(block, "ls_2", _mlp(block.mlp, block.ln_2(x)))
    if torch.is_grad_enabled() or mlp.dtype != x.dtype:
        return x + mlp
    return x.add_(mlp)  # x is this block's own tensor: the same sum, one buffer fewer


class _FrozenTower(nn.Module):
    """An encoder over CLIP's frozen modules: they always run as in evaluation (a ResNet's
    BatchNorm statistics stay CLIP's, open_clip's patch dropout stays off), whatever mode the
    model holding the encoder is set to."""

    def train(self, mode: bool = True) -> "_FrozenTower":
        return super().train(False)


def _weight(projection: nn.Module | torch.Tensor) -> torch.Tensor:
    """A projection's matrix: the tensor itself, or a Linear's weight (open_clip's biased projection)."""
    return projection.weight if isinstance(projection, nn.Linear) else projection


def _project(x: torch.Tensor, projection: nn.Module | torch.Tensor) -> torch.Tensor:
    """``x`` (..., D) through a projection to (..., E): ``x @ P`` or a Linear, as the model's package does."""
    return projection(x) if isinstance(projection, nn.Module) else x @ projection


class PromptedTextEncoder(_FrozenTower):
    """CLIP's text tower on prompt embeddings, with optional deep prompts.

    Holds references to the frozen CLIP text modules; it has no parameters of its own and is
    never registered for checkpoints.
    """

    def __init__(self, clip_model: nn.Module, fused: bool = True):
        super().__init__()
        self.resblocks = clip_model.transformer.resblocks
        self.positional_embedding = clip_model.positional_embedding
        self.ln_final = clip_model.ln_final
        self.text_projection = clip_model.text_projection
        self.context_length = clip_model.context_length
        # The causal mask the plain path passes to open_clip's blocks (None: openai-clip's hold it).
        self.register_buffer("attn_mask", text_attn_mask(clip_model), persistent=False)
        self.fused = fused

    @property
    def dtype(self) -> torch.dtype:
        return _weight(self.text_projection).dtype

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., D) -> CLIP's joint space (..., E): ``ln_final``, then the text projection."""
        return _project(self.ln_final(x).to(self.dtype), self.text_projection)

    @property
    def depth(self) -> int:
        return len(self.resblocks)

    def forward(
        self,
        prompts: torch.Tensor,
        eot_idx: torch.Tensor,
        seq_len: int | None = None,
        deep_prompts: Sequence[Prompt | None] | None = None,
        n_ctx: int | None = None,
        states: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Text features (N, E).

        Args:
            prompts: (N, L, D) token embeddings of the prompts, shallow context already placed.
            eot_idx: (N,) position of each prompt's EOT token (``tokens.argmax(-1)``).
            seq_len: run only the first ``seq_len`` positions (>= max(eot_idx) + 1; a Python int
                computed once from the tokens, so no device sync). Ignored when ``fused=False``.
                ``prompts`` may also arrive already cut to that length.
            deep_prompts: entry ``i`` (or None) replaces rows ``1..n`` before block ``i + 1``.
            n_ctx: rows replaced by deep prompts (default: their length).
            states: if given, receives after each block the (N, D) hidden state at each prompt's
                EOT token (the token the feature is read from), one entry per block.
        """
        N, L = prompts.shape[:2]
        if self.fused and seq_len is not None and seq_len < L:
            prompts, L = prompts[:, :seq_len], seq_len  # causal mask: later tokens cannot reach the EOT
        elif not self.fused and L != self.context_length:
            raise ValueError("fused=False runs CLIP's own blocks and needs the full context length")
        x = prompts.to(self.dtype) + self.positional_embedding[:L].to(self.dtype)  # (N, L, D)
        deep = list(deep_prompts) if deep_prompts is not None else []
        if len(deep) >= self.depth:
            raise ValueError(f"{len(deep)} deep text prompts for a {self.depth}-block text encoder (at most {self.depth - 1})")
        for i, block in enumerate(self.resblocks):
            if 1 <= i <= len(deep) and deep[i - 1] is not None:
                p = _as_batch(deep[i - 1], N, x.dtype)  # (N, n, D)
                n = n_ctx or p.shape[1]
                x = torch.cat([x[:, :1], p, x[:, 1 + n :]], dim=1)  # SOS | prompt_i | rest
            x = run_block(block, x, causal=True, fused=self.fused, mask=self.attn_mask)
            if states is not None:
                states.append(x[torch.arange(N, device=x.device), eot_idx.to(x.device)])  # (N, D) at EOT
        x = self.ln_final(x).to(self.dtype)  # all positions first, as both packages' encode_text
        x = x[torch.arange(N, device=x.device), eot_idx.to(x.device)]  # (N, D) at the EOT tokens
        return _project(x, self.text_projection)  # (N, E)


class PromptedImageEncoder(_FrozenTower):
    """CLIP's image tower with optional shallow and deep visual prompts (ViT only).

    A ResNet tower (RN50, ...) runs unchanged and accepts no visual prompts.
    """

    def __init__(self, clip_model: nn.Module, fused: bool = True):
        super().__init__()
        self.visual = clip_model.visual
        self.fused = fused
        self.is_vit = is_vit(clip_model)

    @property
    def dtype(self) -> torch.dtype:
        return self.visual.conv1.weight.dtype

    @property
    def depth(self) -> int:
        return len(self.visual.transformer.resblocks) if self.is_vit else 0

    @property
    def width(self) -> int:
        return self.visual.conv1.out_channels if self.is_vit else 0

    def project(self, x: torch.Tensor) -> torch.Tensor:
        """Hidden states (..., D_v) of a ViT -> CLIP's joint space (..., E): ``ln_post``, then ``proj``."""
        return self.visual.ln_post(x) @ self.visual.proj

    def forward(
        self,
        image: torch.Tensor,
        shallow_prompt: Prompt | None = None,
        deep_prompts: Sequence[Prompt | None] | None = None,
        states: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Image features (B, E) for images (B, 3, H, W).

        Args:
            shallow_prompt: (n, Dv) or (B, n, Dv) tokens appended after the positional embedding.
            deep_prompts: entry ``i`` (or None) replaces the last ``n`` rows before block ``i + 1``.
            states: if given (ViT only), receives after each block the (B, D_v) hidden state at
                the CLS token, one entry per block.
        """
        image = image.to(self.dtype)
        if not self.is_vit:
            if states is not None:
                raise ValueError("hidden states are collected from ViT image towers only")
            if shallow_prompt is not None or deep_prompts:
                raise ValueError("visual prompts need a ViT backbone (MODEL.BACKBONE.NAME ViT-B/16, ...)")
            return self.visual(image)
        v = self.visual
        B = image.shape[0]
        x = v.conv1(image)  # (B, Dv, g, g)
        x = x.flatten(2).transpose(1, 2)  # (B, g*g, Dv)
        cls = v.class_embedding.to(x.dtype).expand(B, 1, -1)  # (B, 1, Dv)
        x = torch.cat([cls, x], dim=1) + v.positional_embedding.to(x.dtype)  # (B, 1+g*g, Dv)
        if shallow_prompt is not None:
            x = torch.cat([x, _as_batch(shallow_prompt, B, x.dtype)], dim=1)  # (B, 1+g*g+n, Dv)
        x = v.ln_pre(x)
        deep = list(deep_prompts) if deep_prompts is not None else []
        if len(deep) >= self.depth:
            raise ValueError(f"{len(deep)} deep visual prompts for a {self.depth}-block image encoder (at most {self.depth - 1})")
        for i, block in enumerate(v.transformer.resblocks):
            if 1 <= i <= len(deep) and deep[i - 1] is not None:
                p = _as_batch(deep[i - 1], B, x.dtype)  # (B, n, Dv)
                x = torch.cat([x[:, : -p.shape[1]], p], dim=1)  # tokens | prompt_i
            x = run_block(block, x, causal=False, fused=self.fused)
            if states is not None:
                states.append(x[:, 0])  # (B, Dv) at CLS
        return self.project(x[:, 0])  # (B, E) from the CLS token


@contextlib.contextmanager
def record_states(encoder: nn.Module) -> Iterator[list[list[torch.Tensor]]]:
    """Collect the hidden states of every call of ``encoder`` (a :class:`PromptedTextEncoder` or
    :class:`PromptedImageEncoder`) made inside the ``with`` block: yields a list that receives, per
    call, that call's ``states`` list (one (N, D) tensor per block, see the module docstring). The
    encoder is called as its owner calls it (``model(image)``); only ``states`` is added."""
    calls: list[list[torch.Tensor]] = []

    def add_states(module: nn.Module, args: tuple, kwargs: dict) -> tuple[tuple, dict]:
        calls.append([])
        return args, {**kwargs, "states": calls[-1]}

    handle = encoder.register_forward_pre_hook(add_states, with_kwargs=True)
    try:
        yield calls
    finally:
        handle.remove()


class PromptedCLIP(nn.Module):
    """The skeleton every method's model shares: a learner (the trainable tensors) plus CLIP's
    frozen towers and logit scale. Subclasses implement ``forward(image) -> logits``."""

    def __init__(self, clip_model: nn.Module, learner: nn.Module, fused: bool = True):
        super().__init__()
        self.learner = learner
        self.text_encoder = PromptedTextEncoder(clip_model, fused=fused)
        self.image_encoder = PromptedImageEncoder(clip_model, fused=fused)
        self.logit_scale = clip_model.logit_scale
        self.fused = fused

    def text_length(self, prompts: "ClassPrompts") -> int | None:
        """Positions the text tower runs for these class prompts: up to the last EOT on the fused
        path (exact, see the module docstring), all of them on CLIP's own blocks."""
        return prompts.seq_len if self.fused else None

    def loss(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(training loss, logits) of a batch: cross-entropy on the logits (in fp32). Methods with
        more terms (KgCoOp, PromptSRC) override it."""
        logits = self(image)
        return F.cross_entropy(logits.float(), label), logits


class ContextPromptedCLIP(PromptedCLIP):
    """CLIP whose class prompts carry a learned context (CoOp, KgCoOp): the learner maps a length
    to the prompt embeddings (n_cls, L, D) and has ``prompts`` (:class:`ClassPrompts`);
    ``forward(image) -> logits`` (B, n_cls)."""

    def text_features(self) -> torch.Tensor:
        """(n_cls, E); computed once per evaluation (they do not depend on the image)."""
        p = self.learner.prompts

        def compute() -> torch.Tensor:
            return self.text_encoder(self.learner(self.text_length(p)), p.eot_idx)

        return self.learner.text_cache.get(self.learner, compute)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(self.image_encoder(image), self.text_features(), self.logit_scale)


class DeepPromptedCLIP(PromptedCLIP):
    """The model of every deep-prompt method (MuDPT, MaPLe, IVLP, PromptSRC): its learner returns
    ``(text_l0, text_deep, vision_l0, vision_deep)`` (the shallow text context (n, D_t), the deep
    text prompts [J_t-1 x (n, D_t)], the shallow visual prompts (n_v, D_v) or None, the deep
    visual prompts [J_v-1 x (n_v, D_v)]) and has ``prompts`` (:class:`ClassPrompts`) and ``n_ctx``;
    ``forward(image) -> logits`` (B, n_cls)."""

    def encode_text(self, text_l0: torch.Tensor, text_deep: Sequence[torch.Tensor]) -> torch.Tensor:
        """Class text features (n_cls, E) for the text prompts."""
        p = self.learner.prompts
        prompts = p.assemble(text_l0, "end", self.text_length(p))  # (n_cls, L, D_t)
        return self.text_encoder(prompts, p.eot_idx, deep_prompts=text_deep, n_ctx=self.learner.n_ctx)

    def features(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(image features (B, E), class text features (n_cls, E)), not normalised. The prompts do
        not depend on the image: during evaluation the text features are computed once."""
        text_l0, text_deep, vision_l0, vision_deep = self.learner()
        image_features = self.image_encoder(image, vision_l0, vision_deep)  # (B, E)
        text_features = self.learner.text_cache.get(self.learner, lambda: self.encode_text(text_l0, text_deep))
        return image_features, text_features

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(*self.features(image), self.logit_scale)


class ClassPrompts(nn.Module):
    """Tokenised ``"<context words> <class name>."`` prompts and their frozen embeddings.

    ``token_prefix`` (n_cls, 1, D) is the SOS embedding; ``token_suffix`` (n_cls, L-1-n_ctx, D)
    holds the tokens after the context: the rest of the context text, the class name, ".", EOT and
    padding. Both depend on the class list, so they are *non-persistent* buffers: checkpoints never
    contain them and a model trained on base classes evaluates on new ones. The learnable context
    replaces the first ``n_ctx`` tokens of ``context_text`` (e.g. "X X X X" or "a photo of a", see
    :func:`prompt_context`); ``context_embedding`` (n_ctx, D) holds their embeddings, the initial
    context of a method that starts from words (:meth:`initial_context`). ``key`` is the config key
    of the context length (e.g. ``TRAINER.COOP.N_CTX``), named when a prompt exceeds CLIP's context
    length (with the largest value that fits the longest class name).
    """

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], n_ctx: int, context_text: str | None = None, key: str = "N_CTX"):
        super().__init__()
        if n_ctx < 0:
            raise ValueError(f"n_ctx must be >= 0, got {n_ctx}")
        context_text = " ".join(["X"] * n_ctx) if context_text is None else context_text
        self.classnames = [name.replace("_", " ") for name in classnames]
        self.n_cls = len(self.classnames)
        self.n_ctx = n_ctx
        self.prompt_texts = [f"{context_text} {name}.".strip() for name in self.classnames]
        too_long = functools.partial(_prompt_too_long, context_text=context_text, n_ctx=n_ctx, key=key)
        tokens = tokenize(clip_model, self.prompt_texts, too_long)  # (n_cls, L)
        with torch.no_grad():
            embedding = clip_model.token_embedding(tokens).float()  # (n_cls, L, D)
        # Each class name's token count (without the "." and EOT), for the middle/front layouts.
        self.name_lens = [count_tokens(name) for name in self.classnames]
        eot_idx = tokens.argmax(dim=-1)  # EOT has the largest token id
        self.seq_len = int(eot_idx.max()) + 1  # computed once here: no device sync in forward
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("eot_idx", eot_idx, persistent=False)
        self.register_buffer("token_prefix", embedding[:, :1], persistent=False)  # (n_cls, 1, D) SOS
        self.register_buffer("token_suffix", embedding[:, 1 + n_ctx :], persistent=False)  # (n_cls, L-1-n, D)
        self.register_buffer("context_embedding", embedding[0, 1 : 1 + n_ctx].clone(), persistent=False)  # (n, D)

    def initial_context(self, from_words: bool, *lead: int) -> torch.Tensor:
        """A fresh initial context (*lead, n_ctx, D): the embeddings of the context text's first
        ``n_ctx`` tokens (``from_words``), else N(0, 0.02^2) (:func:`random_prompts`)."""
        if from_words:
            return self.context_embedding.expand(*lead, -1, -1).clone()
        return random_prompts(*lead, self.n_ctx, self.context_embedding.shape[-1])

    def assemble(self, ctx: torch.Tensor, position: str = "end", length: int | None = None) -> torch.Tensor:
        """Prompts (n_cls, L, D) = SOS | ctx | class tokens "." EOT ... (``position`` "end"), or
        with the class tokens before the context ("front") or inside it ("middle", CoOp's split
        of the context into two halves). ``ctx``: (n, D), (n_cls, n, D) or (B, n_cls, n, D).
        ``length`` (e.g. ``seq_len``) cuts the padding first, so large batches stay small."""
        suffix = self.token_suffix if length is None else self.token_suffix[:, : length - 1 - self.n_ctx]
        return assemble_prompts(self.token_prefix, ctx, suffix, self.name_lens, position)


def _prompt_too_long(text: str, n_tokens: int, length: int, context_text: str, n_ctx: int, key: str) -> str:
    """Why the class prompt ``text`` (``context_text`` + the longest class name) does not fit CLIP's
    ``length`` tokens, and the fix: the largest context length that fits it, or a shorter CTX_INIT
    or class name."""
    name = text[len(context_text) :].strip().removesuffix(".")
    over = n_tokens - length
    if context_text == " ".join(["X"] * n_ctx):  # random context: its length is the setting
        fits = n_ctx - over
        if fits >= 1:
            return (
                f'{key} = {n_ctx} is too large: with the longest class name ("{_shown(name)}") the prompt is {n_tokens} tokens '
                f"and CLIP reads at most {length}. The largest {key} that fits is {fits}."
            )
        return f'The class name "{_shown(name)}" alone is {count_tokens(name) + 3} tokens with "." and the start and end tokens: CLIP reads at most {length}. Shorten it.'
    ctx_init = key.rpartition(".")[0] + ".CTX_INIT" if "." in key else "CTX_INIT"
    return (
        f'{ctx_init} "{_shown(context_text)}" with the longest class name ("{_shown(name)}") makes a prompt of {n_tokens} tokens; '
        f"CLIP reads at most {length}. Shorten {ctx_init} or the class name by {over} token{'s' if over > 1 else ''}."
    )


def assemble_prompts(
    prefix: torch.Tensor, ctx: torch.Tensor, suffix: torch.Tensor, name_lens: Sequence[int] | None = None, position: str = "end"
) -> torch.Tensor:
    """SOS | context | suffix by concatenation, with CoOp's class-token positions.

    Shapes: prefix (n_cls, 1, D), suffix (n_cls, S, D), ctx (n, D) | (n_cls, n, D) | (B, n_cls, n, D);
    returns (n_cls, L, D) or (B, n_cls, L, D).
    """
    lead = ctx.shape[:-2] if ctx.dim() == 4 else prefix.shape[:1]
    ctx = ctx.to(prefix.dtype).expand(*lead, *ctx.shape[-2:])  # (..., n_cls, n, D)
    prefix = prefix.expand(*lead, *prefix.shape[-2:])  # (..., n_cls, 1, D)
    suffix = suffix.expand(*lead, *suffix.shape[-2:])  # (..., n_cls, S, D)
    if position == "end":
        return torch.cat([prefix, ctx, suffix], dim=-2)
    if name_lens is None:
        raise ValueError("the middle/front class-token positions need the class-name lengths")
    half = ctx.shape[-2] // 2
    rows = []
    for i, name_len in enumerate(name_lens):  # the class-name length differs per class
        pre, c, suf = prefix[..., i : i + 1, :, :], ctx[..., i : i + 1, :, :], suffix[..., i : i + 1, :, :]
        name, rest = suf[..., :name_len, :], suf[..., name_len:, :]
        if position == "middle":
            parts = [pre, c[..., :half, :], name, c[..., half:, :], rest]
        elif position == "front":
            parts = [pre, name, c, rest]
        else:
            raise ValueError(f"class token position must be one of end, middle, front; got {position!r}")
        rows.append(torch.cat(parts, dim=-2))  # (..., 1, L, D)
    return torch.cat(rows, dim=-3)


def clip_logits(image_features: torch.Tensor, text_features: torch.Tensor, logit_scale: torch.Tensor) -> torch.Tensor:
    """CLIP's scaled cosine similarities. image (B, E), text (n_cls, E) or (B, n_cls, E) -> (B, n_cls)."""
    image_features = image_features / image_features.norm(dim=-1, keepdim=True)
    text_features = text_features / text_features.norm(dim=-1, keepdim=True)
    scale = logit_scale.exp()
    if text_features.dim() == 3:  # per-image class features (CoCoOp)
        return scale * torch.einsum("be,bce->bc", image_features, text_features.to(image_features.dtype))
    return scale * image_features @ text_features.to(image_features.dtype).t()


class HandcraftedTextFeatures(nn.Module):
    """Normalised text features of hand-crafted prompts, one per class: the mean over
    ``templates`` ("a photo of a {}.", ...) of each template's normalised features, normalised
    again (CLIP's prompt ensembling; ``average="features"``: of the raw features, as PromptSRC).
    Computed at first use, where and how the model runs (its device, its precision), then kept as
    a non-persistent buffer: never in a checkpoint.
    """

    def __init__(self, clip_model: nn.Module, classnames: Sequence[str], templates: Sequence[str], fused: bool = True, average: str = "normalised"):
        super().__init__()
        if average not in ("normalised", "features"):
            raise ValueError(f"average must be 'normalised' or 'features', got {average!r}")
        self.average = average
        self.encoder = PromptedTextEncoder(clip_model, fused=fused)
        self.token_embedding = clip_model.token_embedding
        self.templates = list(templates)
        names = [c.replace("_", " ") for c in classnames]
        tokens = torch.stack([tokenize(clip_model, [t.format(n) for n in names]) for t in self.templates])  # (T, n_cls, L)
        self.register_buffer("tokens", tokens, persistent=False)
        self.register_buffer("features", None, persistent=False)  # (n_cls, E) once computed

    @torch.no_grad()
    def forward(self) -> torch.Tensor:
        """(n_cls, E), normalised."""
        if self.features is None:
            feats = []
            for tokens in self.tokens:  # (n_cls, L) per template
                eot = tokens.argmax(dim=-1)
                f = self.encoder(self.token_embedding(tokens), eot, seq_len=int(eot.max()) + 1)  # (n_cls, E)
                feats.append(f / f.norm(dim=-1, keepdim=True) if self.average == "normalised" else f)
            mean = torch.stack(feats).mean(dim=0)
            self.features = mean / mean.norm(dim=-1, keepdim=True)
        return self.features


class TextFeatureCache:
    """Caches image-independent text features during one evaluation.

    Valid only while the owning module is in eval mode with gradients off; the owner clears it
    whenever its mode changes (``train()``/``eval()``, which the engine calls at the start of
    every evaluation) and when weights are loaded, so stale features are never served.
    """

    def __init__(self) -> None:
        self._value: torch.Tensor | None = None

    def clear(self) -> None:
        self._value = None

    def get(self, module: nn.Module, compute) -> torch.Tensor:
        if module.training or torch.is_grad_enabled():
            self._value = None
            return compute()
        if self._value is None:
            self._value = compute()
        return self._value


def iter_chunks(n: int, chunk: int) -> Iterator[slice]:
    """Slices covering range(n) in pieces of at most ``chunk``."""
    for start in range(0, n, max(chunk, 1)):
        yield slice(start, min(start + chunk, n))
