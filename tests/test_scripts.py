"""Tests for the protocol scripts in scripts/<method>/ and their shared scripts/common.sh.

The scripts run from a copy of the repository in a temporary folder (scripts/, parse_results.py
and small config files), with PYTHON pointing to a fake interpreter that records its arguments,
so nothing is trained. ``parse_results.py --status`` runs with the real Python (STATUS_PYTHON).
"""

from __future__ import annotations

import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
METHODS = ("mudpt", "coop", "cocoop", "zsclip")
PER_RUN = ("base2new_train.sh", "base2new_test.sh", "xd_train.sh", "xd_test.sh")
SWEEPS = ("base2new_all.sh", "xd_all.sh")
FEWSHOT = ("fewshot.sh", "fewshot_all.sh")
HAS_FEWSHOT = ("mudpt", "coop")

B2N_DATASETS = [
    "imagenet", "caltech101", "oxford_pets", "stanford_cars", "oxford_flowers", "food101",
    "fgvc_aircraft", "sun397", "dtd", "eurosat", "ucf101",
]  # fmt: skip
DG_TARGETS = ["imagenetv2", "imagenet_sketch", "imagenet_a", "imagenet_r"]

# Config files the scripts name, with the MAX_EPOCH their fake copies get.
CONFIGS = {
    "configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml": 7,
    "configs/trainers/MuDPT/vit_b16_c2_ep5_batch4_depth9_xd.yaml": 3,
    "configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9_fewshot.yaml": 9,
    "configs/trainers/CoOp/vit_b16_ctxv1.yaml": 11,
    "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml": 50,
    "configs/trainers/CoOp/vit_b16_ep50.yaml": 51,
    "configs/trainers/CoOp/vit_b16_ep100.yaml": 100,
    "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml": 10,
    "configs/trainers/CoOp/vit_b16.yaml": 1,
}
MUDPT_B2N = "vit_b16_c2_ep10_batch4_depth9"
MUDPT_XD = "vit_b16_c2_ep5_batch4_depth9_xd"

FAKE_PYTHON = """#!/usr/bin/env bash
# Records the working directory and the arguments of each call, one shell-quoted line per call.
{ printf '%q ' "$PWD" "$@"; echo; } >> "$FAKE_LOG"
"""

COMPLETE_LOG = """Loading trainer: MuDPT
Loading dataset: DescribableTextures
Loading evaluator: Classification
No checkpoint found, train from scratch
Initialize tensorboard (log_dir=out/tensorboard)
epoch [1/1] batch [4/4] time 0.028 (0.030) data 0.002 (0.003) loss 1.2480 (1.5549) lr 2.0000e-03 eta 0:00:00
Checkpoint saved to out/prompt_learner/model.pth.tar-1
Finish training
Deploy the last-epoch model
Evaluate on the *test* set
=> result
* total: 12
* correct: 3
* accuracy: 25.0%
* error: 75.0%
* macro_f1: 10.0%
Elapsed: 0:00:02
"""
INCOMPLETE_LOG = COMPLETE_LOG.split("Finish training")[0]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the scripts and parse_results.py, with small config files."""
    root = tmp_path_factory.mktemp("repo")
    shutil.copytree(REPO_ROOT / "scripts", root / "scripts")
    shutil.copy2(REPO_ROOT / "parse_results.py", root / "parse_results.py")
    for rel, epochs in CONFIGS.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"OPTIM:\n  NAME: \"sgd\"\n  MAX_EPOCH: {epochs}\n")
    return root


class Env:
    """Runs scripts of the copied repo and reads what the fake Python recorded."""

    def __init__(self, repo: Path, tmp: Path) -> None:
        self.repo = repo
        self.tmp = tmp
        self.data = tmp / "data"
        self.data.mkdir()
        self.output = tmp / "output"
        self.calls_file = tmp / "calls.txt"
        fake = tmp / "fakepython"
        fake.write_text(FAKE_PYTHON)
        fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
        self.vars = {
            "PYTHON": str(fake),
            "STATUS_PYTHON": sys.executable,
            "DATA": str(self.data),
            "OUTPUT": str(self.output),
            "FAKE_LOG": str(self.calls_file),
        }

    def run(self, script: str, *args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess:
        full_env = {k: v for k, v in os.environ.items() if k not in ("CFG", "CLIP_PATH", "DRY_RUN")}
        full_env.update(self.vars, **env)
        path = script if "/" in script and not script.startswith("scripts/") else str(self.repo / script)
        return subprocess.run(
            [path, *args], cwd=cwd or self.tmp, env=full_env, capture_output=True, text=True, check=False, timeout=120
        )

    def calls(self) -> list[list[str]]:
        """Each recorded call: [cwd, arg1, arg2, ...]."""
        if not self.calls_file.exists():
            return []
        return [shlex.split(line) for line in self.calls_file.read_text().splitlines()]

    def run_dir(
        self, protocol: str, role: str, dataset: str, trainer: str, cfg: str, seed: int, shots: int = 16
    ) -> Path:
        if protocol == "fewshot":
            return self.output / "fewshot" / dataset / f"shots_{shots}" / trainer / cfg / f"seed{seed}"
        return self.output / protocol / role / dataset / f"shots_{shots}" / trainer / cfg / f"seed{seed}"


@pytest.fixture
def env(repo: Path, tmp_path: Path) -> Env:
    return Env(repo, tmp_path)


def option(args: list[str], name: str) -> str:
    return args[args.index(name) + 1]


def dry_run_commands(stdout: str) -> list[list[str]]:
    """The train.py commands a --dry-run printed (not its notes)."""
    lines = [line for line in stdout.splitlines() if line.startswith("[dry-run] ")]
    return [shlex.split(line.removeprefix("[dry-run] ")) for line in lines if not line.startswith("[dry-run] note:")]


def write_log(run_dir: Path, text: str) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "log.txt").write_text(text)


# ---------------------------------------------------------------------------------------------
# The files themselves
# ---------------------------------------------------------------------------------------------
def test_script_inventory_and_shell_hygiene() -> None:
    for method in METHODS:
        expected = {*PER_RUN, *SWEEPS, *(FEWSHOT if method in HAS_FEWSHOT else ()), "settings.sh"}
        assert {p.name for p in (REPO_ROOT / "scripts" / method).iterdir()} == expected, method
        for name in expected - {"settings.sh"}:
            path = REPO_ROOT / "scripts" / method / name
            text = path.read_text()
            assert text.startswith("#!/usr/bin/env bash\n"), path
            assert "set -euo pipefail" in text, path
            assert os.access(path, os.X_OK), f"{path} is not executable"
    for path in (REPO_ROOT / "scripts").rglob("*.sh"):
        proc = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True, check=False)
        assert proc.returncode == 0, proc.stderr


def test_referenced_configs_exist_in_the_repo() -> None:
    """The config paths in scripts/*/settings.sh must be real files with OPTIM.MAX_EPOCH."""
    if not (REPO_ROOT / "configs" / "trainers").is_dir():
        pytest.skip("configs/trainers/ is not in this checkout yet")
    import yaml

    named = set()
    for settings in (REPO_ROOT / "scripts").glob("*/settings.sh"):
        named |= {word for word in shlex.split(settings.read_text(), comments=True) if ".yaml" in word}
    assert {w.split("=", 1)[-1] for w in named} == set(CONFIGS)
    for rel in CONFIGS:
        cfg = yaml.safe_load((REPO_ROOT / rel).read_text())
        if rel != "configs/trainers/CoOp/vit_b16.yaml":  # zero-shot: never loaded with --load-epoch
            assert int(cfg["OPTIM"]["MAX_EPOCH"]) > 0, rel


# ---------------------------------------------------------------------------------------------
# Argument errors: usage on stderr, exit 2, nothing run
# ---------------------------------------------------------------------------------------------
ARG_ERRORS = [
    ("base2new_train.sh", [], "expected 2 argument(s) (DATASET SEED [KEY VALUE ...]), got 0"),
    ("base2new_train.sh", ["dtd"], "expected 2 argument(s)"),
    ("base2new_train.sh", ["foo", "1"], "unknown dataset 'foo'. Valid datasets (configs/datasets/<name>.yaml): "),
    ("base2new_train.sh", ["dtd", "0"], "SEED must be a positive integer, got '0'"),
    ("base2new_train.sh", ["imagenet_a", "1"], "'imagenet_a' cannot be used here"),
    ("base2new_test.sh", ["dtd", "x1"], "SEED must be a positive integer, got 'x1'"),
    ("base2new_test.sh", ["DTD", "1"], "unknown dataset 'DTD'"),
    ("xd_train.sh", [], "expected 1 argument(s) (SEED [KEY VALUE ...]), got 0"),
    ("xd_train.sh", ["1.5"], "SEED must be a positive integer, got '1.5'"),
    ("xd_test.sh", ["imagenet", "1"], "'imagenet' cannot be used here: ImageNet is the source dataset"),
    ("xd_test.sh", ["dtd"], "expected 2 argument(s)"),
    ("xd_test.sh", ["dtd", "1", "OPTIM.MAX_EPOCH"], "extra options must come in KEY VALUE pairs"),
    ("fewshot.sh", ["dtd", "3", "1"], "SHOTS must be one of 1 2 4 8 16, got '3'"),
    ("fewshot.sh", ["dtd", "16"], "expected 3 argument(s)"),
    ("fewshot.sh", ["cars", "16", "1"], "unknown dataset 'cars'"),
    ("base2new_all.sh", ["--bogus"], "unknown option '--bogus'"),
    ("xd_all.sh", ["1", "two"], "SEED must be a positive integer, got 'two'"),
    ("fewshot_all.sh", ["--dry-run", "0"], "SEED must be a positive integer, got '0'"),
]


@pytest.mark.parametrize(
    ("method", "script", "args", "message"),
    [
        pytest.param(method, script, args, message, id=f"{method}/{script} {' '.join(args)}")
        for method in METHODS
        for script, args, message in ARG_ERRORS
        if script not in FEWSHOT or method in HAS_FEWSHOT
    ],
)
def test_argument_errors(env: Env, method: str, script: str, args: list[str], message: str) -> None:
    proc = env.run(f"scripts/{method}/{script}", *args)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {message}" in proc.stderr
    assert f"Usage: scripts/{method}/{script} [--dry-run]" in proc.stderr
    assert "DATA=DIR" in proc.stderr and proc.stdout == ""
    assert env.calls() == [] and not env.output.exists()


def test_unknown_dataset_lists_all_15(env: Env) -> None:
    proc = env.run("scripts/mudpt/base2new_train.sh", "imagenet1k", "1")
    listed = proc.stderr.split("Valid datasets (configs/datasets/<name>.yaml): ")[1].splitlines()[0].split()
    assert sorted(listed) == sorted(B2N_DATASETS + DG_TARGETS)


@pytest.mark.parametrize("script", ["mudpt/base2new_test.sh", "coop/fewshot_all.sh", "zsclip/xd_train.sh"])
def test_help(env: Env, script: str) -> None:
    proc = env.run(f"scripts/{script}", "--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith(f"Usage: scripts/{script} [--dry-run] ")
    assert "DATA=DIR           dataset root (default: ./data in the repository)" in proc.stdout


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def test_mudpt_base2new_train_command(env: Env) -> None:
    clip = env.tmp / "ViT-B-16.pt"
    clip.write_bytes(b"")
    proc = env.run("scripts/mudpt/base2new_train.sh", "dtd", "2", "OPTIM.MAX_EPOCH", "2", CLIP_PATH=str(clip))
    assert proc.returncode == 0, proc.stderr
    run_dir = env.run_dir("base2new", "train_base", "dtd", "MuDPT", MUDPT_B2N, 2)
    assert proc.stdout == ""  # train.py prints what it does with the folder
    assert env.calls() == [
        [
            str(env.repo),
            "train.py",
            "--root", str(env.data),
            "--seed", "2",
            "--trainer", "MuDPT",
            "--dataset-config-file", "configs/datasets/dtd.yaml",
            "--config-file", f"configs/trainers/MuDPT/{MUDPT_B2N}.yaml",
            "--output-dir", str(run_dir),
            "DATASET.NUM_SHOTS", "16",
            "DATASET.SUBSAMPLE_CLASSES", "base",
            "MODEL.BACKBONE.PATH", str(clip),
            "TRAIN.CHECKPOINT_FREQ", "1",  # resumable: a checkpoint every epoch, only the newest kept
            "TRAIN.CHECKPOINT_KEEP_LAST", "1",
            "OPTIM.MAX_EPOCH", "2",
        ]
    ]  # fmt: skip


def test_base2new_test_needs_the_trained_model(env: Env) -> None:
    proc = env.run("scripts/mudpt/base2new_test.sh", "dtd", "1")
    train_dir = env.run_dir("base2new", "train_base", "dtd", "MuDPT", MUDPT_B2N, 1)
    assert proc.returncode == 1
    assert f"not trained yet: {train_dir} is missing" in proc.stderr
    assert "Train it first with: scripts/mudpt/base2new_train.sh dtd 1" in proc.stderr
    assert env.calls() == []

    write_log(train_dir, COMPLETE_LOG)
    proc = env.run("scripts/mudpt/base2new_test.sh", "dtd", "1")
    assert proc.returncode == 0, proc.stderr
    (call,) = env.calls()
    test_dir = env.run_dir("base2new", "test_new", "dtd", "MuDPT", MUDPT_B2N, 1)
    assert option(call, "--output-dir") == str(test_dir)
    assert option(call, "--model-dir") == str(train_dir)
    assert "--load-epoch" not in call  # train.py evaluates the last checkpoint the training run wrote
    assert "--eval-only" in call
    assert call[-4:] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "new"]


def test_xd_test_evaluates_the_source_model(env: Env) -> None:
    write_log(env.run_dir("xd", "train", "imagenet", "MuDPT", MUDPT_XD, 1), COMPLETE_LOG)
    assert env.run("scripts/mudpt/xd_test.sh", "imagenet_r", "1", "OPTIM.MAX_EPOCH", "2").returncode == 0
    (call,) = env.calls()
    assert option(call, "--model-dir") == str(env.run_dir("xd", "train", "imagenet", "MuDPT", MUDPT_XD, 1))
    assert option(call, "--output-dir") == str(env.run_dir("xd", "test", "imagenet_r", "MuDPT", MUDPT_XD, 1))
    assert option(call, "--dataset-config-file") == "configs/datasets/imagenet_r.yaml" and "--load-epoch" not in call
    assert call[-2:] == ["OPTIM.MAX_EPOCH", "2"]


def test_every_run_goes_to_train_py_which_skips_resumes_or_refuses(env: Env) -> None:
    run_dir = env.run_dir("base2new", "train_base", "eurosat", "MuDPT", MUDPT_B2N, 1)
    for log in (COMPLETE_LOG, INCOMPLETE_LOG):  # the script no longer decides from the log
        write_log(run_dir, log)
        proc = env.run("scripts/mudpt/base2new_train.sh", "eurosat", "1")
        assert (proc.returncode, proc.stdout) == (0, "")
    first, second = env.calls()
    assert first == second and option(first, "--output-dir") == str(run_dir) and "--restart" not in first
    proc = env.run("scripts/mudpt/base2new_train.sh", "--restart", "eurosat", "1")
    assert proc.returncode == 0 and "--restart" in env.calls()[-1]
    proc = env.run("scripts/mudpt/base2new_all.sh", "--restart", "1")
    assert proc.returncode == 2 and "error: --restart applies to one run: pass it to that run's script" in proc.stderr


def test_real_run_needs_the_data_root(env: Env) -> None:
    proc = env.run("scripts/coop/xd_train.sh", "1", DATA=str(env.tmp / "nowhere"))
    assert proc.returncode == 1
    assert f"dataset root not found: {env.tmp / 'nowhere'} (set DATA=" in proc.stderr
    assert env.calls() == []


def test_relative_paths_from_any_directory(env: Env) -> None:
    """Run through a relative script path from another directory: paths are the caller's."""
    (env.tmp / "clip.pt").write_bytes(b"")
    (env.tmp / "my.yaml").write_text("OPTIM:\n  MAX_EPOCH: 4\n")
    script = os.path.relpath(env.repo / "scripts" / "mudpt" / "xd_train.sh", env.tmp)
    proc = env.run(script, "5", DATA="data", OUTPUT="out", CLIP_PATH="clip.pt", CFG="my.yaml")
    assert proc.returncode == 0, proc.stderr
    (call,) = env.calls()
    assert call[0] == str(env.repo)  # train.py runs from the repository root
    assert option(call, "--root") == str(env.data)
    assert option(call, "--config-file") == str(env.tmp / "my.yaml")
    assert option(call, "--output-dir") == str(env.tmp / "out/xd/train/imagenet/shots_16/MuDPT/my/seed5")
    assert option(call, "MODEL.BACKBONE.PATH") == str(env.tmp / "clip.pt")
    assert call[-10:-6] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "all"]
    assert call[-4:] == ["TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1"]


def test_missing_config_file(env: Env) -> None:
    proc = env.run("scripts/cocoop/base2new_train.sh", "dtd", "1", CFG="configs/trainers/CoCoOp/nope.yaml")
    assert proc.returncode == 1
    assert "config file not found: configs/trainers/CoCoOp/nope.yaml" in proc.stderr


# ---------------------------------------------------------------------------------------------
# Sweeps (--dry-run)
# ---------------------------------------------------------------------------------------------
def test_mudpt_base2new_sweep_dry_run(env: Env) -> None:
    done_train = env.run_dir("base2new", "train_base", "dtd", "MuDPT", MUDPT_B2N, 1)
    done_test = env.run_dir("base2new", "test_new", "dtd", "MuDPT", MUDPT_B2N, 1)
    write_log(done_train, COMPLETE_LOG)
    write_log(done_test, COMPLETE_LOG)
    proc = env.run("scripts/mudpt/base2new_all.sh", "--dry-run", "1")
    assert proc.returncode == 0, proc.stderr
    assert env.calls() == []  # nothing ran
    commands = dry_run_commands(proc.stdout)
    assert len(commands) == 2 * (len(B2N_DATASETS) - 1)
    assert f"Skipping {done_train}: already complete (train.py checks that its config is unchanged)" in proc.stdout
    assert f"Skipping {done_test}: already complete" in proc.stdout
    trains, tests = commands[0::2], commands[1::2]
    assert [option(c, "--dataset-config-file") for c in trains] == [
        f"configs/datasets/{d}.yaml" for d in B2N_DATASETS if d != "dtd"
    ]
    assert all(c[-8:-4] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "base"] for c in trains)
    assert all(c[-4:] == ["TRAIN.CHECKPOINT_FREQ", "1", "TRAIN.CHECKPOINT_KEEP_LAST", "1"] for c in trains)
    assert all(c[-4:] == ["DATASET.NUM_SHOTS", "16", "DATASET.SUBSAMPLE_CLASSES", "new"] for c in tests)
    assert all("--load-epoch" not in c and "--eval-only" in c for c in tests)
    assert option(tests[0], "--model-dir") == option(trains[0], "--output-dir")
    first_dir = env.run_dir("base2new", "train_base", "imagenet", "MuDPT", MUDPT_B2N, 1)
    assert option(trains[0], "--output-dir") == str(first_dir)
    assert proc.stdout.count("[dry-run] note: ") == len(tests)  # their train runs are not done


def test_coop_base2new_imagenet_config(env: Env) -> None:
    proc = env.run("scripts/coop/base2new_all.sh", "--dry-run", "3")
    commands = dry_run_commands(proc.stdout)
    configs = {option(c, "--dataset-config-file"): option(c, "--config-file") for c in commands}
    assert configs.pop("configs/datasets/imagenet.yaml") == "configs/trainers/CoOp/vit_b16_ep50_ctxv1.yaml"
    assert set(configs.values()) == {"configs/trainers/CoOp/vit_b16_ctxv1.yaml"}
    imagenet_test = commands[1]
    assert "/CoOp/vit_b16_ep50_ctxv1/seed3" in option(imagenet_test, "--output-dir")


def test_zsclip_xd_sweep_dry_run(env: Env) -> None:
    proc = env.run("scripts/zsclip/xd_all.sh", "1", "2", "--dry-run")  # flags may come anywhere
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert len(commands) == 2 * (1 + 10 + 4)
    assert all("--eval-only" in c and "--model-dir" not in c for c in commands)
    assert {option(c, "--trainer") for c in commands} == {"ZeroshotCLIP"}
    source_dir = env.run_dir("xd", "train", "imagenet", "ZeroshotCLIP", "vit_b16", 1)
    assert option(commands[0], "--output-dir") == str(source_dir)
    targets = [option(c, "--dataset-config-file") for c in commands[1:15]]
    assert targets == [f"configs/datasets/{d}.yaml" for d in B2N_DATASETS[1:] + DG_TARGETS]
    assert option(commands[15], "--seed") == "2"


def test_zsclip_base2new_evaluates_base_then_new(env: Env) -> None:
    assert env.run("scripts/zsclip/base2new_train.sh", "ucf101", "1").returncode == 0
    assert env.run("scripts/zsclip/base2new_test.sh", "ucf101", "1").returncode == 0
    base, new = env.calls()
    assert "--eval-only" in base and base[-2:] == ["DATASET.SUBSAMPLE_CLASSES", "base"]
    assert "--eval-only" in new and new[-2:] == ["DATASET.SUBSAMPLE_CLASSES", "new"] and "--model-dir" not in new
    new_dir = env.run_dir("base2new", "test_new", "ucf101", "ZeroshotCLIP", "vit_b16", 1)
    assert option(new, "--output-dir") == str(new_dir)


def test_coop_fewshot_sweep_dry_run(env: Env) -> None:
    proc = env.run("scripts/coop/fewshot_all.sh", "--dry-run", "1")
    assert proc.returncode == 0, proc.stderr
    commands = dry_run_commands(proc.stdout)
    assert len(commands) == len(B2N_DATASETS) * 5
    for command in commands:
        shots = int(option(command, "DATASET.NUM_SHOTS"))
        dataset = Path(option(command, "--dataset-config-file")).stem
        # CoOp's epochs by shots: 200 for 8/16, 100 for 2/4, 50 for 1 shot and for ImageNet.
        cfg = "vit_b16_ep50" if dataset == "imagenet" or shots == 1 else "vit_b16_ep100" if shots in (2, 4) else "vit_b16"
        run_dir = env.run_dir("fewshot", "", dataset, "CoOp", cfg, 1, shots)
        assert option(command, "--output-dir") == str(run_dir)
        assert option(command, "TRAINER.COOP.N_CTX") == "16"
        assert option(command, "--config-file") == f"configs/trainers/CoOp/{cfg}.yaml"
    assert [int(option(c, "DATASET.NUM_SHOTS")) for c in commands[:5]] == [1, 2, 4, 8, 16]


def test_dry_run_env_var_on_a_single_run(env: Env) -> None:
    proc = env.run("scripts/cocoop/xd_train.sh", "1", DRY_RUN="1")
    assert proc.returncode == 0 and env.calls() == []
    (command,) = dry_run_commands(proc.stdout)
    assert option(command, "--config-file") == "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml"


def test_xd_test_needs_the_source_model(env: Env) -> None:
    proc = env.run("scripts/coop/xd_test.sh", "imagenet_sketch", "2")
    assert proc.returncode == 1
    assert "Train it first with: scripts/coop/xd_train.sh 2" in proc.stderr
    assert env.calls() == []
