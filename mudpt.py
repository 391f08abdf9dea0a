"""Use what you trained: a trained run, or a model exported from one, as an image classifier.

Any method of this repository (MuDPT, arXiv 2306.11400; CoOp, CoCoOp, KgCoOp, MaPLe, IVLP, VPT,
PromptSRC; zero-shot and linear-probe CLIP), with its own classes or with any class names::

    import mudpt

    clf = mudpt.load("output/base2new/train_base/dtd/shots_16/MuDPT/vit_b16_c2_ep10_batch4_depth9/seed1")
    result = clf.predict(["a.jpg", "b.png"])                         # its own classes
    print(result.labels, result.probs.shape)                         # ['banded', 'woven'] (2, 47)
    result = clf.predict(images, classnames=["zebra", "giraffe"])    # new class names (PIL images)
    image_features = clf.image_features(images)                      # (N, E), what it classifies with
    text_features = clf.text_features(["zebra", "giraffe"])          # (2, E)
    mudpt.export(run_dir, "model.safetensors"); clf = mudpt.load("model.safetensors", device="cuda")

A run is rebuilt as ``train.py --eval-only`` rebuilds it: its ``config.yaml`` (the config module),
CLIP and the model factory, the checkpoint the run deployed (or ``load_epoch``) with the same fit
checks, the test transform of its config, its precision. New class names rebuild the model for
them and load the same trained tensors: every method whose text side takes class names accepts
them (as the base-to-new evaluation does); linear-probe CLIP (its classes are its head's) and a
class-specific context (CoOp's ``CSC True``) refuse them with one line. An exported file is one
safetensors file: the trained tensors, the effective config, the class names, the prompt template
and the backbone's identity (source, name, sha256 of its weights): loading it checks the backbone
and says which weights to fetch when they differ. Where the weights file is not at the path it
had when trained (another machine), it is looked for where ``clip.load`` / open_clip keep it.
No pickle anywhere.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["EXPORT_FORMAT", "Classifier", "Prediction", "export", "load"]

EXPORT_FORMAT = "mudpt-export/1"  # the "format" of an exported file's metadata
EXPORT_SUFFIX = ".safetensors"
DEFAULT_BATCH = 64

Image = Any  # a PIL image, a path (str or Path) to one, or a preprocessed (3, H, W) tensor


@dataclass
class Prediction:
    """Class probabilities of images.

    Args:
        classnames: the classes, in the order of ``probs``' columns.
        probs: (N, C) softmax probabilities, fp32 on the CPU.
    """

    classnames: list[str]
    probs: torch.Tensor

    @property
    def indices(self) -> torch.Tensor:
        """(N,) the most probable class of each image."""
        return self.probs.argmax(dim=-1)

    @property
    def labels(self) -> list[str]:
        """The most probable class name of each image."""
        return [self.classnames[i] for i in self.indices.tolist()]

    def topk(self, k: int) -> tuple[torch.Tensor, list[list[str]]]:
        """((N, k) probabilities, their class names), best first (k at most the number of classes)."""
        values, indices = self.probs.topk(min(k, self.probs.shape[1]), dim=-1)
        return values, [[self.classnames[i] for i in row] for row in indices.tolist()]


class Classifier:
    """A trained model ready to classify images (build it with :func:`load`).

    Attributes:
        method: the trainer (``TRAINER.NAME``).
        classnames: the classes it was trained for (its dataset's, in label order).
        template: the dataset's hand-crafted prompt (for the methods that use one).
        transform: the test transform of its config (PIL image -> (3, H, W) tensor).
        cfg: its effective config.
        device: where it runs.
        source: the run folder or the exported file it comes from.
    """

    def __init__(self, cfg, classnames: Sequence[str], template: str, clip_model: nn.Module, state: dict | None,
                 checkpoint: dict | None, device: torch.device, source: str, verbose: bool = False):  # fmt: skip
        from engine.seam import build_transform
        from trainers.factory import trainer_class

        self.cfg = cfg
        self.method = cfg.TRAINER.NAME
        self.classnames = list(classnames)
        self.template = template
        self.device = device
        self.source = source
        self.transform = build_transform(cfg, is_train=False)
        self._trainer = trainer_class(self.method)
        self._clip = clip_model
        self._state = state  # the trained tensors (None: a zero-shot method)
        self._checkpoint = checkpoint
        self._models: dict[tuple[str, ...], nn.Module] = {}
        self._verbose = verbose
        self.model(self.classnames)  # the trained model itself: the fit checks run now

    def __repr__(self) -> str:
        return f"Classifier({self.method}, {len(self.classnames)} classes, {self.device}, from {self.source})"

    # --- the model for a list of class names ------------------------------------------------------
    def model(self, classnames: Sequence[str] | None = None) -> nn.Module:
        """The model for ``classnames`` (default: its own), built once, in eval mode."""
        from engine.seam import ConfigError

        names = tuple(self.classnames if classnames is None else classnames)
        if names in self._models:
            return self._models[names]
        if not names or any(not isinstance(n, str) or not n.strip() for n in names):
            raise ConfigError(f"Class names must be non-empty strings, got {list(names)!r}.")
        if len(set(names)) != len(names):
            raise ConfigError(f"The class names {list(names)!r} repeat a name: each class once.")
        if list(names) != self.classnames:
            self._check_takes_class_names()
        from engine.seam import quiet_logs
        from trainers.factory import create_model

        # A learner's random init must not move the caller's RNG; its build lines are for --verbose.
        with torch.random.fork_rng(devices=[]), quiet_logs(quiet=not self._verbose):
            model = create_model(self.cfg, list(names), self._clip, self.device, self.template)
        if model.learner is not None and self._state is not None:
            self._trainer.load_learner(model.learner, self.source, {**(self._checkpoint or {}), "state_dict": self._state}, self.cfg, len(names))
        self._models[names] = model.eval()
        return model

    def _check_takes_class_names(self) -> None:
        """Refuse class names other than its own (in its order) where its trained tensors are
        tied to its classes: linear-probe CLIP's head, a class-specific context (CSC) of CoOp or
        KgCoOp (rows of its trained context: names of the same count would be paired silently
        with other classes' contexts)."""
        from engine.seam import ConfigError
        from trainers.prompt_learners import ContextPromptLearner

        own = _shown(self.classnames)
        if self._trainer.__name__ == "LinearProbeCLIP":
            raise ConfigError(
                f"LinearProbeCLIP classifies with a linear head fitted on its own classes ({own}): it has no text side "
                "to take other class names. Use a prompt-tuning method."
            )
        learner = self._models[tuple(self.classnames)].learner  # built first, in __init__
        if isinstance(learner, ContextPromptLearner) and learner.ctx.dim() == 3:
            node = f"TRAINER.{self._trainer.CFG_NODE}"
            raise ConfigError(
                f"{self.method} was trained with a class-specific context ({node}.CSC True: one learned context per class "
                f"it was trained on, {own}): it cannot take other class names. Predict with its own classes, or train with "
                f"a unified context ({node}.CSC False) for new class names."
            )

    # --- inputs -------------------------------------------------------------------------------------
    def preprocess(self, images: Iterable[Image]) -> torch.Tensor:
        """(N, 3, H, W) on the device: paths are read (RGB) and PIL images transformed as the test
        loader does; tensors are taken as already preprocessed."""
        from engine.seam import read_image

        tensors = []
        for image in images:
            if isinstance(image, (str, os.PathLike)):
                image = read_image(str(image))
            tensors.append(image if isinstance(image, torch.Tensor) else self.transform(image))
        return torch.stack(tensors).to(self.device)

    def _batches(self, images: Sequence[Image], batch_size: int) -> Iterable[torch.Tensor]:
        images = list(images)
        for start in range(0, len(images), batch_size):
            yield self.preprocess(images[start : start + batch_size])

    # --- outputs ------------------------------------------------------------------------------------
    @torch.no_grad()
    def logits(self, images: Sequence[Image], classnames: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH) -> torch.Tensor:
        """(N, C) logits, fp32 on the CPU."""
        model = self.model(classnames)
        out = []
        for batch in self._batches(images, batch_size):
            with model.precision.autocast():
                out.append(model(batch).float().cpu())
        return torch.cat(out) if out else torch.empty(0, len(classnames or self.classnames))

    def predict(self, images: Sequence[Image], classnames: Sequence[str] | None = None, batch_size: int = DEFAULT_BATCH) -> Prediction:
        """Class probabilities of ``images`` over ``classnames`` (default: its own classes)."""
        names = list(self.classnames if classnames is None else classnames)
        return Prediction(names, F.softmax(self.logits(images, names, batch_size), dim=-1))

    @torch.no_grad()
    def image_features(self, images: Sequence[Image], batch_size: int = DEFAULT_BATCH) -> torch.Tensor:
        """(N, E) image features, as the model classifies with them (with its visual prompts;
        not normalised), fp32 on the CPU."""
        from trainers.features import image_features

        model = self.model()
        out = []
        for batch in self._batches(images, batch_size):
            with model.precision.autocast():
                out.append(image_features(model, batch).float().cpu())
        return torch.cat(out)

    @torch.no_grad()
    def text_features(self, classnames: Sequence[str] | None = None) -> torch.Tensor:
        """(C, E) class text features of ``classnames`` (default: its own), as the model classifies
        with them (not normalised), fp32 on the CPU."""
        from trainers.features import class_text_features

        model = self.model(classnames)
        with model.precision.autocast():
            return class_text_features(model).float().cpu()


# --- loading ----------------------------------------------------------------------------------------
def load(
    source: str | Path, device: str | torch.device = "cpu", load_epoch: int | None = None, clip_path: str = "", root: str = "",
    verbose: bool = False,
) -> Classifier:
    """A trained run folder (``train.py``'s ``--output-dir``) or an exported file
    (:func:`export`) as a :class:`Classifier` on ``device``.

    Args:
        load_epoch: a run folder's ``model.pth.tar-<epoch>`` (default: the model the run deployed,
            as ``train.py --eval-only``); a run whose training did not finish needs it.
        clip_path: the CLIP weights file, when it is no longer where the config says
            (``MODEL.BACKBONE.PATH``).
        root: the data root, when it is no longer where the config says (``DATASET.ROOT``); read
            only for the class names of a run whose checkpoint does not record them (zero-shot
            runs, runs of older versions).
        verbose: print what loading and building do (CLIP, the prompts, the transform).
    """
    from engine.seam import quiet_logs

    source = str(source)
    device = _device(device)
    with quiet_logs(quiet=not verbose):
        if source.endswith(EXPORT_SUFFIX) and osp.isfile(source):
            return _load_export(source, device, clip_path, verbose)
        return _load_run(source, device, load_epoch, clip_path, root, verbose)


def _shown(classnames: Sequence[str], limit: int = 10) -> str:
    """Class names for a one-line message: the first ``limit`` and how many there are."""
    more = f", ... ({len(classnames)} classes)" if len(classnames) > limit else ""
    return ", ".join(classnames[:limit]) + more


def _device(device: str | torch.device) -> torch.device:
    """``device`` as a torch device that exists here (a one-line ConfigError otherwise)."""
    from engine.seam import ConfigError

    try:
        device = torch.device(device)
    except (RuntimeError, TypeError):
        raise ConfigError(f"device {str(device)!r} is not a torch device: use 'cpu', 'cuda' or 'cuda:N'.") from None
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if count == 0:
            raise ConfigError(f"device {str(device)!r}: there is no CUDA device here (torch.cuda.is_available() is False); use 'cpu'.")
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device {str(device)!r}: there are {count} CUDA device(s) here, cuda:0 to cuda:{count - 1}.")
    return device


def _opts(clip_path: str) -> list[str]:
    """Overrides of every loaded config: it writes nothing (no OUTPUT_DIR), CLIP from ``clip_path``."""
    return ["OUTPUT_DIR", "", *(["MODEL.BACKBONE.PATH", clip_path] if clip_path else [])]


def _load_run(run_dir: str, device: torch.device, load_epoch: int | None, clip_path: str, root: str, verbose: bool = False) -> Classifier:
    from engine.seam import RunFolder, RunFolderError, load_checkpoint
    from runconfig import build_config
    from trainers.clip_loader import backbone_identity
    from trainers.factory import dataset_template, trainer_class

    folder = RunFolder(run_dir)
    config = folder.config_text()
    if config is None:
        raise RunFolderError(
            f"{run_dir} is not a run folder (no {RunFolder.CONFIG}) nor an exported {EXPORT_SUFFIX} file. Pass the output "
            "folder of a train.py training run, or a file written by `python export.py`."
        )
    cfg = build_config(config_text=config, config_source=folder.file(RunFolder.CONFIG), root=root, opts=_opts(clip_path))
    recorded = (folder.record().get("inputs") or {}).get("clip") or {}
    trained = {**backbone_identity(cfg), "file": osp.basename(recorded.get("path", "")), **recorded}
    cfg = _locate_weights(cfg, trained, str(folder.path), clip_path)
    trainer = trainer_class(cfg.TRAINER.NAME)
    state = checkpoint = None
    if not trainer.ZERO_SHOT:
        path = _trained_model_file(folder, trainer, load_epoch)
        checkpoint = load_checkpoint(path)
        state = checkpoint["state_dict"]
        source = path
    else:
        source = run_dir
    classnames = (checkpoint or {}).get("classnames") or _dataset_classnames(cfg, run_dir)
    clip_model = _frozen_clip(cfg, trained, str(folder.path))
    return Classifier(cfg, classnames, dataset_template(cfg), clip_model, state, checkpoint, device, source, verbose)


def _locate_weights(cfg, trained: dict[str, str], source: str, clip_path: str):
    """``cfg`` with the CLIP weights ``source`` was trained on: ``trained`` is their identity
    (``backbone_identity`` where it trained: ``file``, ``sha256``, ``name``...). A config names
    the weights file where it was trained; on another machine (the path is not there) the file is
    looked for where ``clip.load`` / open_clip keep it, or downloaded there when those are the
    weights it names (OpenAI's sha256 is in their URL; an open_clip tag is checked once it is
    downloaded, by :func:`_check_weights`). ``clip_path`` (the user's file) is taken as given."""
    from engine.seam import WeightsError, sha256_file
    from trainers.clip_loader import fetch_hint, official_sha256, weights_file

    sha, backbone = trained.get("sha256", ""), cfg.MODEL.BACKBONE
    given = weights_file(cfg)
    if not sha or not backbone.PATH or osp.isfile(given):
        _check_weights(cfg, trained, source)
        return cfg
    if not clip_path:
        cfg = _with_weights_file(cfg, "")
        cached = weights_file(cfg)
        if cached and osp.isfile(cached) and sha256_file(cached) == sha:
            return _with_weights_file(cfg, cached)
        if sha == official_sha256(backbone.NAME) or backbone.PRETRAINED:
            return cfg  # clip.load / open_clip download them
    raise WeightsError(
        f"{source} was trained on {backbone.NAME} and its weights are not here ({given}). Fetch {fetch_hint(trained)}; "
        "then load with clip_path= (predict.py --clip-path) if it is elsewhere."
    )


def _with_weights_file(cfg, path: str):
    """A copy of ``cfg`` whose ``MODEL.BACKBONE.PATH`` is ``path``."""
    cfg = cfg.clone()
    cfg.defrost()
    cfg.MODEL.BACKBONE.PATH = path
    cfg.freeze()
    return cfg


def _check_weights(cfg, trained: dict[str, str], source: str) -> None:
    """The weights file of ``cfg`` (when it is here) is the one ``source`` was trained on."""
    from engine.seam import WeightsError
    from trainers.clip_loader import backbone_identity, fetch_hint, weights_file

    sha, current = trained.get("sha256", ""), backbone_identity(cfg)
    if sha and current["sha256"] and current["sha256"] != sha:
        raise WeightsError(
            f"{source} was trained on other CLIP weights ({trained.get('path') or trained.get('file')}, sha256 {sha[:12]}) "
            f"than these ({weights_file(cfg)}, sha256 {current['sha256'][:12]}): its prompts only fit the weights they "
            f"were trained with. Fetch {fetch_hint(trained)}; then load with clip_path= (predict.py --clip-path)."
        )


def _frozen_clip(cfg, trained: dict[str, str], source: str):
    """The frozen CLIP of ``cfg``, checked (again, once a download made its file) against ``trained``."""
    from trainers.factory import load_frozen_clip

    clip_model = load_frozen_clip(cfg)
    _check_weights(cfg, trained, source)
    return clip_model


def _trained_model_file(folder, trainer: type, load_epoch: int | None) -> str:
    """The checkpoint of a training run to load: the one it deployed, or ``load_epoch``'s. A run
    whose training did not complete needs ``load_epoch`` (its last epoch is not a finished model)."""
    from engine.seam import CheckpointError, model_file

    record = folder.record()
    if record.get("kind") == "eval":
        command = record.get("command") or []
        trained = command[command.index("--model-dir") + 1] if "--model-dir" in command[:-1] else "its --model-dir"
        raise CheckpointError(
            f"{folder.path} is an evaluation run (train.py --eval-only): its model is in the training run it evaluated "
            f"({trained}). Load that folder."
        )
    folder.check_evaluable(load_epoch, epoch_option="load_epoch=N; predict.py and export.py: --load-epoch N", verb="load")
    return model_file(osp.join(folder.path, trainer.MODEL_NAME), load_epoch)


def _dataset_classnames(cfg, source: str) -> list[str]:
    """The class names of a config's dataset, read by its reader (the whole training set: no
    few-shot file is read or written)."""
    from engine.seam import DATASET_REGISTRY, DataError

    fewshot_free = cfg.clone()
    fewshot_free.defrost()
    fewshot_free.DATASET.NUM_SHOTS = -1
    fewshot_free.freeze()
    try:
        return list(DATASET_REGISTRY.get(cfg.DATASET.NAME)(fewshot_free).classnames)
    except (DataError, FileNotFoundError, OSError) as e:
        raise DataError(
            f"{source} does not record its class names (a zero-shot run, or a checkpoint of an older version), and its "
            f"dataset cannot be read for them ({str(e).splitlines()[0]}). Pass root= (the data root, DATASET.ROOT)."
        ) from None


# --- exporting --------------------------------------------------------------------------------------
def export(run_dir: str | Path, path: str | Path, load_epoch: int | None = None, clip_path: str = "", root: str = "") -> str:
    """Write the trained model of ``run_dir`` to one safetensors file ``path`` (see the module);
    returns its path. The arguments are :func:`load`'s."""
    from engine.seam import ConfigError, atomic_write_bytes
    from safetensors.torch import save
    from trainers.clip_loader import backbone_identity

    path = str(path)
    if not path.endswith(EXPORT_SUFFIX):
        raise ConfigError(f"Export to a {EXPORT_SUFFIX} file: {path} does not end with {EXPORT_SUFFIX}.")
    from engine.seam import quiet_logs

    with quiet_logs():
        clf = _load_run(str(run_dir), torch.device("cpu"), load_epoch, clip_path, root)
    tensors = {k: v.detach().cpu().contiguous() for k, v in (clf._state or {}).items()}
    metadata = {
        "format": EXPORT_FORMAT,
        "method": clf.method,
        "config": clf.cfg.dump(),
        "classnames": json.dumps(clf.classnames),
        "template": clf.template,
        "backbone": json.dumps(backbone_identity(clf.cfg)),
        "checkpoint": json.dumps({k: (clf._checkpoint or {}).get(k) for k in ("epoch", "num_classes")}),
        "run": osp.abspath(str(run_dir)),
    }
    atomic_write_bytes(path, save(tensors, metadata=metadata))
    return path


def _load_export(path: str, device: torch.device, clip_path: str, verbose: bool = False) -> Classifier:
    from engine.seam import CheckpointError
    from runconfig import build_config
    from safetensors import safe_open
    from trainers.factory import trainer_class

    try:
        with safe_open(path, framework="pt") as f:
            metadata = f.metadata() or {}
            state = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # safetensors raises its own errors for a file that is not one
        raise CheckpointError(f"Cannot read {path} as an exported model ({type(e).__name__}: {e}). Write it with `python export.py`.") from None
    if metadata.get("format") != EXPORT_FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not an exported model of this repository (format {metadata.get('format')!r}, "
            f"expected {EXPORT_FORMAT!r}). Write one with `python export.py RUN_DIR {osp.basename(path)}`."
        )
    cfg = build_config(config_text=metadata["config"], config_source=path, opts=_opts(clip_path))
    trained = json.loads(metadata["backbone"])
    cfg = _locate_weights(cfg, trained, path, clip_path)
    checkpoint = {**json.loads(metadata.get("checkpoint", "{}")), "config": metadata["config"]}
    trainer = trainer_class(cfg.TRAINER.NAME)
    return Classifier(cfg, json.loads(metadata["classnames"]), metadata["template"], _frozen_clip(cfg, trained, path),
                      None if trainer.ZERO_SHOT else state, checkpoint, device, path, verbose)  # fmt: skip
