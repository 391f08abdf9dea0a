"""What the speed and memory tools of the bench share (``python -m bench.bench`` and
``python -m bench.precision_check``): the random CLIPs (OpenAI's shapes by name, open_clip's
models as "open_clip:<model>"), the class names, the methods and their bench recipes
(``trainers.METHODS``), a row's config (the config module) and model (the model factory) with the
trainers' own training step and evaluation call.
"""
from __future__ import annotations

import argparse
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn as nn

__all__ = [
    "DATASET_CONFIG",
    "IMAGENET_CLASSNAMES",
    "REPO",
    "SIZES",
    "RowSpec",
    "Runner",
    "add_backbone_arguments",
    "append_json",
    "available_methods",
    "backbone_opts",
    "bench_methods",
    "build_clip",
    "load_classnames",
    "load_method_cfg",
    "prec_key_of",
    "quiet_trainer_logs",
    "resolve_device",
]


REPO = Path(__file__).resolve().parents[1]

# Random CLIPs of OpenAI's shapes (arguments of trainers.clip_loader.build_tiny_clip, i.e.
# clip.model.CLIP: the widths, heads and depths of OpenAI's models; heads = width // 64).
SIZES: dict[str, dict[str, Any]] = {
    # OpenAI's ViT-B/16: clip.model.CLIP(512, 224, 12, 768, 16, 77, 49408, 512, 8, 12).
    "vitb16": dict(
        embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=16,
        transformer_width=512, transformer_heads=8, transformer_layers=12,
    ),
    # OpenAI's ViT-B/32: clip.model.CLIP(512, 224, 12, 768, 32, 77, 49408, 512, 8, 12).
    "vitb32": dict(
        embed_dim=512, image_resolution=224, vision_layers=12, vision_width=768, vision_patch_size=32,
        transformer_width=512, transformer_heads=8, transformer_layers=12,
    ),
    # OpenAI's ViT-L/14: clip.model.CLIP(768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12).
    "vitl14": dict(
        embed_dim=768, image_resolution=224, vision_layers=24, vision_width=1024, vision_patch_size=14,
        transformer_width=768, transformer_heads=12, transformer_layers=12,
    ),
    # OpenAI's RN50: clip.model.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12); a
    # ResNet image tower takes no visual prompts.
    "rn50": dict(
        embed_dim=1024, image_resolution=224, vision_layers=(3, 4, 6, 3), vision_width=64, vision_patch_size=None,
        transformer_width=512, transformer_heads=8, transformer_layers=12,
    ),
    # 12 blocks per tower like ViT-B/16, so deep-prompt configs (MuDPT's depth 9) run unchanged;
    # narrow (one 64-wide head) and 32 px (4 patches) so that a CPU gets through it quickly.
    "tiny": dict(
        embed_dim=32, image_resolution=32, vision_layers=12, vision_width=64, vision_patch_size=16,
        transformer_width=64, transformer_heads=1, transformer_layers=12,
    ),
}

#: MODEL.BACKBONE.NAME of the rows on each OpenAI shape (in messages and logs); open_clip's models
#: are named by themselves, "tiny" keeps the recipe's.
BACKBONE_NAMES = {"vitb16": "ViT-B/16", "vitb32": "ViT-B/32", "vitl14": "ViT-L/14", "rn50": "RN50"}

DATASET_CONFIG = "configs/datasets/imagenet.yaml"  # used when present; ZeroshotCLIP prompts with ImageNet's template, the default one
DATASET_NAME = "ImageNet"
IMAGENET_CLASSNAMES = REPO.parent / "shared" / "data" / "splits" / "classnames" / "imagenet.txt"
WNID = re.compile(r"n\d{8}")  # "n01440764 tench" lines of ImageNet's classnames.txt


@dataclass(frozen=True)
class RowSpec:
    """One benchmark row."""

    method: str
    config_file: str
    precision: str
    fused: bool
    n_cls: int


# --- the random CLIP ---------------------------------------------------------------------------
def size_arg(value: str) -> str:
    """``--size``: a shape of :data:`SIZES` or "open_clip:<model>" (the model is checked when built)."""
    from trainers.clip_loader import open_clip_model

    if value not in SIZES and not open_clip_model(value):
        raise argparse.ArgumentTypeError(f"{value!r} is neither a shape ({', '.join(SIZES)}) nor open_clip:<model> (e.g. open_clip:ViT-B-32)")
    return value


def add_backbone_arguments(parser: argparse.ArgumentParser) -> None:
    """``--size`` and ``--image-size``: the random CLIP the tools build (:func:`build_clip`)."""
    parser.add_argument("--size", type=size_arg, default=None, metavar="SIZE",
                        help=f"random CLIP: {', '.join(SIZES)} (OpenAI's shapes) or open_clip:<model> (e.g. open_clip:ViT-B-32) "
                             "(default: vitb16 on GPU, tiny on CPU)")  # fmt: skip
    parser.add_argument("--image-size", type=int, default=None, help="its input size (default: the model's; a smaller one has fewer patches)")


def backbone_opts(size: str) -> list[str]:
    """``MODEL.BACKBONE.NAME`` of the random CLIP ``size`` as ``KEY VALUE`` pairs (none for "tiny")."""
    from trainers.clip_loader import open_clip_model

    name = size if open_clip_model(size) else BACKBONE_NAMES.get(size, "")
    return ["MODEL.BACKBONE.NAME", name] if name else []


def build_clip(size: str, image_size: int | None = None, seed: int = 0) -> nn.Module:
    """The random CLIP ``size`` (a shape of :data:`SIZES`, or "open_clip:<model>": open_clip's
    architecture), fp32, eval mode; ``image_size`` replaces its input size."""
    from trainers.clip_loader import build_open_clip, build_tiny_clip, open_clip_model

    model = open_clip_model(size)
    if model:
        return build_open_clip(model, image_size, seed)
    shape = dict(SIZES[size], **({"image_resolution": image_size} if image_size else {}))
    return build_tiny_clip(**shape, seed=seed)


# --- inputs -----------------------------------------------------------------------------------
def load_classnames(n_cls: int, path: str = "") -> tuple[list[str], str]:
    """The first ``n_cls`` class names and where they came from.

    Reads ``path`` or, by default, the ImageNet list in ../shared (one name per line; a leading
    WordNet id as in ImageNet's ``classnames.txt`` is dropped). Without either, generated names
    "class 0", "class 1", ... are used (shorter prompts than ImageNet's, so slightly faster).
    """
    src = Path(path) if path else IMAGENET_CLASSNAMES
    if not src.is_file():
        if path:
            raise FileNotFoundError(f"--classnames file not found: {path}")
        return [f"class {i}" for i in range(n_cls)], "generated ('class 0', ...; ImageNet list not found)"
    names = []
    for line in src.read_text(encoding="utf-8").splitlines():
        first, _, rest = line.strip().partition(" ")
        name = rest.strip() if WNID.fullmatch(first) and rest.strip() else line.strip()
        if name:
            names.append(name)
    if n_cls > len(names):
        raise ValueError(f"--n-cls {n_cls} exceeds the {len(names)} class names in {src}")
    return names[:n_cls], f"{src.name} (first {n_cls})"


def resolve_device(name: str | None) -> torch.device:
    if name is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: CUDA is not available here; use --device cpu")
    return device


# --- building ---------------------------------------------------------------------------------
def load_method_cfg(spec: RowSpec, prec_key: str, size: tuple[int, int], batch: int | None, eval_batch: int | None,
                    opts: Sequence[str] = ()):  # fmt: skip
    """The frozen config of one row, built by the config module (``runconfig.build_config``:
    defaults, dataset yaml, method yaml, KEY VALUE opts) exactly as for training; ``size`` is the
    CLIP's input size, ``opts`` more ``KEY VALUE`` pairs."""
    from runconfig import build_config

    opts = [prec_key, spec.precision, "MODEL.BACKBONE.FUSED", str(spec.fused), "INPUT.SIZE", f"({size[0]}, {size[1]})", *opts]
    dataset_cfg = REPO / DATASET_CONFIG
    if not dataset_cfg.is_file():
        opts += ["DATASET.NAME", DATASET_NAME]
    if batch is not None:
        opts += ["DATALOADER.TRAIN_X.BATCH_SIZE", str(batch)]
    if eval_batch is not None:
        opts += ["DATALOADER.TEST.BATCH_SIZE", str(eval_batch)]
    return build_config(
        trainer=spec.method, config_file=spec.config_file, dataset_config_file=str(dataset_cfg) if dataset_cfg.is_file() else "", opts=opts
    )


class Runner:
    """A model from the factory, with the trainers' optimisation step and evaluation call."""

    def __init__(self, cfg, classnames: list[str], clip_model: nn.Module, device: torch.device):
        from engine.seam import build_optimizer
        from trainers.factory import create_model, trainer_class

        self.model = create_model(cfg, classnames, clip_model, device)
        self.learner = self.model.learner
        self.trains = self.learner is not None and trainer_class(cfg.TRAINER.NAME).GRADIENT_STEPS
        self.optim = None
        if self.trains:
            self.optim = build_optimizer([p for _, p in self.learner.trainable_parameters()], cfg.OPTIM)
        self.scaler = self.model.precision.make_scaler()

    @property
    def n_trainable(self) -> int:
        return sum(p.numel() for _, p in self.learner.trainable_parameters()) if self.learner is not None else 0

    def train_step(self, batch: dict) -> dict:
        from trainers.base import optimizer_step

        with self.model.precision.autocast():
            loss, _ = self.model.loss(batch["img"], batch["label"])
        optimizer_step(loss, self.optim, self.scaler)
        return {"loss": loss.detach()}

    @torch.no_grad()
    def inference(self, images: torch.Tensor) -> torch.Tensor:
        with self.model.precision.autocast():
            return self.model(images).float()


def prec_key_of(trainer_cls: type) -> str:
    return f"TRAINER.{trainer_cls.CFG_NODE}.PREC"


def append_json(path: str, record: dict[str, Any]) -> None:
    """One JSON line appended and flushed per row, so an interrupted run keeps what it measured."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())


def bench_methods() -> dict[str, str]:
    """Trainer name -> bench recipe of every method that has one (its spec's ``bench_recipe``), in
    the methods' list order."""
    from trainers import METHODS

    return {spec.trainer_name: spec.bench_recipe for spec in METHODS.values() if spec.bench_recipe}


def available_methods() -> dict[str, type]:
    """The trainer class of every benchmarked method (:func:`bench_methods`)."""
    from trainers.factory import trainer_class

    return {name: trainer_class(name) for name in bench_methods()}


def quiet_trainer_logs(quiet: bool = True):
    """Hide the project's per-build lines (the trainers' "Initial context", the test transform the
    API builds, ...) for the duration only."""
    from engine.seam import quiet_logs

    return quiet_logs(quiet=quiet)

