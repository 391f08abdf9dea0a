"""PromptSRC's Gaussian prompt aggregation (GPA) survives a resume, on the built-in engine and under
real Dassl, whose checkpoints hold only the state dicts of registered models: there the aggregate is
registered as a model of its own (folder ``gpa/``). A checkpoint that lacks it is refused.

Real Dassl is not installed here: its checkpoint protocol is emulated on the built-in engine (one
state dict per registered model, no extras: no random-number state either, so these runs train
deterministically: no augmentation, sequential sampler). With Dassl importable, the last test runs
the same check through ``train.py --backend dassl``."""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import tiny_run_opts

REPO = Path(__file__).resolve().parents[1]
RECIPE = str(REPO / "configs" / "trainers" / "PromptSRC" / "vit_b16_c2_ep20_batch4_4+4ctx.yaml")
MODEL = "VLPromptLearner"
# Two epochs, GPA weights 0.62 and 0.38: an aggregate that lost epoch 1 is far from what it should be.
OPTS = ["OPTIM.MAX_EPOCH", "2", "TRAIN.CHECKPOINT_FREQ", "1", "DATASET.NUM_SHOTS", "2",
        "TRAINER.PROMPTSRC.GPA_MEAN", "1", "TRAINER.PROMPTSRC.GPA_STD", "1",
        "TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "2", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "2"]  # fmt: skip
DETERMINISTIC = ["INPUT.TRANSFORMS", "['normalize']", "DATALOADER.TRAIN_X.SAMPLER", "SequentialSampler"]
LOST = "holds no Gaussian prompt aggregation of the epochs trained so far"


def _argv(data, out: Path, clip_file: str, *extra: str) -> list[str]:
    return [
        "--root", data.root, "--seed", "1", "--trainer", "PromptSRC", "--dataset-config-file",
        str(REPO / "configs" / "datasets" / "dtd.yaml"), "--config-file", RECIPE, "--output-dir", str(out),
        *tiny_run_opts(clip_file), *OPTS, *extra,
    ]  # fmt: skip


def _final(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / MODEL / "model.pth.tar-2", map_location="cpu", weights_only=True)["state_dict"]


def _same(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_builtin_engine_resumes_the_aggregate_and_refuses_a_checkpoint_without_it(tmp_path, dtd_data, tiny_clip_file, run_train, interrupted_run, capsys):
    reference_dir, out = tmp_path / "uninterrupted", tmp_path / "run"
    assert run_train(_argv(dtd_data, reference_dir, tiny_clip_file)) == 0
    reference = _final(reference_dir)

    argv = _argv(dtd_data, out, tiny_clip_file)
    interrupted_run(argv, epoch=1)
    saved = out / MODEL / "model.pth.tar-1"
    checkpoint = torch.load(saved, map_location="cpu", weights_only=True)
    assert set(checkpoint["gpa"]) == set(reference)
    torch.save({k: v for k, v in checkpoint.items() if k != "gpa"}, saved)  # as an earlier version wrote it
    capsys.readouterr()
    assert run_train(argv) == 1
    err = _one_line_error(capsys)
    assert LOST in err and "--restart" in err
    torch.save(checkpoint, saved)
    assert run_train(argv) == 0
    assert "resuming from the checkpoint of epoch 1" in capsys.readouterr().out
    assert _same(_final(out), reference)


@pytest.fixture
def dassl_checkpoints(monkeypatch):
    """The built-in engine with real Dassl's checkpoint protocol: each registered model's state dict,
    epoch, optimizer and scheduler, nothing else (``trainers.base`` believes it runs under Dassl)."""
    import trainers.base
    from trainers.base import ClipPromptTrainer

    monkeypatch.setattr(trainers.base, "BACKEND", "dassl")
    monkeypatch.setattr(ClipPromptTrainer, "_checkpoint_extras", lambda self: {})
    monkeypatch.setattr(ClipPromptTrainer, "_restore_extras", lambda self, checkpoint: None)


def test_under_dassl_the_aggregate_is_a_registered_model_and_resumes(tmp_path, dtd_data, tiny_clip_file, run_train, interrupted_run, monkeypatch, capsys, dassl_checkpoints):
    from trainers.base import _DasslState

    reference_dir, out = tmp_path / "uninterrupted", tmp_path / "run"
    assert run_train(_argv(dtd_data, reference_dir, tiny_clip_file, *DETERMINISTIC)) == 0
    reference = _final(reference_dir)
    gpa = torch.load(reference_dir / "gpa" / "model.pth.tar-2", map_location="cpu", weights_only=True)
    assert gpa["optimizer"] is None and _same(gpa["state_dict"], reference)  # the aggregate is the final model
    assert sorted(p.name for p in (reference_dir / "gpa").iterdir()) == ["checkpoint", "model.pth.tar-1", "model.pth.tar-2"]

    argv = _argv(dtd_data, out, tiny_clip_file, *DETERMINISTIC)
    interrupted_run(argv, epoch=1)
    assert run_train(argv) == 0
    assert _same(_final(out), reference)

    # Stopped between writing the learner's checkpoint of epoch 2 and the aggregate's.
    shutil.rmtree(out)
    original = _DasslState.state_dict

    def stop_at_epoch_2(self, *args, **kwargs):
        state = original(self, *args, **kwargs)
        if (out / MODEL / "model.pth.tar-2").exists():
            raise KeyboardInterrupt
        return state

    monkeypatch.setattr(_DasslState, "state_dict", stop_at_epoch_2)
    assert run_train(argv) == 130
    monkeypatch.setattr(_DasslState, "state_dict", original)
    capsys.readouterr()
    assert run_train(argv) == 1
    err = _one_line_error(capsys)
    assert f"are of different epochs ({MODEL}/model.pth.tar-2, gpa/model.pth.tar-1)" in err
    assert "Point each folder's `checkpoint` file at the same model.pth.tar-<epoch>" in err
    (out / MODEL / "checkpoint").write_text("model.pth.tar-1\n")  # what the message says
    assert run_train(argv) == 0
    assert _same(_final(out), reference)

    # A folder written before the aggregate was kept (no gpa/): refused, not silently resumed without it.
    shutil.rmtree(out)
    interrupted_run(argv, epoch=1)
    shutil.rmtree(out / "gpa")
    capsys.readouterr()
    assert run_train(argv) == 1
    assert LOST in _one_line_error(capsys)


@pytest.mark.skipif(importlib.util.find_spec("dassl") is None, reason="real Dassl is not installed (checked by hand in a venv with Dassl.pytorch)")
def test_real_dassl_resumes_the_aggregate(tmp_path, dtd_data, tiny_clip_file):
    """train.py --backend dassl, Ctrl-C in the second epoch, the same command again: the final
    checkpoint is the uninterrupted run's."""
    env = {**os.environ, "MUDPT_BACKEND": "dassl", "PYTHONUNBUFFERED": "1"}

    def command(out: Path) -> list[str]:
        return [sys.executable, str(REPO / "train.py"), *_argv(dtd_data, out, tiny_clip_file, *DETERMINISTIC, "TRAIN.PRINT_FREQ", "1")]

    reference_dir, out = tmp_path / "uninterrupted", tmp_path / "run"
    subprocess.run(command(reference_dir), env=env, check=True, capture_output=True, timeout=600)
    proc = subprocess.Popen(command(out), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("epoch [2/2] batch [2/"):
            proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=600) == 130
    assert (out / "gpa" / "model.pth.tar-1").is_file() and not (out / MODEL / "model.pth.tar-2").exists()
    subprocess.run(command(out), env=env, check=True, capture_output=True, timeout=600)
    assert _same(_final(out), _final(reference_dir))
