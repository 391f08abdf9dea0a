"""Does MuDPT restore alignment? Measures of how prompt tuning changes CLIP's image-text alignment.

MuDPT (Miao et al., arXiv 2306.11400) argues that uni-modal prompt tuning (CoOp: text only, VPT:
image only) "breaks the alignment" of CLIP's text and image representations, and that deep
bi-directional fusion of the two towers' prompts (its Injection Model) restores it. This module
measures that on trained runs; ``docs/alignment.md`` gives the formulas and the commands.

A run is rebuilt exactly as ``train.py --eval-only --model-dir RUN`` evaluates it: its
``config.yaml`` built into the run's config by the config module (``runconfig.build_config``), the trainer built by the engine (data through the
run's own dataset reader, the model through the model factory ``trainers.create_model``), the
checkpoint loaded by the trainer's ``load_model``. The frozen reference is zero-shot CLIP with
the dataset's hand-crafted prompt (``ZeroshotCLIP``, built by the same factory on the same
backbone). Hidden states come from the substrate's own block walk
(:func:`trainers.clip_prompting.record_states`) while each model runs its own ``forward``.

Per run (all cosines are of L2-normalised vectors; ``f_i`` image features, ``t_c`` class text
features, ``y_i`` labels, over the ``N`` images of the split and its ``C`` classes):

* ``modality_gap`` = || mean_i f_i - mean_c t_c ||_2;
* ``true_cosine`` = mean_i cos(f_i, t_{y_i}); ``margin`` = mean_i [cos(f_i, t_{y_i}) -
  max_{c != y_i} cos(f_i, t_c)]; ``accuracy`` (%) of the model's own logits;
* ``image_movement`` = mean_i cos(f_i, f_i^0) and ``text_movement`` = mean_c cos(t_c, t_c^0), with
  ``f^0`` frozen CLIP's features of the same images and ``t^0`` its features of the hand-crafted
  prompt of the same classes;
* per block ``b`` (output of block ``b``, 0-based): ``image_state_movement[b]`` = mean_i
  cos(h_b(CLS_i), h_b^0(CLS_i)), ``text_state_movement[b]`` = mean_c cos(h_b(EOT_c), h_b^0(EOT_c))
  (the readout tokens: CLS of each image, EOT of each class prompt);
* per prompted layer ``l`` (the prompts inserted before block ``l``; 0 = shallow), for methods
  with prompts in both towers: ``prompt_cosine[l]`` = mean over pairs (j, k) of cos(P_t(T_l^j),
  P_v(V_l^k)), with ``P_t = ln_final`` then ``text_projection`` and ``P_v = ln_post`` then
  ``visual.proj`` (the maps CLIP reads its features with), and ``prompt_cosine_matched[l]`` =
  mean_j cos(P_t(T_l^j), P_v(V_l^j)) when both towers have as many tokens (MuDPT fuses token j
  with token j). ``T_l``, ``V_l`` are the prompts the encoders insert (after MuDPT's fusion,
  MaPLe's coupling function).
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from typing import Any, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F
import yaml

from engine.errors import CheckpointError, ConfigError, DataError, RunFolderError
from engine.run_folder import RunFolder

__all__ = [
    "SPLITS",
    "LoadedRun",
    "RunMeasures",
    "alignment_measures",
    "find_runs",
    "injection_attention",
    "load_run",
    "modality_gap",
    "prompt_cosines",
    "reference_model",
    "true_class_scores",
]

SPLITS = ("test", "val")
REFERENCE_TRAINER = "ZeroshotCLIP"  # frozen CLIP with the dataset's hand-crafted prompt


# --- loading a run ---------------------------------------------------------------------------------
@dataclass
class LoadedRun:
    """A trained run rebuilt as ``train.py``'s evaluation rebuilds it."""

    path: str
    cfg: Any  # the frozen yacs config (the run's config.yaml + the analysis overrides)
    trainer: Any  # the engine's trainer: ``model``, ``dm`` (data), ``device``
    checkpoint: str | None  # the checkpoint file loaded (None for a zero-shot run)
    unfinished: Any = None  # engine.run_folder.Unfinished: an unfinished training's epoch, asked for by --load-epoch

    @property
    def model(self) -> nn.Module:
        return self.trainer.model

    @property
    def method(self) -> str:
        return self.cfg.TRAINER.NAME

    @property
    def classnames(self) -> list[str]:
        return list(self.trainer.dm.dataset.classnames)

    @property
    def template(self) -> str | None:
        return getattr(self.trainer.dm.dataset, "template", None)

    def loader(self, split: str):
        """The split's data loader (the run's test transforms)."""
        loader = self.trainer.dm.test_loader if split == "test" else self.trainer.dm.val_loader
        if loader is None:
            raise DataError(f"{self.cfg.DATASET.NAME} has no {split} split in the run {self.path}; use --split test.")
        return loader


def _run_config_path(run_dir: str) -> str:
    folder = RunFolder(run_dir)
    if not os.path.isdir(run_dir):
        raise RunFolderError(f"{run_dir} does not exist. Pass the output folder of a train.py run (its --output-dir).")
    if folder.config_text() is None:
        raise RunFolderError(
            f"{run_dir} is not a run folder: it has no {RunFolder.CONFIG}. Pass the output folder of a train.py run "
            "(its --output-dir, holding config.yaml, run.json and the checkpoint sub-folder)."
        )
    return folder.file(RunFolder.CONFIG)


def find_runs(path: str) -> list[str]:
    """``path`` itself when it is a run folder, else every run folder below it that holds a
    checkpoint (trained runs: evaluation folders hold none), sorted; an error if there is none."""
    if RunFolder(path).config_text() is not None or not os.path.isdir(path):
        return [path]
    runs = [top for top, _, _ in os.walk(path) if RunFolder(top).config_text() is not None]
    found = sorted(top for top in runs if RunFolder(top).model_dirs())
    if not found and runs:
        raise CheckpointError(
            f"{path} holds only evaluation runs (train.py --eval-only: no checkpoint), e.g. {sorted(runs)[0]}. Pass the "
            "training runs they evaluated (e.g. output/base2new/train_base/...) and --classes new for the new classes."
        )
    if not found:
        raise RunFolderError(
            f"{path} is not a run folder and holds no trained run (a folder with config.yaml and a checkpoint) below it. "
            "Pass the output folder of a train.py run, or a folder above such runs (e.g. output/base2new/train_base/dtd)."
        )
    return found


def load_run(run_dir: str, root: str = "", classes: str = "", load_epoch: int | None = None) -> LoadedRun:
    """Rebuild the run of ``run_dir`` and load its checkpoint.

    ``root`` replaces ``DATASET.ROOT`` (data moved since training); ``classes`` replaces
    ``DATASET.SUBSAMPLE_CLASSES`` (``new``: a base-trained run on the new classes, as the
    base-to-new evaluation does); ``load_epoch`` as ``train.py --load-epoch``.
    """
    from engine.seam import build_trainer
    from runconfig import build_config, check_same_split, data_inputs, data_root
    from trainers.factory import trainer_class

    config_path = _run_config_path(run_dir)
    with open(config_path, encoding="utf-8") as f:
        saved = yaml.safe_load(f) or {}
    name = (saved.get("TRAINER") or {}).get("NAME", "")
    if not name:
        raise ConfigError(f"{config_path} names no trainer (TRAINER.NAME): is it a config.yaml written by train.py?")
    opts = ["OUTPUT_DIR", ""]  # the analysis writes nothing into the run folder
    if classes:
        opts += ["DATASET.SUBSAMPLE_CLASSES", classes]
    cfg = build_config(trainer=name, config_file=config_path, root=root, opts=opts)
    zero_shot = trainer_class(name).ZERO_SHOT
    if not zero_shot and not RunFolder(run_dir).model_dirs():
        if RunFolder(run_dir).record().get("kind") == "eval":
            raise CheckpointError(
                f"{run_dir} is an evaluation run (train.py --eval-only): the checkpoint is in the training run it "
                "evaluated. Pass that folder (its --model-dir, e.g. .../train_base/...) and --classes new for the new classes."
            )
        raise CheckpointError(
            f"{run_dir} holds no checkpoint (no <model>/checkpoint sub-folder): its training has not saved one. "
            "Finish it (rerun its train.py command: it resumes), or pass a run that has one."
        )
    unfinished = None if zero_shot else RunFolder(run_dir).check_evaluable(load_epoch)  # train.py --eval-only's rule
    try:
        trainer = build_trainer(cfg)
    except FileNotFoundError as e:  # a reader that does not say what to fix
        raise DataError(
            f"The data of {run_dir} ({cfg.DATASET.NAME}) is not where its config says ({e}). Pass --root DATA (the "
            "datasets root, DATASET.ROOT), see DATASETS.md."
        ) from e
    checkpoint = None
    if not zero_shot:
        check_same_split(run_dir, cfg, data_inputs(trainer.dm.dataset, data_root(cfg)))
        from engine.seam import model_file

        trainer.load_model(run_dir, epoch=load_epoch)  # train.py's evaluation: checks, class keys, shapes
        checkpoint = model_file(RunFolder(run_dir).model_dirs()[0], load_epoch)
    trainer.model.eval()
    return LoadedRun(run_dir, cfg, trainer, checkpoint, unfinished)


def reference_model(run: LoadedRun, clip_model: nn.Module | None = None) -> nn.Module:
    """Frozen CLIP with the dataset's hand-crafted prompt for the run's classes (``ZeroshotCLIP``
    from the model factory, on the run's backbone, precision and device)."""
    from trainers.factory import create_model, load_frozen_clip

    cfg = run.cfg.clone()
    cfg.defrost()
    node = run.trainer.CFG_NODE
    cfg.TRAINER.NAME = REFERENCE_TRAINER
    cfg.TRAINER.ZEROSHOTCLIP.TEMPLATES = "dataset"
    cfg.TRAINER.ZEROSHOTCLIP.PREC = cfg.TRAINER[node].PREC if "PREC" in cfg.TRAINER.get(node, {}) else "fp32"
    cfg.freeze()
    model = create_model(cfg, run.classnames, clip_model if clip_model is not None else load_frozen_clip(cfg), run.trainer.device, run.template)
    return model.eval()


# --- features --------------------------------------------------------------------------------------
class _Observed:
    """A model observed while it runs: its class text features (computed once, with the hidden
    states of that call), then per batch its own ``forward`` with the image encoder's output and
    hidden states recorded. Everything kept is on the CPU in fp32."""

    def __init__(self, model: nn.Module):
        from trainers.clip_prompting import record_states
        from trainers.features import class_text_features, text_encoder_of

        self.model = model
        with torch.no_grad(), model.precision.autocast(), record_states(text_encoder_of(model)) as calls:
            self.text = class_text_features(model).float().cpu()  # (n_cls, E)
        # Per block (n_cls, D_t) at EOT; None when the features came from several calls (an ensemble).
        self.text_states = [s.float().cpu() for s in calls[0]] if len(calls) == 1 else None

    @torch.no_grad()
    def step(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """(image features (B, E), logits (B, n_cls), hidden states per block [(B, D_v)])."""
        from trainers.clip_prompting import record_states

        model, outputs = self.model, []
        hook = model.image_encoder.register_forward_hook(lambda m, i, o: outputs.append(o))
        try:
            with model.precision.autocast(), contextlib.ExitStack() as stack:
                calls = stack.enter_context(record_states(model.image_encoder)) if model.image_encoder.is_vit else [[]]
                logits = model(image)
        finally:
            hook.remove()
        if len(outputs) != 1:
            raise RuntimeError(f"{type(model).__name__}.forward ran its image encoder {len(outputs)} times")
        return outputs[0].float().cpu(), logits.float().cpu(), [s.float().cpu() for s in calls[-1]]


def _batches(loader, trainer, max_images: int | None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    seen = 0
    for batch in loader:
        image, label = trainer.parse_batch_test(batch)
        if max_images is not None:
            image, label = image[: max_images - seen], label[: max_images - seen]
        if len(label) == 0:
            return
        seen += len(label)
        yield image, label
        if max_images is not None and seen >= max_images:
            return


# --- the measures ----------------------------------------------------------------------------------
def modality_gap(image_features: torch.Tensor, text_features: torch.Tensor) -> float:
    """|| mean of the normalised image features - mean of the normalised class text features ||_2."""
    return float((F.normalize(image_features, dim=-1).mean(0) - F.normalize(text_features, dim=-1).mean(0)).norm())


def true_class_scores(image_features: torch.Tensor, text_features: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image: (cos to its true class, that minus the largest cos to a wrong class), each (N,)."""
    cos = F.normalize(image_features, dim=-1) @ F.normalize(text_features, dim=-1).t()  # (N, n_cls)
    rows = torch.arange(len(labels))
    true = cos[rows, labels]
    wrong = cos.clone()
    wrong[rows, labels] = -float("inf")
    return true, true - wrong.max(dim=1).values


def _mean_cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(F.cosine_similarity(a.float(), b.float(), dim=-1).mean())


def prompt_cosines(model: nn.Module) -> tuple[list[float | None], list[float | None]] | None:
    """(pairwise, matched) cosine of the two towers' prompts per prompted layer, in CLIP's joint
    space (text: ``ln_final`` + ``text_projection``; image: ``ln_post`` + ``visual.proj``); None for
    a model without prompts in both towers. A layer prompted in one tower only gets None."""
    from trainers.clip_prompting import DeepPromptedCLIP

    if not isinstance(model, DeepPromptedCLIP):
        return None
    with torch.no_grad(), model.precision.autocast():
        text_l0, text_deep, vision_l0, vision_deep = model.learner()
        if vision_l0 is None:
            return None
        texts = [text_l0, *text_deep]  # layer l: (n_t, D_t)
        visions = [vision_l0, *vision_deep]  # layer l: (n_v, D_v)
        te, ve = model.text_encoder, model.image_encoder
        pairwise: list[float | None] = []
        matched: list[float | None] = []
        for layer in range(max(len(texts), len(visions))):
            if layer >= len(texts) or layer >= len(visions) or texts[layer] is None or visions[layer] is None:
                pairwise.append(None)
                matched.append(None)
                continue
            t = F.normalize(te.project(texts[layer].to(te.dtype)).float(), dim=-1)  # (n_t, E)
            v = F.normalize(ve.project(visions[layer].to(ve.dtype)).float(), dim=-1)  # (n_v, E)
            pairwise.append(float((t @ v.t()).mean()))
            matched.append(float((t * v).sum(-1).mean()) if t.shape == v.shape else None)
    return pairwise, matched


INJECTION_DIRECTIONS = ("text->vision", "vision->text")  # queries -> keys, in the order of the weights


@torch.no_grad()
def injection_attention(learner: nn.Module | None) -> dict | None:
    """MuDPT's Injection Model attention (``INJECTION cross_attention``), or None for every other
    learner: ``layers`` (the prompted layers it injects into), ``weights`` (INJ_LAYERS, 2, L, n, k)
    averaged over heads (direction 0: text queries -> visual keys, 1: the reverse; ``k`` = n keys of
    the same layer, or L n with ``INJ_SPAN all``), and per direction and prompted layer:
    ``entropy`` = mean over queries and Injection Model layers of H(a) / log k (1: uniform over
    the keys, 0: one key; None when k = 1), and with ``INJ_SPAN all`` ``same_layer_share`` = the weight the queries
    of layer l give to layer l's keys (1/L if spread evenly)."""
    report_of = getattr(learner, "injection_attention", None)
    report = report_of() if report_of is not None else None
    if report is None:
        return None
    w = report["weights"].float().cpu()  # (I, 2, L, n, k)
    L, n, k = w.shape[2:]
    if k > 1:
        entropy = -(w * w.clamp_min(1e-12).log()).sum(-1) / math.log(k)  # (I, 2, L, n)
        per_layer = {d: entropy[:, i].mean(dim=(0, 2)).tolist() for i, d in enumerate(INJECTION_DIRECTIONS)}
    else:  # one key: the attention has no choice
        per_layer = {d: [None] * L for d in INJECTION_DIRECTIONS}
    out = {"layers": report["layers"], "directions": list(INJECTION_DIRECTIONS), "weights": w.tolist(), "entropy": per_layer}
    if k == L * n and L > 1:  # every layer's keys: how much stays on the query's own layer
        own = w.reshape(*w.shape[:4], L, n).sum(-1)  # (I, 2, L, n, L): weight per key layer
        share = own.diagonal(dim1=2, dim2=4).mean(dim=(0, 2))  # (2, L)
        out["same_layer_share"] = {d: share[i].tolist() for i, d in enumerate(INJECTION_DIRECTIONS)}
    return out


@dataclass
class RunMeasures:
    """Every number of one row of the analysis (see the module docstring)."""

    identity: dict[str, Any]
    images: int
    classes: int
    accuracy: float
    modality_gap: float
    true_cosine: float
    margin: float
    image_movement: float
    text_movement: float
    image_state_movement: list[float] = field(default_factory=list)
    text_state_movement: list[float] | None = None
    prompt_cosine: list[float | None] | None = None
    prompt_cosine_matched: list[float | None] | None = None
    injection_attention: dict | None = None


def _measures(identity: dict[str, Any], model: nn.Module, text: torch.Tensor, ref_text: torch.Tensor, image: torch.Tensor,
              ref_image: torch.Tensor, logits: torch.Tensor, labels: torch.Tensor, image_states: list[float],
              text_states: list[float] | None) -> RunMeasures:  # fmt: skip
    true, margin = true_class_scores(image, text, labels)
    cosines = prompt_cosines(model)
    return RunMeasures(
        identity=identity,
        images=len(labels),
        classes=text.shape[0],
        accuracy=100.0 * float((logits.argmax(1) == labels).float().mean()),
        modality_gap=modality_gap(image, text),
        true_cosine=float(true.mean()),
        margin=float(margin.mean()),
        image_movement=_mean_cosine(image, ref_image),
        text_movement=_mean_cosine(text, ref_text),
        image_state_movement=image_states,
        text_state_movement=text_states,
        prompt_cosine=cosines[0] if cosines else None,
        prompt_cosine_matched=cosines[1] if cosines else None,
        injection_attention=injection_attention(getattr(model, "learner", None)),
    )


def run_identity(run: LoadedRun, split: str) -> dict[str, Any]:
    """Who the row is: path, method, dataset, split and the settings captions name."""
    from results.settings import config_from_yaml, method_settings

    cfg = run.cfg
    settings = method_settings(cfg.TRAINER.NAME, config_from_yaml(cfg.dump()))
    return {
        "path": run.path,
        "method": cfg.TRAINER.NAME,
        "dataset": cfg.DATASET.NAME,
        "folder": cfg.DATASET.get("FOLDER", ""),  # your own data (ImageFolder, CSVDataset): which folder
        "classes": cfg.DATASET.SUBSAMPLE_CLASSES,
        "shots": cfg.DATASET.NUM_SHOTS,
        "seed": cfg.SEED,
        "backbone": cfg.MODEL.BACKBONE.NAME,
        "backbone_path": cfg.MODEL.BACKBONE.PATH,
        "split": split,
        "checkpoint": run.checkpoint,
        "unfinished_training": run.unfinished.record() if run.unfinished is not None else None,
        "settings": {label: value for label, value in settings},
    }


def alignment_measures(run: LoadedRun, split: str = "test", max_images: int | None = None, clip_model: nn.Module | None = None) -> tuple[RunMeasures, RunMeasures]:
    """(the run's measures, frozen CLIP's on the same images and classes) for ``split``: one pass
    over the split, both models on each batch."""
    reference = _Observed(reference_model(run, clip_model))
    same = run.trainer.ZERO_SHOT and run.method == REFERENCE_TRAINER and run.cfg.TRAINER.ZEROSHOTCLIP.TEMPLATES == "dataset"
    observed = reference if same else _Observed(run.model)
    images, ref_images, logits, ref_logits, labels = [], [], [], [], []
    state_cos: list[list[torch.Tensor]] = []  # per batch, per block: (B,) cosines to frozen CLIP
    for image, label in _batches(run.loader(split), run.trainer, max_images):
        ref_feat, ref_out, ref_states = reference.step(image)
        feat, out, states = (ref_feat, ref_out, ref_states) if same else observed.step(image)
        for kept, value in ((images, feat), (ref_images, ref_feat), (logits, out), (ref_logits, ref_out), (labels, label.cpu())):
            kept.append(value)
        state_cos.append([F.cosine_similarity(a, b, dim=-1) for a, b in zip(states, ref_states)])
    if not labels:
        raise DataError(f"The {split} split of {run.path} ({run.cfg.DATASET.NAME}) has no images.")
    image_states = [float(torch.cat(block).mean()) for block in zip(*state_cos)]
    ref_blocks = [1.0] * len(image_states)
    text_states = ref_text_states = None
    if observed.text_states is not None and reference.text_states is not None:
        text_states = [_mean_cosine(a, b) for a, b in zip(observed.text_states, reference.text_states)]
        ref_text_states = [1.0] * len(text_states)
    image, ref_image, label = torch.cat(images), torch.cat(ref_images), torch.cat(labels)
    identity = run_identity(run, split)
    ref_identity = {**identity, "method": REFERENCE_TRAINER, "checkpoint": None, "unfinished_training": None, "settings": {"zero-shot": ""},
                    "reference_of": run.path, "template": run.template}  # fmt: skip
    mine = _measures(identity, run.model, observed.text, reference.text, image, ref_image, torch.cat(logits), label, image_states, text_states)
    ref = _measures(ref_identity, reference.model, reference.text, reference.text, ref_image, ref_image, torch.cat(ref_logits), label,
                    ref_blocks, ref_text_states)  # fmt: skip
    return mine, ref
