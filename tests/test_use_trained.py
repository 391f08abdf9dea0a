"""Using a trained model: the Python API (``mudpt.load``), ``predict.py`` and ``export.py``, on the
tiny random CLIP and a generated image folder (``pets/{train,val,test}/<class>/``, noisy images so
that images of a class are classified differently). What is checked, and why:

- the API is the evaluation: its correct count on a run's own test split is the ``* correct: N``
  the run logged (CoOp and MuDPT, trained on the base classes), and with the new classes' names on
  the new classes' test images it is what ``train.py --eval-only DATASET.SUBSAMPLE_CLASSES new``
  logs for that run (base-to-new evaluation): the same checkpoint, transform and prompts;
- new class names work for every method whose text side takes class names (probabilities over
  them, the caller's RNG untouched, the trained tensors loaded unchanged and the model of its own
  classes unaffected); linear-probe CLIP and a class-specific context refuse them in one line;
- image and text features are what the model classifies with (logits = scale * cosine), and
  CoCoOp, whose text features depend on the image, refuses ``text_features`` in one line;
- an exported file is one safetensors file with the model's metadata; loaded in a fresh process
  it predicts exactly what the run folder predicts; other or missing CLIP weights are refused
  naming what to fetch; files and folders that are not models give one line;
- a run whose training did not complete needs ``load_epoch``;
- ``predict.py``: every kind of input, new class names, top-K columns, accuracy equal to the logged
  one with labels, per-class accuracy and confusion matrix files beside ``--out``, unreadable
  images listed (exit 1), bad arguments in one line (exit 2), nothing written next to the inputs.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import TINY_CLIP, tiny_run_opts

REPO = Path(__file__).resolve().parents[1]
TRAINERS = REPO / "configs" / "trainers"
IMAGEFOLDER = str(REPO / "configs" / "datasets" / "imagefolder.yaml")
CLASSES = ("cat", "dog", "owl", "red_fox")  # base: cat, dog; new: owl, red fox
BASE, NEW = ["cat", "dog"], ["owl", "red fox"]
UNSEEN = ["zebra", "giraffe", "sea lion"]  # names no run was trained on
PER_PART = {"train": 2, "val": 1, "test": 6}  # images per class
N_TEST = PER_PART["test"] * len(CLASSES)  # test images (half of them of the base classes)
ENV = {**os.environ, "MUDPT_BACKEND": "builtin"}  # subprocesses (one torch thread: conftest)

# name -> (trainer, recipe, overrides that fit the 3-block tiny CLIP, evaluation only)
RUNS = {
    "ZeroshotCLIP": ("ZeroshotCLIP", "CoOp/vit_b16.yaml", [], True),
    "CoOp": ("CoOp", "CoOp/vit_b16_ep50_ctxv1.yaml", [], False),
    "CoCoOp": ("CoCoOp", "CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml", [], False),
    "KgCoOp": ("KgCoOp", "KgCoOp/vit_b16_ep100_ctxv1.yaml", [], False),
    "MaPLe": ("MaPLe", "MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml", ["TRAINER.MAPLE.PROMPT_DEPTH", "3"], False),
    "IVLP": ("IVLP", "IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml",
             ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "3", "TRAINER.IVLP.PROMPT_DEPTH_VISION", "2"], False),
    "VPT": ("VPT", "VPT/vit_b16_c2_ep5_batch4_4.yaml", ["TRAINER.VPT.PROMPT_DEPTH_VISION", "3"], False),
    "PromptSRC": ("PromptSRC", "PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml",
                  ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3",
                   "TRAINER.PROMPTSRC.GPA_MEAN", "1"], False),
    "MuDPT": ("MuDPT", "MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml",
              ["TRAINER.MUDPT.PROMPT_DEPTH", "3", "TRAINER.MUDPT.INJ_WIDTH", "64", "TRAINER.MUDPT.INJ_HEADS", "2"], False),
    "CoOp-CSC": ("CoOp", "CoOp/vit_b16_ep50_ctxv1.yaml",
                 ["TRAINER.COOP.CSC", "True", "TRAINER.COOP.CTX_INIT", "", "TRAINER.COOP.N_CTX", "4"], False),
    "LinearProbeCLIP": ("LinearProbeCLIP", "LinearProbeCLIP/vit_b16.yaml", [], False),  # all classes (few-shot only)
}  # fmt: skip
TEXT_SIDE = ["ZeroshotCLIP", "CoOp", "CoCoOp", "KgCoOp", "MaPLe", "IVLP", "VPT", "PromptSRC", "MuDPT"]


# --- data, weights and runs ------------------------------------------------------------------------
def write_image(path: Path, label: int, seed: int) -> None:
    """A 16x16 image: its class's colour plus noise (each image its own)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    colour = np.array([(label * 73) % 256, (label * 151 + 64) % 256, (label * 199 + 128) % 256])
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(colour + rng.normal(0, 70, (16, 16, 3)), 0, 255).astype("uint8")).save(path)


def files(*folders: Path) -> list[str]:
    """Every file below ``folders``: a snapshot to compare before and after a command."""
    return sorted(str(p) for folder in folders for p in folder.rglob("*"))


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Path:
    """A folder both xdist workers see: the data and the runs are made once per session, by the
    first worker that needs them (the other waits on a file lock), not once per worker."""
    base = tmp_path_factory.getbasetemp()
    top = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "use_trained"
    top.mkdir(exist_ok=True)
    return top


def once(shared: Path, name: str, make) -> Path:
    """``shared/name``, made by ``make(path)`` unless a worker already made it."""
    from filelock import FileLock

    path, done = shared / name, shared / f"{name}.done"
    with FileLock(str(shared / f"{name}.lock")):
        if not done.exists():
            shutil.rmtree(path, ignore_errors=True)  # what a failed attempt left
            make(path)
            done.touch()
    return path


def make_data(root: Path) -> None:
    """``root/pets/{train,val,test}/<class>/<k>.png`` (4 classes; 2 / 1 / 6 images), its split
    and its 2-shot subset (written here, before any run reads them)."""
    import datasets
    from engine.seam import DATASET_REGISTRY, get_cfg_default

    seed = 0
    for part, n in PER_PART.items():
        for label, name in enumerate(CLASSES):
            for k in range(n):
                seed += 1
                write_image(root / "pets" / part / name / f"{k}.png", label, seed)
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    cfg.DATASET.NAME, cfg.DATASET.ROOT, cfg.DATASET.FOLDER, cfg.DATASET.NUM_SHOTS, cfg.SEED = "ImageFolder", str(root), "pets", 2, 1
    datasets.check_dataset_config(cfg)
    DATASET_REGISTRY.get("ImageFolder")(cfg)


@pytest.fixture(scope="module")
def data(shared) -> Path:
    """The data root (see :func:`make_data`)."""
    return once(shared, "data", make_data)


@pytest.fixture(scope="module")
def other_clip_file(tmp_path_factory) -> str:
    """Another tiny CLIP (other weights, same shapes)."""
    from trainers.clip_loader import build_tiny_clip, save_state_dict

    path = tmp_path_factory.mktemp("other") / "other_clip.pt"
    save_state_dict(build_tiny_clip(**{**TINY_CLIP, "seed": 1}), str(path))
    return str(path)


def _train_main(argv: list[str]) -> None:
    """``train.py ARGV`` in-process (as conftest's run_train, for runs made once)."""
    import engine.seam
    import train

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", sys.stdout)  # setup_logger tees stdout into log.txt
        mp.setattr(engine.seam, "collect_env_info", lambda: "(skipped in tests)")
        try:
            code = train.main(argv)
        finally:
            sys.stdout.flush()
    assert code == 0, argv


class Runs:
    """The runs of ``RUNS`` (base classes, 2 shots, 1 epoch; linear probe: all classes), made on
    first use, once per session, and their evaluations on the new classes."""

    def __init__(self, shared: Path, data: Path, clip_file: str):
        self.shared, self.data, self.clip_file = shared, data, clip_file

    def _argv(self, name: str, out: Path, flags: list[str], subsample: str) -> list[str]:
        trainer, recipe, fit, _ = RUNS[name]
        cache = ["TRAINER.LINEARPROBECLIP.FEATURE_CACHE", str(out / "features")] if trainer == "LinearProbeCLIP" else []
        return [
            "--root", str(self.data), "--seed", "1", "--trainer", trainer, "--dataset-config-file", IMAGEFOLDER,
            "--config-file", str(TRAINERS / recipe), "--output-dir", str(out), *flags, *tiny_run_opts(self.clip_file),
            "DATASET.FOLDER", "pets", "DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", subsample, *fit, *cache,
        ]  # fmt: skip

    def __call__(self, name: str) -> Path:
        flags = ["--eval-only"] if RUNS[name][3] else []
        subsample = "all" if name == "LinearProbeCLIP" else "base"
        return once(self.shared, name, lambda out: _train_main(self._argv(name, out, flags, subsample)))

    def new(self, name: str) -> Path:
        """``train.py --eval-only --model-dir RUN DATASET.SUBSAMPLE_CLASSES new``."""
        flags = ["--eval-only", "--model-dir", str(self(name))]
        return once(self.shared, f"{name}.new", lambda out: _train_main(self._argv(name, out, flags, "new")))


@pytest.fixture(scope="module")
def runs(shared, data, tiny_clip_file) -> Runs:
    return Runs(shared, data, tiny_clip_file)


def logged(run: Path) -> tuple[int, int, str]:
    """(total, correct, macro F1) of the result block of ``run``'s log."""
    log = (run / "log.txt").read_text()
    total, right, f1 = (re.findall(rf"^\* {key}: ([\d,.]+)%?$", log, re.M)[-1] for key in ("total", "correct", "macro_f1"))
    return int(total.replace(",", "")), int(right.replace(",", "")), f1


def result(probs: torch.Tensor, labels: list[int]) -> tuple[int, int, str]:
    """(total, correct, macro F1) of predictions, as the evaluator logs them."""
    from engine.evaluation import macro_f1_score

    predicted, true = probs.argmax(dim=-1), torch.tensor(labels)
    return len(labels), int((predicted == true).sum()), f"{100 * macro_f1_score(true, predicted):.1f}"


def split_of(cfg, subsample: str) -> tuple[list[str], list[str], list[int]]:
    """(class names, image paths, labels) of the test split the config's reader gives."""
    from engine.seam import DATASET_REGISTRY

    cfg = cfg.clone()
    cfg.defrost()
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    dataset = DATASET_REGISTRY.get(cfg.DATASET.NAME)(cfg)
    return list(dataset.classnames), [d.impath for d in dataset.test], [d.label for d in dataset.test]


def images_of(data: Path, classes=CLASSES) -> list[str]:
    return sorted(str(p) for name in classes for p in (data / "pets" / "test" / name).iterdir())


def correct(probs: torch.Tensor, labels: list[int]) -> int:
    return int((probs.argmax(dim=-1) == torch.tensor(labels)).sum())


# --- 1. the Python API ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["CoOp", "MuDPT"])
def test_api_accuracy_is_the_logged_one_on_base_and_new_classes(runs, method):
    import mudpt

    run = runs(method)
    clf = mudpt.load(run)
    assert (clf.method, clf.classnames, clf.template) == (method, BASE, "a photo of a {}.")
    assert repr(clf).startswith(f"Classifier({method}, 2 classes, cpu, from {run}/")
    names, paths, labels = split_of(clf.cfg, "base")
    assert names == BASE and len(paths) == N_TEST // 2
    prediction = clf.predict(paths)
    assert prediction.classnames == BASE and prediction.probs.shape == (N_TEST // 2, 2)
    assert result(prediction.probs, labels) == logged(run)  # the count, and the macro F1 of the classes' confusion

    new_names, new_paths, new_labels = split_of(clf.cfg, "new")
    assert new_names == NEW
    prediction = clf.predict(new_paths, classnames=new_names)
    assert result(prediction.probs, new_labels) == logged(runs.new(method))


@pytest.mark.parametrize("method", TEXT_SIDE)
def test_new_class_names_for_every_method_with_a_text_side(runs, data, method):
    import mudpt

    clf = mudpt.load(runs(method))
    images = images_of(data)
    own = clf.predict(images)
    rng = torch.get_rng_state()
    new = clf.predict(images, classnames=UNSEEN)
    assert torch.equal(torch.get_rng_state(), rng)  # building a model for new names draws from its own RNG
    assert new.classnames == UNSEEN and new.probs.shape == (N_TEST, 3) and set(new.labels) <= set(UNSEEN)
    torch.testing.assert_close(new.probs.sum(dim=-1), torch.ones(N_TEST))
    values, names = new.topk(2)
    assert values.shape == (N_TEST, 2) and all(len(row) == 2 and row[0] == label for row, label in zip(names, new.labels))
    assert torch.equal(clf.predict(images).probs, own.probs)  # its own model is untouched
    if RUNS[method][3]:  # zero-shot: nothing trained, the dataset's template
        assert clf.model(UNSEEN).learner is None and clf.template == "a photo of a {}."
        return
    trained = torch.load(clf.source, map_location="cpu", weights_only=True)["state_dict"]
    for model in (clf.model(), clf.model(UNSEEN)):
        state = model.learner.state_dict()
        assert set(trained) <= set(state)
        for key, value in trained.items():
            assert torch.equal(state[key], value), key


def test_linear_probe_refuses_new_class_names(runs, data):
    import mudpt
    from engine.seam import ConfigError

    probe = mudpt.load(runs("LinearProbeCLIP"))
    assert probe.classnames == ["cat", "dog", "owl", "red fox"]
    assert probe.predict(images_of(data)).probs.shape == (N_TEST, 4)
    for names in (UNSEEN, ["dog", "cat", "owl", "red fox"]):  # its own names in another order too
        with pytest.raises(ConfigError) as err:
            probe.predict(images_of(data), classnames=names)
        assert str(err.value) == (
            "LinearProbeCLIP classifies with a linear head fitted on its own classes (cat, dog, owl, red fox): it has no "
            "text side to take other class names. Use a prompt-tuning method."
        )


def test_class_specific_context_refuses_new_class_names(runs, data):
    import mudpt
    from engine.seam import ConfigError

    csc = mudpt.load(runs("CoOp-CSC"))
    assert csc.model().learner.ctx.shape == (2, 4, 128)  # one context per class
    assert csc.predict(images_of(data, BASE)).probs.shape == (N_TEST // 2, 2)
    message = (
        "CoOp was trained with a class-specific context (TRAINER.COOP.CSC True: one learned context per class it was "
        "trained on, cat, dog): it cannot take other class names. Predict with its own classes, or train with a unified "
        "context (TRAINER.COOP.CSC False) for new class names."
    )
    # As many names as it was trained on would fit its tensors: refused all the same, as its own names reordered.
    for names in (UNSEEN, ["zebra", "giraffe"], ["dog", "cat"]):
        with pytest.raises(ConfigError) as err:
            csc.model(names)
        assert str(err.value) == message


def test_class_names_and_devices_are_checked(runs):
    import mudpt
    from engine.seam import ConfigError

    clf = mudpt.load(runs("CoOp"))
    with pytest.raises(ConfigError, match=re.escape("The class names ['zebra', 'zebra'] repeat a name: each class once.")):
        clf.predict([], classnames=["zebra", "zebra"])
    with pytest.raises(ConfigError, match=re.escape("Class names must be non-empty strings, got ['zebra', ' '].")):
        clf.predict([], classnames=["zebra", " "])
    with pytest.raises(ConfigError) as err:
        mudpt.load(runs("CoOp"), device="gpu")
    assert str(err.value) == "device 'gpu' is not a torch device: use 'cpu', 'cuda' or 'cuda:N'."
    with pytest.raises(ConfigError) as err:
        mudpt.load(runs("CoOp"), device="cuda:99")
    if torch.cuda.is_available():
        assert str(err.value).startswith("device 'cuda:99': there are ")
    else:
        assert str(err.value) == "device 'cuda:99': there is no CUDA device here (torch.cuda.is_available() is False); use 'cpu'."


@pytest.mark.parametrize("method", ["CoOp", "MuDPT"])  # a context method, a deep-prompt method
def test_features_are_what_the_model_classifies_with(runs, data, method):
    import torch.nn.functional as F

    import mudpt

    clf = mudpt.load(runs(method))
    images = images_of(data)
    image = clf.image_features(images)
    scale = clf.model().logit_scale.exp()
    for names in (None, UNSEEN):
        text = clf.text_features(names)
        assert text.shape == (len(names or BASE), TINY_CLIP["embed_dim"]) and image.shape == (N_TEST, TINY_CLIP["embed_dim"])
        expected = scale * F.normalize(image, dim=-1) @ F.normalize(text, dim=-1).t()
        torch.testing.assert_close(clf.logits(images, names), expected, rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(clf.predict(images, names).probs, expected.softmax(dim=-1), rtol=1e-5, atol=1e-6)


def test_cocoop_has_no_text_feature_per_class(runs, data):
    import mudpt
    from engine.seam import ConfigError

    clf = mudpt.load(runs("CoCoOp"))
    assert clf.image_features(images_of(data)[:2]).shape == (2, TINY_CLIP["embed_dim"])
    with pytest.raises(ConfigError) as err:
        clf.text_features()
    assert str(err.value) == (
        "CoCoOpModel has no text feature per class (its text features depend on each image). Use its predictions "
        "(logits), or a method with one text feature per class."
    )


def test_an_unfinished_run_needs_load_epoch(runs, data, tmp_path, capsys):
    import export
    import mudpt
    from engine.seam import CheckpointError

    run = tmp_path / "run"
    shutil.copytree(runs("CoOp"), run)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "status": "interrupted"}))
    message = (
        f"{run} holds a training run that was interrupted: its last checkpoint (epoch 1 of 1) is not the model it would deploy. Finish "
        "it (rerun its train.py command: it resumes), or load an epoch explicitly (load_epoch=N; predict.py and "
        "export.py: --load-epoch N)."
    )
    with pytest.raises(CheckpointError) as err:
        mudpt.load(run)
    assert str(err.value) == message
    assert export.main([str(run), str(tmp_path / "m.safetensors")]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    clf = mudpt.load(run, load_epoch=1)
    assert clf.source == str(run / "prompt_learner" / "model.pth.tar-1")
    images = images_of(data)
    assert torch.equal(clf.predict(images).probs, mudpt.load(runs("CoOp")).predict(images).probs)
    with pytest.raises(CheckpointError, match=re.escape(f'Model not found at "{run}/prompt_learner/model.pth.tar-2". Available: model.pth.tar-1;')):
        mudpt.load(run, load_epoch=2)


# --- 3. export ------------------------------------------------------------------------------------
FRESH_LOAD = """
import json, sys
import mudpt
clf = mudpt.load(sys.argv[1])
own, new = clf.predict(sys.argv[2:]), clf.predict(sys.argv[2:], classnames=%r)
print(json.dumps([clf.method, clf.classnames, clf.template, own.probs.tolist(), new.probs.tolist()]))
""" % (UNSEEN,)


def test_export_and_load_in_a_fresh_process(runs, data, tmp_path, tiny_clip_file, capsys):
    import export
    import mudpt
    from safetensors import safe_open

    run, path = runs("MuDPT"), tmp_path / "mudpt.safetensors"
    capsys.readouterr()
    assert export.main([str(run), str(path)]) == 0  # export.py, in this process; the load below is a fresh one
    assert capsys.readouterr() == (f"Wrote {path}\n", "")
    images = images_of(data)
    proc = subprocess.run([sys.executable, "-c", FRESH_LOAD, str(path), *images], cwd=REPO, env=ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr
    method, classnames, template, own, new = json.loads(proc.stdout)
    clf = mudpt.load(run)
    assert (method, classnames, template) == ("MuDPT", BASE, "a photo of a {}.")
    assert torch.equal(torch.tensor(own), clf.predict(images).probs)
    assert torch.equal(torch.tensor(new), clf.predict(images, classnames=UNSEEN).probs)

    with safe_open(str(path), framework="pt") as f:
        metadata, tensors = f.metadata(), {k: f.get_tensor(k) for k in f.keys()}
    assert path.read_bytes()[8:9] == b"{"  # safetensors: a header length, then JSON; no pickle
    assert sorted(metadata) == ["backbone", "checkpoint", "classnames", "config", "format", "method", "run", "template"]
    assert (metadata["format"], metadata["method"], metadata["template"]) == ("mudpt-export/1", "MuDPT", "a photo of a {}.")
    assert json.loads(metadata["classnames"]) == BASE and metadata["run"] == str(run)
    assert json.loads(metadata["checkpoint"]) == {"epoch": 1, "num_classes": 2}
    assert metadata["config"] == clf.cfg.dump() and "  NAME: MuDPT\n" in metadata["config"]
    assert json.loads(metadata["backbone"]) == {
        "source": "openai-clip", "name": "ViT-B/16", "pretrained": "", "file": "tiny_clip.pt",
        "sha256": hashlib.sha256(Path(tiny_clip_file).read_bytes()).hexdigest(),
    }  # fmt: skip
    trained = torch.load(clf.source, map_location="cpu", weights_only=True)["state_dict"]
    assert sorted(tensors) == sorted(trained) and all(torch.equal(tensors[k], trained[k]) for k in trained)


def test_an_export_finds_its_weights_on_another_machine(runs, data, tmp_path, monkeypatch, tiny_clip_file, other_clip_file):
    """An exported config names the weights file where it was exported; where that path is not
    there, the file is looked for where clip.load keeps it (checked by sha256), else the error
    says which file to fetch."""
    import mudpt
    import trainers.clip_loader as clip_loader
    from engine.seam import WeightsError

    exporter = tmp_path / "exporter" / "ViT-B-16.pt"
    exporter.parent.mkdir()
    shutil.copy(tiny_clip_file, exporter)
    path = mudpt.export(runs("CoOp"), tmp_path / "coop.safetensors", clip_path=str(exporter))
    expected = mudpt.load(path).predict(images_of(data)).probs
    exporter.unlink()  # another machine: the exporter's path is not there
    cache = tmp_path / "cache"
    monkeypatch.setattr(clip_loader, "DEFAULT_DOWNLOAD_ROOT", str(cache))
    sha = hashlib.sha256(Path(tiny_clip_file).read_bytes()).hexdigest()
    missing = (
        f"{path} was trained on ViT-B/16 and its weights are not here ({exporter}). Fetch the weights file 'ViT-B-16.pt' "
        f"(sha256 {sha}) of ViT-B/16, passed as MODEL.BACKBONE.PATH; then load with clip_path= (predict.py --clip-path) "
        "if it is elsewhere."
    )
    with pytest.raises(WeightsError) as err:
        mudpt.load(path)
    assert str(err.value) == missing
    cache.mkdir()
    shutil.copy(other_clip_file, cache / "ViT-B-16.pt")  # other weights where clip.load keeps ViT-B/16's
    with pytest.raises(WeightsError) as err:
        mudpt.load(path)
    assert str(err.value) == missing
    shutil.copy(tiny_clip_file, cache / "ViT-B-16.pt")
    clf = mudpt.load(path)
    assert clf.cfg.MODEL.BACKBONE.PATH == str(cache / "ViT-B-16.pt")
    assert torch.equal(clf.predict(images_of(data)).probs, expected)

    # Trained on OpenAI's file (its sha256 is the one in OpenAI's URL): clip.load downloads it
    # where it keeps it (and checks it), and the error, without internet, names that URL.
    (cache / "ViT-B-16.pt").unlink()
    official = {"source": "openai-clip", "name": "ViT-B/16", "sha256": clip_loader.official_sha256("ViT-B/16")}
    cfg = mudpt._locate_weights(mudpt._with_weights_file(clf.cfg, str(exporter)), official, path, "")
    assert cfg.MODEL.BACKBONE.PATH == "" and official["sha256"] in clip_loader.CLIP_URLS["ViT-B/16"]
    assert clip_loader.fetch_hint(official).startswith(
        f"OpenAI's ViT-B/16 weights (sha256 {official['sha256']}): {clip_loader.CLIP_URLS['ViT-B/16']}, at {cache / 'ViT-B-16.pt'}"
    )


def test_loading_refuses_other_weights_and_what_is_not_a_model(runs, data, tmp_path, capsys, tiny_clip_file, other_clip_file):
    import mudpt
    from engine.seam import CheckpointError, ConfigError, RunFolderError, WeightsError
    from safetensors.torch import save_file

    path = mudpt.export(runs("CoOp"), tmp_path / "coop.safetensors")
    sha = hashlib.sha256(Path(tiny_clip_file).read_bytes()).hexdigest()
    other_sha = hashlib.sha256(Path(other_clip_file).read_bytes()).hexdigest()
    assert mudpt.load(path).classnames == BASE
    with pytest.raises(WeightsError) as err:
        mudpt.load(path, clip_path=other_clip_file)
    message = str(err.value)
    fetch = f"the weights file 'tiny_clip.pt' (sha256 {sha}) of ViT-B/16, passed as MODEL.BACKBONE.PATH"
    assert message == (
        f"{path} was trained on other CLIP weights (tiny_clip.pt, sha256 {sha[:12]}) than these ({other_clip_file}, sha256 "
        f"{other_sha[:12]}): its prompts only fit the weights they were trained with. Fetch {fetch}; then load with "
        "clip_path= (predict.py --clip-path)."
    )
    missing = str(tmp_path / "gone" / "tiny_clip.pt")
    with pytest.raises(WeightsError) as err:
        mudpt.load(path, clip_path=missing)
    assert str(err.value) == (
        f"{path} was trained on ViT-B/16 and its weights are not here ({missing}). Fetch {fetch}; then load with "
        "clip_path= (predict.py --clip-path) if it is elsewhere."
    )

    # A run folder checks the weights too (the sha256 its run.json records). The run may have been
    # made by another test worker, with its own copy of the tiny CLIP: the path is the one it logged.
    trained_on = json.loads((runs("CoOp") / "run.json").read_text())["inputs"]["clip"]["path"]
    with pytest.raises(WeightsError) as err:
        mudpt.load(runs("CoOp"), clip_path=other_clip_file)
    assert str(err.value) == (
        f"{runs('CoOp')} was trained on other CLIP weights ({trained_on}, sha256 {sha[:12]}) than these "
        f"({other_clip_file}, sha256 {other_sha[:12]}): its prompts only fit the weights they were trained with. Fetch "
        f"{fetch}; then load with clip_path= (predict.py --clip-path)."
    )

    # predict.py takes the file as it takes a run folder, and says the same.
    code, stdout, err = predict(capsys, path, images_of(data)[0], "--out", tmp_path / "p.csv")
    assert (code, stdout, read_csv(tmp_path / "p.csv")[1][0]) == (0, "", images_of(data)[0])
    assert err.startswith(f"CoOp ({path}): 1 images, 2 classes, cpu\n")
    code, stdout, err = predict(capsys, path, images_of(data)[0], "--clip-path", other_clip_file)
    assert (code, stdout) == (2, "") and err.startswith(f"error: {path} was trained on other CLIP weights (tiny_clip.pt, ")

    plain = tmp_path / "features.safetensors"
    save_file({"x": torch.zeros(2)}, str(plain))
    with pytest.raises(CheckpointError) as err:
        mudpt.load(plain)
    assert str(err.value) == (
        f"{plain} is a safetensors file but not an exported model of this repository (format None, expected "
        "'mudpt-export/1'). Write one with `python export.py RUN_DIR features.safetensors`."
    )
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match=rf"^Cannot read {re.escape(str(broken))} as an exported model \(.+\)\. Write it with `python export.py`\.$"):
        mudpt.load(broken)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RunFolderError) as err:
        mudpt.load(empty)
    assert str(err.value) == (
        f"{empty} is not a run folder (no config.yaml) nor an exported .safetensors file. Pass the output folder of a "
        "train.py training run, or a file written by `python export.py`."
    )
    with pytest.raises(CheckpointError) as err:
        mudpt.load(runs.new("CoOp"))
    assert str(err.value) == (
        f"{runs.new('CoOp')} is an evaluation run (train.py --eval-only): its model is in the training run it "
        f"evaluated ({runs('CoOp')}). Load that folder."
    )
    with pytest.raises(ConfigError, match=r"^Export to a \.safetensors file: .*coop\.pt does not end with \.safetensors\.$"):
        mudpt.export(runs("CoOp"), tmp_path / "coop.pt")


# --- 2. predict.py --------------------------------------------------------------------------------
def predict(capsys, *argv: str) -> tuple[int, str, str]:
    """``predict.py ARGV`` in-process: (exit status, stdout, stderr)."""
    import predict as command

    capsys.readouterr()  # what came before (a run trained on first use)
    try:
        code = command.main([str(a) for a in argv])
    except SystemExit as e:  # argparse
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="") as f:
        return list(csv.reader(f))


def test_predict_folders_csvs_and_new_class_names(runs, data, tmp_path, capsys, monkeypatch):
    import mudpt

    monkeypatch.chdir(tmp_path)
    run = runs("CoOp")
    photos = tmp_path / "photos"
    for i, sub in enumerate(("", "trip/day1/", "trip/day2/")):
        write_image(photos / f"{sub}{i}.jpg", i, 100 + i)
    (photos / "notes.txt").write_text("not an image")
    labelled = tmp_path / "labelled"
    rows = [(f"img/{name}_{k}.png", label, name) for label, name in enumerate(BASE) for k in range(3)]
    for i, (rel, label, _) in enumerate(rows):
        write_image(labelled / rel, label, 200 + i)
    (labelled / "by_name.csv").write_text("path,classname\n" + "".join(f"{rel},{name}\n" for rel, _, name in rows))
    (labelled / "by_label.csv").write_text("path,label\n" + "".join(f"{rel},{label}\n" for rel, label, _ in rows))
    # Labels name classes by their sorted order, as CSVDataset reads them: 1-based labels are the same classes.
    (labelled / "by_label_from_1.csv").write_text("path,label\n" + "".join(f"{rel},{label + 1}\n" for rel, label, _ in rows))
    (tmp_path / "names.txt").write_text("zebra\ngiraffe\n\nsea lion\n")
    inputs = files(photos, labelled)

    code, out, err = predict(capsys, run, photos, "--classes", ",".join(UNSEEN), "--topk", "2", "--out", "out/new.csv")
    assert (code, out) == (0, "")
    assert err == f"CoOp ({run}/prompt_learner/model.pth.tar-1): 3 images, 3 classes, cpu\nWrote out/new.csv\n"
    table = read_csv(tmp_path / "out" / "new.csv")
    found = [str(photos / "0.jpg"), str(photos / "trip/day1/1.jpg"), str(photos / "trip/day2/2.jpg")]
    assert table[0] == ["path", "class_1", "prob_1", "class_2", "prob_2"] and [row[0] for row in table[1:]] == found
    values, names = mudpt.load(run).predict(found, classnames=UNSEEN).topk(2)
    assert [row[1:] for row in table[1:]] == [
        [x for name, v in zip(n, vs) for x in (name, f"{v:.6f}")] for n, vs in zip(names, values.tolist())
    ]
    assert predict(capsys, run, photos, "--classes-file", "names.txt", "--topk", "2", "--out", "out/file.csv")[0] == 0
    assert read_csv(tmp_path / "out" / "file.csv") == table

    clf = mudpt.load(run)
    paths = [str(labelled / rel) for rel, _, _ in rows]
    right = correct(clf.predict(paths).probs, [label for _, label, _ in rows])
    for name in ("by_name", "by_label", "by_label_from_1"):
        code, out, err = predict(capsys, run, labelled / f"{name}.csv", "--out", f"out/{name}.csv")
        assert (code, out) == (0, f"accuracy: {100 * right / 6:.2f}% ({right} of 6 images)\n"), err
        assert [row[0] for row in read_csv(tmp_path / "out" / f"{name}.csv")[1:]] == paths
        assert read_csv(tmp_path / "out" / f"{name}_per_class.csv")[0] == ["class", "images", "correct", "accuracy"]
    assert files(photos, labelled) == inputs  # nothing written next to the inputs
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labelled", "names.txt", "out", "photos"]


def test_predict_labels_from_folders_give_the_logged_accuracy(runs, data, tmp_path, capsys):
    import mudpt

    run, test = runs("MuDPT"), data / "pets" / "test"
    inputs = files(data)
    out = tmp_path / "eval" / "base.csv"
    code, stdout, err = predict(capsys, run, test / "cat", test / "dog", "--labels-from-folders", "--out", out, "--batch-size", "3")
    total, right, _ = logged(run)
    assert (code, stdout) == (0, f"accuracy: {100 * right / total:.2f}% ({right} of {total} images)\n")
    assert err.endswith(f"Wrote {out}, {out.with_name('base_per_class.csv')}, {out.with_name('base_confusion.csv')}, {out.with_name('base_confusion.png')}\n")
    probs = mudpt.load(run).predict(images_of(data, BASE)).probs
    confusion = [[int(((probs.argmax(-1) == p) & (torch.arange(N_TEST // 2) // PER_PART["test"] == t)).sum()) for p in range(2)] for t in range(2)]
    assert read_csv(out.with_name("base_confusion.csv")) == [["true \\ predicted", *BASE], *[[n, *map(str, row)] for n, row in zip(BASE, confusion)]]
    assert read_csv(out.with_name("base_per_class.csv")) == [
        ["class", "images", "correct", "accuracy"], *[[n, str(PER_PART["test"]), str(row[i]), f"{100 * row[i] / PER_PART['test']:.2f}"] for i, (n, row) in enumerate(zip(BASE, confusion))]
    ]  # fmt: skip
    assert out.with_name("base_confusion.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The new classes under the names they were never trained on: as train.py --eval-only evaluates them.
    out = tmp_path / "eval" / "new.csv"
    code, stdout, _ = predict(capsys, run, test / "owl", test / "red_fox", "--labels-from-folders", "--classes", "owl,red fox", "--out", out)
    total, right, _ = logged(runs.new("MuDPT"))
    assert (code, stdout) == (0, f"accuracy: {100 * right / total:.2f}% ({right} of {total} images)\n")
    assert read_csv(out.with_name("new_per_class.csv"))[1][0] == "owl" and files(data) == inputs


def test_predict_lists_unreadable_images_and_exits_1(runs, data, tmp_path, capsys):
    import mudpt

    folder = tmp_path / "mixed"
    for k in range(2):
        write_image(folder / f"good{k}.png", k, 300 + k)
    (folder / "broken.jpg").write_bytes(b"not a jpeg")
    (folder / "list.csv").write_text("path,classname\ngood0.png,cat\nbroken.jpg,dog\ngone.png,cat\ngood1.png,dog\n")
    run, out = runs("CoOp"), tmp_path / "p.csv"
    code, stdout, err = predict(capsys, run, folder / "list.csv", "--out", out)
    good = [str(folder / "good0.png"), str(folder / "good1.png")]
    right = correct(mudpt.load(run).predict(good).probs, [0, 1])
    assert (code, stdout) == (1, f"accuracy: {50 * right:.2f}% ({right} of 2 images)\n")  # the images read
    assert err.endswith(
        f"2 unreadable image(s), not classified:\n  {folder / 'broken.jpg'}: cannot identify image file\n"
        f"  {folder / 'gone.png'}: No such file or directory\n"
    )
    assert [row[0] for row in read_csv(out)[1:]] == good
    code, stdout, err = predict(capsys, run, folder, "--out", out)  # a folder: its images only (not the CSV)
    assert (code, stdout, err.splitlines()[-2:]) == (1, "", ["1 unreadable image(s), not classified:", f"  {folder / 'broken.jpg'}: cannot identify image file"])
    assert [row[0] for row in read_csv(out)[1:]] == good


def test_predict_bad_arguments_exit_2_with_one_line(runs, data, tmp_path, capsys):
    run, test = runs("CoOp"), data / "pets" / "test"
    (tmp_path / "empty.txt").write_text("\n")
    (tmp_path / "labelled.csv").write_text(f"path,classname\n{test}/cat/0.png,cat\n")
    (tmp_path / "one_label.csv").write_text(f"path,label\n{test}/cat/0.png,7\n{test}/cat/1.png,7\n")

    def error(*argv) -> str:
        code, stdout, err = predict(capsys, *argv)
        assert (code, stdout) == (2, "")
        return err

    assert error(run, test, "--classes", "a", "--classes-file", "f").endswith(
        "python predict.py: error: argument --classes-file: not allowed with argument --classes\n"
    )  # argparse: its usage, then the error
    for argv, message in [
        (["--topk", "0"], "--topk and --batch-size must be at least 1, got 0 and 64."),
        (["--out", tmp_path], f"--out {tmp_path} is a folder; give a file name, e.g. --out {tmp_path}/predictions.csv."),
        (["--classes", "cat,,dog"], "--classes 'cat,,dog': an empty class name; give names separated by commas, e.g. --classes cat,dog."),
        (["--classes", ""], "--classes '': an empty class name; give names separated by commas, e.g. --classes cat,dog."),
        (["--classes-file", tmp_path / "empty.txt"], f"--classes-file {tmp_path}/empty.txt: no class names in it; write one name per line."),
        (["--classes-file", tmp_path / "nope.txt"], f"--classes-file {tmp_path}/nope.txt: no such file."),
        (["--device", "gpu"], "device 'gpu' is not a torch device: use 'cpu', 'cuda' or 'cuda:N'."),
        ([tmp_path / "nope"], f"{tmp_path}/nope: no such file or folder."),
        (["--labels-from-folders", "--out", tmp_path / "p.csv"],
         "labels that are not classes of this prediction: owl, red_fox. The classes: cat, dog. Fix: predict with those "
         "classes (--classes / --classes-file), or label with their names."),

        ([tmp_path / "labelled.csv", "--out", tmp_path / "p.csv"],
         f"Some images have a label and {N_TEST} of the {N_TEST + 1} do not ({test}/cat/0.png, {test}/cat/1.png, {test}/cat/2.png, ...). "
         "Fix: label every image (a CSV's label or classname column, --labels-from-folders), or predict the unlabelled "
         "ones in another command."),
    ]:  # fmt: skip
        assert error(run, test, *argv) == f"error: {message}\n"
    assert error(run, tmp_path / "one_label.csv", "--out", tmp_path / "p.csv") == (
        "error: A CSV's integer labels name 1 classes and this prediction has 2: labels name classes by their sorted order "
        "(as CSVDataset reads them), so every class needs its label in the CSV. Fix: add a classname column, or predict "
        "with the classes the labels name (--classes).\n"
    )
    assert error(run, test / "cat" / "0.png", "--labels-from-folders") == (
        f"error: {test}/cat/0.png: --labels-from-folders takes folders (an ImageFolder layout), not single files.\n"
    )
    assert error(runs("LinearProbeCLIP"), test, "--classes", "zebra,giraffe") == (
        "error: LinearProbeCLIP classifies with a linear head fitted on its own classes (cat, dog, owl, red fox): it has no "
        "text side to take other class names. Use a prompt-tuning method.\n"
    )
    assert error(tmp_path, test) == (
        f"error: {tmp_path} is not a run folder (no config.yaml) nor an exported .safetensors file. Pass the output "
        "folder of a train.py training run, or a file written by `python export.py`.\n"
    )
    assert not (tmp_path / "p.csv").exists()
