"""Exact resume: a real ``train.py`` process killed mid-epoch (SIGKILL) or stopped with Ctrl-C
(SIGINT), and the same command run again, ends with checkpoints byte-identical to an uninterrupted
run, with DATALOADER.NUM_WORKERS 0 and 2 (MuDPT on the tiny CLIP, CPU); the killed run's folder is
free at once (its DataLoader workers do not hold its lock). The uninterrupted run and the rerun are
``train.main`` in the test process (a process start costs more than their training)."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import tiny_run_opts
from engine.run_folder import RunFolder

REPO = Path(__file__).resolve().parents[1]
EPOCHS, BATCHES = 3, 4  # 4 classes x 4 training images, batch 4
MODEL = "MultimodalDeepPromptTuning"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> str:
    from datasets.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("resume-data")
    return make_synthetic_dataset(str(root), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2).root


def _command(data_root: str, clip_file: str, out: Path, workers: int) -> list[str]:
    opts = tiny_run_opts(clip_file) + [
        "OPTIM.MAX_EPOCH", str(EPOCHS), "DATALOADER.NUM_WORKERS", str(workers), "DATALOADER.TRAIN_X.BATCH_SIZE", "4",
        "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.PRINT_FREQ", "1",
        "TRAINER.MUDPT.PROMPT_DEPTH", "3", "TRAINER.MUDPT.INJ_WIDTH", "64", "TRAINER.MUDPT.INJ_HEADS", "2",
    ]  # fmt: skip
    return [
        sys.executable, str(REPO / "train.py"), "--root", data_root, "--seed", "1", "--trainer", "MuDPT",
        "--dataset-config-file", str(REPO / "configs/datasets/dtd.yaml"),
        "--config-file", str(REPO / "configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml"),
        "--output-dir", str(out), *opts,
    ]  # fmt: skip


ENV = {**os.environ, "MUDPT_BACKEND": "builtin", "PYTHONUNBUFFERED": "1"}


def _interrupt(command: list[str], at: str, sig: int) -> tuple[int, str]:
    """Start the run, send ``sig`` when its progress output reaches the line starting with ``at``."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    seen = []
    for line in proc.stdout:
        seen.append(line)
        if line.startswith(at):
            proc.send_signal(sig)
            break
    else:
        proc.wait()
        pytest.fail(f"the run ended before {at!r}:\n{''.join(seen)[-2000:]}{proc.stderr.read()[-2000:]}")
    proc.stdout.read()
    stderr = proc.stderr.read()
    return proc.wait(timeout=60), stderr


def _checkpoints(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((out / MODEL).iterdir())}


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_interrupted_runs_resume_to_identical_checkpoints(tmp_path, data_root, tiny_clip_file, workers, run_train, capsys):
    out = tmp_path / "run"
    command = _command(data_root, tiny_clip_file, out, workers)
    assert run_train(command[2:]) == 0  # the same command, in this process
    reference = _checkpoints(out)
    assert sorted(reference) == ["checkpoint", *(f"model.pth.tar-{e}" for e in range(1, EPOCHS + 1))]
    shutil.rmtree(out)  # the same folder again: the config in the checkpoints names it

    if workers == 0:
        # Ctrl-C in epoch 2: one line that says how to go on, exit 130, the record says so.
        code, stderr = _interrupt(command, f"epoch [2/{EPOCHS}] batch [2/{BATCHES}]", signal.SIGINT)
        assert code == 130
        expected = f"Interrupted. Rerun the same command to resume from the checkpoint of epoch 1 in {out}.\n"
        assert stderr == expected
        assert (out / "log.txt").read_text().endswith(expected)
        assert json.loads((out / "run.json").read_text())["status"] == "interrupted"
        assert sorted(_checkpoints(out)) == ["checkpoint", "model.pth.tar-1"]

    # SIGKILL in epoch 3: no word from the process; its checkpoints of epochs 1-2 are all there is.
    code, _ = _interrupt(command, f"epoch [3/{EPOCHS}] batch [2/{BATCHES}]", signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert sorted(_checkpoints(out)) == ["checkpoint", "model.pth.tar-1", "model.pth.tar-2"]
    assert json.loads((out / "run.json").read_text())["status"] == "running"

    capsys.readouterr()
    assert run_train(command[2:]) == 0
    resumed = capsys.readouterr().out
    assert "  run      resuming from the checkpoint of epoch 2 (the previous attempt was killed)\n" in resumed
    assert f"epoch [2/{EPOCHS}] batch" not in resumed and f"epoch [3/{EPOCHS}] batch [1/{BATCHES}]" in resumed
    assert _checkpoints(out) == reference  # byte for byte, epochs 1-2 kept and 3 redone
    assert json.loads((out / "run.json").read_text())["status"] == "complete"


def test_a_killed_runs_folder_is_free_at_once(tmp_path, data_root, tiny_clip_file):
    """SIGKILL leaves the run's DataLoader workers alive until they notice (seconds); they must not
    hold the folder's lock, or an immediate rerun is told that the dead run "is running"."""
    out = tmp_path / "run"
    proc = subprocess.Popen(_command(data_root, tiny_clip_file, out, workers=2), stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=ENV)  # fmt: skip
    try:
        for line in proc.stdout:
            if line.startswith(f"epoch [1/{EPOCHS}] batch [2/{BATCHES}]"):
                break
        else:
            pytest.fail("the run ended before its second batch")
        workers = _children(proc.pid)
        assert len(workers) == 2  # the DataLoader workers, forked with the lock's file open
        proc.kill()
        assert proc.wait(timeout=60) == -signal.SIGKILL
        assert any(_alive(pid) for pid in workers)  # not gone yet: the case to test
        folder = RunFolder(str(out))
        folder.lock()  # no "Another process (pid ...) is running"
        folder.unlock()
    finally:
        proc.kill()
        proc.stdout.close()


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    if not path.exists():
        pytest.skip("this kernel does not list a process's children in /proc")
    return [int(p) for p in path.read_text().split()]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
