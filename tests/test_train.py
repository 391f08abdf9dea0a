"""train.py end to end on a generated dataset and the tiny CLIP (CPU): zero-shot CLIP, CoOp and
CoCoOp base-to-new, resume after an interruption, INIT_WEIGHTS, and the error messages users see."""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import urllib.error
from pathlib import Path

import pytest
import torch

from conftest import TINY_CLIP, tiny_run_opts

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
    assert "  engine   built-in engine" in log and "Loading trainer: ZeroshotCLIP" in log
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
    assert "Finish training" in log and "  device   cpu, fp32" in log  # the recipe's PREC amp on CPU
    assert "needs a CUDA device" not in log  # no note: the user did not ask for amp
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


def test_fp16_on_cpu_runs_in_fp32_with_a_note(tmp_path, dtd_data, tiny_clip_file, run_train, monkeypatch):
    monkeypatch.setattr("trainers.precision._NOTED", set())  # the note is written once per process
    out = tmp_path / "fp16"
    opts = ["TRAINER.COOP.PREC", "fp16", "DATASET.NUM_SHOTS", "1"]
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=opts)) == 0
    log = (out / "log.txt").read_text()
    assert "Note: TRAINER.COOP.PREC 'fp16' needs a CUDA device; running in fp32 on cpu" in log
    _result_block(log)


def test_interrupted_run_resumes_from_its_last_checkpoint(tmp_path, dtd_data, tiny_clip_file, run_train, interrupted_run, capsys,
                                                          monkeypatch):  # fmt: skip
    from results.logs import run_status

    out = tmp_path / "run"
    opts = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "3", "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1"]
    argv = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=opts)
    interrupted_run(argv, epoch=1, batch=1)
    message = f"Interrupted. Rerun the same command to resume from the checkpoint of epoch 1 in {out}.\n"
    assert capsys.readouterr().err == message and (out / "log.txt").read_text().endswith(message)
    assert sorted(p.name for p in (out / "prompt_learner").glob("model.pth.tar-*")) == ["model.pth.tar-1"]
    assert run_status(out) == "incomplete"

    monkeypatch.setattr("engine.seam.BACKEND", "dassl")  # what train.py's header says of a resume under real Dassl
    assert run_train(argv) == 0
    out_text = capsys.readouterr().out
    assert "  run      resuming from the checkpoint of epoch 1 (the previous attempt was interrupted)\n" in out_text
    assert "WARNING: under real Dassl, checkpoints hold no random-number state: the resumed run is not bitwise identical" in out_text
    logs = sorted(out.glob("log.txt*"))
    assert len(logs) == 2  # the first log is kept; the resumed run writes log.txt-<time>
    resumed = logs[1].read_text()
    assert "Found checkpoint at" in resumed and "Previous epoch: 1" in resumed
    assert "epoch [1/3]" not in resumed and "epoch [2/3]" in resumed and "epoch [3/3]" in resumed
    assert sorted(p.name for p in (out / "prompt_learner").glob("model.pth.tar-*")) == ["model.pth.tar-3"]
    assert run_status(out) == "complete"


def test_init_weights_loads_the_learner(tmp_path, dtd_data, tiny_clip_file, run_train):
    from engine.seam import build_trainer
    from runconfig import build_config

    out = tmp_path / "src"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", "1"])) == 0
    ckpt = str(out / "prompt_learner" / "model.pth.tar-1")
    opts = [*tiny_run_opts(tiny_clip_file), "DATASET.NUM_SHOTS", "1", "MODEL.INIT_WEIGHTS", ckpt]
    cfg = build_config(trainer="CoOp", config_file=COOP, dataset_config_file=DTD, root=dtd_data.root, seed=1,
                       output_dir=str(tmp_path / "init"), opts=opts)  # fmt: skip
    trainer = build_trainer(cfg)
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
    # the released MuDPT configs' namespace bug: MaPLe's node, MuDPT's key names
    bad.write_text('TRAINER:\n  MAPLE:\n    N_CTX: 4\n    TEXT_CTX_INIT: "a photo of a"\n')
    assert run_train(_argv(dtd_data, tmp_path / "o", "MuDPT", str(bad), tiny_clip_file)) == 1
    err = _error(capsys)
    assert f"Unknown config key TRAINER.MAPLE.TEXT_CTX_INIT in {bad}." in err
    assert "(This run's trainer, MuDPT, reads TRAINER.MUDPT.*: is the file written for another method?)" in err


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


# --- the run folder is bound to its run ---------------------------------------------------------
TRAIN_OPTS = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "2"]


def _files(folder: Path) -> dict[str, bytes]:
    """Every file below ``folder`` (its run), by relative path."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_another_config_is_refused_and_restart_discards_the_run(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    out = tmp_path / "run"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 0
    before = _files(out)
    capsys.readouterr()
    changed = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["OPTIM.LR", "0.5", "TRAINER.COOP.CSC", "True"])
    assert run_train(changed) == 1
    err = _error(capsys)
    assert f"error: {out} holds another run: config keys that change results differ:\n" in err
    assert "  OPTIM.LR: 0.002 (the folder's run) vs 0.5 (this run)\n" in err
    assert "  TRAINER.COOP.CSC: False (the folder's run) vs True (this run)\n" in err
    assert "(--output-dir), or discard the folder's run with --restart" in err and "Traceback" not in err
    assert _files(out) == before  # nothing touched

    assert run_train(changed + ["--restart"]) == 0
    assert "  run      new (--restart discarded the previous run; its logs and config are in .previous/" in capsys.readouterr().out
    (previous,) = (out / ".previous").iterdir()
    tensorboard = ["tensorboard"] if importlib.util.find_spec("tensorboard") else []  # its folder only where it is installed
    assert sorted(p.name for p in previous.iterdir()) == ["config.yaml", "log.txt", "run.json", *tensorboard]
    assert (previous / "config.yaml").read_bytes() == before["config.yaml"]
    assert "LR: 0.5" in (out / "config.yaml").read_text() and (out / "log.txt").exists()
    assert json.loads((out / "run.json").read_text())["attempts"] == 1
    from results.layouts import find_runs

    (run,) = find_runs(tmp_path)  # what --restart set aside is not a run of the table
    assert run.path == out and run.complete and run.result.path == out / "log.txt"


def test_complete_run_is_not_run_again_and_non_result_keys_do_not_count(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    out = tmp_path / "run"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 0
    before = _files(out)
    capsys.readouterr()
    same_weights = tmp_path / "elsewhere" / "clip.pt"  # another path to the same file content
    same_weights.parent.mkdir()
    shutil.copyfile(tiny_clip_file, same_weights)
    cosmetic = ["TRAIN.PRINT_FREQ", "1", "DATALOADER.TEST.BATCH_SIZE", "2", "TRAIN.CHECKPOINT_FREQ", "1", "MODEL.BACKBONE.PATH", str(same_weights)]
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + cosmetic)) == 0
    assert capsys.readouterr().out == (
        f"{out} already holds this run, complete (results in its log). Nothing to do; --restart runs it again.\n"
    )
    assert _files(out) == before  # no new log, nothing rewritten

    from trainers.clip_loader import build_tiny_clip, save_state_dict

    other = tmp_path / "other_clip.pt"
    save_state_dict(build_tiny_clip(**{**TINY_CLIP, "seed": 1}), str(other))
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["MODEL.BACKBONE.PATH", str(other)])) == 1
    err = _error(capsys)
    assert "its input files differ:\n  clip: " in err and f"{other} (sha256 " in err

    split = Path(dtd_data.dataset_dir) / "split_zhou_DescribableTextures.json"
    split.write_text(split.read_text() + "\n")  # the same split in another file: another input
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 1
    assert "its input files differ:\n  data.split: dtd/split_zhou_DescribableTextures.json (sha256 " in _error(capsys)
    assert _files(out) == before


def test_diverged_run_says_what_to_change_and_how_to_restart(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    from engine.utils import sha256_file

    out = tmp_path / "run"
    diverging = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["OPTIM.LR", "1e30"])
    assert run_train(diverging) == 1
    err = _error(capsys)
    assert err.startswith("error: Loss is infinite or NaN! (epoch 2, batch 2) Lower OPTIM.LR") and "--restart" in err
    assert err.count("\n") == 1 and (out / "log.txt").read_text().endswith(err)
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "failed" and record["error"].startswith("Loss is infinite or NaN!")

    split = Path(dtd_data.dataset_dir) / "split_zhou_DescribableTextures.json"
    split.write_text(split.read_text() + "\n")  # other data files: nothing was trained on the old ones
    assert run_train(diverging) == 1  # same command: from scratch (there is no checkpoint), same failure
    console = capsys.readouterr().out
    assert "  run      starting again from scratch: the previous attempt failed (Loss is infinite" in console
    assert (
        "Note: the data files differ from those the previous attempt read (data.split); it ended with nothing to keep, "
        "so this run reads these.\n"
    ) in console
    assert json.loads((out / "run.json").read_text())["inputs"]["data.split"]["sha256"] == sha256_file(str(split))
    # The fix is not refused: nothing was checkpointed, so the run starts afresh with the new value.
    fixed = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)
    assert run_train(fixed) == 0
    assert (
        "  run      starting afresh with this command's config (OPTIM.LR): the previous attempt failed (Loss is infinite or "
        "NaN! (epoch 2, batch 2) Lower OPTIM.LR, use PREC fp32/amp instead of fp16, or check the input data; then rerun "
        "with --restart (this folder's checkpoints hold the diverged run) or into a new --output-dir) before its first "
        "checkpoint (its log, config and run.json are set aside in .previous/)\n"
    ) in capsys.readouterr().out
    record = json.loads((out / "run.json").read_text())
    assert (record["status"], record["attempts"]) == ("complete", 3)
    (previous,) = (out / ".previous").iterdir()
    assert "  LR: 1.0e+30\n" in (previous / "config.yaml").read_text()
    assert json.loads((previous / "run.json").read_text())["status"] == "failed"
    assert run_train(diverging) == 1  # the folder now holds a complete run: another config is refused
    assert "  OPTIM.LR: 0.002 (the folder's run) vs 1e+30 (this run)" in _error(capsys)


def test_a_diverged_trained_tensor_stops_the_run_before_its_checkpoint(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    """A step so large that the loss it was computed from is finite, the trained tensor not: the
    run stops with the diverged-loss error instead of checkpointing and testing it."""
    out = tmp_path / "run"
    one_step = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "1", "OPTIM.WARMUP_EPOCH", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "4"]
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=one_step + ["OPTIM.LR", "3e38"])) == 1
    err = _error(capsys)
    assert err == (
        "error: Trained tensor prompt_learner.ctx is infinite or NaN! (after epoch 1) Lower OPTIM.LR, use PREC fp32/amp "
        "instead of fp16, or check the input data; then rerun with --restart (this folder's checkpoints hold the diverged "
        "run) or into a new --output-dir.\n"
    )
    assert not (out / "prompt_learner").exists() and "* accuracy" not in (out / "log.txt").read_text()
    assert json.loads((out / "run.json").read_text())["status"] == "failed"


def test_one_process_per_folder_and_one_kind_of_run(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    from engine.seam import RunFolder

    out = tmp_path / "run"
    holder = RunFolder(str(out))
    holder.lock()
    try:
        assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 1
        assert f"Another process is running in {out}. Wait for it to end, or use another --output-dir." in _error(capsys)
    finally:
        holder.unlock()
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 0
    evaluate = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, "--eval-only", "--model-dir", str(out), opts=TRAIN_OPTS)
    assert run_train(evaluate) == 1
    assert f"{out} holds a training run; this command is an evaluation (--eval-only)." in _error(capsys)


def test_a_failed_first_attempt_does_not_block_the_fix(tmp_path, dtd_data, tiny_clip_file, run_train, capsys, monkeypatch):
    """The README's path: the job fails without CLIP weights; the same command with the weights
    given starts afresh (the failed attempt set aside), no --restart needed."""
    def offline(*args, **kwargs):
        raise urllib.error.URLError("offline")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setattr("trainers.clip_loader.DEFAULT_DOWNLOAD_ROOT", str(tmp_path / "cache"))
    out = tmp_path / "run"
    with_weights = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)
    i = with_weights.index("MODEL.BACKBONE.PATH")
    assert run_train(with_weights[:i] + with_weights[i + 2 :]) == 1
    assert "CLIP weights for 'ViT-B/16' are not at" in _error(capsys)

    assert run_train(with_weights) == 0
    console = capsys.readouterr().out
    assert (
        "  run      starting afresh with this command's input files (clip): the previous attempt failed (CLIP weights for "
        f"'ViT-B/16' are not at {tmp_path / 'cache'}/ViT-B-16.pt and could not be downloaded (<urlopen error offline>)) "
        "before its first checkpoint (its log, config and run.json are set aside in .previous/)\n"
    ) in console
    record = json.loads((out / "run.json").read_text())
    assert (record["status"], record["attempts"], record["inputs"]["clip"]["path"]) == ("complete", 2, tiny_clip_file)
    (previous,) = (out / ".previous").iterdir()
    assert sorted(p.name for p in previous.iterdir()) == ["config.yaml", "log.txt", "run.json"]
    assert json.loads((previous / "run.json").read_text())["error"].startswith("CLIP weights for 'ViT-B/16' are not at")
    assert sorted(p.name for p in out.glob("log.txt*")) == ["log.txt"]  # this run's log only


def test_a_folder_whose_run_json_was_deleted(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    """Not "another run": with checkpoints it resumes (its config matches; the unchecked inputs are
    said and recorded), without any it starts clean."""
    out = tmp_path / "run"
    argv = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)
    assert run_train(argv) == 0
    (out / "run.json").unlink()
    capsys.readouterr()
    assert run_train(argv) == 0
    assert (
        "  run      resuming from the checkpoint of epoch 2, whose config matches this command's: its run.json is missing "
        "(deleted?), so the input files its epochs read (CLIP weights, data files) cannot be checked; if they changed, "
        "rerun with --restart\n"
    ) in capsys.readouterr().out
    record = json.loads((out / "run.json").read_text())
    assert (record["status"], record["inputs_unchecked_until_epoch"]) == ("complete", 2)

    (out / "run.json").unlink()
    changed = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["OPTIM.LR", "0.5"])
    assert run_train(changed) == 1  # its checkpoints are of another config: that is another run
    assert "  OPTIM.LR: 0.002 (the folder's run) vs 0.5 (this run)" in _error(capsys)

    shutil.rmtree(out / "prompt_learner")
    assert run_train(argv) == 0
    assert (
        "  run      starting clean: its run.json is missing (deleted?) and it holds no checkpoint to resume from (its log, "
        "config and run.json are set aside in .previous/)\n"
    ) in capsys.readouterr().out
    assert "inputs_unchecked_until_epoch" not in json.loads((out / "run.json").read_text())
    assert sorted(p.name for p in (out / "prompt_learner").glob("model.pth.tar-*")) == ["model.pth.tar-2"]


def test_an_unwritable_output_folder_is_one_line(tmp_path, dtd_data, tiny_clip_file, run_train, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    assert run_train(_argv(dtd_data, blocker / "run", "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 1
    assert _error(capsys) == (
        f"error: Cannot write the output folder {blocker / 'run'} (a file is in the way: {blocker / 'run'}). Pass an "
        "--output-dir you can write to (OUTPUT_DIR; scripts: OUTPUT=...).\n"
    )
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    read_only.chmod(0o555)
    if os.access(read_only, os.W_OK):  # root writes anyway: the file system says no instead
        import engine.run_folder

        def denied(path, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(engine.run_folder.os, "makedirs", denied)
    for argv in (_argv(dtd_data, read_only / "run", "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS),
                 _argv(dtd_data, read_only / "run", "CoOp", COOP, tiny_clip_file, "--no-train")):  # fmt: skip
        assert run_train(argv) == 1
        assert _error(capsys) == (
            f"error: Cannot write the output folder {read_only / 'run'} (Permission denied: {read_only / 'run'}). Pass an "
            "--output-dir you can write to (OUTPUT_DIR; scripts: OUTPUT=...).\n"
        )
    assert not (read_only / "run").exists()


def test_an_unfinished_training_is_evaluated_only_when_its_epoch_is_asked_for(tmp_path, dtd_data, tiny_clip_file, run_train,
                                                                              interrupted_run, capsys, monkeypatch):  # fmt: skip
    """--eval-only of a training run interrupted in epoch 3 (checkpoints of epochs 1-2): refused,
    naming its state, unless --load-epoch asks for an epoch (then said and recorded). A corrupt
    checkpoint says the way forward, which works; another method's run names that method."""
    base = tmp_path / "base"
    opts = ["DATASET.NUM_SHOTS", "1", "OPTIM.MAX_EPOCH", "3", "TRAIN.CHECKPOINT_FREQ", "1"]
    train_argv = _argv(dtd_data, base, "CoOp", COOP, tiny_clip_file, opts=opts)
    interrupted_run(train_argv, epoch=2)
    capsys.readouterr()

    def evaluate(out: str, *flags: str, trainer: str = "CoOp", config: str = COOP, model=base) -> int:
        return run_train(_argv(dtd_data, tmp_path / out, trainer, config, tiny_clip_file, "--eval-only", "--model-dir", str(model), *flags))

    assert evaluate("eval") == 1
    assert _error(capsys) == (
        f"error: {base} holds a training run that was interrupted: its last checkpoint (epoch 2 of 3) is not the model it "
        "would deploy. Finish it (rerun its train.py command: it resumes), or evaluate an epoch explicitly (--load-epoch N).\n"
    )
    assert not (tmp_path / "eval").exists()  # refused before the evaluation's folder is made
    assert evaluate("eval", "--load-epoch", "2") == 0
    console = capsys.readouterr().out
    assert (
        f"Note: the training of {base} was interrupted; evaluating its epoch 2 of 3 as asked (--load-epoch), not the "
        "model a finished run deploys.\n"
    ) in console and "* accuracy:" in console
    record = json.loads((tmp_path / "eval" / "run.json").read_text())
    assert record["unfinished_training"] == {"run": str(base), "status": "interrupted", "epoch": 2, "max_epoch": 3}

    # A run of another method: named, with how to evaluate it (not "No checkpoint in ...").
    mudpt_run = tmp_path / "mudpt"
    shutil.copytree(base, mudpt_run)
    (mudpt_run / "prompt_learner").rename(mudpt_run / "MultimodalDeepPromptTuning")
    (mudpt_run / "config.yaml").write_text((base / "config.yaml").read_text().replace("NAME: CoOp", "NAME: MuDPT"))
    assert evaluate("eval2", "--load-epoch", "2", model=mudpt_run) == 1
    assert _error(capsys) == (
        f"error: {mudpt_run} holds a MuDPT run, not a CoOp one: evaluate it with --trainer MuDPT and the method config it "
        f"was trained with (its --config-file; {mudpt_run}/config.yaml records every value).\n"
    )

    no_checkpoint = tmp_path / "no_checkpoint"
    shutil.copytree(base, no_checkpoint)
    shutil.rmtree(no_checkpoint / "prompt_learner")
    assert evaluate("eval2", "--load-epoch", "2", model=no_checkpoint) == 1
    assert _error(capsys) == (
        f"error: {no_checkpoint} holds a training run that was interrupted, before its first checkpoint: no model to "
        "evaluate. Finish it (rerun its train.py command: it resumes).\n"
    )

    # A corrupt last checkpoint: the error says the way forward, and it works.
    corrupt = base / "prompt_learner" / "model.pth.tar-2"
    corrupt.write_bytes(corrupt.read_bytes()[:100])
    assert run_train(train_argv) == 1
    err = _error(capsys)
    assert err.startswith(f'error: Cannot read the checkpoint "{corrupt}" (') and err.count("\n") == 1
    assert err.endswith(
        f'To resume from the previous checkpoint (model.pth.tar-1), delete "{corrupt}" and rerun the same command; or rerun '
        "with --restart to train from scratch.\n"
    )
    corrupt.unlink()
    assert run_train(train_argv) == 0
    resumed = capsys.readouterr().out
    assert "  run      resuming from the checkpoint of epoch 1 (the previous attempt failed (Cannot read the checkpoint" in resumed
    assert evaluate("eval3") == 0  # complete now: its deployed model, without --load-epoch
    assert "unfinished_training" not in json.loads((tmp_path / "eval3" / "run.json").read_text())


# --- evaluation: which checkpoint, and only one that fits ------------------------------------------
def test_eval_needs_a_model_dir_and_loads_its_last_checkpoint(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    base = tmp_path / "base"
    opts = TRAIN_OPTS + ["DATASET.SUBSAMPLE_CLASSES", "base", "TRAIN.CHECKPOINT_FREQ", "1"]
    assert run_train(_argv(dtd_data, base, "CoOp", COOP, tiny_clip_file, opts=opts)) == 0
    capsys.readouterr()
    new = ["DATASET.SUBSAMPLE_CLASSES", "new"]
    assert run_train(_argv(dtd_data, tmp_path / "new", "CoOp", COOP, tiny_clip_file, "--eval-only", opts=new)) == 1
    assert "error: --eval-only needs --model-dir: the output folder of the CoOp training run to evaluate" in _error(capsys)
    # Flags may also come after the KEY VALUE pairs.
    argv = _argv(dtd_data, tmp_path / "new", "CoOp", COOP, tiny_clip_file, opts=new) + ["--eval-only", "--model-dir", str(base)]
    assert run_train(argv) == 0
    out = capsys.readouterr().out
    assert f'Loading weights to prompt_learner from "{base}/prompt_learner/model.pth.tar-2" (epoch = 2)' in out
    assert "* accuracy:" in out


def test_eval_refuses_a_checkpoint_of_another_model(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    model = tmp_path / "model"
    csc = ["TRAINER.COOP.CSC", "True", "TRAINER.COOP.CTX_INIT", "", "TRAINER.COOP.N_CTX", "4"]  # class-specific: random init
    assert run_train(_argv(dtd_data, model, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + csc)) == 0
    capsys.readouterr()

    def evaluate(out: str, trainer: str, config: str, *opts: str) -> str:
        argv = _argv(dtd_data, tmp_path / out, trainer, config, tiny_clip_file, "--eval-only", "--model-dir", str(model), opts=opts)
        assert run_train(argv) == 1
        return _error(capsys)

    err = evaluate("e1", "CoCoOp", COCOOP)
    assert err == (
        f"error: {model} holds a CoOp run, not a CoCoOp one: evaluate it with --trainer CoOp and the method config it "
        f"was trained with (its --config-file; {model}/config.yaml records every value).\n"
    )
    err = evaluate("e2", "CoOp", COOP, *csc, "TRAINER.COOP.CLASS_TOKEN_POSITION", "front")
    assert "  TRAINER.COOP.CLASS_TOKEN_POSITION: 'end' (checkpoint) vs 'front' (this run)" in err
    err = evaluate("e3", "CoOp", COOP, *csc, "DATASET.SUBSAMPLE_CLASSES", "base")
    assert "tensors of other shapes:\n  ctx: checkpoint (4, 4, 128), this run (2, 4, 128)" in err
    assert "trained on 4 classes and this run has 2 (DATASET.SUBSAMPLE_CLASSES base)" in err


def test_eval_refuses_a_split_other_than_the_models(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    base = tmp_path / "base"
    assert run_train(_argv(dtd_data, base, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["DATASET.SUBSAMPLE_CLASSES", "base"])) == 0
    split = Path(dtd_data.dataset_dir) / "split_zhou_DescribableTextures.json"
    items = json.loads(split.read_text())
    items["test"].append(items["train"].pop(0))  # a training image moves into the test set
    split.write_text(json.dumps(items))
    capsys.readouterr()
    argv = _argv(dtd_data, tmp_path / "new", "CoOp", COOP, tiny_clip_file, "--eval-only", "--model-dir", str(base),
                 opts=["DATASET.SUBSAMPLE_CLASSES", "new"])  # fmt: skip
    assert run_train(argv) == 1
    err = _error(capsys)
    assert f"error: The model in {base} was trained with dtd/split_zhou_DescribableTextures.json (sha256 " in err
    assert "the test set can hold the model's own training images" in err


# --- errors: one line for bad input, a traceback for bugs -----------------------------------------
def test_malformed_yaml_names_the_file_and_line(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("OPTIM:\n  NAME: sgd\n  LR: [0.1\nTRAINER:\n  COOP: {}\n")
    assert run_train(_argv(dtd_data, tmp_path / "o", "CoOp", str(bad), tiny_clip_file)) == 1
    err = _error(capsys)
    assert err.startswith(f"error: {bad}, line 4, column 8: not valid YAML (expected ',' or ']', but got ':').")
    assert err.count("\n") == 1


@pytest.mark.parametrize("shots", ["-5", "0"])
def test_num_shots_must_be_a_count_or_all(tmp_path, dtd_data, tiny_clip_file, run_train, capsys, shots):
    assert run_train(_argv(dtd_data, tmp_path / "o", "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", shots])) == 1
    assert f"DATASET.NUM_SHOTS={shots} is not valid: use a positive number of training images per class (e.g. 16), or -1" in _error(capsys)


def _unreadable_image_error(dtd_data, path: Path) -> str:
    return (
        f'error: Cannot read image "{path}" (cannot identify image file). Replace the file or remove it from the split; '
        f"`python -m datasets.check --root {dtd_data.root} --dataset DescribableTextures` lists all unreadable images.\n"
    )


def test_unreadable_image_is_one_line_in_training_and_evaluation(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    split = json.loads((Path(dtd_data.dataset_dir) / "split_zhou_DescribableTextures.json").read_text())
    for key in ("train", "test"):
        path = Path(dtd_data.image_dir) / split[key][0][0]
        path.write_bytes(b"not an image")
        flags = ("--eval-only",) if key == "test" else ()
        trainer, config = ("ZeroshotCLIP", ZS) if key == "test" else ("CoOp", COOP)
        out = tmp_path / key
        assert run_train(_argv(dtd_data, out, trainer, config, tiny_clip_file, *flags)) == 1
        expected = _unreadable_image_error(dtd_data, path)
        assert _error(capsys) == expected
        assert (out / "log.txt").read_text().endswith(expected)
        assert json.loads((out / "run.json").read_text())["status"] == "failed"
        path.write_bytes(b"")


def test_unreadable_image_read_by_a_worker_process_is_one_line(tmp_path, dtd_data, tiny_clip_file):
    """In a subprocess: a DataLoader worker re-raises the error in the main process from its text."""
    split = json.loads((Path(dtd_data.dataset_dir) / "split_zhou_DescribableTextures.json").read_text())
    path = Path(dtd_data.image_dir) / split["train"][0][0]
    path.write_bytes(b"not an image")
    argv = _argv(dtd_data, tmp_path / "o", "CoOp", COOP, tiny_clip_file, opts=["DATALOADER.NUM_WORKERS", "2"])
    proc = subprocess.run([sys.executable, str(REPO / "train.py"), *argv], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "MUDPT_BACKEND": "builtin"}, check=False)  # fmt: skip
    assert (proc.returncode, proc.stderr) == (1, _unreadable_image_error(dtd_data, path))


def test_a_bug_keeps_its_traceback(tmp_path, dtd_data, tiny_clip_file, run_train, capsys, monkeypatch):
    from trainers.coop import CoOp

    def broken(*args, **kwargs):
        raise ValueError("an internal bug")

    monkeypatch.setattr(CoOp, "build_custom_model", broken)
    out = tmp_path / "o"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file)) == 1
    err = capsys.readouterr().err
    assert err.startswith("Traceback (most recent call last):") and err.endswith("ValueError: an internal bug\n")
    assert "Traceback" in (out / "log.txt").read_text()
    assert json.loads((out / "run.json").read_text())["error"] == "ValueError: an internal bug"


def test_sigterm_stops_like_ctrl_c(tmp_path, dtd_data, tiny_clip_file, run_train, capsys, monkeypatch):
    from trainers.base import ClipPromptTrainer

    def terminated(self, batch):
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(ClipPromptTrainer, "forward_backward", terminated)
    out = tmp_path / "o"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file)) == 130
    assert capsys.readouterr().err.startswith("Interrupted before the first checkpoint: rerunning the same command starts from scratch")
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # restored


# --- what the console shows, and what only log.txt has ---------------------------------------------
def test_console_shows_a_header_and_progress_and_log_has_everything(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    out = tmp_path / "o"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS + ["DATASET.SUBSAMPLE_CLASSES", "base"])) == 0
    console = capsys.readouterr().out.splitlines()
    first_progress = next(i for i, line in enumerate(console) if line.startswith("epoch ["))
    assert first_progress <= 12
    assert console[0] == "CoOp on DescribableTextures (base classes, 1 shots), seed 1: training"
    header = "\n".join(console[:first_progress])
    assert "  engine   built-in engine" in header and f"  output   {out} (log.txt there has the full config" in header
    assert "  run      new\n" in header
    assert "  trainable 1 tensors, 512 parameters (ctx 512)" in header and "  device   cpu, fp32" in header
    assert "  data     2 classes; 2 train, 2 val, 4 test images" in header
    assert not any(word in "\n".join(console) for word in ("** Config **", "Trainable tensors:", "System info", "FIXMATCH"))
    log = (out / "log.txt").read_text()
    for detail in ("** Config **", "Trainable tensors: ctx (4, 128)", "** System info **", "Reading split from", "Data files (sha256)"):
        assert detail in log
    assert all(line in log for line in console)  # the console is a subset of the log

    assert run_train(_argv(dtd_data, tmp_path / "v", "CoOp", COOP, tiny_clip_file, "--verbose", opts=TRAIN_OPTS)) == 0
    assert "** Config **" in capsys.readouterr().out


def test_outputs_follow_the_umask(tmp_path, dtd_data, tiny_clip_file, run_train):
    old = os.umask(0o027)
    try:
        out = tmp_path / "o"
        assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 0
    finally:
        os.umask(old)
    for name in ("config.yaml", "run.json", "log.txt", "prompt_learner/model.pth.tar-2", "prompt_learner/checkpoint"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o640, name


def test_best_val_runs_resume_exactly(tmp_path, dtd_data, tiny_clip_file, run_train, interrupted_run, capsys):
    """TEST.FINAL_MODEL best_val: the best validation result is restored with the checkpoint, so a
    resumed run keeps the same model-best.pth.tar (and the same last checkpoint)."""
    out = tmp_path / "run"
    opts = ["OPTIM.MAX_EPOCH", "3", "TEST.FINAL_MODEL", "best_val", "TRAIN.CHECKPOINT_FREQ", "1", "OPTIM.LR", "0.05"]
    argv = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=opts)
    assert run_train(argv) == 0
    reference = _files(out / "prompt_learner")
    shutil.rmtree(out)

    interrupted_run(argv, epoch=2)
    assert run_train(argv) == 0
    assert "  run      resuming from the checkpoint of epoch 2" in capsys.readouterr().out
    assert _files(out / "prompt_learner") == reference


def test_restart_from_scratch_repeats_the_first_attempt_exactly(tmp_path, dtd_data, tiny_clip_file, run_train, interrupted_run, capsys):
    """Ctrl-C before the first checkpoint of a few-shot run: the rerun reads the few-shot cache
    the first attempt wrote, and still ends with the checkpoints of an uninterrupted run."""

    out, cache = tmp_path / "run", Path(dtd_data.dataset_dir) / "split_fewshot"
    argv = _argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", "2", "OPTIM.MAX_EPOCH", "2"])
    shutil.rmtree(cache, ignore_errors=True)
    assert run_train(argv) == 0
    reference = _files(out / "prompt_learner")
    shutil.rmtree(out)
    shutil.rmtree(cache)

    interrupted_run(argv, epoch=None)
    assert cache.is_dir()
    assert run_train(argv) == 0
    assert "starting again from scratch: the previous attempt was interrupted before its first checkpoint" in capsys.readouterr().out
    assert _files(out / "prompt_learner") == reference


def test_a_training_run_records_its_cost(tmp_path, dtd_data, tiny_clip_file, run_train):
    """run.json holds what the training cost (results tables show it next to accuracy); an
    evaluation-only run records none."""
    import re

    out = tmp_path / "run"
    assert run_train(_argv(dtd_data, out, "CoOp", COOP, tiny_clip_file, opts=TRAIN_OPTS)) == 0
    cost = json.loads((out / "run.json").read_text())["cost"]
    log = (out / "log.txt").read_text()
    shapes = re.search(r"Trainable tensors: ctx \((\d+), (\d+)\)\n", log).groups()
    assert cost["trainable_params"] == int(shapes[0]) * int(shapes[1])
    assert cost["epochs_timed"] == 1 and cost["train_ms_per_iter"] > 0  # of 2 epochs, the first (warm-up) left out
    assert cost["memory_kind"] == "cpu_peak_rss" and cost["peak_memory_mb"] > 50  # a Python process with torch
    assert f"Cost: {cost['trainable_params']:,} trainable parameters, " in log

    evaluation = tmp_path / "eval"
    assert run_train(_argv(dtd_data, evaluation, "CoOp", COOP, tiny_clip_file, "--eval-only", "--model-dir", str(out), opts=TRAIN_OPTS)) == 0
    assert "cost" not in json.loads((evaluation / "run.json").read_text())
