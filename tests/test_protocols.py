"""The protocol runner (protocols/, sweep.py) and the scripts/<method>/*.sh wrappers.

Most tests read the train.py commands a --dry-run plans (nothing trains); a few run real tiny
runs: a sweep that goes on past a failed run, two runs at once through submitit's local
executor, and a SLURM submission through submitit with a stand-in ``sbatch``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TINY_INPUT_SIZE

REPO = Path(__file__).resolve().parents[1]
B2N = [
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
]  # fmt: skip
DG = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]
MUDPT_B2N = "vit_b16_c2_ep10_batch4_depth9"


def dry_run_commands(out: str) -> list[list[str]]:
    lines = out.splitlines()
    return [shlex.split(lines[i + 1].strip()) for i, line in enumerate(lines) if line.startswith("[dry-run] ") and i + 1 < len(lines) and lines[i + 1].startswith("    ")]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def script(method: str, name: str) -> str:
    return str(REPO / "scripts" / method / f"{name}.sh")


# ---------------------------------------------------------------------------------------------
# The scripts are generated wrappers, one per method and protocol step
# ---------------------------------------------------------------------------------------------
def test_scripts_are_the_generated_one_line_wrappers():
    from protocols.cli import expected_scripts

    expected = expected_scripts()
    found = {str(p.relative_to(REPO)) for p in (REPO / "scripts").rglob("*.sh")} - {"scripts/smoke.sh"}
    assert found == set(expected), "run `python sweep.py write-scripts`"
    for rel, text in expected.items():
        path = REPO / rel
        assert path.read_text() == text, f"{rel} differs from what `python sweep.py write-scripts` writes"
        assert os.access(path, os.X_OK), rel
        code = [line for line in text.splitlines() if line and not line.startswith("#")]
        assert code == ['exec "${PYTHON:-python}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"'], rel
    # Every method gets the scripts of every protocol it has a recipe for.
    assert {p.name for p in (REPO / "scripts" / "coop").iterdir()} >= {"fewshot.sh", "fewshot_all.sh", "xd_all.sh"}
    assert not (REPO / "scripts" / "cocoop" / "fewshot.sh").exists()


def test_a_wrapper_runs_the_runner_from_any_directory(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable}
    rel = os.path.relpath(script("mudpt", "base2new_test"), tmp_path)
    proc = subprocess.run(["bash", rel, "--help"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: scripts/mudpt/base2new_test.sh [options] DATASET SEED [KEY VALUE ...]")
    assert "Base-to-new, step 2: evaluate the model of base2new_train.sh on the new classes of DATASET." in proc.stdout


ARG_ERRORS = [
    ("base2new_train", [], "expected DATASET SEED, got 0 argument(s)"),
    ("base2new_train", ["dtd", "0"], "SEED must be a positive integer, got '0'"),
    ("base2new_train", ["foo", "1"], "Unknown dataset 'foo'. Valid names: ImageNet, Caltech101"),
    ("base2new_train", ["imagenet_a", "1"], "'imagenet_a' cannot be used in base2new (not one of its datasets)"),
    ("xd_test", ["imagenet", "1"], "'imagenet' cannot be used in xd (ImageNet is the training set"),
    ("fewshot", ["dtd", "SHOTS", "1"], "SHOTS must be a positive integer, got 'SHOTS'"),
    ("base2new_all", ["--methods", "coop"], "unrecognized arguments: --methods"),  # the method is the script's folder
    ("base2new_all", ["--seeds", "5"], "unrecognized arguments: --seeds"),  # seeds are its arguments
]


@pytest.mark.parametrize("name, args, message", ARG_ERRORS)
def test_script_argument_errors_exit_2_with_the_usage(sweep, name, args, message):
    code, out, err = sweep("script", script("mudpt", name), *args)
    assert code == 2 and out == ""
    assert message in err and f"usage: scripts/mudpt/{name}.sh" in err


@pytest.mark.parametrize("name, args, message", [
    ("fewshot", ["dtd", "3", "1"], "error: --shots takes some of 1 2 4 8 16 (the protocol's), got 3."),
    ("xd_test", ["dtd", "1", "OPTIM.MAX_EPOCH"], "error: Config overrides come in KEY VALUE pairs; got an odd list: OPTIM.MAX_EPOCH"),
    ("base2new_train", ["dtd", "1", "TRAINER.COOP.N_CTX", "4"],  # CoOp's key: MuDPT's runs would ignore it
     "error: TRAINER.COOP.N_CTX 4: none of the selected methods (mudpt) has TRAINER.COOP.* keys "
     "(they are coop's: --methods coop, or its scripts/coop/), or leave it out.\n"),
])  # fmt: skip
def test_script_selection_errors_are_the_sweeps(sweep, name, args, message):
    code, out, err = sweep("script", script("mudpt", name), *args)
    assert code == 2 and out == "" and err.startswith(message)


def test_every_recipe_of_every_method_is_a_config_file():
    import yaml

    from protocols import PROTOCOLS
    from trainers import METHODS

    for method in METHODS.values():
        for name in method.protocols:
            protocol = PROTOCOLS[name]
            for spec in protocol.datasets():
                for shots in protocol.shots:
                    path = REPO / method.recipe(name, spec.config, shots)
                    assert path.is_file(), (method.name, name, spec.config, shots, path)
                    optim = yaml.safe_load(path.read_text()).get("OPTIM") or {}
                    trains_by_epochs = not method.zero_shot and method.trainer.GRADIENT_STEPS
                    assert not trains_by_epochs or optim.get("MAX_EPOCH", 0) > 0, path


# ---------------------------------------------------------------------------------------------
# Commands and run folders
# ---------------------------------------------------------------------------------------------
def test_base2new_train_command(sweep, tmp_path):
    clip = tmp_path / "ViT-B-16.pt"
    clip.write_bytes(b"")
    os.environ["CLIP_PATH"] = str(clip)
    try:
        code, out, _ = sweep("script", script("mudpt", "base2new_train"), "dtd", "2", "OPTIM.MAX_EPOCH", "2", "--dry-run")
    finally:
        del os.environ["CLIP_PATH"]
    assert code == 0
    (command,) = dry_run_commands(out)
    run_dir = tmp_path / "output/base2new/train_base/dtd/shots_16/MuDPT" / f"{MUDPT_B2N}+max_epoch2" / "seed2"
    assert command == [
        sys.executable, "train.py", "--root", str(tmp_path / "data"), "--seed", "2", "--trainer", "MuDPT",
        "--dataset-config-file", "configs/datasets/dtd.yaml",
        "--config-file", f"configs/trainers/MuDPT/{MUDPT_B2N}.yaml", "--output-dir", str(run_dir),
        "DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base",
        "TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1",  # resumable: a checkpoint per epoch
        "MODEL.BACKBONE.PATH", str(clip), "OPTIM.MAX_EPOCH", "2",
    ]  # fmt: skip
    assert out.startswith("[dry-run] mudpt base2new train dtd seed 2: pending")


def test_the_test_step_reads_the_trained_runs_config(sweep, tmp_path):
    code, out, _ = sweep("base2new", "--methods", "coop", "--datasets", "imagenet", "--seeds", "3", "--dry-run")
    train, test = dry_run_commands(out)
    trained = tmp_path / "output/base2new/train_base/imagenet/shots_16/CoOp/vit_b16_ep50_ctxv1/seed3"  # ImageNet's recipe
    assert option(train, "--config-file") == "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml"
    assert option(test, "--config-file") == str(trained / "config.yaml")  # no override is repeated
    assert option(test, "--model-dir") == str(trained) and "--eval-only" in test and "--load-epoch" not in test
    assert option(test, "--output-dir") == str(trained).replace("train_base", "test_new")
    assert test[-4:] == ["DATASET.NAME", "ImageNet", "DATASET.SUBSAMPLE_CLASSES", "new"]


def test_overrides_that_change_results_name_the_folder(sweep, tmp_path):
    code, out, _ = sweep(
        "base2new", "--methods", "mudpt,coop", "--datasets", "dtd", "--seeds", "1", "--steps", "train", "--dry-run",
        "OPTIM.MAX_EPOCH", "2", "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TEST.BATCH_SIZE", "8",
        "DATASET.NUM_SHOTS", "4", "TRAINER.MUDPT.PROMPT_DEPTH", "3",
    )  # fmt: skip
    assert code == 0, out
    mudpt, coop = dry_run_commands(out)
    # Workers and test batch size cannot change results: not in the name; the shots trained are.
    assert option(mudpt, "--output-dir").endswith(f"dtd/shots_4/MuDPT/{MUDPT_B2N}+max_epoch2-prompt_depth3/seed1")
    assert option(coop, "--output-dir").endswith("dtd/shots_4/CoOp/vit_b16_ctxv1+max_epoch2/seed1")
    assert "TRAINER.MUDPT.PROMPT_DEPTH" not in coop and option(coop, "DATASET.NUM_SHOTS") == "4"


def test_a_test_step_alone_finds_its_training_run(sweep, tmp_path):
    trained = tmp_path / "output/base2new/train_base/dtd/shots_2/MuDPT" / f"{MUDPT_B2N}+max_epoch2" / "seed1"
    trained.mkdir(parents=True)
    (trained / "config.yaml").write_text("OPTIM:\n  MAX_EPOCH: 2\n")
    code, out, _ = sweep("script", script("mudpt", "base2new_test"), "dtd", "1", "--dry-run")
    (command,) = dry_run_commands(out)
    assert option(command, "--model-dir") == str(trained)
    assert option(command, "--output-dir") == str(trained).replace("train_base", "test_new")
    other = trained.parent.parent / f"{MUDPT_B2N}+max_epoch5" / "seed1"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text("OPTIM:\n  MAX_EPOCH: 5\n")
    code, out, _ = sweep("script", script("mudpt", "base2new_test"), "dtd", "1", "--dry-run")
    assert "failed (mudpt base2new test dtd seed 1: several training runs could be the one to evaluate:" in out
    code, out, _ = sweep("script", script("mudpt", "base2new_test"), "dtd", "1", "--dry-run", "OPTIM.MAX_EPOCH", "5")
    assert option(dry_run_commands(out)[0], "--model-dir") == str(other)


def test_a_test_step_alone_never_evaluates_another_setting(sweep, tmp_path):
    """Overrides name the setting to evaluate; without overrides, only the recipe's own runs."""
    b2n = tmp_path / "output/base2new/train_base/dtd/shots_16/MuDPT"
    for folder in (f"{MUDPT_B2N}+max_epoch2", f"{MUDPT_B2N}_inj-linear"):
        (b2n / folder / "seed1").mkdir(parents=True)
        (b2n / folder / "seed1" / "config.yaml").write_text("OPTIM:\n  MAX_EPOCH: 2\n")
    code, out, _ = sweep("script", script("mudpt", "base2new_test"), "dtd", "1", "--dry-run", "OPTIM.MAX_EPOCH", "5")
    (command,) = dry_run_commands(out)
    assert out.startswith("[dry-run] mudpt base2new test dtd seed 1: pending")
    assert option(command, "--model-dir") == str(b2n / f"{MUDPT_B2N}+max_epoch5" / "seed1")  # not the max_epoch2 model
    shutil.rmtree(b2n / f"{MUDPT_B2N}+max_epoch2")
    code, out, _ = sweep("script", script("mudpt", "base2new_test"), "dtd", "1", "--dry-run")
    assert option(dry_run_commands(out)[0], "--model-dir") == str(b2n / MUDPT_B2N / "seed1")  # not the _inj-linear recipe


def test_with_its_training_step_an_evaluation_evaluates_the_planned_run(sweep, tmp_path):
    other = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1+max_epoch2/seed1"
    other.mkdir(parents=True)
    (other / "config.yaml").write_text("OPTIM:\n  MAX_EPOCH: 2\n")
    before = sorted(p for p in tmp_path.rglob("*"))
    code, out, _ = sweep("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--dry-run")
    train, test = dry_run_commands(out)
    assert option(test, "--model-dir") == option(train, "--output-dir") != str(other)
    code, out, _ = sweep("status", "base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1")
    assert code == 0 and out.startswith("Summary: 2 pending")
    assert sorted(p for p in tmp_path.rglob("*")) == before  # neither the dry run nor status wrote anything


def test_folders_are_named_after_what_changes(sweep, tmp_path):
    def folder(method: str, *overrides: str) -> str:
        code, out, err = sweep("base2new", "--methods", method, "--datasets", "dtd", "--seeds", "1", "--steps", "train", "--dry-run", *overrides)
        assert code == 0, err
        return Path(option(dry_run_commands(out)[0], "--output-dir")).parts[-2]

    assert folder("mudpt", "OPTIM.MAX_EPOCH", "10", "OPTIM.LR", "2.5e-3") == MUDPT_B2N  # the recipe's own values
    assert folder("mudpt", "OPTIM.LR", "2e-3") == folder("mudpt", "OPTIM.LR", "0.002") == f"{MUDPT_B2N}+lr0.002"
    assert folder("coop", "DATALOADER.TRAIN_X.BATCH_SIZE", "2") == "vit_b16_ctxv1+train_x.batch_size2"  # TEST.BATCH_SIZE too
    with_spaces, with_underscores = folder("coop", "TRAINER.COOP.CTX_INIT", "a photo of"), folder("coop", "TRAINER.COOP.CTX_INIT", "a_photo_of")
    assert with_spaces.startswith("vit_b16_ctxv1+ctx_inita_photo_of-") and with_spaces != with_underscores


def test_repeated_selections_run_once(sweep):
    once = dry_run_commands(sweep("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--dry-run")[1])
    twice = dry_run_commands(sweep("base2new", "--methods", "coop,CoOp", "--datasets", "dtd,dtd", "--seeds=1", "1", "--dry-run")[1])
    assert once == twice and len(once) == 2


def test_local_gpus_are_those_of_the_allocation(monkeypatch):
    import torch

    from engine.errors import ConfigError
    from protocols.cli import _gpus, _jobs

    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")  # e.g. a scheduler's allocation
    assert _gpus(None) == [2, 3] and _gpus(["3"]) == [3]
    with pytest.raises(ConfigError, match=r"^--gpus=5: no GPU 5 here \(CUDA_VISIBLE_DEVICES=2,3 allows: 2,3\); give some of those.$"):
        _gpus(["5"])
    assert (_jobs(None, [2, 3]), _jobs(1, [2, 3]), _jobs(None, [])) == (2, 1, 1)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "GPU-8f3a")
    with pytest.raises(ConfigError, match="CUDA_VISIBLE_DEVICES=GPU-8f3a: the local launcher needs GPU numbers"):
        _gpus(None)
    with pytest.raises(ConfigError, match=r"--jobs 3 is more than the GPUs \(2,3\): one run per GPU"):
        _jobs(3, [2, 3])


@pytest.mark.parametrize("count, message", [
    (0, "error: --gpus=0,1: this machine has no CUDA device (torch sees none); leave out --gpus to run on the CPU, "
        "or run the sweep where the GPUs are.\n"),
    (1, "error: --gpus=0,1: no GPU 1 here (this machine has 1: 0); give some of those.\n"),
])  # fmt: skip
def test_the_local_launcher_refuses_gpus_that_are_not_there(sweep, tmp_path, monkeypatch, count, message):
    """Not a CPU run in their place: one line, exit 2, a dry run too, nothing written."""
    import torch

    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    for dry_run in ([], ["--dry-run"]):
        code, out, err = sweep("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--launcher", "local", "--gpus", "0,1", *dry_run)
        assert (code, out, err) == (2, "", message)
    assert not (tmp_path / "output").exists()


def test_sweeps_select_methods_datasets_seeds_and_shots(sweep, tmp_path):
    code, out, _ = sweep("base2new", "--methods", "mudpt,coop", "--datasets", "eurosat,dtd", "--seeds", "1", "2", "--dry-run")
    commands = dry_run_commands(out)
    assert len(commands) == 2 * 2 * 2 * 2  # methods x datasets x seeds x steps
    datasets = [Path(option(c, "--output-dir")).parts[-5] for c in commands[:8]]
    assert datasets == ["dtd"] * 4 + ["eurosat"] * 4  # table order, whatever the order asked

    code, out, _ = sweep("xd", "--methods", "zsclip", "--seeds", "1", "--dry-run")
    commands = dry_run_commands(out)
    targets = [Path(option(c, "--output-dir")).parts[-5] for c in commands[1:]]
    assert Path(option(commands[0], "--output-dir")).parts[-6:-4] == ("train", "imagenet")
    assert targets == B2N[1:] + DG and all("--model-dir" not in c for c in commands)  # zero-shot: nothing to load

    code, out, _ = sweep("fewshot", "--methods", "coop", "--datasets", "imagenet,dtd", "--shots", "1", "4", "16", "--seeds", "1", "--dry-run")
    configs = [(Path(option(c, "--output-dir")).parts[-5], option(c, "--config-file")) for c in dry_run_commands(out)]
    # CoOp's epochs by shots: 50 for 1 shot and ImageNet, 100 for 2/4, 200 for 8/16.
    assert configs == [
        ("imagenet", "configs/trainers/CoOp/vit_b16_ep50.yaml"), ("imagenet", "configs/trainers/CoOp/vit_b16_ep50.yaml"),
        ("imagenet", "configs/trainers/CoOp/vit_b16_ep50.yaml"), ("dtd", "configs/trainers/CoOp/vit_b16_ep50.yaml"),
        ("dtd", "configs/trainers/CoOp/vit_b16_ep100.yaml"), ("dtd", "configs/trainers/CoOp/vit_b16.yaml"),
    ]  # fmt: skip
    assert all(option(c, "TRAINER.COOP.N_CTX") == "16" for c in dry_run_commands(out))


@pytest.mark.parametrize("args, message", [
    (["base2new", "--methods", "mudpt", "--shots", "4"], "base2new trains with 16 shots; to change them, pass DATASET.NUM_SHOTS K."),
    (["fewshot", "--methods", "mudpt", "DATASET.NUM_SHOTS", "4"], "Few-shot runs take their shots from --shots"),
    (["base2new", "DATASET.SUBSAMPLE_CLASSES", "new"], "DATASET.SUBSAMPLE_CLASSES is set by the protocol's steps"),
    (["fewshot", "--methods", "cocoop"], "cocoop has no recipe for the fewshot protocol (it has: base2new, xd)."),
    (["base2new", "--methods", "mapel"], "Unknown method 'mapel'; the methods: mudpt, coop, cocoop, kgcoop, maple, ivlp, vpt, promptsrc, lpclip, zsclip"),
    (["base2new", "OPTIM.LEARNING_RATE", "0.1"], "Non-existent key: OPTIM.LEARNING_RATE (in the command-line overrides)"),
    (["base2new", "--steps", "tset"], "base2new has no step tset; its steps: train, test."),
    (["fewshot", "--methods", "coop", "--steps", "test"], "fewshot has no step test; its steps: train."),
    (["fewshot", "--methods", "coop", "--shots", "3"], "--shots takes some of 1 2 4 8 16 (the protocol's), got 3."),
    (["base2new", "--seeds", "0"], "a seed must be a positive integer (e.g. --seeds 1 2 3), got '0'."),
    (["base2new", "--seeds"], "--seeds: expected at least one integer"),
    (["base2new", "DATASET.NUM_SHOTS", "-1"], "DATASET.NUM_SHOTS must be a positive integer"),
    (["base2new", "--methods", "mudpt", "TRAINER.NAME", "CoOp"], "TRAINER.NAME is the method: choose it with --methods"),
    (["base2new", "--config", "configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9_inj-linear.yaml"],
     "replaces the recipe of one method; name it with --methods"),
    (["base2new", "--methods", "coop", "--launcher", "local", "--gpus", "a"], "--gpus=a: the local launcher needs GPU numbers"),
    (["base2new", "--methods", "coop", "--launcher", "local", "--jobs", "0"], "--jobs must be at least 1, got 0."),
    (["base2new", "--methods", "coop", "--gpus", "0,1"],
     "error: --gpus is the local launcher's; add --launcher local (the sequential launcher would not use it).\n"),
    (["base2new", "--methods", "coop", "TRAINER.MUDPT.N_CTX", "4"],  # reaches no selected method: it would change nothing
     "error: TRAINER.MUDPT.N_CTX 4: none of the selected methods (coop) has TRAINER.MUDPT.* keys "
     "(they are mudpt's: --methods mudpt, or its scripts/mudpt/), or leave it out.\n"),
    (["base2new", "--methods", "coop,maple", "TRAINER.FOO.N_CTX", "4"],
     "error: TRAINER.FOO.N_CTX 4: none of the selected methods (coop, maple) has TRAINER.FOO.* keys (no method has them), or leave it out."),
    (["--methods", "coop"], "name the protocol: base2new, xd, fewshot"),
])  # fmt: skip
def test_bad_selections_stop_before_anything_runs(sweep, tmp_path, args, message):
    code, out, err = sweep(*args)
    assert code == 2 and message in err and out == ""
    assert not (tmp_path / "output").exists()


def test_a_config_file_with_an_unknown_key_and_a_script_that_is_not_one(sweep, tmp_path):
    bad = tmp_path / "mine.yaml"
    bad.write_text("OPTIM:\n  MAX_EPOCHS: 2\n")
    code, out, err = sweep("base2new", "--methods", "mudpt", "--config", str(bad), "--dry-run")
    assert code == 2 and err.startswith(f"error: Unknown config key OPTIM.MAX_EPOCHS in {bad}. Did you mean OPTIM.MAX_EPOCH?")
    code, out, err = sweep("script", "scripts/mudpt/base2new_tarin.sh", "dtd", "1")
    assert code == 2 and err.startswith("error: scripts/mudpt/base2new_tarin.sh is not a protocol script")


# ---------------------------------------------------------------------------------------------
# Steps that cannot run: why, whole, and a failed script
# ---------------------------------------------------------------------------------------------
def test_an_evaluation_without_its_complete_training_run_fails_its_script(sweep, tmp_path):
    """"pending" is no success for a script: the reason in its row, exit 1; nothing runs."""
    trained = tmp_path / "output/base2new/train_base/dtd/shots_16/MuDPT" / MUDPT_B2N / "seed1"
    test_script = script("mudpt", "base2new_test")
    status = ("status", "base2new", "--methods", "mudpt", "--datasets", "dtd", "--seeds", "1", "--steps", "test")
    why = f"not trained yet: {trained} holds no training run; run the train step first"
    code, out, err = sweep("script", test_script, "dtd", "1")
    assert (code, err) == (1, "") and out.startswith("Summary: 1 pending\n")
    assert f"pending  mudpt base2new test dtd seed 1  {why}" in out
    assert sweep(*status)[:2] == (0, out)  # status reports the same, exit 0

    trained.mkdir(parents=True)
    (trained / "config.yaml").write_text("OPTIM:\n  MAX_EPOCH: 2\n")
    (trained / "log.txt").write_text("error: CLIP weights not found: ViT-B-16.pt\n")
    for record, why in (
        ({"status": "failed", "error": "CLIP weights not found: ViT-B-16.pt"},
         f"its training run failed (CLIP weights not found: ViT-B-16.pt): {trained}; fix that and rerun its train step"),
        ({"status": "interrupted"}, f"its training run is unfinished (interrupted): {trained}; rerun its train step to resume it"),
        ({"status": "running"}, f"its training run is unfinished (running, or killed): {trained}; rerun its train step to resume it"),
    ):  # fmt: skip
        (trained / "run.json").write_text(json.dumps({"kind": "train", "attempts": 1, **record}))
        code, out, err = sweep("script", test_script, "dtd", "1")
        assert (code, err) == (1, "") and f"pending  mudpt base2new test dtd seed 1  {why}  {trained / 'log.txt'}" in out, out
        code, out, _ = sweep(*status)
        assert code == 0 and f"{why}  {trained / 'log.txt'}" in out  # its log: the training attempt's
    assert not (tmp_path / "output/base2new/test_new").exists()


def test_a_refused_step_says_the_whole_refusal(sweep, tmp_path, tiny_clip_file):
    """The folder holds another run: every differing key and file, not the first line; its log is
    that run's."""
    folder = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text("OPTIM:\n  LR: 0.5\n")
    (folder / "run.json").write_text(json.dumps({"kind": "train", "status": "complete", "attempts": 1}))
    (folder / "log.txt").write_text("accuracy: 50.0%\n")
    code, out, err = sweep("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--steps", "train", "--clip-path", tiny_clip_file)
    assert (code, err) == (1, "") and out.startswith("Summary: 1 failed\n")
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("failed "))
    assert re.split(r"\s{2,}", lines[first]) == [
        "failed", "coop base2new train dtd seed 1", f"{folder} holds another run: config keys that change results differ:", str(folder / "log.txt"),
    ]  # fmt: skip
    rest = "\n".join(line.strip() for line in lines[first + 1 :])
    assert "OPTIM.LR: 0.5 (the folder's run) vs 0.002 (this run)" in rest
    assert f"its input files differ:\nclip: only this run has one ({tiny_clip_file})" in rest
    assert rest.endswith("or discard the folder's run with --restart (its checkpoints are deleted; logs and config are kept in "
                         f"{folder / '.previous'}/).")  # fmt: skip


def test_a_failed_attempt_is_shown_with_its_whole_error(sweep, tmp_path):
    """run.json keeps the first line of train.py's error; the attempt's log has all of it."""
    folder = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    folder.mkdir(parents=True)
    message = f"{folder} holds a run on other data; its data files differ:\n  data.split: split_zhou_DTD.json (sha256 0123456789ab, the folder's run) vs split_zhou_DTD.json (sha256 ba9876543210, this run)\nEither write this run elsewhere (--output-dir), or discard the folder's run with --restart."
    (folder / "run.json").write_text(json.dumps({"kind": "train", "status": "failed", "attempts": 2, "error": message.splitlines()[0]}))
    (folder / "log.txt").write_text("an older attempt\n")
    (folder / "log.txt-2024-05-01-10-00-00").write_text(f"Loading the data\nerror: {message}\n")
    os.utime(folder / "log.txt", (1, 1))  # older
    code, out, _ = sweep("status", "base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--steps", "train")
    assert code == 0
    lines = out.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("failed "))
    assert re.split(r"\s{2,}", lines[first]) == ["failed", "coop base2new train dtd seed 1", message.splitlines()[0], str(folder / "log.txt-2024-05-01-10-00-00")]
    assert [line.strip() for line in lines[first + 1 :]] == [line.strip() for line in message.splitlines()[1:]]


def test_a_train_py_that_stops_before_its_attempt_points_at_its_own_error(tmp_path, monkeypatch):
    """No attempt opened: the folder's logs are older runs', so the log column does not point at
    them; its error is on the console (sequential) or in the job's stderr (a job)."""
    from protocols import protocol_for
    from protocols.execute import FAILED_STATE, record_jobs, run_step
    from protocols.plan import Settings, make_plan
    from trainers import method_for
    from datasets import spec_for

    python = tmp_path / "python"  # stands in for the Python that runs train.py: refuses at once
    python.write_text("#!/usr/bin/env bash\necho 'error: a stand-in refusal' >&2\nexit 3\n")
    python.chmod(0o755)
    (tmp_path / "data").mkdir()
    settings = Settings(data=str(tmp_path / "data"), output=str(tmp_path / "output"), python=str(python))
    (unit,) = make_plan(protocol_for("base2new"), [method_for("coop")], [spec_for("dtd")], [1], None, ["train"], [], settings)
    (run,) = unit.steps
    os.makedirs(run.run_dir)
    Path(run.run_dir, "log.txt").write_text("an older run's log\n")
    result = run_step(run, settings, echo=False)
    assert (result.state, result.log) == (FAILED_STATE, "")
    assert result.detail.startswith(f"train.py exited with 3 before starting the run (its error is above): {python} train.py --config-file ")

    class Job:  # a submitit job, as a launcher records it
        job_id = "4242_0"
        paths = type("Paths", (), {"stdout": tmp_path / "4242_0_0_log.out", "stderr": tmp_path / "4242_0_0_log.err", "result_pickle": tmp_path / "r.pkl"})

    record_jobs(unit, settings, "slurm", Job)
    monkeypatch.setenv("SUBMITIT_EXECUTOR", "slurm")  # in the job
    result = run_step(run, settings, echo=False)
    assert result.log == str(tmp_path / "4242_0_0_log.err") and f"(its error is in {tmp_path / '4242_0_0_log.err'})" in result.detail


# ---------------------------------------------------------------------------------------------
# Real runs: past failures, two at once, SLURM
# ---------------------------------------------------------------------------------------------
def _tiny(clip_file: str) -> list[str]:
    return [
        "--clip-path", clip_file, "INPUT.SIZE", TINY_INPUT_SIZE, "DATALOADER.NUM_WORKERS", "0",
        "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1",
    ]  # fmt: skip


@pytest.fixture
def two_datasets(tmp_path):
    from datasets.synthetic import make_synthetic_dataset

    for name in ("dtd", "eurosat"):
        make_synthetic_dataset(str(tmp_path / "data"), name, n_classes=4, n_train=2, n_val=1, n_test=2, image_size=32)
    return tmp_path / "data"


@pytest.fixture
def no_project_on_path(tmp_path, monkeypatch):
    """An environment that does not find the project's code by itself, as a cluster node's that
    was not handed the sweep's variables: started elsewhere, and the editable install of the
    repository (pip install -e) out of the way. Returns the folder the sweep starts from."""
    blocker = tmp_path / "no_project"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\nsys.meta_path[:] = [f for f in sys.meta_path if 'editable' not in getattr(f, '__name__', type(f).__name__).lower()]\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("PYTHONPATH", str(blocker))
    monkeypatch.chdir(elsewhere)
    probe = subprocess.run([sys.executable, "-c", "import protocols"], capture_output=True, text=True, timeout=120)
    assert "No module named 'protocols'" in probe.stderr  # the test would catch a job that cannot find it
    return elsewhere


def _row(out: str, label: str) -> list[str]:
    """The cells of the summary row of ``label`` (the first line of its why)."""
    (line,) = [line for line in out.splitlines() if re.match(rf"\w+ +{re.escape(label)}  ", line)]
    return re.split(r"\s{2,}", line.strip())


@pytest.mark.slow
def test_a_failed_run_does_not_stop_the_sweep(sweep, tmp_path, two_datasets, tiny_clip_file, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    (two_datasets / "eurosat" / "split_zhou_EuroSAT.json").unlink()
    code, out, _ = sweep("base2new", "--methods", "coop", "--datasets", "dtd,eurosat", "--seeds", "1", *_tiny(tiny_clip_file))
    assert code == 1
    summary = out[out.index("Summary: "):]
    assert summary.startswith("Summary: 2 done, 1 failed, 1 pending")
    assert "failed   coop base2new train eurosat seed 1" in summary and "EuroSAT: the official split file" in summary
    assert "pending  coop base2new test eurosat seed 1" in summary and "its training run failed" in summary
    assert "log.txt" in summary
    code, out, _ = sweep("status", "base2new", "--methods", "coop", "--datasets", "dtd,eurosat", "--seeds", "1", *_tiny(tiny_clip_file))
    assert code == 0 and out.startswith("Summary: 2 done, 1 failed, 1 pending")
    assert "done     coop base2new test dtd seed 1" in out
    code, out, _ = sweep("script", script("coop", "base2new_train"), "dtd", "1", *_tiny(tiny_clip_file))
    assert code == 0 and out.rstrip().endswith("Summary: 1 skipped")
    code, out, _ = sweep("script", script("coop", "base2new_train"), "dtd", "1", "--restart", *_tiny(tiny_clip_file))
    assert code == 0 and out.rstrip().endswith("Summary: 1 done")  # run again, not "skipped"


@pytest.mark.slow
def test_ctrl_c_stops_a_local_sweep_and_its_runs_resume(tmp_path, two_datasets, tiny_clip_file):
    """SIGINT to the sweep alone (as a scheduler or `kill -INT` sends it): the running job's train.py
    records the interruption, nothing else starts, the sweep says how to go on."""
    import signal
    import time

    output = tmp_path / "output"
    env = {**os.environ, "DATA": str(two_datasets), "OUTPUT": str(output), "PYTHONPATH": str(REPO)}
    args = ["base2new", "--methods", "coop", "--datasets", "dtd,eurosat", "--seeds", "1", "--launcher", "local", "--jobs", "1",
            *_tiny(tiny_clip_file), "OPTIM.MAX_EPOCH", "500"]  # fmt: skip
    proc = subprocess.Popen([sys.executable, "sweep.py", *args], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        folder = next(iter(output.glob("base2new/train_base/dtd/shots_1/CoOp/*/seed1")), None)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            folder = next(iter(output.glob("base2new/train_base/dtd/shots_1/CoOp/*/seed1")), None)
            if folder is not None and "epoch [" in "".join(p.read_text() for p in folder.glob("log.txt")):
                break
            time.sleep(0.2)
        else:
            pytest.fail("the first run did not start training")
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, out
    assert "Interrupted. Rerun the same command: complete runs are skipped, interrupted ones resume." in out
    assert "coop base2new dtd seed 1 (2 steps): incomplete, pending" in out  # its evaluation did not run: not "failed"
    assert json.loads((folder / "run.json").read_text())["status"] == "interrupted"
    assert not (output / "base2new" / "train_base" / "eurosat").exists()  # the second job never started


@pytest.mark.slow
def test_the_local_launcher_runs_two_jobs_at_once(sweep, tmp_path, two_datasets, tiny_clip_file, no_project_on_path):
    """Its jobs find the project's code by themselves (started elsewhere, the repository not on their path)."""
    code, out, _ = sweep("base2new", "--methods", "zsclip", "--datasets", "dtd,eurosat", "--seeds", "1", "--steps", "train",
                         "--launcher", "local", "--jobs", "2", *_tiny(tiny_clip_file))  # fmt: skip
    assert code == 0, out
    assert "Running 2 jobs, 2 at a time" in out and out.rstrip().endswith("Summary: 2 done")
    for dataset in ("dtd", "eurosat"):
        folder = tmp_path / f"output/base2new/train_base/{dataset}/shots_1/ZeroshotCLIP/vit_b16+train_x.batch_size2-size32_32-max_epoch1/seed1"
        assert json.loads((folder / "run.json").read_text())["status"] == "complete"
    # The jobs' lives, from submitit's files: each was submitted before the other ended.
    (start_a, end_a), (start_b, end_b) = [
        (next(job.glob("*_submitted.pkl")).stat().st_mtime, next(job.glob("*_result.pkl")).stat().st_mtime)
        for job in sorted((tmp_path / "output" / ".submitit").glob("[0-9]*"))
    ]
    assert start_a < end_b and start_b < end_a  # the two jobs overlapped


def test_a_local_job_that_dies_before_train_py_says_so(sweep, tmp_path, no_project_on_path, monkeypatch):
    """A job whose Python does not find the project (as jobs were started before: the environment
    had to provide it) fails with its own error and its job, in the sweep's summary and in status."""
    import protocols.execute

    monkeypatch.setattr(protocols.execute, "job_python", lambda repo, python: shlex.quote(python))
    args = ("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--steps", "test")
    code, out, err = sweep(*args, "--launcher", "local")
    assert code == 1, out + err
    (job,) = [p.name for p in (tmp_path / "output" / ".submitit").iterdir() if p.name.isdigit()]  # submitit also leaves an empty %j/
    expected = [
        "failed", "coop base2new test dtd seed 1",
        f"local job {job} failed before this step's train.py started: ModuleNotFoundError: No module named 'protocols'",
        str(tmp_path / "output" / ".submitit" / job / f"{job}_0_log.err"),
    ]  # fmt: skip
    assert _row(out, "coop base2new test dtd seed 1") == expected
    code, status, _ = sweep("status", *args)
    assert code == 0 and _row(status, "coop base2new test dtd seed 1") == expected


def fake_slurm(tmp_path: Path, monkeypatch) -> Path:
    """``sbatch`` and ``srun`` stand-ins: sbatch keeps the script it is given (``submitted.sh``) and
    answers like sbatch (job 4242); returns the folder of the kept script."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool, text in (("sbatch", f'cp "$1" {tmp_path}/submitted.sh\necho "Submitted batch job 4242"'), ("srun", "exit 1")):
        fake = bin_dir / tool
        fake.write_text(f"#!/usr/bin/env bash\n{text}\n")
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def _run_array_task(script: Path, task: int, cwd: Path) -> subprocess.CompletedProcess:
    """Task ``task`` of the job array 4242 submitted with ``script``, as SLURM runs it: the command
    of its srun line, with SLURM's variables and nothing else of the sweep's environment but
    PYTHONPATH (a path that does not lead to the project), its output in its log files."""
    (srun,) = [shlex.split(line) for line in script.read_text().splitlines() if line.startswith("srun ")]
    command = srun[srun.index("env") :]

    def path(option: str) -> str:
        return srun[srun.index(option) + 1].replace("%A", "4242").replace("%a", str(task)).replace("%t", "0")

    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/"), "PYTHONPATH": os.environ["PYTHONPATH"], "SUBMITIT_EXECUTOR": "slurm"}
    env.update(SLURM_JOB_ID=str(4243 + task), SLURM_ARRAY_JOB_ID="4242", SLURM_ARRAY_TASK_ID=str(task), SLURM_NTASKS="1", SLURM_JOB_NUM_NODES="1",
               SLURM_NODEID="0", SLURM_PROCID="0", SLURM_LOCALID="0", SLURM_JOB_NODELIST="node1")  # fmt: skip
    with open(path("--output"), "w") as out, open(path("--error"), "w") as err:
        return subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=err, timeout=300)


def test_status_says_what_slurm_jobs_did(sweep, tmp_path, monkeypatch, no_project_on_path):
    """Submitted and not started yet; run by SLURM on a node whose environment does not lead to the
    project (the job finds it: its step says why it cannot run); dead before train.py started
    (the traceback on its stderr); killed by SLURM (its error line): each with its job id."""
    fake_slurm(tmp_path, monkeypatch)
    args = ("base2new", "--methods", "coop", "--datasets", "dtd,eurosat", "--seeds", "1", "--steps", "test")
    code, out, _ = sweep(*args, "--launcher", "slurm")
    assert code == 0 and "as SLURM job 4242_1" in out
    jobs = tmp_path / "output" / ".submitit"
    dtd, eurosat = "coop base2new test dtd seed 1", "coop base2new test eurosat seed 1"
    code, status, _ = sweep("status", *args)
    assert code == 0 and status.startswith("Summary: 2 pending")
    assert _row(status, dtd) == ["pending", dtd, "submitted as SLURM job 4242_0: queued, or running the steps before it", str(jobs / "4242_0/4242_0_0_log.out")]

    done = _run_array_task(tmp_path / "submitted.sh", 0, no_project_on_path)
    assert done.returncode == 0, (jobs / "4242_0/4242_0_0_log.err").read_text()
    trained = tmp_path / "output/base2new/train_base/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1"
    code, status, _ = sweep("status", *args)
    assert _row(status, dtd) == ["pending", dtd, f"not trained yet: {trained} holds no training run; run the train step first", str(tmp_path / "output/base2new/test_new/dtd/shots_16/CoOp/vit_b16_ctxv1/seed1")]

    err = jobs / "4242_1" / "4242_1_0_log.err"  # what submitit leaves when the job's call cannot be loaded
    err.write_text(  # what submitit's job prints when its call cannot be loaded (its pickled result is not read)
        "submitit ERROR (2024-05-01 10:00:00,000) - Submitted job triggered an exception\nTraceback (most recent call last):\n"
        '  File "submission.py", line 52, in process_job\n    delayed = utils.DelayedSubmission.load(paths.submitted_pickle)\n'
        "              ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\nModuleNotFoundError: No module named 'protocols'\n"
        "srun: error: node1: task 0: Exited with exit code 1\n"
    )
    (jobs / "4242_1" / "4242_1_0_result.pkl").write_bytes(b"")
    code, status, _ = sweep("status", *args)
    assert code == 0 and status.startswith("Summary: 1 failed, 1 pending")
    failed = "SLURM job 4242_1 failed before this step's train.py started:"
    assert _row(status, eurosat) == ["failed", eurosat, f"{failed} ModuleNotFoundError: No module named 'protocols'", str(err)]
    (jobs / "4242_1" / "4242_1_0_result.pkl").unlink()  # killed by SLURM: no result, its reason on stderr
    err.write_text("slurmstepd: error: *** JOB 4244 ON node1 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***\nsrun: error: node1: task 0: Terminated\n")
    assert _row(sweep("status", *args)[1], eurosat)[2] == f"{failed} slurmstepd: error: *** JOB 4244 ON node1 CANCELLED AT 2024-05-01T10:00:00 DUE TO TIME LIMIT ***"


def test_slurm_sweeps_are_a_submitit_job_array(sweep, tmp_path, monkeypatch):
    args = ["base2new", "--methods", "coop", "--datasets", "dtd,eurosat", "--seeds", "1", "--launcher", "slurm",
            "--partition", "gpu", "--time", "90", "--array-parallelism", "1", "--sbatch", "account=abc", "--mem", "32G"]  # fmt: skip
    code, out, err = sweep(*args)  # no SLURM on this machine
    assert code == 2 and "--launcher slurm needs SLURM (Could not detect \"srun\"" in err
    code, dry, _ = sweep(*args, "--dry-run")  # the script, without SLURM
    assert code == 0 and "[dry-run] the sbatch script of the job array (2 jobs):" in dry

    fake_slurm(tmp_path, monkeypatch)
    code, out, _ = sweep(*args)
    assert code == 0, out
    assert "submitted coop base2new dtd seed 1 (2 steps) as SLURM job 4242_0" in out
    assert "submitted coop base2new eurosat seed 1 (2 steps) as SLURM job 4242_1" in out
    submitted = (tmp_path / "submitted.sh").read_text()
    for line in ("#SBATCH --array=0-1%1", "#SBATCH --partition=gpu", "#SBATCH --time=90", "#SBATCH --gpus-per-node=1",
                 "#SBATCH --account=abc", "#SBATCH --mem=32G", "-u -m submitit.core._submit",
                 f"env PYTHONPATH={REPO}"):  # fmt: skip  # the job finds the project without the sweep's environment
        assert line in submitted, line
        assert line in dry  # the dry run showed the same script


# ---------------------------------------------------------------------------------------------
# Grids (--grid KEY=V1,V2 ...)
# ---------------------------------------------------------------------------------------------
def test_a_grid_plans_every_point_under_its_own_folder(sweep, tmp_path):
    code, out, err = sweep(
        "base2new", "--methods", "mudpt,coop", "--datasets", "dtd", "--seeds", "1", "--dry-run",
        "--grid", "TRAINER.MUDPT.PROMPT_DEPTH=3,9", "OPTIM.MAX_EPOCH=1,2", "DATALOADER.NUM_WORKERS", "0",
    )  # fmt: skip
    assert code == 0, err
    commands = dry_run_commands(out)
    folders = [Path(option(c, "--output-dir")).relative_to(tmp_path / "output/base2new") for c in commands]
    b2n = "dtd/shots_16/MuDPT"
    # MuDPT: 2 x 2 points (the first key varies slowest), each trained then tested; depth 9 is the
    # recipe's, so that point is named by the epochs alone. CoOp has no PROMPT_DEPTH: its runs
    # sweep the epochs only.
    expected = [
        f"{b2n}/{MUDPT_B2N}+max_epoch1-prompt_depth3", f"{b2n}/{MUDPT_B2N}+max_epoch2-prompt_depth3",
        f"{b2n}/{MUDPT_B2N}+max_epoch1", f"{b2n}/{MUDPT_B2N}+max_epoch2",
        "dtd/shots_16/CoOp/vit_b16_ctxv1+max_epoch1", "dtd/shots_16/CoOp/vit_b16_ctxv1+max_epoch2",
    ]  # fmt: skip
    assert [str(f) for f in folders] == [f"{step}/{e}/seed1" for e in expected for step in ("train_base", "test_new")]
    train = commands[0]
    assert train[-6:] == ["DATALOADER.NUM_WORKERS", "0", "TRAINER.MUDPT.PROMPT_DEPTH", "3", "OPTIM.MAX_EPOCH", "1"]
    assert commands[4][-4:] == ["TRAINER.MUDPT.PROMPT_DEPTH", "9", "OPTIM.MAX_EPOCH", "1"]  # the recipe's value, said
    assert "TRAINER.MUDPT.PROMPT_DEPTH" not in commands[8]  # CoOp
    assert option(commands[1], "--model-dir") == option(train, "--output-dir")  # each point's test evaluates its model
    code, status, _ = sweep("status", "base2new", "--methods", "mudpt", "--datasets", "dtd", "--seeds", "1",
                            "--grid", "TRAINER.MUDPT.PROMPT_DEPTH=3,9", "OPTIM.MAX_EPOCH=1,2")  # fmt: skip
    assert code == 0 and status.startswith("Summary: 8 pending")
    code, dry, _ = sweep("base2new", "--methods", "mudpt", "--datasets", "dtd", "--seeds", "1", "2", "--dry-run", "--launcher", "slurm",
                         "--grid=TRAINER.MUDPT.PROMPT_DEPTH=3,9")  # fmt: skip
    assert "[dry-run] the sbatch script of the job array (4 jobs):" in dry  # points x seeds


def test_grid_points_that_name_the_same_run_run_once(sweep):
    code, out, _ = sweep("base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--steps", "train", "--dry-run",
                         "--grid", "OPTIM.LR=3e-3,0.003")  # fmt: skip
    (command,) = dry_run_commands(out)
    assert Path(option(command, "--output-dir")).parts[-2] == "vit_b16_ctxv1+lr0.003"


@pytest.mark.parametrize("grid, message", [
    (["TRAINER.MUDPT.N_CTX"], "--grid 'TRAINER.MUDPT.N_CTX': an entry is KEY=V1,V2,... (e.g. --grid TRAINER.MUDPT.PROMPT_DEPTH=1,3,5)."),
    ([], "--grid '': an entry is KEY=V1,V2,..."),
    (["TRAINER.MUDPT.N_CTX=1,,2"], "--grid TRAINER.MUDPT.N_CTX=1,,2: an empty value; give the values separated by commas"),
    (["TRAINER.MUDPT.N_CTX=1", "TRAINER.MUDPT.N_CTX=2"],
     "--grid TRAINER.MUDPT.N_CTX=2: TRAINER.MUDPT.N_CTX is already in the grid; give all its values in one entry, TRAINER.MUDPT.N_CTX=1,2."),
    (["OPTIM.MAX_EPOCH=1,2", "OPTIM.MAX_EPOCH", "3"],
     "--grid OPTIM.MAX_EPOCH=1,2: OPTIM.MAX_EPOCH is also a plain override (OPTIM.MAX_EPOCH 3); give it once"),
    (["TRAINER.MUDPT.N_CTXX=1"], "--grid TRAINER.MUDPT.N_CTXX=1: the config has no key TRAINER.MUDPT.N_CTXX. Did you mean TRAINER.MUDPT.N_CTX?"),
    (["TRAINER.MAPLE.N_CTX=1,2"],
     "--grid TRAINER.MAPLE.N_CTX=1,2: none of the selected methods (mudpt, coop) has TRAINER.MAPLE.* keys "
     "(they are maple's: --methods maple, or its scripts/maple/), or sweep a key of theirs."),
    (["TRAINER.MUDPT.N_CTX=a"], "--grid point TRAINER.MUDPT.N_CTX=a: command-line override: Type mismatch"),
    (["DATASET.NUM_SHOTS=1,2"], "--grid DATASET.NUM_SHOTS=...: the shots are part of the run folder"),
    (["DATASET.SUBSAMPLE_CLASSES=new"], "DATASET.SUBSAMPLE_CLASSES is set by the protocol's steps"),
    (["DATALOADER.NUM_WORKERS=0,4"], "--grid DATALOADER.NUM_WORKERS=0,4: DATALOADER.NUM_WORKERS cannot change results (the runs would share one folder"),
])  # fmt: skip
def test_bad_grids_stop_before_anything_runs(sweep, tmp_path, grid, message):
    code, out, err = sweep("base2new", "--methods", "mudpt,coop", "--datasets", "dtd", "--seeds", "1", "--dry-run", "--grid", *grid)
    assert code == 2 and out == "" and err.startswith(f"error: {message}"), err
    assert not (tmp_path / "output").exists()


@pytest.mark.slow
def test_a_grid_runs_and_parse_results_shows_it(sweep, tmp_path, two_datasets, tiny_clip_file, monkeypatch, capsys):
    """A real 2-point grid, one after another: each point trains and is evaluated in its own
    folder, and parse_results.py --grid reads the points back from the runs' config.yaml."""
    from results.cli import main as parse_results

    monkeypatch.setenv("PYTHONPATH", str(REPO))
    args = ["base2new", "--methods", "coop", "--datasets", "dtd", "--seeds", "1", "--grid", "TRAINER.COOP.N_CTX=2,4", *_tiny(tiny_clip_file)]
    code, out, _ = sweep(*args)
    assert code == 0, out
    assert out.rstrip().endswith("Summary: 4 done")
    b2n = tmp_path / "output/base2new"
    tiny = "train_x.batch_size2-size32_32-max_epoch1"
    for n_ctx in (2, 4):
        folder = f"dtd/shots_1/CoOp/vit_b16_ctxv1+{tiny}-n_ctx{n_ctx}/seed1"
        assert json.loads((b2n / "train_base" / folder / "run.json").read_text())["status"] == "complete"
        assert json.loads((b2n / "test_new" / folder / "run.json").read_text())["status"] == "complete"
    assert sweep("status", *args)[1].startswith("Summary: 4 done")
    assert parse_results([str(b2n), "--grid", "TRAINER.COOP.N_CTX", "--format", "csv", "--cost"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    points = sorted({(r["dataset"], r["settings"]) for r in rows})
    assert points == [("dtd", "N_CTX=2"), ("dtd", "N_CTX=4")]  # only N_CTX differs between the runs
    assert {r["column"] for r in rows} >= {"Base", "New", "HM"}
