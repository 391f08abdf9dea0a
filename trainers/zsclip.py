"""Zero-shot CLIP with hand-crafted prompts (the CoOp/CoCoOp baseline).

CLIP: Radford et al., arXiv 2103.00020. Per-dataset templates as in CoOp (Zhou et al.,
arXiv 2109.01134), taken from the dataset (its ``template``); ``TRAINER.ZSCLIP.TEMPLATES
ensemble`` averages the text features of a small ImageNet-tuned template set plus the dataset
template (CoOp's "ZeroshotCLIP2", also registered under that name). Text features are computed
once, at build time; nothing is trained.
"""
from __future__ import annotations

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, TrainerX, get_logger

from .base import Precision, check_choice, check_input_size, load_frozen_clip
from .clip_loader import clip
from .clip_prompting import PromptedImageEncoder, PromptedTextEncoder, clip_logits

__all__ = ["DEFAULT_TEMPLATE", "ENSEMBLE_TEMPLATES", "ZeroshotCLIP", "ZeroshotCLIP2", "add_config"]

_log = get_logger("trainers.zsclip")

# The prompt of a dataset that names none (the benchmarks' own, CoOp's choices, are part of their
# facts in datasets/<benchmark>.py and reach the trainer as the dataset's ``template``).
DEFAULT_TEMPLATE = "a photo of a {}."

# Seven templates selected from CLIP's 80 ImageNet prompts (the set CoOp's ZeroshotCLIP2 uses).
ENSEMBLE_TEMPLATES = (
    "itap of a {}.",
    "a bad photo of the {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
)
TEMPLATE_CHOICES = ("dataset", "ensemble")


def add_config(cfg: CN) -> None:
    """TRAINER.ZSCLIP: options of the zero-shot baseline."""
    cfg.TRAINER.ZSCLIP = CN()
    # "dataset": the benchmark's hand-crafted template; "ensemble": mean of ENSEMBLE_TEMPLATES + it.
    cfg.TRAINER.ZSCLIP.TEMPLATES = "dataset"
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.ZSCLIP.PREC = "amp"


class ZeroshotModel(nn.Module):
    """Frozen CLIP with fixed class text features: ``forward(image) -> logits``."""

    def __init__(self, clip_model: nn.Module, text_features: torch.Tensor, fused: bool = True):
        super().__init__()
        self.image_encoder = PromptedImageEncoder(clip_model, fused=fused)
        self.logit_scale = clip_model.logit_scale
        self.register_buffer("text_features", text_features, persistent=False)  # (n_cls, E), normalised

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return clip_logits(self.image_encoder(image), self.text_features, self.logit_scale)


@torch.no_grad()
def encode_class_texts(clip_model: nn.Module, classnames: list[str], templates: list[str], fused: bool = True) -> torch.Tensor:
    """Normalised text features (n_cls, E), averaged over ``templates`` (then re-normalised)."""
    encoder = PromptedTextEncoder(clip_model, fused=fused)
    device = clip_model.token_embedding.weight.device
    feats = []
    for template in templates:
        tokens = clip.tokenize([template.format(c.replace("_", " ")) for c in classnames]).to(device)  # (n_cls, L)
        eot = tokens.argmax(dim=-1)
        f = encoder(clip_model.token_embedding(tokens), eot, seq_len=int(eot.max()) + 1)  # (n_cls, E)
        feats.append(f / f.norm(dim=-1, keepdim=True))
    mean = torch.stack(feats).mean(dim=0)  # (n_cls, E)
    return mean / mean.norm(dim=-1, keepdim=True)


@TRAINER_REGISTRY.register()
class ZeroshotCLIP(TrainerX):
    """Evaluate CLIP zero-shot; ``--eval-only`` is the intended use (there is nothing to train)."""

    ZERO_SHOT = True  # train.py: evaluates without --model-dir, refuses to train
    DEFAULT_TEMPLATES = None  # None = TRAINER.ZSCLIP.TEMPLATES

    def check_cfg(self, cfg: CN) -> None:
        check_choice(cfg.TRAINER.ZSCLIP.TEMPLATES, TEMPLATE_CHOICES, "TRAINER.ZSCLIP.TEMPLATES")

    def build_model(self) -> None:
        template = getattr(self.dm.dataset, "template", DEFAULT_TEMPLATE)
        self.setup_model(list(self.dm.dataset.classnames), load_frozen_clip(self.cfg), template)

    def setup_model(self, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> None:
        """Precision, class text features and the model for a loaded, frozen CLIP; ``template``
        is the dataset's hand-crafted prompt."""
        cfg = self.cfg
        self.precision = Precision(cfg.TRAINER.ZSCLIP.PREC, self.device, "TRAINER.ZSCLIP.PREC")
        check_input_size(cfg, clip_model)
        self.precision.prepare_clip(clip_model).to(self.device)

        mode = self.DEFAULT_TEMPLATES or cfg.TRAINER.ZSCLIP.TEMPLATES
        templates = [template] if mode == "dataset" else [*ENSEMBLE_TEMPLATES, template]
        _log.info(f"Prompts: {[template.format(c.replace('_', ' ')) for c in classnames]}")
        if len(templates) > 1:
            _log.info(f"Prompt ensemble over {len(templates)} templates: {templates}")
        fused = cfg.MODEL.BACKBONE.FUSED
        with self.precision.autocast():
            text_features = encode_class_texts(clip_model, classnames, templates, fused=fused)
        self.model = ZeroshotModel(clip_model, text_features, fused=fused).to(self.device)

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            return self.model(input).float()

    def train(self) -> None:  # type: ignore[override]
        raise RuntimeError("ZeroshotCLIP has nothing to train: run train.py with --eval-only")


@TRAINER_REGISTRY.register()
class ZeroshotCLIP2(ZeroshotCLIP):
    """Zero-shot CLIP with the template ensemble (CoOp's name for it)."""

    DEFAULT_TEMPLATES = "ensemble"
