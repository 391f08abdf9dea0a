"""Every method on random CLIPs of OpenAI's real shapes (issue 19, point 5): ViT-B/32 and ViT-L/14
(their widths, heads and depths; small images, so a few patches), and RN50 for the methods without
visual prompts; the others refuse a ResNet in one line. Each model is built as the bench builds it
(the method's bench recipe through the config module, the model factory), takes one of the
trainers' training steps and evaluates. The bench takes these shapes, and open_clip's models, by
name."""
from __future__ import annotations

import json

import pytest
import torch

from bench import bench, common
from engine.seam import ConfigError
from trainers.clip_loader import freeze, image_size
from trainers.factory import trainer_class

N_CLS = 3
NAMES = ["dog", "golden retriever", "sea lion"]
IMAGE_SIZE = {"vitb32": 32, "vitl14": 28, "rn50": 32}  # 1, 4 and 1 patches (RN50: a 1x1 grid)
METHODS = list(common.bench_methods())
# The methods, and settings of methods, without visual prompts: what a ResNet image tower can run.
TEXT_ONLY = {
    "CoOp": (),
    "CoCoOp": (),
    "KgCoOp": (),
    "ZeroshotCLIP": (),
    "LinearProbeCLIP": (),
    "MuDPT": ("TRAINER.MUDPT.INJECTION", "none", "TRAINER.MUDPT.N_CTX_VISION", "0"),
    "IVLP": ("TRAINER.IVLP.PROMPT_DEPTH_VISION", "0"),
    "PromptSRC": ("TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "0"),
}
# What each method with visual prompts says to do instead, after "use a ViT one (...)".
VISUAL_FIX = {
    "MuDPT": ", or TRAINER.MUDPT.INJECTION none with TRAINER.MUDPT.N_CTX_VISION 0 for text prompts only.",
    "MaPLe": ".",
    "VPT": ".",
    "IVLP": ", or TRAINER.IVLP.PROMPT_DEPTH_VISION 0.",
    "PromptSRC": ", or TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION 0.",
}


@pytest.fixture(scope="module")
def backbone():
    """The random CLIP of a shape (built once per shape and test process)."""
    built = {}

    def get(size: str) -> torch.nn.Module:
        if size not in built:
            built[size] = freeze(common.build_clip(size, IMAGE_SIZE[size]))
        return built[size]

    return get


def _runner(clip_model, size: str, method: str, opts=()):
    spec = common.RowSpec(method, str(common.REPO / common.bench_methods()[method]), "fp32", True, N_CLS)
    cfg = common.load_method_cfg(spec, common.prec_key_of(trainer_class(method)), image_size(clip_model), 2, 2,
                                 [*common.backbone_opts(size), *opts])  # fmt: skip
    torch.manual_seed(0)
    return common.Runner(cfg, NAMES, clip_model, torch.device("cpu"))


def _train_and_evaluate(clip_model, size: str, method: str, opts=()) -> None:
    runner = _runner(clip_model, size, method, opts)
    images = torch.randn(2, 3, *image_size(clip_model), generator=torch.Generator().manual_seed(0))
    if runner.trains:
        before = {n: p.detach().clone() for n, p in runner.learner.trainable_parameters()}
        runner.model.train()
        loss = runner.train_step({"img": images, "label": torch.tensor([0, 2])})["loss"]
        assert torch.isfinite(loss) and loss > 0
        unchanged = [n for n, p in runner.learner.trainable_parameters() if torch.equal(p, before[n])]
        assert not unchanged, f"one step left {unchanged} unchanged"
    runner.model.eval()
    logits = runner.inference(images)
    assert logits.shape == (2, N_CLS) and torch.isfinite(logits).all()


def test_the_shapes_are_openais():
    """Widths, heads and depths of OpenAI's ViT-B/32, ViT-L/14 and RN50 (clip.model.build_model's reading of their files)."""
    shapes = {size: common.build_clip(size, IMAGE_SIZE[size]) for size in ("vitb32", "rn50")}
    vit, rn = shapes["vitb32"], shapes["rn50"]
    assert (vit.visual.conv1.out_channels, len(vit.visual.transformer.resblocks), vit.visual.conv1.kernel_size) == (768, 12, (32, 32))
    assert vit.visual.transformer.resblocks[0].attn.num_heads == 12 and vit.text_projection.shape == (512, 512)
    assert [len(layer) for layer in (rn.visual.layer1, rn.visual.layer2, rn.visual.layer3, rn.visual.layer4)] == [3, 4, 6, 3]
    assert rn.visual.attnpool.num_heads == 32 and rn.text_projection.shape == (512, 1024)
    assert common.SIZES["vitl14"] == dict(embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
                                          transformer_width=768, transformer_heads=12, transformer_layers=12)  # fmt: skip


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("size", ["vitb32", "vitl14"])
def test_every_method_trains_and_evaluates_on_vit_shapes(backbone, size, method):
    _train_and_evaluate(backbone(size), size, method)


@pytest.mark.parametrize("method", list(TEXT_ONLY))
def test_the_methods_without_visual_prompts_train_and_evaluate_on_rn50(backbone, method):
    _train_and_evaluate(backbone("rn50"), "rn50", method, TEXT_ONLY[method])


@pytest.mark.parametrize("method", list(VISUAL_FIX))
def test_visual_prompts_refuse_a_resnet_in_one_line(backbone, method):
    with pytest.raises(ConfigError) as err:
        _runner(backbone("rn50"), "rn50", method)
    assert str(err.value).startswith("Visual prompts need a ViT backbone (MODEL.BACKBONE.NAME 'RN50' has a ResNet image tower); use a ViT one")
    assert str(err.value).endswith(VISUAL_FIX[method]) and "\n" not in str(err.value)


def test_the_bench_takes_shapes_and_open_clip_models_by_name(tmp_path, capsys):
    out = tmp_path / "bench.jsonl"
    args = ["--device", "cpu", "--n-cls", str(N_CLS), "--warmup", "0", "--iters", "1", "--eval-batches", "1", "--eval-batch", "2",
            "--batch", "2", "--threads", "1", "--json", str(out)]  # fmt: skip
    assert bench.main(["--size", "rn50", "--image-size", "32", "--methods", "CoOp", "VPT", *args]) == 1  # VPT: its error, in its row
    assert bench.main(["--size", "open_clip:ViT-S-32-alt", "--image-size", "32", "--methods", "MuDPT", *args]) == 0
    coop, vpt, mudpt = [json.loads(line) for line in out.read_text().splitlines()]
    assert (coop["size"], coop["error"], coop["logits_shape"]) == ("rn50", None, [2, N_CLS]) and coop["train_ms"] > 0
    assert vpt["error"].startswith("Visual prompts need a ViT backbone (MODEL.BACKBONE.NAME 'RN50' has a ResNet image tower)")
    assert (mudpt["size"], mudpt["error"]) == ("open_clip:ViT-S-32-alt", None) and mudpt["loss"] > 0
    assert "| VPT " in capsys.readouterr().out
    with pytest.raises(SystemExit):
        bench.main(["--size", "vitb64", *args])
    assert "argument --size: 'vitb64' is neither a shape (vitb16, vitb32, vitl14, rn50, tiny) nor open_clip:<model>" in capsys.readouterr().err
