"""The prompted-CLIP substrate against CLIP itself: exact equivalences, locality, fused attention,
EOT truncation, and the CoOp/CoCoOp models built on it."""
from __future__ import annotations

import pytest
import torch

from trainers.clip_loader import clip, freeze
from trainers.clip_prompting import ClassPrompts, PromptedImageEncoder, PromptedTextEncoder, run_block
from trainers.cocoop import CoCoOpModel, CoCoOpPromptLearner
from trainers.clip_prompting import ContextPromptedCLIP as CoOpModel
from trainers.prompt_learners import ContextPromptLearner as PromptLearner

NAMES = ["dog", "golden retriever", "cat", "sea lion", "a very long class name with many words"]


@pytest.fixture
def clip_model(tiny_clip):
    return freeze(tiny_clip)


def _text_inputs(clip_model, n_ctx=4, context="a photo of a"):
    p = ClassPrompts(clip_model, NAMES, n_ctx, context)
    return p, p.assemble(p.context_embedding)


# --- exactness against CLIP ---------------------------------------------------------------------
@torch.no_grad()
def test_block_loop_equals_clip_transformer_bitwise(clip_model):
    x = torch.randn(77, 3, clip_model.transformer.width)  # (L, B, D), CLIP's layout
    ref = clip_model.transformer(x)
    got = x.permute(1, 0, 2)
    for block in clip_model.transformer.resblocks:
        got = run_block(block, got, causal=True, fused=False)
    assert torch.equal(got.permute(1, 0, 2), ref)
    v = torch.randn(5, 2, clip_model.visual.transformer.width)
    ref_v = clip_model.visual.transformer(v)
    got_v = v.permute(1, 0, 2)
    for block in clip_model.visual.transformer.resblocks:
        got_v = run_block(block, got_v, causal=False, fused=False)
    assert torch.equal(got_v.permute(1, 0, 2), ref_v)


@torch.no_grad()
def test_unprompted_encoders_equal_encode_text_and_encode_image_bitwise(clip_model):
    prompts, x = _text_inputs(clip_model)
    tokens = clip.tokenize([f"a photo of a {n}." for n in NAMES])
    assert torch.equal(prompts.tokens, tokens)
    assert torch.equal(PromptedTextEncoder(clip_model, fused=False)(x, prompts.eot_idx), clip_model.encode_text(tokens))
    image = torch.randn(3, 3, 32, 32)
    assert torch.equal(PromptedImageEncoder(clip_model, fused=False)(image), clip_model.encode_image(image))


@torch.no_grad()
def test_fused_attention_matches_clip_attention(clip_model):
    prompts, x = _text_inputs(clip_model)
    ref = clip_model.encode_text(prompts.tokens)
    fused_full = PromptedTextEncoder(clip_model, fused=True)(x, prompts.eot_idx)
    torch.testing.assert_close(fused_full, ref, rtol=1e-5, atol=1e-5)
    image = torch.randn(3, 3, 32, 32)
    torch.testing.assert_close(PromptedImageEncoder(clip_model, fused=True)(image), clip_model.encode_image(image), rtol=1e-5, atol=1e-5)
    # One block, random input: fused (SDPA, is_causal) vs CLIP's own block.
    h = torch.randn(4, 77, clip_model.transformer.width)
    block = clip_model.transformer.resblocks[0]
    torch.testing.assert_close(run_block(block, h, causal=True, fused=True), run_block(block, h, causal=True, fused=False), rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_eot_truncation_is_exact(clip_model):
    prompts, x = _text_inputs(clip_model)
    enc = PromptedTextEncoder(clip_model, fused=True)
    full = enc(x, prompts.eot_idx)
    assert prompts.seq_len == int(prompts.tokens.argmax(-1).max()) + 1 < 77
    cut = enc(x, prompts.eot_idx, seq_len=prompts.seq_len)
    torch.testing.assert_close(cut, full, rtol=1e-6, atol=1e-6)
    pre_cut = enc(prompts.assemble(prompts.context_embedding, length=prompts.seq_len), prompts.eot_idx)
    torch.testing.assert_close(pre_cut, full, rtol=1e-6, atol=1e-6)
    # And with deep prompts.
    torch.manual_seed(0)
    deep = [torch.randn(4, x.shape[-1]) for _ in range(2)]
    torch.testing.assert_close(enc(x, prompts.eot_idx, prompts.seq_len, deep), enc(x, prompts.eot_idx, None, deep), rtol=1e-5, atol=1e-5)


# --- deep prompts: replacement identity and locality ---------------------------------------------
def _text_hidden_states(enc, x, eot, deep):
    """Inputs to each block, recorded with forward pre-hooks on CLIP's own blocks."""
    seen = []
    hooks = [b.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone())) for b in enc.resblocks]
    try:
        out = enc(x, eot, None, deep)
    finally:
        for h in hooks:
            h.remove()
    return seen, out


@torch.no_grad()
def test_deep_text_prompt_replacement_identity_and_locality(clip_model):
    prompts, x = _text_inputs(clip_model)
    enc = PromptedTextEncoder(clip_model, fused=False)  # hooks see CLIP's blocks (L, B, D)
    n = prompts.n_ctx
    seen, base = _text_hidden_states(enc, x, prompts.eot_idx, None)
    # Feeding back exactly what block i-1 produced at the prompt rows changes nothing.
    deep = [seen[i][1 : 1 + n, 0] for i in (1, 2)]  # rows 1..n entering blocks 1 and 2, (n, D)
    same = enc(x, prompts.eot_idx, None, deep)
    assert torch.equal(same, base)
    # Perturbing the prompt of block 2 leaves every hidden state before block 2 unchanged.
    perturbed = [None, torch.randn(n, x.shape[-1])]
    seen2, out2 = _text_hidden_states(enc, x, prompts.eot_idx, perturbed)
    for i in range(2):
        assert torch.equal(seen2[i], seen[i])
    assert not torch.equal(seen2[2], seen[2]) and not torch.allclose(out2, base)
    # The causal mask keeps SOS untouched at every depth.
    for i in range(len(seen)):
        assert torch.equal(seen2[i][0], seen[i][0])


@torch.no_grad()
def test_deep_visual_prompt_replacement_identity_and_locality(clip_model):
    enc = PromptedImageEncoder(clip_model, fused=False)
    image = torch.randn(2, 3, 32, 32)
    n, width = 3, enc.width
    shallow = torch.randn(n, width)
    seen = []
    hooks = [b.register_forward_pre_hook(lambda m, a: seen.append(a[0].clone())) for b in enc.visual.transformer.resblocks]
    base = enc(image, shallow)
    deep = [seen[1][-n:].permute(1, 0, 2).clone()]  # (B, n, Dv): rows that entered block 1, per image
    seen.clear()
    assert torch.equal(enc(image, shallow, deep), base)
    seen.clear()
    enc(image, shallow, [None, torch.randn(n, width)])
    pert = list(seen)
    for h in hooks:
        h.remove()
    seen_base = []
    hooks = [b.register_forward_pre_hook(lambda m, a: seen_base.append(a[0].clone())) for b in enc.visual.transformer.resblocks]
    enc(image, shallow)
    for h in hooks:
        h.remove()
    assert torch.equal(pert[0], seen_base[0]) and torch.equal(pert[1], seen_base[1])
    assert not torch.equal(pert[2], seen_base[2])


@torch.no_grad()
def test_visual_prompts_carry_no_position(clip_model):
    """Appended prompts have no positional embedding and no mask: their order does not matter."""
    enc = PromptedImageEncoder(clip_model, fused=True)
    image = torch.randn(2, 3, 32, 32)
    shallow = torch.randn(3, enc.width)
    torch.testing.assert_close(enc(image, shallow), enc(image, shallow.flip(0)), rtol=1e-5, atol=1e-5)


def test_prompt_layout_and_prompts_are_not_written_in_place(clip_model):
    prompts, x = _text_inputs(clip_model, n_ctx=2, context="a photo of a")
    # n tokens between SOS and the rest: "a photo" | "of a <class> ."
    assert prompts.token_suffix.shape[1] == 77 - 1 - 2
    assert prompts.eot_idx.tolist() == prompts.tokens.argmax(-1).tolist()
    ctx = torch.randn(2, x.shape[-1], requires_grad=True)
    before = prompts.token_suffix.clone()
    out = PromptedTextEncoder(clip_model)(prompts.assemble(ctx), prompts.eot_idx, prompts.seq_len, [ctx * 2])
    out.sum().backward()
    assert torch.equal(prompts.token_suffix, before) and ctx.grad.abs().sum() > 0
    assert set(dict(prompts.state_dict())) == set()  # class-dependent buffers are not persistent


# --- CoOp / CoCoOp models ---------------------------------------------------------------------------
@torch.no_grad()
def test_coop_initialised_from_words_reproduces_the_handcrafted_prompt(clip_model):
    learner = PromptLearner(clip_model, NAMES, n_ctx=16, ctx_init="a photo of a")
    assert learner.n_ctx == 4 and learner.ctx.shape == (4, clip_model.transformer.width)
    ref = clip_model.encode_text(clip.tokenize([f"a photo of a {n}." for n in NAMES]))
    assert torch.equal(CoOpModel(clip_model, learner, fused=False).text_features(), ref)
    torch.testing.assert_close(CoOpModel(clip_model, learner, fused=True).text_features(), ref, rtol=1e-5, atol=1e-5)


@torch.no_grad()
def test_coop_counts_the_words_of_ctx_init_and_shares_that_context_as_the_official_code(clip_model):
    """"a chequered photo of a" is 5 words and 6 BPE tokens ("che", "quered"): the official CoOp
    learns 5 vectors, the first 5 token embeddings, and leaves the 6th token ("a") in the frozen
    prompt; with CTX_INIT it ignores CSC (one shared context)."""
    learner = PromptLearner(clip_model, NAMES, n_ctx=16, ctx_init="a chequered photo of a", csc=True)
    tokens = clip.tokenize("a chequered photo of a dog.")[0]
    assert learner.n_ctx == 5 and learner.ctx.shape == (5, clip_model.transformer.width)
    assert torch.equal(learner.ctx, clip_model.token_embedding(tokens[1:6]))
    assert learner.prompts.prompt_texts[0] == "a chequered photo of a dog."
    assert torch.equal(learner()[0], clip_model.token_embedding(tokens))  # the frozen 6th token follows the context
    ref = clip_model.encode_text(clip.tokenize([f"a chequered photo of a {n}." for n in NAMES]))
    assert torch.equal(CoOpModel(clip_model, learner, fused=False).text_features(), ref)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
def test_coop_class_token_positions(clip_model, position):
    torch.manual_seed(0)
    learner = PromptLearner(clip_model, NAMES, n_ctx=4, class_token_position=position)
    prompts = learner()
    p = learner.prompts
    emb = clip_model.token_embedding(p.tokens).float()  # "X X X X <name>." embeddings
    for i, name_len in enumerate(p.name_lens):
        name = emb[i, 1 + 4 : 1 + 4 + name_len]
        start = {"end": 1 + 4, "middle": 1 + 2, "front": 1}[position]
        assert torch.equal(prompts[i, start : start + name_len], name)
        ctx_rows = {"end": [1, 2, 3, 4], "middle": [1, 2, 3 + name_len, 4 + name_len], "front": [1 + name_len + k for k in range(4)]}[position]
        assert torch.equal(prompts[i, ctx_rows], learner.ctx)
    # The padding after EOT is untouched.
    assert torch.equal(prompts[:, p.seq_len :], emb[:, p.seq_len :])


def test_coop_csc_and_gradients(clip_model):
    learner = PromptLearner(clip_model, NAMES, n_ctx=3, csc=True)
    assert learner.ctx.shape == (len(NAMES), 3, clip_model.transformer.width)
    model = CoOpModel(clip_model, learner)
    logits = model(torch.randn(2, 3, 32, 32))
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 1])).backward()
    assert learner.ctx.grad is not None and (learner.ctx.grad.abs().sum(dim=(1, 2)) > 0).all()
    assert all(p.grad is None for p in clip_model.parameters())
    assert list(learner.state_dict()) == ["ctx"]


@torch.no_grad()
def test_text_features_are_cached_only_during_evaluation(clip_model):
    learner = PromptLearner(clip_model, NAMES, n_ctx=4)
    model = CoOpModel(clip_model, learner)
    learner.eval()
    first = model.text_features()
    assert model.text_features() is first  # served from the cache
    learner.ctx.add_(1.0)
    assert model.text_features() is first  # same evaluation: still cached
    learner.eval()  # the engine calls eval() at the start of every evaluation
    assert model.text_features() is not first and not torch.equal(model.text_features(), first)
    learner.load_state_dict({"ctx": torch.zeros_like(learner.ctx)})
    assert torch.equal(model.text_features(), CoOpModel(clip_model, learner).text_features())


def test_cocoop_chunked_evaluation_equals_one_batch(clip_model):
    torch.manual_seed(0)
    learner = CoCoOpPromptLearner(clip_model, NAMES, n_ctx=4, ctx_init="a photo of a")
    image = torch.randn(7, 3, 32, 32)
    big = CoCoOpModel(clip_model, learner, text_batch=10_000)
    small = CoCoOpModel(clip_model, learner, text_batch=len(NAMES) * 2)  # 2 images per chunk
    calls = []
    small.text_encoder.register_forward_hook(lambda m, args, out: calls.append(args[0].shape[0]))
    learner.eval()
    with torch.no_grad():
        a, b = big(image), small(image)
    assert calls == [2 * len(NAMES)] * 3 + [len(NAMES)]  # 7 images: chunks of 2, 2, 2, 1
    torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-6)
    learner.train()
    c = big(image)  # training path (with grad), no chunking
    torch.testing.assert_close(c.detach(), a, rtol=1e-5, atol=1e-5)
    c.sum().backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in learner.parameters())
    assert all(p.grad is None for p in clip_model.parameters())


@torch.no_grad()
def test_cocoop_prompts_depend_on_the_image(clip_model):
    learner = CoCoOpPromptLearner(clip_model, NAMES, n_ctx=2)
    feats = torch.nn.functional.normalize(torch.randn(2, clip_model.visual.output_dim), dim=-1)
    prompts = learner(feats)
    assert prompts.shape == (2, len(NAMES), 77, clip_model.transformer.width)
    assert not torch.equal(prompts[0, :, 1:3], prompts[1, :, 1:3])  # context shifted per image
    assert torch.equal(prompts[0, :, 3:], prompts[1, :, 3:])  # class tokens unchanged


# --- precision and memory-lean paths --------------------------------------------------------------
def test_quick_gelu_matches_clip_forward_bitwise_and_its_gradient():
    from clip.model import QuickGELU

    from trainers.clip_prompting import quick_gelu

    x = torch.randn(4, 9, dtype=torch.float64, requires_grad=True)
    assert torch.equal(quick_gelu(x), QuickGELU()(x))
    assert torch.autograd.gradcheck(quick_gelu, (x,))


def test_fused_block_without_gradients_is_the_same_function_in_place(clip_model):
    """Evaluation runs the fused block's activation and last residual in place: the same bits as
    with gradients, and the caller's tensor is left as it was."""
    blocks = [(clip_model.transformer.resblocks[0], True), (clip_model.visual.transformer.resblocks[1], False)]
    for block, causal in blocks:
        x = torch.randn(3, 20, block.attn.embed_dim)
        kept = x.clone()
        with_grad = run_block(block, x.requires_grad_(), causal=causal).detach()
        with torch.no_grad():
            without = run_block(block, x, causal=causal)
        with torch.inference_mode():
            inference = run_block(block, x.detach(), causal=causal)
        assert torch.equal(without, with_grad) and torch.equal(inference, with_grad)
        assert torch.equal(x.detach(), kept)


def test_fused_block_gradients_match_clip_block(clip_model):
    block = clip_model.transformer.resblocks[0]
    x = torch.randn(3, 77, clip_model.transformer.width, requires_grad=True)  # CLIP's block needs 77
    g_fused = torch.autograd.grad(run_block(block, x, causal=True, fused=True).square().sum(), x)[0]
    g_ref = torch.autograd.grad(run_block(block, x, causal=True, fused=False).square().sum(), x)[0]
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-4, atol=1e-5)


@torch.no_grad()
def test_half_precision_clip_runs_through_the_substrate(clip_model):
    """PREC fp16 (CoOp's half CLIP): LayerNorms keep fp32 weights, so nothing crashes."""
    from trainers.clip_loader import cast_clip_weights

    prompts, x = _text_inputs(clip_model)
    image = torch.randn(2, 3, 32, 32)
    ref_t = PromptedTextEncoder(clip_model)(x, prompts.eot_idx, prompts.seq_len)
    ref_i = PromptedImageEncoder(clip_model)(image)
    cast_clip_weights(clip_model, torch.float16)
    assert clip_model.ln_final.weight.dtype == torch.float32 and clip_model.text_projection.dtype == torch.float16
    t = PromptedTextEncoder(clip_model)(x, prompts.eot_idx, prompts.seq_len)
    i = PromptedImageEncoder(clip_model)(image)
    assert t.dtype == i.dtype == torch.float16
    torch.testing.assert_close(t.float(), ref_t, rtol=2e-2, atol=2e-2)
    torch.testing.assert_close(i.float(), ref_i, rtol=2e-2, atol=2e-2)


@torch.no_grad()
def test_amp_weight_storage_gives_the_same_results_under_autocast(clip_model):
    """Weights stored in bf16 = what autocast would compute from fp32 weights, exactly."""
    from trainers.clip_loader import cast_clip_weights

    prompts, x = _text_inputs(clip_model)
    image = torch.randn(2, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ref_t = PromptedTextEncoder(clip_model)(x, prompts.eot_idx, prompts.seq_len)
        ref_i = PromptedImageEncoder(clip_model)(image)
    cast_clip_weights(clip_model, torch.bfloat16, projections=False)
    assert clip_model.transformer.resblocks[0].attn.in_proj_weight.dtype == torch.bfloat16
    assert clip_model.text_projection.dtype == torch.float32  # the residual stream stays fp32
    with torch.autocast("cpu", dtype=torch.bfloat16):
        t = PromptedTextEncoder(clip_model)(x, prompts.eot_idx, prompts.seq_len)
        i = PromptedImageEncoder(clip_model)(image)
    assert torch.equal(t, ref_t) and torch.equal(i, ref_i)


# --- hidden states (the optional ``states`` path, analysis/alignment) -----------------------------
def _block_outputs(blocks) -> tuple[list[torch.Tensor], list]:
    """Forward hooks on CLIP's own blocks: their outputs (L, B, D), in block order."""
    outputs: list[torch.Tensor] = []
    handles = [b.register_forward_hook(lambda m, i, o: outputs.append(o)) for b in blocks]
    return outputs, handles


@torch.no_grad()
@pytest.mark.parametrize("fused", [False, True])
def test_states_are_clips_own_block_outputs_at_the_readout_tokens(clip_model, fused):
    from trainers.clip_prompting import record_states

    prompts, x = _text_inputs(clip_model)
    outputs, handles = _block_outputs(clip_model.transformer.resblocks)
    ref = clip_model.encode_text(prompts.tokens)
    for h in handles:
        h.remove()
    states: list[torch.Tensor] = []
    got = PromptedTextEncoder(clip_model, fused=fused)(x, prompts.eot_idx, seq_len=prompts.seq_len, states=states)
    assert len(states) == len(outputs) == len(clip_model.transformer.resblocks)
    rows = torch.arange(len(NAMES))
    check = torch.testing.assert_close if fused else (lambda a, b: torch.equal(a, b) or pytest.fail("not bitwise"))
    for mine, theirs in zip(states, outputs):
        check(mine, theirs[prompts.eot_idx, rows])  # (N, D) at each prompt's EOT
    check(got, ref)

    image = torch.randn(3, 3, 32, 32)
    outputs, handles = _block_outputs(clip_model.visual.transformer.resblocks)
    clip_model.encode_image(image)
    for h in handles:
        h.remove()
    encoder = PromptedImageEncoder(clip_model, fused=fused)
    with record_states(encoder) as calls:  # the hook point passes a fresh list to each call
        encoder(image)
        encoder(image)
    assert len(calls) == 2 and len(calls[0]) == len(outputs)
    for mine, theirs in zip(calls[1], outputs):
        check(mine, theirs[0])  # (B, D_v) at CLS
    assert encoder._forward_pre_hooks == {}  # removed on exit


@torch.no_grad()
def test_states_default_changes_nothing(clip_model):
    prompts, x = _text_inputs(clip_model)
    enc = PromptedTextEncoder(clip_model, fused=True)
    states: list[torch.Tensor] = []
    assert torch.equal(enc(x, prompts.eot_idx, states=states), enc(x, prompts.eot_idx))
    deep = [torch.randn(4, clip_model.visual.conv1.out_channels)]
    image = torch.randn(2, 3, 32, 32)
    venc = PromptedImageEncoder(clip_model)
    assert torch.equal(venc(image, deep[0], deep, states=[]), venc(image, deep[0], deep))
