"""MuDPT (arXiv 2306.11400) on tiny random CLIPs: parameter counts against closed forms (tiny and
ViT-B/16 sizes), gradients, the CoOp special case, locality of deep prompts, the layer-0 rules,
the Injection Model and the released linear / transformer couplings against plain-tensor
re-derivations, prompt text, config validation and the shipped configs."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

import trainers
from engine.seam import get_cfg_default
from trainers.clip_loader import build_tiny_clip, clip, freeze
from trainers.clip_prompting import ClassPrompts, PromptedImageEncoder, PromptedTextEncoder, prompt_context
from trainers.clip_prompting import ContextPromptedCLIP as CoOpModel
from trainers.prompt_learners import ContextPromptLearner as PromptLearner
from trainers.mudpt import (
    INJECTION_CHOICES,
    InjectionModel,
    MuDPT,
    MuDPTModel,
    MuDPTPromptLearner,
    build_injection,
    build_prompt_learner,
    check_config,
)

REPO = Path(__file__).resolve().parents[1]
CONFIG_DIR = REPO / "configs" / "trainers" / "MuDPT"
NAMES = ["dog", "golden retriever", "cat", "sea lion"]
# Text and image widths differ (and differ from the 32-d embedding) so that a swapped width fails.
ASYM_CLIP = dict(
    embed_dim=32, image_resolution=32, vision_layers=3, vision_width=128, vision_patch_size=16,
    transformer_width=64, transformer_heads=1, transformer_layers=3,
)
D_T, D_V, BLOCKS = 64, 128, 3
INJ = dict(INJ_WIDTH=64, INJ_HEADS=2)  # a small Injection Model for the tiny CLIP
VARIANTS = [("cross_attention", False), ("cross_attention", True), ("transformer", False), ("linear", False), ("none", False)]
VARIANT_IDS = ["cross_attention", "cross_attention-layer0", "transformer", "linear", "none"]


@pytest.fixture
def asym_clip():
    return freeze(build_tiny_clip(**ASYM_CLIP))


def make_cfg(**mudpt):
    cfg = get_cfg_default()
    trainers.add_trainer_config(cfg)
    node = cfg.TRAINER.MUDPT
    for key, value in {"PROMPT_DEPTH": BLOCKS, **INJ, **mudpt}.items():
        setattr(node, key, value)
    return cfg


def build_model(clip_model, **mudpt) -> MuDPTModel:
    torch.manual_seed(0)
    return MuDPT.build_custom_model(make_cfg(**mudpt), NAMES, clip_model)


# --- parameter counts: closed forms written from the architecture ------------------------------
def linear(i: int, o: int) -> int:
    return i * o + o


def layer_norm(d: int) -> int:
    return 2 * d


def transformer_layer(d: int) -> int:
    """MHA (in-proj 3d^2+3d, out-proj d^2+d) + two LayerNorms + MLP d->4d->d."""
    return (3 * d * d + 3 * d) + linear(d, d) + 2 * layer_norm(d) + linear(d, 4 * d) + linear(4 * d, d)


def expected_count(injection: str, n: int, J: int, dt: int, dv: int, width: int = 512, layer0: bool = False) -> int:
    prompts = J * n * (dt + dv)  # T_0, T_1..T_{J-1}, V_0, V_1..V_{J-1}
    deep = J > 1
    if injection == "linear":  # A_0, and the shared deep maps A (t->v), B (v->t)
        return prompts + linear(dt, dv) + deep * (linear(dt, dv) + linear(dv, dt))
    if injection == "transformer":  # per direction: LN, CLIP block, LN, Linear; v->t only with deep layers
        t2v = 2 * layer_norm(dt) + transformer_layer(dt) + linear(dt, dv)
        v2t = 2 * layer_norm(dv) + transformer_layer(dv) + linear(dv, dt)
        return prompts + t2v + deep * v2t
    if injection == "cross_attention":  # adapters, one shared layer, two output maps
        inj = linear(dt, width) + linear(dv, width) + transformer_layer(width) + linear(width, dv) + linear(width, dt)
        return prompts + (deep or layer0) * inj
    return prompts


def count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("injection,layer0", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("n,J", [(2, 3), (1, 1), (3, 2)])
def test_parameter_count_tiny_equals_closed_form(asym_clip, injection, layer0, n, J):
    cfg = make_cfg(INJECTION=injection, INJECT_LAYER0=layer0, N_CTX=n, PROMPT_DEPTH=J, CTX_INIT="")
    learner = build_prompt_learner(cfg, NAMES, asym_clip)
    assert count(learner) == expected_count(injection, n, J, D_T, D_V, width=64, layer0=layer0)
    assert sum(p.numel() for _, p in learner.trainable_parameters()) == count(learner)


def vit_b16_learner(injection: str, n: int, J: int, layer0: bool = False) -> MuDPTPromptLearner:
    """The learner at ViT-B/16 sizes (d_t 512, d_v 768) without building ViT-B/16: only a token
    embedding of CLIP's vocabulary (and its context length) stands in for CLIP."""
    torch.manual_seed(0)
    stand_in = SimpleNamespace(token_embedding=nn.Embedding(49408, 512), ln_final=nn.LayerNorm(512), context_length=77)
    prompts = ClassPrompts(stand_in, NAMES, n, prompt_context("a photo of a", n, "TRAINER.MUDPT"))
    ctx = prompts.initial_context(from_words=True)
    injection_module = build_injection(injection, 512, 768, J, inject_layer0=layer0)
    return MuDPTPromptLearner(prompts, ctx, 768, J, injection=injection_module)


@pytest.mark.parametrize(
    "injection,n,expected",
    [
        ("linear", 2, 1_204_736),  # the released MuDPT trainer's 1280*J*n + 1,181,696
        ("linear", 4, 1_227_776),  # its intended setting, n = 4
        ("transformer", 2, 11_056_128),  # the released UUMuDPT: 1280*J*n + 11,033,088
        ("none", 2, 23_040),  # IVLP: prompts only
        ("cross_attention", 2, 4_488_448),
        ("transformer", 4, 11_079_168),
        ("none", 4, 46_080),
        ("cross_attention", 4, 4_511_488),
    ],
)
def test_parameter_count_at_vit_b16_sizes(injection, n, expected):
    learner = vit_b16_learner(injection, n, 9)
    assert count(learner) == expected == expected_count(injection, n, 9, 512, 768)


def test_cross_attention_count_with_layer0_is_unchanged_at_vit_b16():
    # Layer-0 fusion reuses the same shared Injection Model: no extra parameters.
    assert count(vit_b16_learner("cross_attention", 2, 9, layer0=True)) == 4_488_448
    assert count(vit_b16_learner("cross_attention", 2, 1, layer0=False)) == 1280 * 2  # nothing to fuse


# --- gradients ---------------------------------------------------------------------------------
@pytest.mark.parametrize("injection,layer0", VARIANTS, ids=VARIANT_IDS)
@pytest.mark.parametrize("J", [BLOCKS, 1])
def test_one_backward_reaches_every_trainable_tensor_and_no_clip_weight(asym_clip, injection, layer0, J):
    model = build_model(asym_clip, INJECTION=injection, INJECT_LAYER0=layer0, PROMPT_DEPTH=J)
    model.train()
    named = model.learner.trainable_parameters()
    assert {id(p) for _, p in named} == {id(p) for p in model.learner.parameters()}
    assert set(model.learner.state_dict()) == {name for name, _ in named}  # no class buffers
    logits = model(torch.randn(3, 3, 32, 32))
    assert logits.shape == (3, len(NAMES)) and torch.isfinite(logits).all()
    F.cross_entropy(logits, torch.tensor([0, 1, 3])).backward()
    no_grad = [name for name, p in named if p.grad is None or not p.grad.abs().sum() > 0]
    assert no_grad == []
    assert all(not p.requires_grad and p.grad is None for p in asym_clip.parameters())
    prompts = {"ctx", "visual_ctx"} | ({"deep_prompts", "visual_deep_prompts"} if J > 1 else set())
    assert prompts == {name for name, _ in named if not name.startswith("injection.")}
    coupled = injection in ("linear", "transformer") or (injection == "cross_attention" and (J > 1 or layer0))
    assert (len(named) > len(prompts)) == coupled  # the coupling's weights are listed too


# --- special cases and locality -----------------------------------------------------------------
@pytest.mark.parametrize("ctx_init,n", [("", 4), ("a photo of a", 4), ("a photo of a", 2)])
@torch.no_grad()
def test_shallow_text_only_ivlp_equals_coop(tiny_clip, ctx_init, n):
    clip_model = freeze(tiny_clip)
    mudpt = build_model(clip_model, INJECTION="none", PROMPT_DEPTH=1, N_CTX_VISION=0, N_CTX=n, CTX_INIT=ctx_init)
    assert [name for name, _ in mudpt.learner.trainable_parameters()] == ["ctx"]
    coop_init = ctx_init if n == 4 else ""  # CoOp takes all words of CTX_INIT; "X X" for n = 2
    coop = CoOpModel(clip_model, PromptLearner(clip_model, NAMES, n, coop_init))
    if n == 2 and ctx_init:  # same prompt text "a photo of a <class>." on both sides
        coop.learner.prompts = ClassPrompts(clip_model, NAMES, n, ctx_init)
    assert coop.learner.prompts.prompt_texts == mudpt.learner.prompts.prompt_texts
    coop.learner.ctx.copy_(torch.randn(n, clip_model.ln_final.weight.shape[0]))
    mudpt.learner.ctx.copy_(coop.learner.ctx)
    image = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(mudpt(image), coop(image), rtol=0, atol=0)


def _block_inputs(model: MuDPTModel, clip_model, image) -> dict[str, list[torch.Tensor]]:
    """The hidden states entering every block of both towers (hooks on each block's ln_1)."""
    seen: dict[str, list[torch.Tensor]] = {"text": [], "vision": []}
    towers = {"text": clip_model.transformer.resblocks, "vision": clip_model.visual.transformer.resblocks}
    model.learner.text_cache.clear()  # rerun the text tower too
    hooks = [
        block.ln_1.register_forward_hook(lambda _m, inp, _o, tower=tower: seen[tower].append(inp[0].clone()))
        for tower, blocks in towers.items()
        for block in blocks
    ]
    try:
        model(image)
    finally:
        for h in hooks:
            h.remove()
    return seen


@pytest.mark.parametrize("injection", ["cross_attention", "transformer", "linear", "none"])
@pytest.mark.parametrize("param", ["deep_prompts", "visual_deep_prompts"])
@pytest.mark.parametrize("k", [1, 2])
@torch.no_grad()
def test_deep_prompts_of_layer_k_change_nothing_before_block_k(asym_clip, injection, param, k):
    model = build_model(asym_clip, INJECTION=injection).eval()
    image = torch.randn(2, 3, 32, 32)
    before = _block_inputs(model, asym_clip, image)
    getattr(model.learner, param)[k - 1] += 0.5  # the raw prompts of deep layer k
    after = _block_inputs(model, asym_clip, image)
    own = "text" if param == "deep_prompts" else "vision"
    for tower in ("text", "vision"):
        for block in range(k):
            assert torch.equal(before[tower][block], after[tower][block]), (tower, block)
    assert not torch.equal(before[own][k], after[own][k])
    other = "vision" if own == "text" else "text"
    fused_here = injection != "none"
    # Fusion carries layer k's prompts into the other tower at block k as well (not with IVLP).
    assert torch.equal(before[other][k], after[other][k]) != fused_here


@pytest.mark.parametrize("injection", ["cross_attention", "transformer", "linear"])
@torch.no_grad()
def test_coupling_is_live_in_both_directions_and_per_layer(asym_clip, injection):
    learner = build_model(asym_clip, INJECTION=injection).learner
    t0, t_deep, v0, v_deep = learner()
    learner.visual_deep_prompts[1] += 0.5  # V_2 -> reaches the text prompts of layer 2 only
    t0b, t_deep_b, v0b, v_deep_b = learner()
    assert torch.equal(t0, t0b) and torch.equal(t_deep[0], t_deep_b[0]) and not torch.equal(t_deep[1], t_deep_b[1])
    learner.deep_prompts[0] += 0.5  # T_1 -> reaches the visual prompts of layer 1 only
    _, _, v0c, v_deep_c = learner()
    assert torch.equal(v0b, v0c) and torch.equal(v_deep_b[1], v_deep_c[1]) and not torch.equal(v_deep_b[0], v_deep_c[0])


# --- the couplings, re-derived in plain tensor ops ---------------------------------------------
def _lin(x: torch.Tensor, layer: nn.Linear) -> torch.Tensor:
    return x @ layer.weight.t() + layer.bias


def _attention(query_src: torch.Tensor, context_src: torch.Tensor, attn: nn.MultiheadAttention) -> torch.Tensor:
    """Multi-head attention in plain ops on (L, n, d): queries from ``query_src``, keys and values
    from ``context_src``, attention over the n tokens of each of the L rows."""
    d, H = query_src.shape[-1], attn.num_heads
    W, b = attn.in_proj_weight, attn.in_proj_bias

    def split_heads(x):  # (L, n, d) -> (L, H, n, d/H)
        return x.view(x.shape[0], x.shape[1], H, d // H).transpose(1, 2)

    q = split_heads(query_src @ W[:d].t() + b[:d])
    k = split_heads(context_src @ W[d : 2 * d].t() + b[d : 2 * d])
    v = split_heads(context_src @ W[2 * d :].t() + b[2 * d :])
    out = torch.softmax(q @ k.transpose(-1, -2) / (d // H) ** 0.5, dim=-1) @ v  # (L, H, n, d/H)
    return _lin(out.transpose(1, 2).reshape(query_src.shape), attn.out_proj)


def _ln(x: torch.Tensor, norm: nn.LayerNorm) -> torch.Tensor:
    return F.layer_norm(x, x.shape[-1:], norm.weight, norm.bias)


def manual_injection(m: InjectionModel, text: torch.Tensor, vision: torch.Tensor):
    """The paper's Injection Model in plain tensor ops: adapters, post-LN cross-attention layer
    (queries from one modality, keys and values from the other, same layer), output maps."""
    t, v = _lin(text, m.text_adapter), _lin(vision, m.vision_adapter)  # (L, n, d)
    (block,) = m.layers

    def layer(query_src, context_src):
        x = _ln(query_src + _attention(query_src, context_src, block.attn), block.ln_1)
        return _ln(x + _lin(F.gelu(_lin(x, block.mlp[0])), block.mlp[2]), block.ln_2)

    return _lin(layer(t, v), m.to_vision), _lin(layer(v, t), m.to_text)


def manual_prompt_transformer(P, x: torch.Tensor) -> torch.Tensor:
    """The released light transformer in plain ops: LN, CLIP's pre-LN block (self-attention over
    the n tokens of each layer, QuickGELU MLP), LN, Linear."""
    h = _ln(x, P.ln_pre)
    b = P.block
    a = _ln(h, b.ln_1)
    h = h + _attention(a, a, b.attn)
    m = _lin(_ln(h, b.ln_2), b.mlp.c_fc)
    h = h + _lin(m * torch.sigmoid(1.702 * m), b.mlp.c_proj)  # QuickGELU
    return _lin(_ln(h, P.ln_post), P.proj)


@torch.no_grad()
def test_injection_model_equals_manual_cross_attention():
    torch.manual_seed(0)
    m = InjectionModel(text_dim=24, vision_dim=40, width=32, heads=4)
    text, vision = torch.randn(5, 3, 24), torch.randn(5, 3, 40)
    t2v, v2t, _ = m.carry(text, vision)
    ref_t2v, ref_v2t = manual_injection(m, text, vision)
    assert t2v.shape == (5, 3, 40) and v2t.shape == (5, 3, 24)
    torch.testing.assert_close(t2v, ref_t2v, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v2t, ref_v2t, rtol=1e-5, atol=1e-5)
    # The whole learner: text gets T_i + V'_i, vision V_i + T'_i on the raw prompts.
    clip_model = freeze(build_tiny_clip(**ASYM_CLIP))
    learner = build_model(clip_model, INJECT_LAYER0=True).learner
    t0, t_deep, v0, v_deep = learner()
    T = torch.cat([learner.ctx[None], learner.deep_prompts])
    V = torch.cat([learner.visual_ctx[None], learner.visual_deep_prompts])
    ref_t2v, ref_v2t = manual_injection(learner.injection, T, V)
    torch.testing.assert_close(torch.stack([t0, *t_deep]), T + ref_v2t, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.stack([v0, *v_deep]), V + ref_t2v, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_linear_variant_reproduces_the_released_equations(asym_clip):
    n = 2
    model = build_model(asym_clip, INJECTION="linear", PREFIX_MODE="first_n_words", N_CTX=n)
    learner = model.learner
    for p in learner.parameters():  # random values everywhere (biases included)
        p.normal_(std=0.5)
    T0, T, V0, V = learner.ctx, learner.deep_prompts, learner.visual_ctx, learner.visual_deep_prompts
    A0, A, B = learner.injection.embed_projection, learner.injection.text_to_vision, learner.injection.vision_to_text
    # mudpt_method.md Sec. 2: text block 0 T_0; vision block 0 V_0 + A0(T_0);
    # text block i T_{i-1} + B(V_{i-1}); vision block i V_{i-1} + A(T_{i-1}) (deep-array index).
    ref_t0 = T0
    ref_v0 = V0 + T0 @ A0.weight.t() + A0.bias
    ref_t_deep = [T[i] + V[i] @ B.weight.t() + B.bias for i in range(BLOCKS - 1)]
    ref_v_deep = [V[i] + T[i] @ A.weight.t() + A.bias for i in range(BLOCKS - 1)]
    t0, t_deep, v0, v_deep = learner()
    torch.testing.assert_close(t0, ref_t0, rtol=0, atol=0)
    torch.testing.assert_close(v0, ref_v0, rtol=1e-6, atol=1e-5)
    for got, ref in zip(t_deep + v_deep, ref_t_deep + ref_v_deep):
        torch.testing.assert_close(got, ref, rtol=1e-6, atol=1e-5)
    # Full features: CLIP's own blocks fed with the re-derived prompts and the released prompt text.
    assert learner.prompts.prompt_texts[0] == "a photo dog."
    tokens = clip.tokenize([f"a photo {name}." for name in NAMES])
    emb = asym_clip.token_embedding(tokens)  # (n_cls, 77, D_t)
    x = torch.cat([emb[:, :1], ref_t0.expand(len(NAMES), -1, -1), emb[:, 1 + n :]], dim=1)  # SOS | T_0 | rest
    text = PromptedTextEncoder(asym_clip, fused=False)(x, tokens.argmax(-1), deep_prompts=ref_t_deep, n_ctx=n)
    image = torch.randn(2, 3, 32, 32)
    img = PromptedImageEncoder(asym_clip, fused=False)(image, ref_v0, ref_v_deep)
    text, img = text / text.norm(dim=-1, keepdim=True), img / img.norm(dim=-1, keepdim=True)
    ref_logits = asym_clip.logit_scale.exp() * img @ text.t()
    torch.testing.assert_close(model(image), ref_logits, rtol=1e-4, atol=1e-4)


@torch.no_grad()
def test_transformer_variant_reproduces_the_released_uumudpt_equations(asym_clip):
    learner = build_model(asym_clip, INJECTION="transformer").learner
    for p in learner.parameters():
        p.normal_(std=0.5)
    T0, T, V0, V = learner.ctx, learner.deep_prompts, learner.visual_ctx, learner.visual_deep_prompts
    # mudpt_method.md Sec. 3b: S' = P_tv([T_0; T]) over all J layers, V'' = P_vt(V) over the deep ones;
    # text block 0 T_0, image block 0 V_0 + S'_0; deep i: text T_i + V''_i, image V_i + S'_i.
    S = manual_prompt_transformer(learner.injection.text_to_vision, torch.cat([T0[None], T]))  # (J, n, D_v)
    V2 = manual_prompt_transformer(learner.injection.vision_to_text, V)  # (J-1, n, D_t)
    t0, t_deep, v0, v_deep = learner()
    torch.testing.assert_close(t0, T0, rtol=0, atol=0)
    torch.testing.assert_close(v0, V0 + S[0], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(torch.stack(t_deep), T + V2, rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(torch.stack(v_deep), V + S[1:], rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("injection,layer0", VARIANTS, ids=VARIANT_IDS)
@torch.no_grad()
def test_layer0_rule_per_variant(asym_clip, injection, layer0):
    """Released couplings: text -> vision at layer 0, never vision -> text; the paper's model:
    nothing at layer 0 unless INJECT_LAYER0."""
    learner = build_model(asym_clip, INJECTION=injection, INJECT_LAYER0=layer0).learner
    t0, _, v0, _ = learner()
    learner.ctx += 0.5
    assert (not torch.equal(learner()[2], v0)) == (injection in ("linear", "transformer") or layer0)
    t0 = learner()[0].clone()
    learner.visual_ctx += 0.5
    assert (not torch.equal(learner()[0], t0)) == layer0


# --- prompt text ---------------------------------------------------------------------------------
def test_prefix_modes_and_init(asym_clip):
    full = build_prompt_learner(make_cfg(N_CTX=2), NAMES, asym_clip)
    # full_init: [SOS, T_0 (2 rows), "of", "a", class, ".", EOT]
    assert full.prompts.prompt_texts[0] == "a photo of a dog."
    assert full.prompts.tokens[0, :8].tolist() == clip.tokenize("a photo of a dog.")[0, :8].tolist()
    init = asym_clip.token_embedding(clip.tokenize("a photo")[0, 1:3])
    torch.testing.assert_close(full.ctx.detach(), init, rtol=0, atol=0)
    words = build_prompt_learner(make_cfg(N_CTX=2, PREFIX_MODE="first_n_words"), NAMES, asym_clip)
    assert words.prompts.prompt_texts[1] == "a photo golden retriever."
    torch.testing.assert_close(words.ctx.detach(), init, rtol=0, atol=0)
    torch.manual_seed(0)
    rand = build_prompt_learner(make_cfg(N_CTX=3, CTX_INIT=""), NAMES, asym_clip)
    assert rand.prompts.prompt_texts[2] == "X X X cat."
    assert 0.01 < rand.ctx.std().item() < 0.03


def test_ctx_init_too_short_is_a_fix_it_error():
    with pytest.raises(ValueError, match=r'N_CTX = 5 but TRAINER.MUDPT.CTX_INIT "a photo of a" has only 4 tokens'):
        prompt_context("a photo of a", 5, "TRAINER.MUDPT")
    with pytest.raises(ValueError, match=r"has only 4 words for PREFIX_MODE first_n_words"):
        prompt_context("a photo of a", 5, "TRAINER.MUDPT", keep="first_words")
    assert prompt_context("", 5, "TRAINER.MUDPT") == "X X X X X"
    assert prompt_context("a_photo_of_a", 4, "TRAINER.MUDPT") == "a photo of a"


# --- config validation -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "override,message",
    [
        ({"INJECTION": "attention"}, "INJECTION = 'attention' is not valid; choose one of 'cross_attention', 'transformer', 'linear', 'none'"),
        ({"PREFIX_MODE": "all"}, "PREFIX_MODE = 'all' is not valid; choose one of 'full_init', 'first_n_words'"),
        ({"N_CTX": 0}, "N_CTX = 0 is not valid; use a positive number"),
        ({"PROMPT_DEPTH": 0}, "PROMPT_DEPTH = 0 is not valid; use 1 (shallow prompts only) up to"),
        ({"N_CTX_VISION": -2}, "N_CTX_VISION = -2 is not valid; use -1 (= N_CTX), 0 (no visual prompts) or a positive"),
        ({"N_CTX_VISION": 3}, "needs N_CTX_VISION -1 (= N_CTX = 2); other values need INJECTION 'none'"),
        ({"N_CTX_VISION": 0, "INJECTION": "linear"}, "other values need INJECTION 'none'"),
        ({"INJECT_LAYER0": True, "INJECTION": "transformer"}, "INJECT_LAYER0 True applies to INJECTION 'cross_attention' only"),
        ({"INJ_HEADS": 3}, "INJ_HEADS = 3 must be 0 (= INJ_WIDTH // 64) or a positive divisor of TRAINER.MUDPT.INJ_WIDTH = 64"),
        ({"INJ_LAYERS": 0}, "INJ_LAYERS = 0 is not valid; use 1"),
        ({"INJ_SPAN": "global"}, "INJ_SPAN = 'global' is not valid; choose one of 'layer', 'all'"),
        ({"INJ_NORM": "none"}, "INJ_NORM = 'none' is not valid; choose one of 'post', 'pre'"),
        ({"N_CTX": 6}, "has only 4 tokens"),
    ],
)
def test_bad_values_give_fix_it_errors(override, message):
    with pytest.raises(ValueError, match=None) as err:
        check_config(make_cfg(**override).TRAINER.MUDPT)
    assert message in str(err.value)


def test_bad_precision_lists_the_choices():
    trainer = MuDPT.__new__(MuDPT)  # check_cfg needs no built trainer
    with pytest.raises(ValueError) as err:
        trainer.check_cfg(make_cfg(PREC="bf16"))
    assert "TRAINER.MUDPT.PREC = 'bf16' is not valid; choose one of 'fp16', 'fp32', 'amp'" in str(err.value)
    trainer.check_cfg(make_cfg())  # the defaults are valid


def test_depth_beyond_the_backbone_is_a_fix_it_error(asym_clip):
    with pytest.raises(ValueError, match=r"PROMPT_DEPTH = 4 but the backbone has 3 text and 3 image blocks; use 1..3"):
        build_prompt_learner(make_cfg(PROMPT_DEPTH=4), NAMES, asym_clip)


@torch.no_grad()
def test_text_only_prompts_run_on_a_resnet_and_visual_prompts_ask_for_a_vit():
    rn = freeze(build_tiny_clip(embed_dim=32, image_resolution=64, vision_layers=(1, 1, 1, 1), vision_width=64,
                                vision_patch_size=None, transformer_width=64, transformer_heads=1, transformer_layers=3))
    model = build_model(rn, INJECTION="none", N_CTX_VISION=0)
    assert [name for name, _ in model.learner.trainable_parameters()] == ["ctx", "deep_prompts"]
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, len(NAMES))
    with pytest.raises(ValueError, match="Visual prompts need a ViT backbone"):
        build_model(rn)


def test_defaults_match_the_documented_method():
    c = make_cfg().TRAINER.MUDPT
    defaults = get_cfg_default()
    trainers.add_trainer_config(defaults)
    d = defaults.TRAINER.MUDPT
    assert (d.N_CTX, d.N_CTX_VISION, d.CTX_INIT, d.PREFIX_MODE, d.PROMPT_DEPTH) == (2, -1, "a photo of a", "full_init", 9)
    assert (d.INJECTION, d.INJECT_LAYER0, d.INJ_WIDTH, d.INJ_HEADS, d.PREC) == ("cross_attention", False, 512, 0, "amp")
    assert (d.INJ_LAYERS, d.INJ_SPAN, d.INJ_NORM) == (1, "layer", "post")
    assert INJECTION_CHOICES == ("cross_attention", "transformer", "linear", "none")
    check_config(c)


# --- eval-time cache ---------------------------------------------------------------------------------
def test_cached_text_features_equal_uncached(asym_clip):
    model = build_model(asym_clip).eval()
    image = torch.randn(2, 3, 32, 32)
    with torch.enable_grad():
        fresh = model(image).detach()
    with torch.no_grad():
        first, second = model(image), model(image)
    assert model.learner.text_cache._value is not None
    torch.testing.assert_close(first, fresh, rtol=0, atol=0)
    torch.testing.assert_close(second, fresh, rtol=0, atol=0)
    model.train()
    assert model.learner.text_cache._value is None


# --- shipped configs --------------------------------------------------------------------------------
CONFIGS = {
    "vit_b16_c2_ep10_batch4_depth9.yaml": ("cross_attention", "full_init", 10),
    "vit_b16_c2_ep5_batch4_depth9_xd.yaml": ("cross_attention", "full_init", 5),
    "vit_b16_c2_ep10_batch4_depth9_fewshot.yaml": ("cross_attention", "full_init", 10),
    "vit_b16_c2_ep10_batch4_depth9_inj-linear.yaml": ("linear", "first_n_words", 10),
    "vit_b16_c2_ep10_batch4_depth9_inj-transformer.yaml": ("transformer", "full_init", 10),
    "vit_b16_c2_ep10_batch4_depth9_inj-none.yaml": ("none", "full_init", 10),
}


def test_config_folder_holds_exactly_the_listed_files():
    assert sorted(p.name for p in CONFIG_DIR.glob("*.yaml")) == sorted(CONFIGS)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_config_merges_with_no_unknown_keys(name):
    cfg = get_cfg_default()
    try:
        import datasets

        datasets.add_dataset_config(cfg)
    except ImportError:
        cfg.DATASET.SUBSAMPLE_CLASSES = "all"
    trainers.add_trainer_config(cfg)
    path = CONFIG_DIR / name
    assert path.read_text().startswith("# "), "each config opens with a header comment"
    cfg.merge_from_file(str(path))
    injection, prefix_mode, epochs = CONFIGS[name]
    c = cfg.TRAINER.MUDPT
    assert (c.INJECTION, c.PREFIX_MODE, c.N_CTX, c.PROMPT_DEPTH, c.CTX_INIT) == (injection, prefix_mode, 2, 9, "a photo of a")
    assert (cfg.OPTIM.NAME, cfg.OPTIM.LR, cfg.OPTIM.MAX_EPOCH, cfg.OPTIM.LR_SCHEDULER) == ("sgd", 0.0025, epochs, "cosine")
    assert (cfg.OPTIM.WARMUP_EPOCH, cfg.OPTIM.WARMUP_TYPE, cfg.OPTIM.WARMUP_CONS_LR) == (1, "constant", 1e-5)
    assert (cfg.OPTIM.MOMENTUM, cfg.OPTIM.WEIGHT_DECAY) == (0.9, 5e-4)
    assert (cfg.DATALOADER.TRAIN_X.BATCH_SIZE, cfg.DATALOADER.TEST.BATCH_SIZE, cfg.DATALOADER.NUM_WORKERS) == (4, 100, 8)
    assert (cfg.INPUT.SIZE, cfg.INPUT.INTERPOLATION, cfg.MODEL.BACKBONE.NAME) == ((224, 224), "bicubic", "ViT-B/16")
    assert list(cfg.INPUT.TRANSFORMS) == ["random_resized_crop", "random_flip", "normalize"]
    assert cfg.TRAIN.PRINT_FREQ == 20
    check_config(c)


# --- the Injection Model's open design axes (INJ_LAYERS, INJ_HEADS, INJ_SPAN, INJ_NORM) -------------
def manual_injection_general(m: InjectionModel, text: torch.Tensor, vision: torch.Tensor, span: str, norm: str):
    """``(T', V', attention weights (layers, 2, L, n, k))`` in plain ops, for any number of layers,
    either span and either norm: queries refined layer after layer against the other modality's
    adapted prompts (of the same layer, or of all L layers flattened)."""
    L, n = text.shape[:2]
    t, v = _lin(text, m.text_adapter), _lin(vision, m.vision_adapter)  # (L, n, d)
    d = t.shape[-1]

    def context_of(src):  # (L, k, d)
        return src if span == "layer" else src.reshape(1, L * n, d).expand(L, -1, -1)

    def weights_of(q, c, attn):  # (L, n, k), averaged over heads
        H = attn.num_heads
        W, b = attn.in_proj_weight, attn.in_proj_bias
        qh = (q @ W[:d].t() + b[:d]).view(L, -1, H, d // H).transpose(1, 2)
        kh = (c @ W[d : 2 * d].t() + b[d : 2 * d]).view(L, -1, H, d // H).transpose(1, 2)
        return torch.softmax(qh @ kh.transpose(-1, -2) / (d // H) ** 0.5, dim=-1).mean(1)

    out, weights = [], []
    for query, context in ((t, context_of(v)), (v, context_of(t))):
        x, w_dir = query, []
        for block in m.layers:
            if norm == "pre":
                q, c = _ln(x, block.ln_1), _ln(context, block.ln_1)
                w_dir.append(weights_of(q, c, block.attn))
                x = x + _attention(q, c, block.attn)
                x = x + _lin(F.gelu(_lin(_ln(x, block.ln_2), block.mlp[0])), block.mlp[2])
            else:
                w_dir.append(weights_of(x, context, block.attn))
                x = _ln(x + _attention(x, context, block.attn), block.ln_1)
                x = _ln(x + _lin(F.gelu(_lin(x, block.mlp[0])), block.mlp[2]), block.ln_2)
        if norm == "pre":
            x = _ln(x, m.ln_out)
        out.append(x)
        weights.append(torch.stack(w_dir))  # (layers, L, n, k)
    return _lin(out[0], m.to_vision), _lin(out[1], m.to_text), torch.stack(weights, dim=1)


@pytest.mark.parametrize("layers,span,norm", [(1, "all", "post"), (2, "layer", "post"), (2, "all", "pre"), (3, "layer", "pre")])
@torch.no_grad()
def test_injection_model_design_axes_equal_manual_computation(layers, span, norm):
    torch.manual_seed(0)
    m = InjectionModel(text_dim=24, vision_dim=40, width=32, heads=4, n_layers=layers, span=span, norm=norm)
    for p in m.parameters():  # LayerNorm weights away from 1, biases away from 0
        p.add_(0.1 * torch.randn_like(p))
    text, vision = torch.randn(5, 3, 24), torch.randn(5, 3, 40)
    t2v, v2t, weights = m.carry(text, vision, need_weights=True)
    ref_t2v, ref_v2t, ref_weights = manual_injection_general(m, text, vision, span, norm)
    torch.testing.assert_close(t2v, ref_t2v, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(v2t, ref_v2t, rtol=1e-5, atol=1e-5)
    assert weights.shape == (layers, 2, 5, 3, 3 if span == "layer" else 15)
    torch.testing.assert_close(weights, ref_weights, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(weights.sum(-1), torch.ones(layers, 2, 5, 3))


@pytest.mark.parametrize("layers,norm", [(1, "pre"), (3, "post")])
def test_injection_model_count_with_more_layers_and_pre_ln(asym_clip, layers, norm):
    cfg = make_cfg(INJ_LAYERS=layers, INJ_NORM=norm, INJ_SPAN="all", CTX_INIT="")
    learner = build_prompt_learner(cfg, NAMES, asym_clip)
    extra = (layers - 1) * transformer_layer(64) + (norm == "pre") * layer_norm(64)  # more layers; pre-LN's final norm
    assert count(learner) == expected_count("cross_attention", 2, BLOCKS, D_T, D_V, width=64) + extra


def test_injection_heads_default_to_width_over_64():
    assert InjectionModel(64, 128, width=512).layers[0].attn.num_heads == 8
    assert InjectionModel(64, 128, width=256).layers[0].attn.num_heads == 4
    assert InjectionModel(64, 128, width=32).layers[0].attn.num_heads == 1
    assert InjectionModel(64, 128, width=64, heads=2).layers[0].attn.num_heads == 2


@pytest.mark.parametrize("layer0", [False, True])
@torch.no_grad()
def test_learner_reports_the_injection_attention(asym_clip, layer0):
    learner = build_model(asym_clip, INJECT_LAYER0=layer0, INJ_SPAN="all").learner
    report = learner.injection_attention()
    assert report["layers"] == list(range(0 if layer0 else 1, BLOCKS))
    L = len(report["layers"])
    assert report["weights"].shape == (1, 2, L, 2, L * 2)
    text, vision = learner.raw_prompts()
    skip = 0 if layer0 else 1
    torch.testing.assert_close(report["weights"], manual_injection_general(learner.injection, text[skip:], vision[skip:], "all", "post")[2])
    for injection in ("linear", "transformer", "none"):
        assert build_model(asym_clip, INJECTION=injection).learner.injection_attention() is None


@pytest.mark.parametrize("injection", ["cross_attention", "linear", "transformer"])
@torch.no_grad()
def test_checkpoints_with_the_former_fusion_names_load(asym_clip, injection):
    """Learners saved before the injection got its one name (``fusion.*``) load unchanged."""
    saved = build_model(asym_clip, INJECTION=injection).learner
    for p in saved.parameters():
        p.normal_()
    # The former names: the paper's model under fusion.injection_model. (its one layer unnumbered),
    # the released injections under fusion.
    former = "fusion.injection_model." if injection == "cross_attention" else "fusion."
    state = {}
    for key, value in saved.state_dict().items():
        if key.startswith("injection."):
            key = former + key[len("injection.") :].replace("layers.0.", "", 1)
        state[key] = value
    assert any(k.startswith("fusion.") for k in state) and not any(k.startswith("injection.") for k in state)
    loaded = build_model(asym_clip, INJECTION=injection).learner
    loaded.load_state_dict(state)
    for (name, a), (_, b) in zip(saved.state_dict().items(), loaded.state_dict().items()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=name)


def test_the_config_is_checked_once_where_it_is_built(asym_clip, monkeypatch):
    import trainers.mudpt as mudpt
    from runconfig import build_config
    from trainers.factory import create_model

    calls = []
    real = mudpt.check_config
    monkeypatch.setattr(mudpt, "check_config", lambda c, *a: (calls.append(1), real(c, *a)))
    opts = ["INPUT.SIZE", "(32, 32)", "DATASET.NAME", "DescribableTextures"]
    for key, value in {"PROMPT_DEPTH": BLOCKS, **INJ}.items():
        opts += [f"TRAINER.MUDPT.{key}", str(value)]
    cfg = build_config(trainer="MuDPT", opts=opts)
    assert len(calls) == 1
    MuDPT.check_cfg(cfg)  # the trainer's constructor asks again (Dassl's order): already checked
    create_model(cfg, NAMES, asym_clip)  # the factory (and the learner's builder) take the checked config
    assert len(calls) == 1
    MuDPT.check_cfg(make_cfg())  # a config built otherwise (Dassl's own tools/train.py) is checked
    assert len(calls) == 2
