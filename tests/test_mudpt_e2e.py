"""MuDPT end to end through ``train.py`` on a generated dataset and the tiny CLIP (CPU, fp32):
base-to-new training on the base classes, checkpoint contents, then evaluation of that
checkpoint on the new classes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from datasets.synthetic import make_synthetic_dataset
from engine.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "configs" / "trainers" / "MuDPT" / "vit_b16_c2_ep10_batch4_depth9.yaml"
DATASET_CONFIG = REPO / "configs" / "datasets" / "dtd.yaml"
MODEL_NAME = "MultimodalDeepPromptTuning"


def _argv(root: str, clip_file: str, out: Path, injection: str, flags: list[str], subsample: str) -> list[str]:
    """Flags, then KEY VALUE pairs (train.py also takes flags after them)."""
    return [
        "--root", root, "--seed", "1", "--trainer", "MuDPT", "--backend", "builtin",
        "--dataset-config-file", str(DATASET_CONFIG), "--config-file", str(CONFIG), "--output-dir", str(out),
        *flags,
        "DATASET.SUBSAMPLE_CLASSES", subsample,
        "MODEL.BACKBONE.PATH", clip_file, "INPUT.SIZE", "(32, 32)",
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "DATALOADER.TEST.BATCH_SIZE", "4",
        "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "2",
        # A depth and an Injection Model that fit the 3-block, 128-wide tiny CLIP.
        "TRAINER.MUDPT.PROMPT_DEPTH", "3", "TRAINER.MUDPT.INJ_WIDTH", "64", "TRAINER.MUDPT.INJ_HEADS", "2",
        "TRAINER.MUDPT.INJECTION", injection,
    ]  # fmt: skip


def _result(log: str) -> float:
    assert "=> result" in log and "* total:" in log and "* correct:" in log, log[-2000:]
    return float(log.split("* accuracy: ")[-1].split("%")[0])


@pytest.mark.parametrize("injection", ["cross_attention", "linear"])
def test_base_to_new_train_save_and_evaluate(tmp_path, tiny_clip_file, run_train, injection):
    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    base_dir, new_dir = tmp_path / "base", tmp_path / "new"

    assert run_train(_argv(data.root, tiny_clip_file, base_dir, injection, [], "base")) == 0
    base_log = (base_dir / "log.txt").read_text()
    assert 0.0 <= _result(base_log) <= 100.0
    assert "Finish training" in base_log
    assert "  device   cpu, fp32" in base_log  # the recipe's PREC amp falls back to fp32 on the CPU

    ckpt_path = base_dir / MODEL_NAME / "model.pth.tar-1"
    raw = torch.load(ckpt_path, map_location="cpu", weights_only=True)  # plain tensors only
    keys = set(raw["state_dict"])
    prompts = {"ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts"}
    assert prompts <= keys
    coupling = keys - prompts
    assert coupling and all(k.startswith("injection.") for k in coupling), sorted(coupling)
    assert not any(k.rpartition(".")[2] in ("token_prefix", "token_suffix", "tokens", "eot_idx") for k in keys)
    assert not any("resblocks" in k or "token_embedding" in k or k.startswith("visual.") for k in keys)
    assert raw["state_dict"]["deep_prompts"].shape == (2, 2, 128)  # (J-1, n, D_t)
    assert load_checkpoint(str(ckpt_path))["epoch"] == 1

    # The learner built from the same config has exactly these parameters.
    import trainers
    from engine.seam import get_cfg_default
    from trainers.clip_loader import freeze, load_clip
    from trainers.mudpt import build_prompt_learner

    cfg = get_cfg_default()
    trainers.add_trainer_config(cfg)
    cfg.merge_from_file(str(CONFIG))
    cfg.merge_from_list(["TRAINER.MUDPT.PROMPT_DEPTH", 3, "TRAINER.MUDPT.INJ_WIDTH", 64, "TRAINER.MUDPT.INJ_HEADS", 2,
                         "TRAINER.MUDPT.INJECTION", injection])
    learner = build_prompt_learner(cfg, data.classnames[:2], freeze(load_clip("", tiny_clip_file)))
    assert keys == {name for name, _ in learner.trainable_parameters()}

    flags = ["--eval-only", "--model-dir", str(base_dir), "--load-epoch", "1"]
    assert run_train(_argv(data.root, tiny_clip_file, new_dir, injection, flags, "new")) == 0
    new_log = (new_dir / "log.txt").read_text()
    assert f'Loading weights to {MODEL_NAME} from "{ckpt_path}" (epoch = 1)' in new_log
    assert 0.0 <= _result(new_log) <= 100.0
    assert "* total: 4" in new_log  # 2 new classes x 2 test images


def test_evaluation_refuses_a_checkpoint_of_another_injection_or_depth(tmp_path, tiny_clip_file, run_train, capsys):
    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    base_dir = tmp_path / "base"
    assert run_train(_argv(data.root, tiny_clip_file, base_dir, "cross_attention", [], "base")) == 0
    capsys.readouterr()
    flags = ["--eval-only", "--model-dir", str(base_dir)]
    argv = _argv(data.root, tiny_clip_file, tmp_path / "new", "linear", flags, "new") + ["TRAINER.MUDPT.PROMPT_DEPTH", "2"]
    assert run_train(argv) == 1
    err = capsys.readouterr().err
    assert f'error: "{base_dir}/{MODEL_NAME}/model.pth.tar-1" was trained with another model config:\n' in err
    assert "  TRAINER.MUDPT.INJECTION: 'cross_attention' (checkpoint) vs 'linear' (this run)\n" in err
    assert "  TRAINER.MUDPT.PROMPT_DEPTH: 3 (checkpoint) vs 2 (this run)\n" in err
    assert "Missing key" not in err and "Traceback" not in err


def test_a_run_of_the_former_format_resumes_and_evaluates(tmp_path, tiny_clip_file, run_train, capsys):
    """A run written before the Injection Model's options (its config without INJ_LAYERS /
    INJ_SPAN / INJ_NORM, INJ_HEADS explicit, checkpoint keys fusion.*) and before
    MODEL.BACKBONE.PRETRAINED named a weights tag (Dassl's boolean True in its config.yaml; no
    class names in its checkpoint) is the same run as one with today's defaults: a rerun finds it
    complete, an evaluation loads its checkpoint, and so does the Python API."""
    import re

    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    base_dir = tmp_path / "base"
    old = _argv(data.root, tiny_clip_file, base_dir, "cross_attention", [], "base")
    old[old.index("TRAINER.MUDPT.INJ_HEADS") + 1] = "1"  # explicit: what 0 (= 64 // 64) means at INJ_WIDTH 64
    assert run_train(old) == 0

    def former(config: str) -> str:  # the keys this version added, removed; Dassl's PRETRAINED flag
        assert "    PRETRAINED: ''\n" in config
        config = config.replace("    PRETRAINED: ''\n", "    PRETRAINED: true\n")
        return re.sub(r"^ *(INJ_LAYERS|INJ_SPAN|INJ_NORM): .*\n", "", config, flags=re.M)

    (base_dir / "config.yaml").write_text(former((base_dir / "config.yaml").read_text()))
    ckpt_path = base_dir / MODEL_NAME / "model.pth.tar-1"
    raw = torch.load(ckpt_path, map_location="cpu", weights_only=True)
    raw["config"] = former(raw["config"])
    del raw["classnames"]
    renamed = {}
    for key, value in raw["state_dict"].items():
        if key.startswith("injection."):
            key = "fusion.injection_model." + key[len("injection.") :].replace("layers.0.", "", 1)
        renamed[key] = value
    raw["state_dict"] = renamed
    torch.save(raw, ckpt_path)
    assert "INJ_SPAN" not in raw["config"] and any(k.startswith("fusion.") for k in raw["state_dict"])

    today = list(old)
    today[today.index("TRAINER.MUDPT.INJ_HEADS") + 1] = "0"  # today's default
    capsys.readouterr()
    assert run_train(today) == 0
    assert "complete" in capsys.readouterr().out  # the same run: nothing to do

    flags = ["--eval-only", "--model-dir", str(base_dir), "--load-epoch", "1"]
    evaluation = _argv(data.root, tiny_clip_file, tmp_path / "new", "cross_attention", flags, "new")
    evaluation[evaluation.index("TRAINER.MUDPT.INJ_HEADS") + 1] = "0"
    assert run_train(evaluation) == 0
    assert 0.0 <= _result((tmp_path / "new" / "log.txt").read_text()) <= 100.0

    import mudpt

    classifier = mudpt.load(base_dir, load_epoch=1)  # no class names in its checkpoint: read from its dataset
    assert classifier.classnames == data.classnames[:2]  # the base half
    assert classifier.predict(data.files[:3]).probs.shape == (3, 2)
