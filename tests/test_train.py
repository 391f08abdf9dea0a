"""train.py end to end on a generated dataset and the tiny CLIP (CPU): zero-shot CLIP, CoOp and
CoCoOp base-to-new, resume after an interruption, INIT_WEIGHTS, and the error messages users see."""
from __future__ import annotations

import re
import urllib.error
from pathlib import Path

import pytest
import torch

from conftest import tiny_run_opts

REPO = Path(__file__).resolve().parents[1]
DTD = str(REPO / "configs" / "datasets" / "dtd.yaml")
COOP = str(REPO / "configs" / "trainers" / "CoOp" / "vit_b16_ep50_ctxv1.yaml")
COCOOP = str(REPO / "configs" / "trainers" / "CoCoOp" / "vit_b16_c4_ep10_batch1_ctxv1.yaml")
ZS = str(REPO / "configs" / "trainers" / "CoOp" / "vit_b16.yaml")


def _argv(data, out, trainer, config, clip_file, *flags, opts=()):
    return [
        "--root", data.root, "--seed", "1", "--trainer", trainer,
        "--dataset-config-file", DTD, "--config-file", config, "--output-dir", str(out), *flags,
        *tiny_run_opts(clip_file), *opts,
    ]  # fmt: skip


def _result_block(log: str) -> tuple[int, int, float]:
    """The result block, checked line by line as the anchors' parsers read it."""
    m = re.search(
        r"^=> result\n\* total: ([\d,]+)\n\* correct: ([\d,]+)\n\* accuracy: (\d+\.\d)%\n\* error: (\d+\.\d)%\n\* macro_f1: (\d+\.\d)%$",
        log,
        re.M,
    )
    assert m, log[-1500:]
    total, correct = int(m[1].replace(",", "")), int(m[2].replace(",", ""))
    acc = float(m[3])
    assert acc == round(100 * correct / total, 1) and float(m[4]) == round(100 - acc, 1)
    return total, correct, acc


def test_zero_shot_clip_eval_only(tmp_path, dtd_data, tiny_clip_file, run_train):
    out = tmp_path / "zs"
    assert run_train(_argv(dtd_data, out, "ZeroshotCLIP", ZS, tiny_clip_file, "--eval-only")) == 0
    log = (out / "log.txt").read_text()
    assert "Engine backend: built-in engine" in log and "Loading trainer: ZeroshotCLIP" in log
    assert "Prompts: ['banded texture.'" in log or "texture.'" in log  # DTD's hand-crafted template
    assert _result_block(log)[0] == 4 * 2  # 4 classes x 2 test images
    assert "Finish training" not in log and (out / "config.yaml").exists()


def test_zero_shot_ensemble_and_base_subset(tmp_path, dtd_data, tiny_clip_file, run_train):
    out = tmp_path / "zs2"
    argv = _argv(dtd_data, out, "ZeroshotCLIP2", ZS, tiny_clip_file, "--eval-only", opts=["DATASET.SUBSAMPLE_CLASSES", "base"])
    assert run_train(argv) == 0
    log = (out / "log.txt").read_text()
    assert "Prompt ensemble over 8 templates" in log and _result_block(log)[0] == 2 * 2


@pytest.mark.parametrize("trainer,config,n_params", [("CoOp", COOP, 4 * 128), ("CoCoOp", COCOOP, None)])
def test_base_to_new_train_save_and_evaluate_new_classes(tmp_path, dtd_data, tiny_clip_file, run_train, trainer, config, n_params):
    base, new = tmp_path / "base", tmp_path / "new"
    opts = ["DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base"]
    assert run_train(_argv(dtd_data, base, trainer, config, tiny_clip_file, opts=opts)) == 0
    log = (base / "log.txt").read_text()
    assert "Finish training" in log and "running in fp32 on cpu" in log  # PREC amp on CPU
    assert _result_block(log)[0] == 2 * 2  # base = first 2 of 4 classes
    ckpt = torch.load(base / "prompt_learner" / "model.pth.tar-1", weights_only=True)
    keys = set(ckpt["state_dict"])
    assert "ctx" in keys and not any(k.endswith(("token_prefix", "token_suffix")) for k in keys)
    if n_params is not None:
        assert keys == {"ctx"} and ckpt["state_dict"]["ctx"].numel() == n_params  # "a photo of a" = 4 tokens
    else:
        assert keys == {"ctx", "meta_net.linear1.weight", "meta_net.linear1.bias", "meta_net.linear2.weight", "meta_net.linear2.bias"}

    opts = ["DATASET.SUBSAMPLE_CLASSES", "new"]
    flags = ["--eval-only", "--model-dir", str(base), "--load-epoch", "1"]
    assert run_train(_argv(dtd_data, new, trainer, config, tiny_clip_file, *flags, opts=opts)) == 0
    log = (new / "log.txt").read_text()
    assert f'Loading weights to prompt_learner from "{base}/prompt_learner/model.pth.tar-1" (epoch = 1)' in log
    assert _result_block(log)[0] == 2 * 2


def test_fp16_on_cpu_runs_in_fp32_with_a_note(tmp_path, dtd_data, tiny_clip_file, run_train):
    out = tmp_path / "fp16"
    opts = ["TRAINER.COOP.PREC", "fp16", "DATASET.NUM_SHOTS", "1"]
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=opts)) == 0
    log = (out / "log.txt").read_text()
    assert "Note: TRAINER.COOP.PREC 'fp16' needs a CUDA device; running in fp32 on cpu" in log
    _result_block(log)


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, dtd_data, tiny_clip_file, run_train, monkeypatch):
    from parse_results import run_status
    from trainers.base import ClipPromptTrainer

    out = tmp_path / "run"
    opts = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "3", "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1"]
    argv = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=opts)
    original = ClipPromptTrainer.run_epoch

    def crash_in_second_epoch(self):
        if self.epoch == 1:
            raise KeyboardInterrupt
        original(self)

    monkeypatch.setattr(ClipPromptTrainer, "run_epoch", crash_in_second_epoch)
    with pytest.raises(KeyboardInterrupt):
        run_train(argv)
    assert sorted(p.name for p in (out / "prompt_learner").glob("model.pth.tar-*")) == ["model.pth.tar-1"]
    assert run_status(out) == "incomplete"

    monkeypatch.setattr(ClipPromptTrainer, "run_epoch", original)
    assert run_train(argv) == 0
    logs = sorted(out.glob("log.txt*"))
    assert len(logs) == 2  # the first log is kept; the resumed run writes log.txt-<time>
    resumed = logs[1].read_text()
    assert "Found checkpoint at" in resumed and "Previous epoch: 1" in resumed
    assert "epoch [1/3]" not in resumed and "epoch [2/3]" in resumed and "epoch [3/3]" in resumed
    assert sorted(p.name for p in (out / "prompt_learner").glob("model.pth.tar-*")) == ["model.pth.tar-3"]
    assert run_status(out) == "complete"


def test_init_weights_loads_the_learner(tmp_path, dtd_data, tiny_clip_file, run_train):
    import train
    from engine.seam import build_trainer

    out = tmp_path / "src"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", "1"])) == 0
    ckpt = str(out / "prompt_learner" / "model.pth.tar-1")
    args = train.build_parser().parse_args(
        _argv(dtd_data, tmp_path / "init", "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", "1", "MODEL.INIT_WEIGHTS", ckpt])
    )
    trainer = build_trainer(train.setup_cfg(args))
    saved = torch.load(ckpt, weights_only=True)["state_dict"]["ctx"]
    assert torch.equal(trainer.model.learner.ctx.detach().cpu(), saved)


# --- errors a user sees: one line on stderr that says what to fix --------------------------------
def _error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: "), err
    return err


def test_unknown_trainer(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    assert run_train(_argv(dtd_data, tmp_path, "CoOP", COOP, tiny_clip_file)) == 1
    err = _error(capsys)
    assert "Unknown trainer 'CoOP' (--trainer / TRAINER.NAME). Registered: " in err and "Did you mean 'CoOp'?" in err
    assert "Traceback" not in err


def test_unknown_config_key_in_a_yaml_file(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    bad = tmp_path / "released_mudpt.yaml"
    bad.write_text("TRAINER:\n  MAPLE:\n    N_CTX: 2\n")  # the released MuDPT configs' namespace bug
    assert run_train(_argv(dtd_data, tmp_path / "o", "MuDPT", str(bad), tiny_clip_file)) == 1
    err = _error(capsys)
    assert f"Unknown config key TRAINER.MAPLE in {bad}." in err and "MUDPT" in err


def test_unknown_and_mistyped_overrides(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    assert run_train(_argv(dtd_data, tmp_path / "o", "CoOp", COOP, tiny_clip_file, opts=["TRAINER.COOP.NCTX", "4"])) == 1
    assert "Non-existent key: TRAINER.COOP.NCTX (in the command-line overrides)" in _error(capsys)
    assert run_train(_argv(dtd_data, tmp_path / "o", "CoOp", COOP, tiny_clip_file, opts=["OPTIM.LR", "1"])) == 1
    err = _error(capsys)
    assert "OPTIM.LR" in err and "Write the value with the default's type" in err
    assert run_train(_argv(dtd_data, tmp_path / "o", "CoOp", COOP, tiny_clip_file, opts=["TRAINER.COOP.PREC", "bf16"])) == 1
    assert "TRAINER.COOP.PREC = 'bf16' is not valid; choose one of 'fp16', 'fp32', 'amp'." in _error(capsys)


def test_missing_required_inputs(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    argv = ["--root", dtd_data.root, "--config-file", COOP, "--output-dir", str(tmp_path / "o")]
    assert run_train(argv + ["--dataset-config-file", DTD]) == 1
    assert "No trainer given: pass --trainer (one of " in _error(capsys)
    assert run_train(argv + ["--trainer", "CoOp"]) == 1
    assert "No dataset given: pass --dataset-config-file configs/datasets/<name>.yaml" in _error(capsys)
    assert run_train(argv + ["--trainer", "CoOp", "--dataset-config-file", "configs/datasets/dtdd.yaml"]) == 1
    assert "dataset config file not found: configs/datasets/dtdd.yaml" in _error(capsys)


def test_missing_clip_weights_offline(tmp_path, dtd_data, run_train, capsys, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr("trainers.clip_loader.DEFAULT_DOWNLOAD_ROOT", str(tmp_path / "cache"))
    argv = ["--root", dtd_data.root, "--trainer", "ZeroshotCLIP", "--dataset-config-file", DTD, "--config-file", ZS,
            "--output-dir", str(tmp_path / "o"), "--eval-only", "DATALOADER.NUM_WORKERS", "0"]  # fmt: skip
    assert run_train(argv) == 1
    err = _error(capsys)
    assert f"CLIP weights for 'ViT-B/16' are not at {tmp_path / 'cache'}/ViT-B-16.pt and could not be downloaded" in err
    assert "https://openaipublic.azureedge.net/clip/models/" in err and "MODEL.BACKBONE.PATH" in err and "CLIP_PATH" in err
