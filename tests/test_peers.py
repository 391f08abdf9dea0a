"""MaPLe, IVLP, VPT, PromptSRC and KgCoOp against the official algebra, re-derived here in plain
code on CLIP's own blocks (sequence-first, the official repositories' modified-CLIP forward:
prompts concatenated after the positional embedding, deep prompts replacing rows before blocks
1..J-1): logits, losses and gradients at 1e-5 on a tiny CLIP whose towers differ in width, for the
fused and the plain path. Also: trainable tensors and their names, the official initialisation
rules, the official config keys, and Dassl's ``clean_cfg``."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import trainers
from engine.seam import get_cfg_default
from runconfig import build_config
from trainers.factory import create_model
from trainers.clip_loader import build_tiny_clip, clip, freeze
from trainers.promptsrc import IMAGENET_TEMPLATES, GaussianPromptAggregation, gpa_weights

REPO = Path(__file__).resolve().parents[1]
DTD = str(REPO / "configs" / "datasets" / "dtd.yaml")
NAMES = ["dog", "golden retriever", "cat", "sea lion"]
# Text and image widths differ (and differ from the 32-d embedding) so that a swapped width fails.
ASYM_CLIP = dict(
    embed_dim=32, image_resolution=32, vision_layers=3, vision_width=128, vision_patch_size=16,
    transformer_width=64, transformer_heads=1, transformer_layers=3,
)  # fmt: skip
TOL = dict(rtol=1e-5, atol=1e-5)


@pytest.fixture(scope="module")
def clip_model():
    return freeze(build_tiny_clip(**ASYM_CLIP))


def make_cfg(trainer: str, fused: bool = True, **keys):
    cfg = get_cfg_default()
    trainers.add_trainer_config(cfg)
    cfg.TRAINER.NAME = trainer
    cfg.INPUT.SIZE = (32, 32)
    cfg.MODEL.BACKBONE.FUSED = fused
    for key, value in keys.items():
        cfg.TRAINER[trainer.upper()][key] = value
    return cfg


def build(clip_model, trainer: str, fused: bool = True, template: str = "a photo of a {}.", **keys):
    torch.manual_seed(0)
    model = create_model(make_cfg(trainer, fused, **keys), NAMES, clip_model, template=template)
    with torch.no_grad():  # move every learned tensor away from its init, so that each one matters
        for _, p in model.learner.trainable_parameters():
            p.add_(0.05 * torch.randn_like(p))
    return model


# --- the official algebra, in plain code on CLIP's own blocks -----------------------------------
def ref_text(clip_model, tokens: torch.Tensor, ctx: torch.Tensor, deep: list[torch.Tensor]) -> torch.Tensor:
    """[SOS] ctx (rows 1..n) [rest of the tokenised prompt] + positional embedding; deep prompt k
    replaces rows 1..n before block k + 1; EOT feature @ text_projection. (n_cls, E)."""
    n = ctx.shape[-2]
    emb = clip_model.token_embedding(tokens)  # (N, 77, D)
    x = torch.cat([emb[:, :1], ctx.expand(emb.shape[0], -1, -1), emb[:, 1 + n :]], dim=1)
    x = (x + clip_model.positional_embedding).permute(1, 0, 2)  # (77, N, D)
    for i, block in enumerate(clip_model.transformer.resblocks):
        if 1 <= i <= len(deep):
            x = torch.cat([x[:1], deep[i - 1].unsqueeze(1).expand(-1, x.shape[1], -1), x[1 + n :]], dim=0)
        x = block(x)
    x = clip_model.ln_final(x.permute(1, 0, 2))
    return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ clip_model.text_projection


def ref_image(clip_model, image: torch.Tensor, shallow: torch.Tensor | None, deep: list[torch.Tensor]) -> torch.Tensor:
    """Patches, CLS, + positional embedding, then the visual prompts appended; ln_pre; deep prompt k
    replaces the last n rows before block k + 1; ln_post(CLS) @ proj. (B, E)."""
    v = clip_model.visual
    x = v.conv1(image).flatten(2).transpose(1, 2)
    x = torch.cat([v.class_embedding.expand(x.shape[0], 1, -1), x], dim=1) + v.positional_embedding
    if shallow is not None:
        x = torch.cat([x, shallow.expand(x.shape[0], -1, -1)], dim=1)
    x = v.ln_pre(x).permute(1, 0, 2)  # (L, B, Dv)
    for i, block in enumerate(v.transformer.resblocks):
        if 1 <= i <= len(deep):
            n = deep[i - 1].shape[0]
            x = torch.cat([x[:-n], deep[i - 1].unsqueeze(1).expand(-1, x.shape[1], -1)], dim=0)
        x = block(x)
    return v.ln_post(x.permute(1, 0, 2)[:, 0]) @ v.proj


def ref_logits(clip_model, image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    f = image_features / image_features.norm(dim=-1, keepdim=True)
    t = text_features / text_features.norm(dim=-1, keepdim=True)
    return clip_model.logit_scale.exp() * f @ t.t()


def tokens_of(context: str) -> torch.Tensor:
    return clip.tokenize([f"{context} {name}." for name in NAMES])


def check_against(model, reference, image: torch.Tensor, label: torch.Tensor) -> None:
    """The model's loss and logits equal the reference's, and so do the gradients of every trainable tensor."""
    named = model.learner.trainable_parameters()
    model.train()
    loss, logits = model.loss(image, label)
    grads = torch.autograd.grad(loss, [p for _, p in named])
    ref_loss, ref_out = reference(image, label)
    ref_grads = torch.autograd.grad(ref_loss, [p for _, p in named])
    torch.testing.assert_close(logits, ref_out, **TOL)
    torch.testing.assert_close(loss, ref_loss, **TOL)
    for (name, _), g, r in zip(named, grads, ref_grads):
        assert r.abs().sum() > 0, f"{name} gets no gradient"
        torch.testing.assert_close(g, r, **TOL, msg=lambda m, name=name: f"{name}: {m}")
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(image), ref_out.detach(), **TOL)


IMAGE, LABEL = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 2, 3])


# --- MaPLe ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
def test_maple_equals_the_official_forward(clip_model, fused):
    model = build(clip_model, "MaPLe", fused, N_CTX=2, PROMPT_DEPTH=3)
    lr = model.learner
    tokens = tokens_of("a photo of a")  # the whole CTX_INIT stays; ctx replaces "a photo"

    def reference(image, label):
        deep_text = list(lr.compound_prompts_text)
        deep_vision = [f(p) for f, p in zip(lr.compound_prompt_projections, deep_text)]
        logits = ref_logits(clip_model, ref_image(clip_model, image, lr.proj(lr.ctx), deep_vision), ref_text(clip_model, tokens, lr.ctx, deep_text))
        return F.cross_entropy(logits, label), logits

    check_against(model, reference, IMAGE, LABEL)


def test_maple_tensors_names_and_initialisation(clip_model):
    torch.manual_seed(0)
    model = create_model(make_cfg("MaPLe", N_CTX=2, PROMPT_DEPTH=3), NAMES, clip_model)
    lr = model.learner
    assert [n for n, _ in lr.trainable_parameters()] == [
        "ctx", "proj.weight", "proj.bias", "compound_prompts_text.0", "compound_prompts_text.1",
        "compound_prompt_projections.0.weight", "compound_prompt_projections.0.bias",
        "compound_prompt_projections.1.weight", "compound_prompt_projections.1.bias",
    ]  # fmt: skip
    assert set(lr.state_dict()) == {n for n, _ in lr.trainable_parameters()}  # no class buffers in checkpoints
    assert torch.equal(lr.ctx, clip_model.token_embedding(clip.tokenize("a photo")[0, 1:3]))  # from the words
    p0, p1 = lr.compound_prompt_projections  # the deep couplings start as copies of one Linear
    assert torch.equal(p0.weight, p1.weight) and torch.equal(p0.bias, p1.bias) and not torch.equal(p0.weight, lr.proj.weight)
    # The official order of draws: proj, the deep text prompts one by one, then the copied Linear.
    torch.manual_seed(0)
    proj = torch.nn.Linear(64, 128)
    prompts = [torch.empty(2, 64).normal_(std=0.02) for _ in range(2)]
    single = torch.nn.Linear(64, 128)
    assert torch.equal(lr.proj.weight, proj.weight) and torch.equal(lr.compound_prompts_text[1], prompts[1])
    assert torch.equal(p1.weight, single.weight)
    n = 2 * 64 + (64 * 128 + 128)  # per layer: P_i and F_i
    assert sum(p.numel() for _, p in lr.trainable_parameters()) == 3 * n


# --- IVLP ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
def test_ivlp_equals_the_official_forward(clip_model, fused):
    model = build(clip_model, "IVLP", fused, N_CTX_TEXT=2, N_CTX_VISION=3, PROMPT_DEPTH_TEXT=2, PROMPT_DEPTH_VISION=3)
    lr = model.learner
    tokens = tokens_of("a photo of a")

    def reference(image, label):
        text = ref_text(clip_model, tokens, lr.ctx, list(lr.deep_prompts))
        logits = ref_logits(clip_model, ref_image(clip_model, image, lr.visual_ctx, list(lr.visual_deep_prompts)), text)
        return F.cross_entropy(logits, label), logits

    check_against(model, reference, IMAGE, LABEL)
    assert lr.deep_prompts.shape == (1, 2, 64) and lr.visual_deep_prompts.shape == (2, 3, 128)


def test_ivlp_text_only_and_draw_order(clip_model):
    torch.manual_seed(0)
    model = create_model(make_cfg("IVLP", N_CTX_TEXT=4, N_CTX_VISION=0, PROMPT_DEPTH_TEXT=3, PROMPT_DEPTH_VISION=0, CTX_INIT=""), NAMES, clip_model)
    assert [n for n, _ in model.learner.trainable_parameters()] == ["ctx", "deep_prompts"]
    assert model.learner.prompts.prompt_texts[0] == "X X X X dog."
    # Text deep prompts, then the random context; each block's prompt drawn on its own.
    torch.manual_seed(0)
    deep = [torch.empty(4, 64).normal_(std=0.02) for _ in range(2)]
    ctx = torch.empty(4, 64).normal_(std=0.02)
    assert torch.equal(model.learner.deep_prompts, torch.stack(deep)) and torch.equal(model.learner.ctx, ctx)


# --- VPT -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
def test_vpt_equals_the_official_forward(clip_model, fused):
    model = build(clip_model, "VPT", fused, N_CTX_VISION=3, PROMPT_DEPTH_VISION=3)
    lr = model.learner
    assert [n for n, _ in lr.trainable_parameters()] == ["visual_ctx", "visual_deep_prompts"]
    with torch.no_grad():
        text = clip_model.encode_text(clip.tokenize([f"a photo of a {n}." for n in NAMES]))  # fixed, hand-crafted

    def reference(image, label):
        logits = ref_logits(clip_model, ref_image(clip_model, image, lr.visual_ctx, list(lr.visual_deep_prompts)), text)
        return F.cross_entropy(logits, label), logits

    check_against(model, reference, IMAGE, LABEL)


# --- KgCoOp --------------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
def test_kgcoop_loss_equals_the_official_one(clip_model, fused):
    template = "a photo of a {}, a type of pet."
    model = build(clip_model, "KgCoOp", fused, template=template, CTX_INIT="a photo of a", W=8.0)
    lr = model.learner
    assert [n for n, _ in lr.trainable_parameters()] == ["ctx"] and lr.ctx.shape == (4, 64)
    tokens = tokens_of("a photo of a")
    with torch.no_grad():
        anchors = clip_model.encode_text(clip.tokenize([template.format(n) for n in NAMES]))
        anchors = anchors / anchors.norm(dim=-1, keepdim=True)

    def reference(image, label):
        text = ref_text(clip_model, tokens, lr.ctx, [])
        logits = ref_logits(clip_model, clip_model.encode_image(image), text)
        text = text / text.norm(dim=-1, keepdim=True)
        score = 1.0 - torch.nn.CosineSimilarity(dim=1, eps=1e-7)(text, anchors).mean()
        return F.cross_entropy(logits, label) + 8.0 * score, logits

    check_against(model, reference, IMAGE, LABEL)


def test_official_kgcoop_yaml_and_options_train_with_our_train_py(tmp_path):
    official = tmp_path / "vit_b16_ep100_ctxv1.yaml"  # the official file's TRAINER node, as written there
    official.write_text("OPTIM:\n  MAX_EPOCH: 100\nTRAINER:\n  COOP:\n    CTX_INIT: True\n    N_CTX: 16\n")
    cfg = build_config(trainer="KgCoOp", config_file=str(official), dataset_config_file=DTD, opts=["TRAINER.COOP.W", "8.0"])
    c = cfg.TRAINER.KGCOOP
    assert (c.CTX_INIT, c.N_CTX, c.W) == ("a photo of a", 16, 8.0)
    assert (cfg.TRAINER.COOP.CTX_INIT, cfg.TRAINER.COOP.N_CTX) == ("", 16)  # CoOp's own node untouched
    cfg = build_config(trainer="KgCoOp", dataset_config_file=DTD, opts=["TRAINER.COOP.CTX_INIT", "False"])
    assert cfg.TRAINER.KGCOOP.CTX_INIT == ""
    # A run's own config.yaml (every node, CoOp's defaults included) is merged as it is: what evaluation reads.
    dump = tmp_path / "config.yaml"
    dump.write_text(build_config(trainer="KgCoOp", config_file=str(official), dataset_config_file=DTD, opts=["TRAINER.COOP.W", "8.0"]).dump())
    again = build_config(trainer="KgCoOp", config_file=str(dump))
    assert (again.TRAINER.KGCOOP.CTX_INIT, again.TRAINER.KGCOOP.W) == ("a photo of a", 8.0)


# --- PromptSRC -----------------------------------------------------------------------------------
@pytest.mark.parametrize("fused", [True, False])
def test_promptsrc_loss_equals_the_official_one(clip_model, fused):
    model = build(clip_model, "PromptSRC", fused, N_CTX_TEXT=2, N_CTX_VISION=2, PROMPT_DEPTH_TEXT=2, PROMPT_DEPTH_VISION=3)
    lr = model.learner
    tokens = tokens_of("a photo of a")
    with torch.no_grad():  # the frozen text features: raw features averaged over the 60 templates, then normalised
        raw = torch.stack([clip_model.encode_text(clip.tokenize([t.format(n) for n in NAMES])) for t in IMAGENET_TEMPLATES])
        fixed = raw.mean(dim=0)
        fixed = fixed / fixed.norm(dim=-1, keepdim=True)
        frozen_image = clip_model.encode_image(IMAGE)
        frozen_image = frozen_image / frozen_image.norm(dim=-1, keepdim=True)
        zs_logits = clip_model.logit_scale.exp() * frozen_image @ fixed.t()

    def reference(image, label):
        f = ref_image(clip_model, image, lr.visual_ctx, list(lr.visual_deep_prompts))
        t = ref_text(clip_model, tokens, lr.ctx, list(lr.deep_prompts))
        f, t = f / f.norm(dim=-1, keepdim=True), t / t.norm(dim=-1, keepdim=True)
        logits = clip_model.logit_scale.exp() * f @ t.t()
        kl = F.kl_div(F.log_softmax(logits, dim=1), F.log_softmax(zs_logits, dim=1), reduction="sum", log_target=True) / logits.numel()
        loss = F.cross_entropy(logits, label) + 25 * F.l1_loss(t, fixed) + 10 * F.l1_loss(f, frozen_image) + kl
        return loss, logits

    check_against(model, reference, IMAGE, LABEL)


def test_gpa_weights_and_aggregation(clip_model):
    w = gpa_weights(20, 15, 1)
    assert math.isclose(sum(w), 1.0) and max(range(20), key=w.__getitem__) == 14  # epoch 15
    assert math.isclose(w[14], 0.3989, rel_tol=1e-3) and math.isclose(w[12], 0.05399, rel_tol=1e-3)
    model = build(clip_model, "PromptSRC", N_CTX_TEXT=2, N_CTX_VISION=2, PROMPT_DEPTH_TEXT=2, PROMPT_DEPTH_VISION=2)
    lr = model.learner
    weights = gpa_weights(3, 2, 1)
    gpa = GaussianPromptAggregation(lr, weights)
    states = []
    for epoch in (1, 2, 3):
        with torch.no_grad():
            lr.ctx.add_(1.0)
        states.append(lr.ctx.detach().clone())
        gpa.add(epoch)
        if epoch == 2:  # a resumed run: the running sum comes back from the checkpoint
            saved = gpa.state()
            gpa = GaussianPromptAggregation(lr, weights)
            gpa.restore(saved)
    gpa.load()
    torch.testing.assert_close(lr.ctx.detach(), sum(w * s for w, s in zip(weights, states)), rtol=1e-6, atol=1e-6)


# --- every method ------------------------------------------------------------------------------
def test_every_trainer_builds_with_only_its_own_config_node():
    """Dassl's tools/train.py keeps TRAINER.NAME and TRAINER.<NAME upper-cased> only (clean_cfg);
    every method builds from its defaults (12 blocks per tower, as ViT-B/16)."""
    from engine.seam import TRAINER_REGISTRY

    clip_model = freeze(build_tiny_clip(**{**ASYM_CLIP, "vision_layers": 12, "transformer_layers": 12}))

    ours = [n for n in sorted(TRAINER_REGISTRY.registered_names()) if TRAINER_REGISTRY.get(n).__module__.startswith("trainers.")]
    assert len(ours) >= 10
    for name in ours:  # (other tests register stand-in trainers)
        cfg = make_cfg(name)
        for key in [k for k in cfg.TRAINER if k not in ("NAME", name.upper())]:
            cfg.TRAINER.pop(key)
        torch.manual_seed(0)
        model = create_model(cfg, NAMES, clip_model)
        with torch.no_grad():
            assert model(IMAGE).shape == (3, len(NAMES)), name


# The official keys and value types of each method's yaml (their train.py's extend_cfg; PREC fp16 is
# the only precision their code runs): such a file merges unchanged into our config.
OFFICIAL_KEYS = {
    "MaPLe": 'MAPLE:\n    N_CTX: 2\n    CTX_INIT: "a photo of a"\n    PREC: "fp16"\n    PROMPT_DEPTH: 9\n',
    "IVLP": 'IVLP:\n    N_CTX_VISION: 2\n    N_CTX_TEXT: 2\n    CTX_INIT: "a photo of a"\n    PREC: "fp16"\n'
            "    PROMPT_DEPTH_VISION: 9\n    PROMPT_DEPTH_TEXT: 9\n",
    "VPT": 'VPT:\n    N_CTX_VISION: 8\n    CTX_INIT: "a photo of a"\n    PREC: "fp16"\n    PROMPT_DEPTH_VISION: 12\n',
    "PromptSRC": 'PROMPTSRC:\n    N_CTX_VISION: 4\n    N_CTX_TEXT: 4\n    CTX_INIT: "a photo of a"\n    PREC: "fp16"\n'
                 "    PROMPT_DEPTH_VISION: 9\n    PROMPT_DEPTH_TEXT: 9\n    TEXT_LOSS_WEIGHT: 25\n    IMAGE_LOSS_WEIGHT: 10\n"
                 "    GPA_MEAN: 15\n    GPA_STD: 1\n",
}  # fmt: skip


@pytest.mark.parametrize("trainer", list(OFFICIAL_KEYS))
def test_official_yaml_keys_merge_unchanged(tmp_path, trainer):
    path = tmp_path / "official.yaml"
    path.write_text("TRAINER:\n  " + OFFICIAL_KEYS[trainer])
    cfg = build_config(trainer=trainer, config_file=str(path), dataset_config_file=DTD)
    import yaml

    expected = next(iter(yaml.safe_load(OFFICIAL_KEYS[trainer]).values()))
    assert {k: cfg.TRAINER[trainer.upper()][k] for k in expected} == expected
