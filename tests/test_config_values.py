"""Bad config values are one line each (train.py exits 1, nothing traced back), where the config is
built or, for the prompts' length, where the prompts are tokenised; the official rules of each
method's CTX_INIT; and quiet output where nothing is wrong: the PREC note only where the user asked
for that precision, once per process, no empty tensorboard folder, no "(default: )" in --help."""
from __future__ import annotations

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


# --- the prompts' length: checked where they are tokenised, for every method with text context --------
# (trainer, its key of the text context length, keys that fit the tiny CLIP)
TEXT_CONTEXT = [
    ("CoOp", "N_CTX", {}),
    ("CoCoOp", "N_CTX", {}),
    ("KgCoOp", "N_CTX", {}),
    ("MaPLe", "N_CTX", {"PROMPT_DEPTH": "3"}),
    ("IVLP", "N_CTX_TEXT", {"PROMPT_DEPTH_TEXT": "3", "PROMPT_DEPTH_VISION": "3"}),
    ("PromptSRC", "N_CTX_TEXT", {"PROMPT_DEPTH_TEXT": "3", "PROMPT_DEPTH_VISION": "3"}),
    ("MuDPT", "N_CTX", {"PROMPT_DEPTH": "3", "INJ_WIDTH": "64", "INJ_HEADS": "2"}),
]


def _method_cfg(trainer: str, keys: dict[str, str]):
    node = f"TRAINER.{trainer.upper()}"
    opts = ["INPUT.SIZE", "(32, 32)", f"{node}.CTX_INIT", '""']
    for key, value in keys.items():
        opts += [f"{node}.{key}", value]
    return build_config(trainer=trainer, dataset_config_file=DTD, opts=opts)


@pytest.mark.parametrize("trainer,key,extra", TEXT_CONTEXT, ids=[t for t, _, _ in TEXT_CONTEXT])
def test_context_too_long_for_clip_names_the_largest_that_fits(clip_model, trainer, key, extra):
    longest = max(count_tokens(f"{name}.") for name in NAMES)  # "golden retriever."
    fits = clip_model.context_length - 2 - longest  # SOS and EOT
    create_model(_method_cfg(trainer, {key: str(fits), **extra}), NAMES, clip_model)  # the largest fits
    with pytest.raises(ConfigError) as e:
        create_model(_method_cfg(trainer, {key: str(fits + 1), **extra}), NAMES, clip_model)
    full = f"TRAINER.{trainer.upper()}.{key}"
    assert str(e.value) == (
        f'{full} = {fits + 1} is too large: with the longest class name ("golden retriever") the prompt is '
        f"{clip_model.context_length + 1} tokens and CLIP reads at most {clip_model.context_length}. The largest {full} that fits is {fits}."
    )


def test_context_words_too_long_and_handcrafted_prompts_too_long(clip_model):
    words = " ".join(["photo"] * 80)
    cfg = build_config(trainer="CoOp", dataset_config_file=DTD, opts=["INPUT.SIZE", "(32, 32)", "TRAINER.COOP.CTX_INIT", words])
    with pytest.raises(ConfigError, match=r'^TRAINER.COOP.CTX_INIT "photo photo .*" with the longest class name \("golden retriever"\) makes a '
                                          r"prompt of 85 tokens; CLIP reads at most 77. Shorten TRAINER.COOP.CTX_INIT or the class name by 8 tokens.$"):  # fmt: skip
        create_model(cfg, NAMES, clip_model)
    with pytest.raises(ConfigError, match=r'^The prompt "a photo of a .*" is 85 tokens with its start and end tokens; CLIP reads at most 77. '
                                          r"Shorten the class name \(or the prompt template\).$"):  # fmt: skip
        HandcraftedTextFeatures(clip_model, ["cat", " ".join(["lion"] * 78)], ["a photo of a {}."])


def test_context_too_long_is_one_line_from_train_py(tmp_path, dtd_data, tiny_clip_file, run_train, capsys):
    argv = ["--root", dtd_data.root, "--trainer", "CoOp", "--dataset-config-file", DTD, "--config-file", COOP,
            "--output-dir", str(tmp_path / "out"), *tiny_run_opts(tiny_clip_file), "TRAINER.COOP.CTX_INIT", '""',
            "TRAINER.COOP.N_CTX", "100"]  # fmt: skip
    assert run_train(argv) == 1
    err = _one_line_error(capsys.readouterr().err)
    longest = max(count_tokens(f"{name}.") for name in dtd_data.classnames)
    assert err.startswith("TRAINER.COOP.N_CTX = 100 is too large: with the longest class name (")
    assert err.endswith(f"The largest TRAINER.COOP.N_CTX that fits is {77 - 2 - longest}.")


# --- 6. fidelity edges: how each method uses CTX_INIT ----------------------------------------------
LONG_INIT = "a photo of a big dog"  # 6 tokens, so that N_CTX 5 could start from its words


@pytest.mark.parametrize(
    "trainer,key,extra",
    [t for t in TEXT_CONTEXT if t[0] in ("MaPLe", "IVLP", "PromptSRC")],
    ids=["MaPLe", "IVLP", "PromptSRC"],
)
def test_maple_ivlp_promptsrc_use_ctx_init_only_up_to_4_context_tokens(clip_model, caplog, trainer, key, extra):
    node = f"TRAINER.{trainer.upper()}"

    def model(n_ctx: int, ctx_init: str = LONG_INIT):
        opts = ["INPUT.SIZE", "(32, 32)", f"{node}.CTX_INIT", ctx_init, f"{node}.{key}", str(n_ctx)]
        for k, v in extra.items():
            opts += [f"{node}.{k}", v]
        torch.manual_seed(0)
        return create_model(build_config(trainer=trainer, dataset_config_file=DTD, opts=opts), NAMES, clip_model)

    four = model(4).learner  # <= 4: from the words, which stay in the prompt
    assert four.prompts.prompt_texts[0] == f"{LONG_INIT} dog."
    assert torch.equal(four.ctx.detach(), four.prompts.context_embedding)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mudpt"):
        five = model(5).learner  # > 4: random context, "X" placeholders, as the official code
    assert five.prompts.prompt_texts[0] == "X X X X X dog."
    notes = [r for r in caplog.records if "is not used and the context starts random" in r.getMessage()]
    assert len(notes) == 1 and notes[0].console
    assert notes[0].getMessage() == (
        f'Note: {node}.{key} 5 > 4: {node}.CTX_INIT "{LONG_INIT}" is not used and the context starts random, as in the '
        f'official code (CTX_INIT "" says so; {key} <= 4 starts from its words).'
    )
    random = model(5, "").learner  # the same model as CTX_INIT "" (same draws)
    assert torch.equal(five.ctx, random.ctx) and five.prompts.prompt_texts == random.prompts.prompt_texts
    model(8, "a photo of a")  # the recipe's CTX_INIT with 8 tokens: the official run, no longer an error


def test_mudpt_keeps_ctx_init_beyond_4_tokens_as_its_released_code(clip_model):
    cfg = _method_cfg("MuDPT", {"PROMPT_DEPTH": "3", "INJ_WIDTH": "64", "INJ_HEADS": "2", "N_CTX": "5"})
    cfg.defrost()
    cfg.TRAINER.MUDPT.CTX_INIT = LONG_INIT
    learner = create_model(cfg, NAMES, clip_model).learner
    assert learner.prompts.prompt_texts[0] == f"{LONG_INIT} dog."
    assert torch.equal(learner.ctx.detach(), learner.prompts.context_embedding)


@pytest.mark.parametrize("trainer", ["CoOp", "CoCoOp", "KgCoOp"])
def test_n_ctx_replaced_by_the_words_of_ctx_init_is_said_in_one_line(clip_model, caplog, trainer):
    node = f"TRAINER.{trainer.upper()}"
    message = (
        f'Note: {node}.N_CTX 16 is replaced by the 4 words of {node}.CTX_INIT "a photo of a" (one context vector per word, '
        f'as in the official code); set N_CTX 4 to say so, or CTX_INIT "" for 16 random vectors.'
    )
    for opts, console in (([], False), ([f"{node}.N_CTX", "16"], True)):  # the default 16, then asked for
        cfg = build_config(trainer=trainer, dataset_config_file=DTD, opts=["INPUT.SIZE", "(32, 32)", f"{node}.CTX_INIT", "a photo of a", *opts])
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mudpt"):
            assert create_model(cfg, NAMES, clip_model).learner.n_ctx == 4
        (note,) = [r for r in caplog.records if r.getMessage() == message]
        assert getattr(note, "console", False) is console  # on the console only where the user set N_CTX
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="mudpt"):
        create_model(build_config(trainer=trainer, dataset_config_file=DTD, opts=["INPUT.SIZE", "(32, 32)", f"{node}.N_CTX", "4",
                                  f"{node}.CTX_INIT", "a photo of a"]), NAMES, clip_model)  # fmt: skip
    assert not [r for r in caplog.records if "is replaced by the" in r.getMessage()]


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


# --- 7. no empty tensorboard folder, no empty defaults in --help -----------------------------------
def test_no_tensorboard_folder_without_tensorboard(tmp_path, monkeypatch):
    from engine.trainer import TrainerBase

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)  # as where it is not installed
    trainer = TrainerBase()
    trainer.init_writer(str(tmp_path / "tensorboard"))
    assert trainer._writer is None and not (tmp_path / "tensorboard").exists()


def test_tensorboard_writes_its_folder_where_it_is_installed(tmp_path, monkeypatch):
    """Where tensorboard imports, its writer gets the run's folder (a stand-in module: tensorboard is
    not a requirement, so CI has none)."""
    import types

    from engine.trainer import TrainerBase

    made = []

    class SummaryWriter:
        def __init__(self, log_dir):
            made.append(log_dir)
            self.log_dir = log_dir

        def close(self):
            made.append("closed")

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=SummaryWriter))
    trainer = TrainerBase()
    trainer.init_writer(str(tmp_path / "tensorboard"))
    assert isinstance(trainer._writer, SummaryWriter)
    trainer.close_writer()
    assert made == [str(tmp_path / "tensorboard"), "closed"]


def test_train_help_has_no_empty_defaults(capsys):
    import train

    with pytest.raises(SystemExit) as e:
        train.parse_args(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--load-epoch" in out
    for empty in ("(default: )", "(default: None)", "(default: False)"):
        assert empty not in out
