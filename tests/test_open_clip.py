"""open_clip backbones (issue 19, point 4): loading ``open_clip:<model>`` (weights files, errors,
refused architectures, identity), the substrate on open_clip's blocks (bit-identical to open_clip's
own encoders on the plain path, layer scale, GELU, biased projection, ResNet), and every method
on the same tiny CLIP loaded through openai-clip and through open_clip: equal logits, losses and
gradients, fused and plain.

Tiny architectures are registered with open_clip (``open_clip.add_model_config``, its API for
your own architectures) so that ``open_clip:<name>`` loads in milliseconds; each refused one
differs from the accepted tiny CLIP in the one feature it is refused for.
"""
from __future__ import annotations

import json
import warnings

import pytest
import torch

import trainers
from conftest import clip_twins
from engine.seam import ConfigError, get_cfg_default, sha256_file
from trainers.clip_loader import (
    CLIPLoadError,
    backbone_identity,
    build_open_clip,
    fetch_hint,
    freeze,
    load_clip,
    save_state_dict,
    source_of,
)
from trainers.clip_prompting import ClassPrompts, PromptedImageEncoder, PromptedTextEncoder, run_block, tokenize

open_clip = pytest.importorskip("open_clip")

NAMES = ["dog", "golden retriever", "cat", "sea lion"]
TINY = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 2},
}


def _variant(**changes) -> dict:
    """TINY with ``vision_cfg`` / ``text_cfg`` entries updated and other keys set."""
    cfg = json.loads(json.dumps(TINY))
    for key, value in changes.items():
        if key in ("vision_cfg", "text_cfg"):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg


# Tiny open_clip architectures the substrate prompts: QuickGELU; GELU with layer scale and a biased
# (Linear) text projection; a ResNet image tower.
ACCEPTED = {
    "mudpt-tiny": TINY,
    "mudpt-tiny-ls": _variant(quick_gelu=False, vision_cfg={"ls_init_value": 0.5}, text_cfg={"ls_init_value": 0.5, "proj_bias": True}),
    "mudpt-tiny-rn": _variant(vision_cfg={"layers": [1, 1, 1, 1], "width": 64, "image_size": 64, "patch_size": None}),
}
# Each differs from TINY in what it is refused for, and the refusal names it.
REFUSED = {
    "mudpt-tiny-bidirectional": (_variant(text_cfg={"no_causal_mask": True}), "its text transformer is not causal"),
    "mudpt-tiny-eos": (_variant(text_cfg={"pool_type": "eos"}), "its text feature is pooled by 'eos'"),
    "mudpt-tiny-siglip": (_variant(init_logit_bias=-10.0), "SigLIP's logit_bias"),
    "mudpt-tiny-vocab": (_variant(text_cfg={"vocab_size": 1000}), "its vocabulary has 1000 tokens, not CLIP's BPE"),
    "mudpt-tiny-qknorm": (_variant(text_cfg={"qk_norm": True}), "its text blocks are CustomResidualAttentionBlock"),
    "mudpt-tiny-attnpool": (_variant(vision_cfg={"attentional_pool": True, "attn_pooler_heads": 1, "attn_pooler_queries": 4}),
                            "attentional pooler"),  # fmt: skip
    "mudpt-tiny-avgpool": (_variant(vision_cfg={"pool_type": "avg"}), "pools by 'avg', not at the class token"),
    "mudpt-tiny-timm": (_variant(vision_cfg={"timm_model_name": "vit_tiny_patch16_224", "timm_pool": "token"}), "its image tower is a TimmModel"),
    "mudpt-tiny-custom-text": (_variant(custom_text=True), "open_clip's CustomTextCLIP"),
    "mudpt-tiny-coca": (_variant(custom_text=True, multimodal_cfg={"width": 64, "heads": 1, "layers": 1, "context_length": 76}),
                        "open_clip's CoCa"),  # fmt: skip
}


@pytest.fixture(scope="module", autouse=True)
def tiny_architectures(tmp_path_factory):
    folder = tmp_path_factory.mktemp("open_clip_configs")
    for name, cfg in {**ACCEPTED, **{n: c for n, (c, _) in REFUSED.items()}}.items():
        (folder / f"{name}.json").write_text(json.dumps(cfg))
    open_clip.add_model_config(folder)


def _config():
    cfg = get_cfg_default()
    trainers.add_trainer_config(cfg)
    return cfg


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


# --- loading ---------------------------------------------------------------------------------------
def test_weights_files_of_every_format_load_exactly(tmp_path):
    from safetensors.torch import save_file

    model = build_open_clip("mudpt-tiny", seed=3)
    assert source_of(model) == "open_clip" and not model.training
    save_state_dict(model, str(tmp_path / "plain.pt"))
    # open_clip's training checkpoints: under "state_dict", with DataParallel's "module." prefixes.
    torch.save({"epoch": 3, "name": "run", "state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "epoch_3.pt")
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp_path / "open_clip_model.safetensors"))
    for file in ("plain.pt", "epoch_3.pt", "open_clip_model.safetensors"):
        loaded = load_clip("open_clip:mudpt-tiny", str(tmp_path / file))
        assert _same_weights(loaded, model) and not loaded.training, file
        assert next(loaded.parameters()).dtype == torch.float32
    # OpenAI's models in a file (state dict or TorchScript): the -quickgelu architecture of the same shape takes it.
    openai, twin = clip_twins(embed_dim=32, image_resolution=32, vision_layers=2, vision_width=64, vision_patch_size=16,
                              transformer_width=64, transformer_heads=1, transformer_layers=2)  # fmt: skip
    save_state_dict(openai, str(tmp_path / "openai.pt"))
    assert _same_weights(load_clip("open_clip:mudpt-tiny", str(tmp_path / "openai.pt")), twin)
    with warnings.catch_warnings():  # and as a TorchScript archive, the form of OpenAI's releases
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(openai, (torch.randn(1, 3, 32, 32), tokenize(openai, ["a dog"])), check_trace=False)
    traced.save(str(tmp_path / "openai_jit.pt"))
    assert _same_weights(load_clip("open_clip:mudpt-tiny", str(tmp_path / "openai_jit.pt")), twin)


def test_loading_errors_say_what_to_fix(tmp_path, monkeypatch):
    with pytest.raises(ConfigError, match=r"Unknown open_clip model 'ViT-B-33' \(MODEL.BACKBONE.NAME open_clip:ViT-B-33\); closest: ViT-B-32"):
        load_clip("open_clip:ViT-B-33")
    with pytest.raises(ConfigError, match=r"open_clip:ViT-B-32 needs weights: set MODEL.BACKBONE.PRETRAINED to one of its tags \(openai, .*laion2b_s34b_b79k"):
        load_clip("open_clip:ViT-B-32")
    with pytest.raises(ConfigError, match=r"MODEL.BACKBONE.PRETRAINED 'laion9b' is not a weights tag of open_clip:ViT-B-32; its tags: openai, "):
        load_clip("open_clip:ViT-B-32", pretrained="laion9b")
    # OpenAI's weights were trained with QuickGELU: open_clip would only warn.
    with pytest.raises(ConfigError, match=r"trained with QuickGELU, .* set MODEL.BACKBONE.NAME open_clip:ViT-B-32-quickgelu\.$"):
        load_clip("open_clip:ViT-B-32", pretrained="openai")
    with pytest.raises(ConfigError, match=r"MODEL.BACKBONE.PRETRAINED 'openai' is an open_clip weights tag, but MODEL.BACKBONE.NAME 'ViT-B/16'"):
        load_clip("ViT-B/16", pretrained="openai")
    with pytest.raises(CLIPLoadError, match=r'MODEL.BACKBONE.PATH ".*nope.pt" does not exist'):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "nope.pt"))
    state = build_open_clip("mudpt-tiny").state_dict()
    torch.save({k: v for k, v in state.items() if ".resblocks.1." not in k}, tmp_path / "partial.pt")
    with pytest.raises(CLIPLoadError, match=r'"[^"]*partial.pt" misses 24 of the \d+ tensors of open_clip:mudpt-tiny \(.*resblocks.1.*\): the weights of another model, or a truncated file\?'):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "partial.pt"))
    save_state_dict(build_open_clip("mudpt-tiny-ls"), str(tmp_path / "layer_scale.pt"))  # a biased text projection
    with pytest.raises(CLIPLoadError, match=r"layer_scale.pt\" misses 1 of the \d+ tensors of open_clip:mudpt-tiny \(text_projection\)"):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "layer_scale.pt"))
    torch.save({**state, "visual.transformer.resblocks.0.ls_1.gamma": torch.ones(64)}, tmp_path / "extra.pt")
    with pytest.raises(CLIPLoadError, match=r"holds 1 tensors it does not have \(visual.transformer.resblocks.0.ls_1.gamma\) for open_clip:mudpt-tiny: the weights of another model\?"):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "extra.pt"))
    torch.save({**state, "positional_embedding": state["positional_embedding"][:64]}, tmp_path / "context64.pt")
    with pytest.raises(CLIPLoadError, match=r"holds tensors of other shapes \(file vs model: positional_embedding \(64, 64\) vs \(77, 64\)\)"):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "context64.pt"))
    save_state_dict(build_open_clip("mudpt-tiny-rn"), str(tmp_path / "resnet.pt"))
    with pytest.raises(CLIPLoadError, match=r"misses \d+ of the \d+ tensors of open_clip:mudpt-tiny \(visual.class_embedding"):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "resnet.pt"))
    # A tag open_clip cannot download (offline): where to get the weights instead.
    monkeypatch.setattr(open_clip.factory, "download_pretrained", lambda *a, **k: (_ for _ in ()).throw(OSError("no network")))
    with pytest.raises(CLIPLoadError, match=r"open_clip could not get the 'openai' weights of RN50-quickgelu \(Failed to download weights for tag 'openai': no network\)\. Download them on a machine with internet access .* or put the file anywhere and set MODEL.BACKBONE.PATH\.$"):
        load_clip("open_clip:RN50-quickgelu", pretrained="openai")
    torch.save({"ctx": torch.zeros(2)}, tmp_path / "prompts.pt")
    with pytest.raises(CLIPLoadError, match=r'is not a CLIP checkpoint \(no "token_embedding.weight" in it\)\. Expected the weights of open_clip\'s mudpt-tiny'):
        load_clip("open_clip:mudpt-tiny", str(tmp_path / "prompts.pt"))


@pytest.mark.parametrize("name", list(REFUSED))
def test_architectures_the_substrate_cannot_prompt_are_refused_in_one_line(name):
    with pytest.raises(ConfigError) as err:
        build_open_clip(name)
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"MODEL.BACKBONE.NAME open_clip:{name} cannot be prompted here: ")
    assert REFUSED[name][1] in text and "supported: CLIP models with a causal text transformer" in text


def test_identity_and_fetch_hint_of_open_clip_weights(tmp_path, monkeypatch):
    import huggingface_hub.constants

    cfg = _config()
    cfg.MODEL.BACKBONE.NAME = "open_clip:ViT-B-32"
    cfg.MODEL.BACKBONE.PRETRAINED = "laion2b_s34b_b79k"
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    identity = backbone_identity(cfg)
    assert identity == {"source": "open_clip", "name": "open_clip:ViT-B-32", "pretrained": "laion2b_s34b_b79k", "file": "", "sha256": ""}
    hint = fetch_hint(identity)
    assert hint.startswith("open_clip's ViT-B-32 weights tagged 'laion2b_s34b_b79k': open_clip downloads them for ")
    assert "MODEL.BACKBONE.NAME open_clip:ViT-B-32 MODEL.BACKBONE.PRETRAINED laion2b_s34b_b79k" in hint
    # Once open_clip has downloaded the tag (Hugging Face's cache layout), the identity has its file.
    repo = tmp_path / "hub" / "models--laion--CLIP-ViT-B-32-laion2B-s34B-b79K"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("abc123")
    (repo / "snapshots" / "abc123").mkdir(parents=True)
    (repo / "snapshots" / "abc123" / "open_clip_model.safetensors").write_bytes(b"weights")
    identity = backbone_identity(cfg)
    assert identity["file"] == "open_clip_model.safetensors"
    assert identity["sha256"] == sha256_file(str(repo / "snapshots" / "abc123" / "open_clip_model.safetensors"))
    assert f"(sha256 {identity['sha256']})" in fetch_hint(identity)
    # A local file: its name and digest; without a tag, the hint asks for the file.
    save_state_dict(build_open_clip("mudpt-tiny"), str(tmp_path / "tiny.pt"))
    cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PATH, cfg.MODEL.BACKBONE.PRETRAINED = "open_clip:mudpt-tiny", str(tmp_path / "tiny.pt"), ""
    identity = backbone_identity(cfg)
    assert (identity["source"], identity["file"], identity["sha256"]) == ("open_clip", "tiny.pt", sha256_file(str(tmp_path / "tiny.pt")))
    assert fetch_hint(identity).startswith("the weights file 'tiny.pt' (sha256 ") and "MODEL.BACKBONE.PATH" in fetch_hint(identity)


def test_a_pretrained_tag_changes_results_unless_a_file_gives_the_weights():
    from engine.config_compare import config_differences
    from runconfig import build_config, result_keys

    dtd = "configs/datasets/dtd.yaml"

    def dump(*opts: str) -> str:
        return build_config(trainer="CoOp", dataset_config_file=dtd, opts=["MODEL.BACKBONE.NAME", "open_clip:ViT-B-32", *opts]).dump()

    a, b = dump("MODEL.BACKBONE.PRETRAINED", "laion2b_s34b_b79k"), dump("MODEL.BACKBONE.PRETRAINED", "openai")
    assert [d[0] for d in config_differences(a, b, keys=result_keys())] == ["MODEL.BACKBONE.PRETRAINED"]
    with_file = ("MODEL.BACKBONE.PATH", "/weights/b32.pt")
    a, b = dump(*with_file, "MODEL.BACKBONE.PRETRAINED", "laion2b_s34b_b79k"), dump(*with_file)
    assert config_differences(a, b, keys=result_keys()) == []  # the file is compared by its sha256 (run.json)


def test_the_data_normalisation_must_be_the_backbones(tiny_clip):
    from open_clip.model import set_model_preprocess_cfg

    from trainers.factory import check_normalization

    cfg = _config()
    cfg.INPUT.PIXEL_MEAN, cfg.INPUT.PIXEL_STD = [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711]
    check_normalization(cfg, tiny_clip)  # OpenAI's constants, as every recipe has them
    model = build_open_clip("mudpt-tiny")
    check_normalization(cfg, model)  # open_clip's default is OpenAI's
    set_model_preprocess_cfg(model, {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "size": 32})  # as create_model records a tag's
    cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PRETRAINED = "open_clip:ViT-L-14", "laion2b_s32b_b82k"
    with pytest.raises(ConfigError) as err:
        check_normalization(cfg, model)
    assert str(err.value) == (
        "INPUT.PIXEL_MEAN [0.48145466, 0.4578275, 0.40821073] / INPUT.PIXEL_STD [0.26862954, 0.26130258, 0.27577711] are not "
        "the normalisation open_clip:ViT-L-14 (laion2b_s32b_b82k weights) was trained with; "
        'set INPUT.PIXEL_MEAN "[0.5, 0.5, 0.5]" INPUT.PIXEL_STD "[0.5, 0.5, 0.5]".'
    )
    cfg.INPUT.PIXEL_MEAN = [0.485, 0.456, 0.406]  # Dassl's default (ImageNet's) with OpenAI's CLIP
    with pytest.raises(ConfigError, match=r"are not the normalisation .* was trained with; set INPUT.PIXEL_MEAN \"\[0.48145466"):
        check_normalization(cfg, tiny_clip)


# --- the substrate on open_clip's blocks -----------------------------------------------------------
@pytest.fixture(scope="module", params=["mudpt-tiny", "mudpt-tiny-ls", "mudpt-tiny-rn"])
def oc_model(request):
    """An accepted tiny open_clip model; the layer scales moved away from one value, so each matters."""
    model = freeze(build_open_clip(request.param, seed=1))
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("gamma"):
                p.copy_(0.5 + torch.rand_like(p))
    return model


def _text(model):
    prompts = ClassPrompts(model, NAMES, 4, "a photo of a")
    return prompts, prompts.assemble(prompts.context_embedding)


@torch.no_grad()
def test_plain_encoders_equal_open_clips_own_bitwise_and_fused_ones_closely(oc_model):
    prompts, x = _text(oc_model)
    assert torch.equal(prompts.tokens, open_clip.get_tokenizer("ViT-B-32")([f"a photo of a {n}." for n in NAMES]))  # the model's tokenizer
    ref = oc_model.encode_text(prompts.tokens)
    assert torch.equal(PromptedTextEncoder(oc_model, fused=False)(x, prompts.eot_idx), ref)
    torch.testing.assert_close(PromptedTextEncoder(oc_model, fused=True)(x, prompts.eot_idx, prompts.seq_len), ref, rtol=1e-5, atol=1e-5)
    size = oc_model.visual.image_size
    image = torch.randn(3, 3, *(size if isinstance(size, tuple) else (size, size)))
    ref = oc_model.encode_image(image)
    assert torch.equal(PromptedImageEncoder(oc_model, fused=False)(image), ref)
    torch.testing.assert_close(PromptedImageEncoder(oc_model, fused=True)(image), ref, rtol=1e-5, atol=1e-5)


def test_blocks_run_as_open_clips_transformer_runs_them(oc_model):
    """Plain: bitwise open_clip's own Transformer (batch-first, the model's causal mask passed in);
    fused (SDPA, layer scale, the block's activation): the same values and gradients."""
    transformer = oc_model.transformer
    x = torch.randn(2, 77, transformer.width, requires_grad=True)
    ref = transformer(x, attn_mask=oc_model.attn_mask)
    plain = fused = x
    for block in transformer.resblocks:
        plain = run_block(block, plain, causal=True, fused=False, mask=oc_model.attn_mask)
        fused = run_block(block, fused, causal=True, fused=True)
    assert torch.equal(plain, ref)
    torch.testing.assert_close(fused, ref, rtol=1e-5, atol=1e-5)
    g_fused, g_ref = (torch.autograd.grad(y.square().sum(), x)[0] for y in (fused, ref))
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-4, atol=1e-5)
    with torch.no_grad():  # evaluation's in-place residual: the same bits (layer scale, GELU or QuickGELU)
        evaluated = x.detach()
        for block in transformer.resblocks:
            evaluated = run_block(block, evaluated, causal=True, fused=True)
    assert torch.equal(evaluated, fused.detach())


def test_the_frozen_towers_stay_in_evaluation_mode(oc_model):
    """A model set to train() (the bench, the tests) must not switch CLIP's BatchNorm to batch
    statistics or update them (ResNet towers), nor turn on open_clip's patch dropout."""
    from trainers.cocoop import CoCoOpModel, CoCoOpPromptLearner

    model = CoCoOpModel(oc_model, CoCoOpPromptLearner(oc_model, NAMES, 2), text_batch=100)
    before = {k: v.clone() for k, v in oc_model.state_dict().items()}
    model.train()
    assert model.learner.training and not model.image_encoder.training and not oc_model.visual.training
    size = oc_model.visual.image_size
    model(torch.randn(2, 3, *(size if isinstance(size, tuple) else (size, size)))).sum().backward()
    assert all(torch.equal(v, before[k]) for k, v in oc_model.state_dict().items())


def test_amp_and_fp16_storage_keep_a_biased_text_projection_a_projection():
    from trainers.clip_loader import cast_clip_weights

    model = freeze(build_open_clip("mudpt-tiny-ls"))
    assert isinstance(model.text_projection, torch.nn.Linear)
    prompts, x = _text(model)
    ref = PromptedTextEncoder(model)(x, prompts.eot_idx, prompts.seq_len)
    cast_clip_weights(model, torch.bfloat16, projections=False)  # amp: the residual stream stays fp32
    assert model.text_projection.weight.dtype == torch.float32 and model.transformer.resblocks[0].mlp.c_fc.weight.dtype == torch.bfloat16
    encoder = PromptedTextEncoder(model)
    assert encoder.dtype == torch.float32
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = encoder(x, prompts.eot_idx, prompts.seq_len)
    torch.testing.assert_close(out.float(), ref, rtol=5e-2, atol=5e-2)
    cast_clip_weights(model, torch.float16)  # fp16: CoOp's half CLIP
    assert model.text_projection.weight.dtype == torch.float16
    assert PromptedTextEncoder(model)(x, prompts.eot_idx, prompts.seq_len).dtype == torch.float16


# --- every method: the same CLIP through openai-clip and through open_clip --------------------------
TWIN_SHAPE = dict(embed_dim=32, image_resolution=32, vision_layers=3, vision_width=128, vision_patch_size=16,
                  transformer_width=64, transformer_heads=1, transformer_layers=3)  # fmt: skip
CASES = [
    ("ZeroshotCLIP", {}),
    ("ZeroshotCLIP2", {}),
    ("LinearProbeCLIP", {}),
    ("CoOp", dict(N_CTX=4)),
    ("CoOp", dict(N_CTX=4, CSC=True, CLASS_TOKEN_POSITION="middle")),
    ("CoCoOp", dict(N_CTX=4, CTX_INIT="a photo of a")),
    ("KgCoOp", dict(CTX_INIT="a photo of a", W=8.0)),
    ("MaPLe", dict(N_CTX=2, PROMPT_DEPTH=3)),
    ("IVLP", dict(N_CTX_TEXT=2, N_CTX_VISION=3, PROMPT_DEPTH_TEXT=2, PROMPT_DEPTH_VISION=3)),
    ("VPT", dict(N_CTX_VISION=3, PROMPT_DEPTH_VISION=3)),
    ("PromptSRC", dict(N_CTX_TEXT=2, N_CTX_VISION=2, PROMPT_DEPTH_TEXT=2, PROMPT_DEPTH_VISION=3)),
    *[("MuDPT", dict(PROMPT_DEPTH=3, INJECTION=inj, INJ_WIDTH=64)) for inj in ("cross_attention", "transformer", "linear", "none")],
]
IMAGE, LABEL = torch.randn(3, 3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.tensor([0, 2, 3])


# On the fused path the twins run the same code on the same tensors: bitwise equal. On the plain
# path each runs its own package's blocks, each bit-identical to its package's encoders, but in
# different layouts (openai-clip's sequence-first, open_clip's batch-first, and PyTorch's native
# MultiheadAttention fast path in inference for batch-first modules only): float rounding, which
# stays within 1e-5 of each tensor's largest magnitude (observed: up to 3.3e-6).
PLAIN_TOL = 1e-5


def _assert_same(got: torch.Tensor, ref: torch.Tensor, fused: bool, what: str) -> None:
    if fused:
        assert torch.equal(got, ref), f"{what}: not bitwise equal on the fused path"
        return
    error = float((got - ref).detach().abs().max() / ref.detach().abs().max())
    assert error <= PLAIN_TOL, f"{what}: differs by {error:.2e} of its largest magnitude"


@pytest.fixture(scope="module")
def twins():
    return tuple(freeze(m) for m in clip_twins(**TWIN_SHAPE))


def _build(clip_model, trainer: str, fused: bool, keys: dict):
    """The method's model from the model factory, its learned tensors moved away from their
    initial values (the same draws for both twins)."""
    from trainers.factory import create_model

    cfg = _config()
    cfg.TRAINER.NAME, cfg.INPUT.SIZE, cfg.MODEL.BACKBONE.FUSED = trainer, (32, 32), fused
    for key, value in keys.items():
        cfg.TRAINER[trainer.upper()][key] = value
    torch.manual_seed(0)
    model = create_model(cfg, NAMES, clip_model, template="a photo of a {}, a type of pet.")
    if model.learner is not None:
        with torch.no_grad():
            for _, p in model.learner.trainable_parameters():
                p.add_(0.05 * torch.randn_like(p))
    return model


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "plain"])
@pytest.mark.parametrize("trainer,keys", CASES, ids=[f"{t}-{'-'.join(map(str, k.values()))}" for t, k in CASES])
def test_every_method_is_the_same_on_openai_clip_and_on_open_clip(twins, trainer, keys, fused):
    openai, twin = twins
    ref, got = _build(openai, trainer, fused, keys), _build(twin, trainer, fused, keys)
    if ref.learner is not None:
        assert _same_weights(ref.learner, got.learner)  # the same initial draws, from the same token embeddings
    for model in (ref, got):
        model.eval()
    with torch.no_grad():
        _assert_same(got(IMAGE), ref(IMAGE), fused, "evaluation logits")
    if not hasattr(ref, "loss") or ref.learner is None:
        return  # zero-shot and linear-probe CLIP: logits only (nothing takes gradient steps)
    results = []
    for model in (ref, got):
        model.train()
        named = model.learner.trainable_parameters()
        loss, logits = model.loss(IMAGE, LABEL)
        results.append((loss, logits, torch.autograd.grad(loss, [p for _, p in named]), [n for n, _ in named]))
    (loss_r, logits_r, grads_r, names), (loss_g, logits_g, grads_g, _) = results
    _assert_same(logits_g, logits_r, fused, "training logits")
    _assert_same(loss_g, loss_r, fused, "loss")
    for name, g, r in zip(names, grads_g, grads_r):
        assert r.abs().sum() > 0, f"{name} gets no gradient"
        _assert_same(g, r, fused, f"gradient of {name}")


def test_the_twins_tokenise_alike_and_differ_only_in_their_package(twins):
    openai, twin = twins
    assert (source_of(openai), source_of(twin)) == ("openai-clip", "open_clip")
    texts = [f"a photo of a {n}." for n in NAMES]
    assert torch.equal(tokenize(twin, texts), open_clip.get_tokenizer("ViT-B-32")(texts))
    assert torch.equal(tokenize(openai, texts), tokenize(twin, texts))
    assert isinstance(twin.transformer.resblocks[0].mlp.gelu, open_clip.transformer.QuickGELU) and twin.transformer.batch_first
    assert not openai.transformer.resblocks[0].attn.batch_first
