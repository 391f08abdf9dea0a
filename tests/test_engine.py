"""The built-in engine against Dassl's observable behaviour (dassl_api.md): LR schedules,
checkpoints, resume, evaluator output, few-shot sampling, loaders and the trainer loop."""
from __future__ import annotations

import json
import math
import os
import pickle
import random
from collections import namedtuple

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image

from conftest import shared_path
from engine.checkpoint import load_checkpoint, save_checkpoint
from engine.config import get_cfg_default
from engine.data import DATASET_REGISTRY, DatasetBase, Datum, build_data_loader
from engine.errors import CheckpointError, DataError, NonFiniteLossError
from engine.evaluation import Classification, compute_accuracy, macro_f1_score
from engine.optim import build_lr_scheduler, build_optimizer
from engine.registry import Registry
from engine.trainer import TRAINER_REGISTRY, TrainerX, build_trainer
from engine.transforms import build_transform
from engine.utils import setup_logger


# --------------------------------------------------------------------------------------------
# LR schedules: the per-epoch LR measured with real Dassl (dassl_api.md §7), LR 0.002, 5 epochs.
# --------------------------------------------------------------------------------------------
def _optim_cfg(**kw):
    cfg = get_cfg_default()
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.002
    cfg.OPTIM.MAX_EPOCH = 5
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    for k, v in kw.items():
        setattr(cfg.OPTIM, k, v)
    return cfg.OPTIM


def _lrs_per_epoch(optim_cfg, epochs=None):
    """LR used during each epoch, then the LR held after the final step (as a trainer steps)."""
    opt = build_optimizer([nn.Parameter(torch.zeros(1))], optim_cfg)
    sched = build_lr_scheduler(opt, optim_cfg)
    lrs = []
    for _ in range(epochs or optim_cfg.MAX_EPOCH):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs, opt.param_groups[0]["lr"]


DASSL_LR_TABLE = [
    # (settings, lr per epoch 0..4, lr after the last step)
    (dict(), [2.0e-3, 1.8090e-3, 1.3090e-3, 6.9098e-4, 1.9098e-4], 0.0),
    (dict(WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5), [1e-5, 2.0e-3, 1.8090e-3, 1.3090e-3, 6.9098e-4], 1.9098e-4),
    (dict(WARMUP_EPOCH=2, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5), [1e-5, 1e-5, 2.0e-3, 1.8090e-3, 1.3090e-3], None),
    (dict(WARMUP_EPOCH=2, WARMUP_TYPE="linear", WARMUP_MIN_LR=1e-5), [1e-5, 1.0e-3, 2.0e-3, 1.8090e-3, 1.3090e-3], None),
    (dict(WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5, WARMUP_RECOUNT=False), [1e-5, 2.0e-3, 1.4472e-3, 7.6393e-4, 2.1115e-4], None),
    (dict(LR_SCHEDULER="single_step"), [2e-3] * 5, 2e-4),
    (dict(MAX_EPOCH=1, WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5), [1e-5], 2e-3),
]


@pytest.mark.parametrize("settings,expected,after", DASSL_LR_TABLE)
def test_lr_per_epoch_matches_dassl_table(settings, expected, after):
    lrs, last = _lrs_per_epoch(_optim_cfg(**settings))
    assert lrs == pytest.approx(expected, rel=1e-4)
    if after is not None:
        assert last == pytest.approx(after, rel=1e-4, abs=1e-12)


def test_lr_of_the_mudpt_recipe_is_cosine_shifted_by_the_warmup_epoch():
    cfg = _optim_cfg(LR=0.0025, MAX_EPOCH=10, WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    lrs, _ = _lrs_per_epoch(cfg)
    expected = [1e-5] + [0.5 * 0.0025 * (1 + math.cos(math.pi * (e - 1) / 10)) for e in range(1, 10)]
    assert lrs == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("stop_after", [1, 2, 3])
def test_resumed_schedule_drives_the_live_optimizer(stop_after, tmp_path):
    """Dassl's resume bug: its successor steps a pickled optimizer copy and the live LR freezes."""
    cfg = _optim_cfg(MAX_EPOCH=6, WARMUP_EPOCH=1, WARMUP_TYPE="constant", WARMUP_CONS_LR=1e-5)
    reference, _ = _lrs_per_epoch(cfg)

    p = nn.Parameter(torch.zeros(1))
    opt = build_optimizer([p], cfg)
    sched = build_lr_scheduler(opt, cfg)
    for _ in range(stop_after):
        opt.step()
        sched.step()
    path = tmp_path / "ckpt.pth"
    torch.save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}, path)

    ckpt = torch.load(path, weights_only=True)  # plain state only
    p2 = nn.Parameter(torch.zeros(1))
    opt2 = build_optimizer([p2], cfg)
    sched2 = build_lr_scheduler(opt2, cfg)
    opt2.load_state_dict(ckpt["optimizer"])
    sched2.load_state_dict(ckpt["scheduler"])
    resumed = []
    for _ in range(stop_after, 6):
        resumed.append(opt2.param_groups[0]["lr"])
        opt2.step()
        sched2.step()
    assert resumed == pytest.approx(reference[stop_after:], rel=1e-9)


def test_bad_optimizer_and_scheduler_names_list_the_choices():
    with pytest.raises(ValueError, match=r"Unknown optimizer 'sgdd' \(OPTIM.NAME\).*Did you mean 'sgd'"):
        build_optimizer([nn.Parameter(torch.zeros(1))], _optim_cfg(NAME="sgdd"))
    opt = build_optimizer([nn.Parameter(torch.zeros(1))], _optim_cfg())
    with pytest.raises(ValueError, match="cosine"):
        build_lr_scheduler(opt, _optim_cfg(LR_SCHEDULER="cosin"))
    with pytest.raises(ValueError, match="OPTIM.WARMUP_TYPE"):
        build_lr_scheduler(opt, _optim_cfg(WARMUP_EPOCH=1, WARMUP_TYPE="exp"))


def test_optimizer_holds_exactly_the_given_tensors():
    a, b = nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(3))
    opt = build_optimizer([a, b], _optim_cfg())
    assert [id(p) for p in opt.param_groups[0]["params"]] == [id(a), id(b)]
    assert isinstance(opt, torch.optim.SGD) and opt.defaults["momentum"] == 0.9 and opt.defaults["weight_decay"] == 5e-4


# --------------------------------------------------------------------------------------------
# Registry
# --------------------------------------------------------------------------------------------
def test_registry_rejects_duplicates_and_suggests_names():
    reg = Registry("THING")

    @reg.register()
    class CoOp:
        pass

    with pytest.raises(KeyError, match="already registered"):
        reg.register(CoOp)
    with pytest.raises(KeyError, match=r"Unknown .*'CoOP'.*Registered: CoOp\. Did you mean 'CoOp'\?"):
        reg.get("CoOP")
    assert reg.get("CoOp") is CoOp and reg.registered_names() == ["CoOp"]


# --------------------------------------------------------------------------------------------
# Checkpoints
# --------------------------------------------------------------------------------------------
def test_checkpoint_is_plain_and_pointer_names_the_newest(tmp_path, capsys):
    state = {"state_dict": {"module.ctx": torch.ones(2, 3)}, "epoch": 3, "optimizer": None, "scheduler": None, "val_result": None}
    path = save_checkpoint(state, str(tmp_path / "prompt_learner"))
    assert path.endswith("model.pth.tar-3")
    assert (tmp_path / "prompt_learner" / "checkpoint").read_text() == "model.pth.tar-3\n"
    loaded = torch.load(path, weights_only=True)
    assert list(loaded["state_dict"]) == ["ctx"]  # "module." stripped
    assert f"Checkpoint saved to {path}" in capsys.readouterr().out
    assert not [f for f in os.listdir(tmp_path / "prompt_learner") if f.endswith(".tmp")]


def test_load_checkpoint_reads_dassl_style_files_with_pickled_torch_objects(tmp_path):
    """Real Dassl stores the successor scheduler object (bound to the optimizer object)."""
    p = nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD([p], lr=0.1, momentum=0.9)
    cosine = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 5.0)
    sched_state = {"successor": cosine, "warmup_epoch": 1, "cons_lr": 1e-5, "last_epoch": 0}
    path = tmp_path / "model.pth.tar-5"
    torch.save({"state_dict": {"ctx": torch.ones(2)}, "epoch": 5, "optimizer": opt.state_dict(), "scheduler": sched_state, "val_result": None}, path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    ckpt = load_checkpoint(str(path))
    assert torch.equal(ckpt["state_dict"]["ctx"], torch.ones(2)) and ckpt["epoch"] == 5


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_load_checkpoint_refuses_arbitrary_globals(tmp_path):
    path = tmp_path / "bad.pth"
    torch.save({"state_dict": {}, "payload": _Evil()}, path)
    with pytest.raises(CheckpointError, match=r"Refusing to load .*posix.system|Refusing to load .*os.system"):
        load_checkpoint(str(path))
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        load_checkpoint(str(tmp_path / "missing"))
    (tmp_path / "empty").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r'"[^"]*empty" is empty \(0 bytes\)'):
        load_checkpoint(str(tmp_path / "empty"))
    (tmp_path / "noise").write_bytes(os.urandom(256))
    with pytest.raises(CheckpointError, match=r"Cannot read the checkpoint .*noise") as err:
        load_checkpoint(str(tmp_path / "noise"))
    assert "weights_only=False" not in str(err.value)  # torch's advice to run the file's code is not relayed


# --------------------------------------------------------------------------------------------
# Evaluator and metrics
# --------------------------------------------------------------------------------------------
def _eval_cfg(**test_kw):
    cfg = get_cfg_default()
    for k, v in test_kw.items():
        setattr(cfg.TEST, k, v)
    return cfg


def test_result_block_is_printed_verbatim(capsys):
    ev = Classification(_eval_cfg(), lab2cname={0: "a", 1: "b", 2: "c"})
    logits = torch.tensor([[9.0, 0, 0], [0, 9.0, 0], [9.0, 0, 0], [0, 0, 9.0]] * 3)
    labels = torch.tensor([0, 1, 1, 2] * 3)
    ev.process(logits[:5], labels[:5])
    ev.process(logits[5:], labels[5:])
    res = ev.evaluate()
    out = capsys.readouterr().out
    # f1: class 0 p=1/2 r=1 -> 2/3; class 1 p=1 r=1/2 -> 2/3; class 2 -> 1
    assert "=> result\n* total: 12\n* correct: 9\n* accuracy: 75.0%\n* error: 25.0%\n* macro_f1: 77.8%\n" in out
    assert list(res) == ["accuracy", "error_rate", "macro_f1"] and res["accuracy"] == 75.0


def test_per_class_result_lines(capsys):
    ev = Classification(_eval_cfg(PER_CLASS_RESULT=True), lab2cname={0: "cat", 1: "dog"})
    ev.process(torch.tensor([[1.0, 0], [1.0, 0], [0, 1.0]]), torch.tensor([0, 1, 1]))
    res = ev.evaluate()
    out = capsys.readouterr().out
    assert "=> per-class result\n* class: 0 (cat)\ttotal: 1\tcorrect: 1\tacc: 100.0%\n" in out
    assert "* class: 1 (dog)\ttotal: 2\tcorrect: 1\tacc: 50.0%\n* average: 75.0%" in out
    assert res["perclass_accuracy"] == 75.0


def test_macro_f1_ignores_predicted_only_classes():
    y_true = torch.tensor([0, 0, 1])
    y_pred = torch.tensor([0, 2, 1])  # class 2 never true: not averaged
    # class 0: tp 1 fp 0 fn 1 -> 2/3; class 1: 1
    assert macro_f1_score(y_true, y_pred) == pytest.approx((2 / 3 + 1) / 2)


def test_compute_accuracy_topk():
    out = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.15, 0.05]])
    top1, top2 = compute_accuracy(out, torch.tensor([1, 1]), topk=(1, 2))
    assert top1.item() == 50.0 and top2.item() == 100.0 and top1.shape == (1,)


# --------------------------------------------------------------------------------------------
# Few-shot sampling: Dassl's procedure reproduces the published few-shot subsets
# --------------------------------------------------------------------------------------------
Item = namedtuple("Item", "impath label classname")


@pytest.mark.parametrize("dataset,split_file", [("dtd", "DescribableTextures"), ("oxford_pets", "OxfordPets"), ("eurosat", "EuroSAT")])
@pytest.mark.parametrize("shots,seed", [(1, 1), (16, 2)])
def test_fewshot_sampling_reproduces_golden_subsets(dataset, split_file, shots, seed):
    split = json.loads(shared_path("data", "splits", f"split_zhou_{split_file}.json").read_text())
    golden = json.loads(shared_path("data", "fewshot_golden", dataset, f"shot_{shots}-seed_{seed}.json").read_text())
    train = [Item(*row) for row in split["train"]]
    val = [Item(*row) for row in split["val"]]
    random.seed(seed)
    fs_train = DatasetBase.generate_fewshot_dataset(DatasetBase, train, num_shots=shots)
    fs_val = DatasetBase.generate_fewshot_dataset(DatasetBase, val, num_shots=min(shots, 4))
    for got, ref in ((fs_train, golden["train"]["data"]), (fs_val, golden["val"]["data"])):
        assert [(it.impath, it.label) for it in got] == [(r["impath"].split("/", 4)[-1], r["label"]) for r in ref]
    n_cls = len({it.label for it in train})
    assert len(fs_train) == n_cls * shots and len(fs_val) == n_cls * min(shots, 4)


# --------------------------------------------------------------------------------------------
# Transforms, loaders, logger
# --------------------------------------------------------------------------------------------
def test_transform_descriptions_match_dassl(capsys):
    cfg = get_cfg_default()
    cfg.INPUT.INTERPOLATION = "bicubic"
    cfg.INPUT.TRANSFORMS = ("random_resized_crop", "random_flip", "normalize")
    build_transform(cfg, is_train=True)
    build_transform(cfg, is_train=False)
    out = capsys.readouterr().out.splitlines()
    assert out == [
        "Building transform_train",
        "+ random resized crop (size=(224, 224), scale=(0.08, 1.0))",
        "+ random flip",
        "+ to torch tensor of range [0, 1]",
        "+ normalization (mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])",
        "Building transform_test",
        "+ resize the smaller edge to 224",
        "+ 224x224 center crop",
        "+ to torch tensor of range [0, 1]",
        "+ normalization (mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225])",
    ]
    cfg.INPUT.TRANSFORMS = ("random_flip", "autoaugment_v9")
    with pytest.raises(ValueError, match="Unknown transform 'autoaugment_v9'"):
        build_transform(cfg)


def _write_images(folder, n_per_class, n_classes=2, size=8):
    items = []
    for c in range(n_classes):
        os.makedirs(folder / f"c{c}", exist_ok=True)
        for i in range(n_per_class):
            path = folder / f"c{c}" / f"{i}.png"
            Image.new("RGB", (size, size), (40 * c, 10 * i, 0)).save(path)
            items.append(Datum(str(path), c, 0, f"class{c}"))
    return items


def test_drop_last_only_for_full_training_batches(tmp_path):
    cfg = get_cfg_default()
    cfg.DATALOADER.NUM_WORKERS = 0
    items = _write_images(tmp_path, 3)  # 6 items
    assert len(build_data_loader(cfg, "RandomSampler", items, batch_size=4, is_train=True)) == 1  # 6 // 4, last dropped
    assert len(build_data_loader(cfg, "RandomSampler", items, batch_size=8, is_train=True)) == 1  # short set kept
    assert len(build_data_loader(cfg, "SequentialSampler", items, batch_size=4, is_train=False)) == 2
    with pytest.raises(ValueError, match="Unknown sampler 'RandomDomainSampler'"):
        build_data_loader(cfg, "RandomDomainSampler", items)


def test_datum_names_the_missing_image(tmp_path):
    with pytest.warns(UserWarning, match="No file found at"), pytest.raises(DataError, match="missing.jpg"):
        Datum(str(tmp_path / "missing.jpg"), 0, 0, "x")


def test_setup_logger_never_overwrites(tmp_path, monkeypatch):
    import sys

    monkeypatch.setattr(sys, "stdout", sys.stdout)
    first = setup_logger(str(tmp_path))
    print("first run")
    sys.stdout.flush()
    second = setup_logger(str(tmp_path))
    print("second run")
    sys.stdout.flush()
    sys.stdout.close()
    assert first.endswith("log.txt") and second.startswith(first + "-") and first != second
    assert "first run" in open(first).read() and "second run" in open(second).read()


# --------------------------------------------------------------------------------------------
# The trainer loop with a minimal learnable trainer on a tiny image folder
# --------------------------------------------------------------------------------------------
@DATASET_REGISTRY.register()
class TinyFolder(DatasetBase):
    """Two classes of 8x8 images under DATASET.ROOT/c0, c1 (train = val = test)."""

    def __init__(self, cfg):
        from pathlib import Path

        root = Path(cfg.DATASET.ROOT)
        items = [Datum(str(p), int(p.parent.name[1:]), 0, f"class{p.parent.name[1:]}") for p in sorted(root.glob("c*/*.png"))]
        super().__init__(train_x=items, val=items, test=items)


@TRAINER_REGISTRY.register()
class LinearProbe(TrainerX):
    """A 2-way linear classifier on flattened pixels: the smallest learnable trainer."""

    def build_model(self):
        self.model = nn.Linear(3 * 8 * 8, self.num_classes)
        self.model.to(self.device)
        self.optim = build_optimizer(self.model, self.cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, self.cfg.OPTIM)
        self.register_model("model", self.model, self.optim, self.sched)

    def forward_backward(self, batch):
        image, label = self.parse_batch_train(batch)[:2]
        out = self.model(image.flatten(1))
        loss = F.cross_entropy(out, label)
        if getattr(self, "poison", False):
            loss = loss * float("nan")
        self.model_backward_and_update(loss)
        if self.batch_idx + 1 == self.num_batches:
            self.update_lr()
        return {"loss": loss.detach(), "acc": compute_accuracy(out, label)[0]}

    def model_inference(self, input):
        return self.model(input.flatten(1))


def _probe_cfg(root, out, epochs=3):
    cfg = get_cfg_default()
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = "TinyFolder"
    cfg.TRAINER.NAME = "LinearProbe"
    cfg.OUTPUT_DIR = str(out)
    cfg.INPUT.SIZE = (8, 8)
    cfg.INPUT.TRANSFORMS = ("random_flip", "normalize")
    cfg.DATALOADER.NUM_WORKERS = 0
    cfg.DATALOADER.TRAIN_X.BATCH_SIZE = 4
    cfg.OPTIM.NAME = "sgd"
    cfg.OPTIM.LR = 0.1
    cfg.OPTIM.MAX_EPOCH = epochs
    cfg.OPTIM.LR_SCHEDULER = "cosine"
    cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"
    cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    cfg.TRAIN.CHECKPOINT_FREQ = 1
    cfg.USE_CUDA = False
    return cfg


def test_trainer_trains_logs_checkpoints_and_resumes(tmp_path, capsys):
    _write_images(tmp_path / "data", 4)
    out = tmp_path / "out"
    torch.manual_seed(0)
    trainer = build_trainer(_probe_cfg(tmp_path / "data", out))
    trainer.train()
    text = capsys.readouterr().out
    assert "Loading trainer: LinearProbe" in text and "No checkpoint found, train from scratch" in text
    lines = [line for line in text.splitlines() if line.startswith("epoch [")]
    # Every batch is printed (2 batches < PRINT_FREQ); the last batch of an epoch shows the next LR.
    assert lines[0].startswith("epoch [1/3] batch [1/2] time ")
    assert " lr 1.0000e-05 eta " in lines[0] and " lr 1.0000e-01 eta " in lines[1]
    assert " loss " in lines[0] and " acc " in lines[0]
    assert text.index("Finish training") < text.index("Deploy the last-epoch model") < text.index("=> result")
    assert "* accuracy:" in text and "Elapsed:" in text
    for e in (1, 2, 3):
        assert (out / "model" / f"model.pth.tar-{e}").exists()
    ckpt = torch.load(out / "model" / "model.pth.tar-3", weights_only=True)
    assert set(ckpt) == {"state_dict", "epoch", "optimizer", "scheduler", "val_result", "config", "rng_state"}
    assert ckpt["epoch"] == 3 and "LinearProbe" in ckpt["config"]
    assert set(ckpt["rng_state"]) == {"python", "numpy", "torch"}  # "cuda" too on a GPU

    # Resume from epoch 2 in a new directory: the LR continues the schedule and training ends at 3.
    resume_dir = tmp_path / "resume"
    os.makedirs(resume_dir / "model")
    for f in ("model.pth.tar-2",):
        (resume_dir / "model" / f).write_bytes((out / "model" / f).read_bytes())
    (resume_dir / "model" / "checkpoint").write_text("model.pth.tar-2\n")
    torch.manual_seed(1)
    trainer2 = build_trainer(_probe_cfg(tmp_path / "data", resume_dir))
    trainer2.train()
    text2 = capsys.readouterr().out
    assert "Found checkpoint at" in text2 and "Previous epoch: 2" in text2
    assert "epoch [1/3]" not in text2 and "epoch [3/3] batch [2/2]" in text2
    assert trainer2.get_current_lr() == pytest.approx(trainer.get_current_lr())
    # Exact resume: the random states came back with the checkpoint, so epoch 3 drew the same
    # batches and flips as in the uninterrupted run (the other seed above would draw others).
    assert torch.equal(trainer2.model.weight, trainer.model.weight)
    assert torch.equal(trainer2.model.bias, trainer.model.bias)

    # Reload for evaluation.
    trainer3 = build_trainer(_probe_cfg(tmp_path / "data", tmp_path / "eval"))
    trainer3.load_model(str(out), epoch=3)
    assert torch.equal(trainer3.model.weight, trainer.model.weight)
    with pytest.raises(CheckpointError, match="model.pth.tar-7"):
        trainer3.load_model(str(out), epoch=7)

    # A checkpoint written with another config is not resumed.
    other = _probe_cfg(tmp_path / "data", resume_dir)
    other.OPTIM.LR = 0.5
    with pytest.raises(CheckpointError, match=r"written with another config.*\n  OPTIM.LR: 0.1 \(checkpoint\) vs 0.5 \(this run\)"):
        build_trainer(other).train()


def test_nonfinite_loss_raises(tmp_path):
    _write_images(tmp_path / "data", 4)
    trainer = build_trainer(_probe_cfg(tmp_path / "data", tmp_path / "out"))
    trainer.poison = True
    with pytest.raises(NonFiniteLossError, match="Loss is infinite or NaN") as err:
        trainer.train()
    assert isinstance(err.value, FloatingPointError) and "--restart" in str(err.value)


def test_build_trainer_unknown_name(tmp_path):
    cfg = _probe_cfg(tmp_path, tmp_path)
    cfg.TRAINER.NAME = "LinearProbes"
    with pytest.raises(ValueError, match="Did you mean 'LinearProbe'"):
        build_trainer(cfg)


def test_config_differences_ignore_non_result_keys_and_keys_of_older_versions():
    from engine.config_compare import config_differences, describe_differences

    old = "OPTIM:\n  LR: 0.002\nTRAIN:\n  PRINT_FREQ: 5\nOUTPUT_DIR: a\n"
    new = "OPTIM:\n  LR: 0.5\nTRAIN:\n  PRINT_FREQ: 1\nOUTPUT_DIR: b\nDATASET:\n  SPLIT_FILE: ''\n  NUM_SHOTS: 4\n"
    defaults = "DATASET:\n  SPLIT_FILE: ''\n  NUM_SHOTS: -1\n"
    diffs = config_differences(old, new, defaults)
    # PRINT_FREQ and OUTPUT_DIR cannot change results; SPLIT_FILE is new but at its default.
    assert diffs == [("DATASET.NUM_SHOTS", "(absent)", 4), ("OPTIM.LR", 0.002, 0.5)]
    assert describe_differences(diffs, "old", "new") == (
        "  DATASET.NUM_SHOTS: (absent) (old) vs 4 (new)\n  OPTIM.LR: 0.002 (old) vs 0.5 (new)"
    )
