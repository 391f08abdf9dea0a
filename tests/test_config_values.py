"""Bad config values are one line each (train.py exits 1, nothing traced back), where the config is
built or, for the prompts' length, where the prompts are tokenised; the official rules of each
method's CTX_INIT; and quiet output where nothing is wrong: the PREC note only where the user asked
for that precision, once per process, no empty tensorboard folder, no "(default: )" in --help."""
from __future__ import annotations

import importlib.util
import logging
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY_CLIP, tiny_run_opts
from engine.seam import ConfigError
from runconfig import build_config
from trainers.clip_loader import build_tiny_clip, freeze
from trainers.clip_prompting import HandcraftedTextFeatures, count_tokens
from trainers.factory import create_model
from trainers.keys import user_set

REPO = Path(__file__).resolve().parents[1]
DTD = str(REPO / "configs" / "datasets" / "dtd.yaml")
COOP = str(REPO / "configs" / "trainers" / "CoOp" / "vit_b16_ep50_ctxv1.yaml")
NAMES = ["dog", "golden retriever", "cat", "sea lion"]


@pytest.fixture(scope="module")
def clip_model():
    return freeze(build_tiny_clip(**TINY_CLIP))


def _train(run_train, capsys, tmp_path, *args: str, config: str = COOP, trainer: str = "CoOp") -> tuple[int, str, str]:
    argv = ["--root", str(tmp_path / "data"), "--trainer", trainer, "--dataset-config-file", DTD, "--config-file", config,
            "--output-dir", str(tmp_path / "out"), *args]  # fmt: skip
    code = run_train(argv)
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(err: str) -> str:
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err[len("error: ") : -1]


# --- 2. every bad config value is one line -----------------------------------------------------------
@pytest.mark.parametrize(
    "opts,message",
    [
        (["OPTIM.LR", "-0.01"], "OPTIM.LR = -0.01 is not valid; use a finite learning rate >= 0 (e.g. `OPTIM.LR 0.002`)."),
        (["DATALOADER.TRAIN_X.BATCH_SIZE", "0"], "DATALOADER.TRAIN_X.BATCH_SIZE = 0 is not valid; use a batch size >= 1"),
        (["DATALOADER.TEST.BATCH_SIZE", "-4"], "DATALOADER.TEST.BATCH_SIZE = -4 is not valid; use a batch size >= 1"),
        (["TRAIN.PRINT_FREQ", "0"], "TRAIN.PRINT_FREQ = 0 is not valid; use a number of batches >= 1"),
        (["OPTIM.MAX_EPOCH", "0"], "OPTIM.MAX_EPOCH = 0 is not valid: CoOp trains for OPTIM.MAX_EPOCH epochs, and with none its untrained"),
        (["OPTIM.MAX_EPOCH", "-3"], "OPTIM.MAX_EPOCH = -3 is not valid: CoOp trains for OPTIM.MAX_EPOCH epochs"),
        (["OPTIM", "5"], "OPTIM (in the command-line overrides) is a section (its keys: NAME, LR, WEIGHT_DECAY, "),
        (["OPTIM.LR.X", "1"], "OPTIM.LR.X (in the command-line overrides): OPTIM.LR is a value, not a section; override it as `OPTIM.LR VALUE`."),
    ],
)
def test_bad_values_are_one_line(tmp_path, run_train, capsys, opts, message):
    code, _, err = _train(run_train, capsys, tmp_path, *opts)
    assert code == 1 and _one_line_error(err).startswith(message)
    assert not (tmp_path / "out").exists()  # refused before anything is written


@pytest.mark.parametrize(
    "text,message",
    [
        ("- OPTIM\n- LR\n", "is not a config file: its YAML is a list, not KEY: value mappings"),
        ("0.002\n", "is not a config file: its YAML is a single value (0.002), not KEY: value mappings"),
        ("OPTIM: 5\n", "OPTIM in {path} is a section (its keys: NAME, LR, WEIGHT_DECAY, MOMENTUM, SGD_DAMPNING, SGD_NESTEROV, ...), not a value (got 5)"),
        ("OPTIM:\nTRAINER:\n  COOP:\n    N_CTX: 4\n", "OPTIM in {path} is a section (its keys: NAME, LR,"),
        ("OPTIM:\n  LR:\n    VALUE: 0.1\n", "OPTIM.LR in {path} is a value (float, default 0.0003), not a section: write `LR: <value>` on one line."),
    ],
)
def test_config_files_that_are_not_key_value_mappings(tmp_path, run_train, capsys, text, message):
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    code, _, err = _train(run_train, capsys, tmp_path, config=str(path))
    assert code == 1 and message.format(path=path) in _one_line_error(err)


def test_an_empty_config_file_is_a_warning(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    path = tmp_path / "empty.yaml"
    path.write_text("# nothing here yet\n")
    clip_normalisation = ["INPUT.PIXEL_MEAN", "[0.48145466, 0.4578275, 0.40821073]", "INPUT.PIXEL_STD", "[0.26862954, 0.26130258, 0.27577711]"]
    argv = ["--root", dtd_data.root, "--trainer", "CoOp", "--dataset-config-file", DTD, "--config-file", str(path),
            "--output-dir", str(tmp_path / "out"), "--no-train", *tiny_run_opts(tiny_clip_file), *clip_normalisation]  # fmt: skip
    assert run_train(argv) == 0
    out = capsys.readouterr().out
    warning = f"Warning: {path} sets nothing (it is empty or holds only comments): the run uses the other configs and the defaults.\n"
    assert out.count(warning) == 1


def test_methods_that_do_not_train_by_epochs_do_not_read_max_epoch():
    for trainer in ("ZeroshotCLIP", "LinearProbeCLIP"):
        assert build_config(trainer=trainer, dataset_config_file=DTD, opts=["OPTIM.MAX_EPOCH", "0"]).OPTIM.MAX_EPOCH == 0
    with pytest.raises(ConfigError, match="OPTIM.MAX_EPOCH = 0 is not valid: MuDPT trains"):
        build_config(trainer="MuDPT", dataset_config_file=DTD, opts=["OPTIM.MAX_EPOCH", "0"])


# --- 7. quiet where nothing is wrong: notes only where the user asked ----------------------------
def test_keys_the_user_set(tmp_path):
    recipe = build_config(trainer="CoOp", config_file=COOP, dataset_config_file=DTD)
    assert not user_set(recipe.TRAINER.COOP, "PREC")  # a recipe's PREC
    asked = build_config(trainer="CoOp", config_file=COOP, dataset_config_file=DTD, opts=["TRAINER.COOP.PREC", "fp16"])
    assert user_set(asked.TRAINER.COOP, "PREC") and user_set(asked.clone().TRAINER.COOP, "PREC")
    mine = tmp_path / "mine.yaml"
    mine.write_text("TRAINER:\n  COOP:\n    PREC: fp16\nOPTIM:\n  LR: 0.01\n")
    own = build_config(trainer="CoOp", config_file=str(mine), dataset_config_file=DTD)
    assert user_set(own.TRAINER.COOP, "PREC") and user_set(own.OPTIM, "LR") and not user_set(own.OPTIM, "NAME")
    official = tmp_path / "kgcoop.yaml"  # KgCoOp's official spelling reads into its own node
    official.write_text("TRAINER:\n  COOP:\n    PREC: fp16\n")
    assert user_set(build_config(trainer="KgCoOp", config_file=str(official), dataset_config_file=DTD).TRAINER.KGCOOP, "PREC")
    complete = tmp_path / "config.yaml"  # a run's config.yaml (or sweep.py's planned file) holds every key: none asked for
    complete.write_text(asked.dump())
    assert not user_set(build_config(trainer="CoOp", config_file=str(complete)).TRAINER.COOP, "PREC")


def test_precision_note_only_where_asked_and_once_per_process(clip_model, caplog, monkeypatch):
    monkeypatch.setattr("trainers.precision._NOTED", set())
    recipe = build_config(trainer="CoOp", config_file=COOP, dataset_config_file=DTD, opts=["INPUT.SIZE", "(32, 32)"])
    asked = build_config(trainer="CoOp", config_file=COOP, dataset_config_file=DTD, opts=["INPUT.SIZE", "(32, 32)", "TRAINER.COOP.PREC", "amp"])
    with caplog.at_level(logging.INFO, logger="mudpt"):
        assert str(create_model(recipe, NAMES, clip_model).precision) == "fp32"
        assert not [r for r in caplog.records if "needs a CUDA device" in r.getMessage()]  # the recipe's amp: no note
        for _ in range(3):
            create_model(asked, NAMES, clip_model)
    (note,) = [r for r in caplog.records if "needs a CUDA device" in r.getMessage()]
    assert note.getMessage() == "Note: TRAINER.COOP.PREC 'amp' needs a CUDA device; running in fp32 on cpu" and note.console
