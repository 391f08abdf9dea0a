"""PromptSRC: Self-regulating Prompts (Khattak, Wasim, Naseer, Khan, Yang, Khan, "Self-regulating
Prompts: Foundational Model Adaptation without Forgetting", ICCV 2023, arXiv 2307.06948).

IVLP's independent deep prompts in both towers, trained with three self-regularising terms:

* **mutual agreement** with the frozen CLIP: ``L_SCL-text = mean |w~ - w|`` between the prompted
  and the frozen normalised class text features, ``L_SCL-image = mean |f~ - f|`` between the
  prompted and the frozen normalised image features of the same (augmented) batch, and
  ``L_SCL-logits = KL(p_frozen || p_prompted)`` on the logits (temperature 1, summed and divided by
  B x C as the official code does);
* **textual diversity**: the frozen text features ``w`` average CLIP's text features over 60 of
  CLIP's ImageNet templates (raw features averaged, then normalised, as the official code);
* **Gaussian prompt aggregation** (GPA): the prompts of epoch ``e`` are weighted by a Gaussian
  ``N(e; GPA_MEAN, GPA_STD)`` normalised over the epochs, and their weighted sum after the last
  epoch is the final model.

``L = CE + TEXT_LOSS_WEIGHT * L_SCL-text + IMAGE_LOSS_WEIGHT * L_SCL-image + L_SCL-logits``.

The frozen features come from the run's own CLIP: the text ones once per class set, the image ones
in the same forward (the image tower without prompts); no second CLIP copy is held in memory.
Differences from the official code, all deliberate: GPA aggregates the learned prompts in fp32
and is kept in every checkpoint (under real Dassl too, in a folder of its own), so a resumed run
aggregates exactly what an uninterrupted run does (the official code aggregates the whole state
dict, frozen CLIP included, in fp16, rounding the frozen weights, and loses the aggregate on
resume); precision is ours (the official code runs only in fp16); prompt initial values are drawn
as IVLP's (see ``trainers/ivlp.py``).
"""
from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import DeepPromptedCLIP, HandcraftedTextFeatures, clip_logits
from .prompt_learners import IndependentPromptLearner, add_independent_keys, build_independent_learner, check_independent_keys
from .spec import MethodSpec, register_method

__all__ = ["IMAGENET_TEMPLATES", "SPEC", "GaussianPromptAggregation", "PromptSRC", "PromptSRCModel", "add_config", "gpa_weights"]

_log = get_logger("trainers.promptsrc")

# CLIP's ImageNet prompt templates (OpenAI, Prompt_Engineering_for_ImageNet.ipynb) as PromptSRC
# uses them for the frozen text features: 60 of the 80, in the notebook's order.
IMAGENET_TEMPLATES = (
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a bad photo of the {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a photo of a hard to see {}.", "a bright photo of a {}.", "a photo of a clean {}.",
    "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.", "a photo of my {}.",
    "the plastic {}.", "a photo of the cool {}.", "a close-up photo of a {}.", "a black and white photo of the {}.",
    "a painting of the {}.", "a painting of a {}.", "a pixelated photo of the {}.", "a sculpture of the {}.",
    "a bright photo of the {}.", "a cropped photo of a {}.", "a plastic {}.", "a photo of the dirty {}.",
    "a jpeg corrupted photo of a {}.", "a blurry photo of the {}.", "a photo of the {}.", "a good photo of the {}.",
    "a rendering of the {}.", "a {} in a video game.", "a photo of one {}.", "a doodle of a {}.",
    "a close-up photo of the {}.", "the origami {}.", "the {} in a video game.", "a sketch of a {}.",
    "a doodle of the {}.", "a origami {}.", "a low resolution photo of a {}.", "the toy {}.",
    "a rendition of the {}.", "a photo of the clean {}.", "a photo of a large {}.", "a rendition of a {}.",
    "a photo of a nice {}.", "a photo of a weird {}.", "a blurry photo of a {}.", "a cartoon {}.", "art of a {}.",
    "a sketch of the {}.", "a embroidered {}.", "a pixelated photo of a {}.", "itap of the {}.",
)  # fmt: skip
KL_TEMPERATURE = 1.0


def add_config(cfg: CN) -> None:
    """TRAINER.PROMPTSRC, with the official keys, types and defaults (PREC: ours)."""
    cfg.TRAINER.PROMPTSRC = CN()
    c = cfg.TRAINER.PROMPTSRC
    add_independent_keys(c)
    c.N_CTX_VISION = 4
    c.N_CTX_TEXT = 4
    # Weight of the L1 agreement of the text features (integer, as the official key).
    c.TEXT_LOSS_WEIGHT = 25
    # Weight of the L1 agreement of the image features.
    c.IMAGE_LOSS_WEIGHT = 10
    # Gaussian prompt aggregation over the epochs 1..MAX_EPOCH: its mean and its std, in epochs.
    c.GPA_MEAN = 15
    c.GPA_STD = 1


def gpa_weights(max_epoch: int, mean: float, std: float) -> list[float]:
    """The weight of each epoch 1..max_epoch: a Gaussian density at the epoch, normalised to sum 1."""
    density = [math.exp(-0.5 * ((e - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi)) for e in range(1, max_epoch + 1)]
    total = sum(density)
    return [d / total for d in density]


class GaussianPromptAggregation:
    """The running GPA sum of a learner's trainable tensors (fp32): ``add(epoch)`` after each epoch,
    ``load()`` after the last one puts the sum into the learner. ``state()`` / ``restore()`` keep it
    in checkpoints, so a resumed run aggregates what an uninterrupted run does."""

    def __init__(self, learner: IndependentPromptLearner, weights: list[float]):
        self.learner = learner
        self.weights = weights
        self.sum: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def add(self, epoch: int) -> None:
        """Add the current tensors with the weight of ``epoch`` (1-based)."""
        w = self.weights[epoch - 1]
        for name, p in self.learner.trainable_parameters():
            value = p.detach().float() * w
            self.sum[name] = value if name not in self.sum else self.sum[name] + value

    @torch.no_grad()
    def load(self) -> None:
        for name, p in self.learner.trainable_parameters():
            p.copy_(self.sum[name].to(p.dtype))
        self.learner.text_cache.clear()

    def state(self) -> dict[str, torch.Tensor]:
        return {name: t.cpu() for name, t in self.sum.items()}

    def restore(self, state: dict[str, torch.Tensor]) -> None:
        device = next(self.learner.parameters()).device
        self.sum = {name: t.to(device) for name, t in state.items()}


class PromptSRCModel(DeepPromptedCLIP):
    """IVLP's model with the frozen text features (template ensemble) and the PromptSRC loss."""

    def __init__(self, clip_model: nn.Module, learner: IndependentPromptLearner, classnames: list[str], text_weight: float, image_weight: float, fused: bool = True):
        super().__init__(clip_model, learner, fused)
        self.frozen_text = HandcraftedTextFeatures(clip_model, classnames, IMAGENET_TEMPLATES, fused=fused, average="features")
        self.text_weight, self.image_weight = text_weight, image_weight

    def loss(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        image_features, text_features = self.features(image)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)  # f~ (B, E)
        text_features = text_features / text_features.norm(dim=-1, keepdim=True)  # w~ (n_cls, E)
        logits = clip_logits(image_features, text_features, self.logit_scale)  # (B, n_cls)
        with torch.no_grad():
            frozen_image = self.image_encoder(image)  # f: the image tower without prompts, same batch
            frozen_image = frozen_image / frozen_image.norm(dim=-1, keepdim=True)
            frozen_text = self.frozen_text()  # w (n_cls, E), normalised
            frozen_logits = clip_logits(frozen_image, frozen_text, self.logit_scale)
        text_l1 = F.l1_loss(text_features.float(), frozen_text.float())
        image_l1 = F.l1_loss(image_features.float(), frozen_image.float())
        t = KL_TEMPERATURE
        kl = F.kl_div(
            F.log_softmax(logits.float() / t, dim=1), F.log_softmax(frozen_logits.float() / t, dim=1), reduction="sum", log_target=True
        ) * (t * t) / logits.numel()
        loss = F.cross_entropy(logits.float(), label) + self.text_weight * text_l1 + self.image_weight * image_l1 + kl
        return loss, logits


@TRAINER_REGISTRY.register()
class PromptSRC(ClipPromptTrainer):
    """PromptSRC trainer; the registered model keeps the official checkpoint folder name ``VLPromptLearner``."""

    CFG_NODE = "PROMPTSRC"
    MODEL_NAME = "VLPromptLearner"
    GPA_KEY = "gpa"  # the running aggregate, in each checkpoint (under real Dassl: the folder <output>/gpa/)

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        c = cfg.TRAINER.PROMPTSRC
        check_independent_keys(c, "TRAINER.PROMPTSRC")
        if c.GPA_STD <= 0:
            raise ConfigError(f"TRAINER.PROMPTSRC.GPA_STD = {c.GPA_STD} is not valid; use a positive number of epochs (e.g. 1).")
        for key in ("TEXT_LOSS_WEIGHT", "IMAGE_LOSS_WEIGHT"):
            if c[key] < 0:
                raise ConfigError(f"TRAINER.PROMPTSRC.{key} = {c[key]} is not valid; use a weight >= 0.")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> PromptSRCModel:
        c = cfg.TRAINER.PROMPTSRC
        learner = build_independent_learner(c, "TRAINER.PROMPTSRC", classnames, clip_model, cfg.MODEL.BACKBONE.NAME)
        return PromptSRCModel(clip_model, learner, classnames, c.TEXT_LOSS_WEIGHT, c.IMAGE_LOSS_WEIGHT, fused=cfg.MODEL.BACKBONE.FUSED)

    def setup_model(self, classnames: list[str], clip_model: nn.Module, template: str | None = None) -> None:
        super().setup_model(classnames, clip_model, template)
        c = self.cfg.TRAINER.PROMPTSRC
        self.gpa = GaussianPromptAggregation(self.model.learner, gpa_weights(self.cfg.OPTIM.MAX_EPOCH, c.GPA_MEAN, c.GPA_STD))
        self.keep_in_checkpoints(self.GPA_KEY, self.gpa, "Gaussian prompt aggregation of the epochs trained so far")

    def after_epoch(self) -> None:
        """GPA: add this epoch's prompts; after the last epoch, the aggregate becomes the model
        (then tested and saved, as in the official code)."""
        epoch = self.epoch + 1
        self.gpa.add(epoch)
        if epoch == self.max_epoch:
            self.gpa.load()
            _log.info(f"Gaussian prompt aggregation over epochs 1..{epoch} (mean {self.cfg.TRAINER.PROMPTSRC.GPA_MEAN}, std {self.cfg.TRAINER.PROMPTSRC.GPA_STD}) loaded")
        super().after_epoch()


RECIPES = "configs/trainers/PromptSRC"
# The few-shot recipe sets the Gaussian prompt aggregation per dataset (the official yaml, switched
# by hand): mean 30 / std 30 for these, mean 45 / std 5 for the others.
GPA30 = frozenset({"imagenet", "caltech101", "oxford_pets", "food101", "ucf101", "sun397"})


def fewshot_recipe(dataset: str, shots: int) -> str:
    suffix = "" if dataset in GPA30 else "_gpa45"
    return f"{RECIPES}/vit_b16_c2_ep50_batch4_4+4ctx_few_shot{suffix}.yaml"


SPEC = register_method(
    MethodSpec(
        name="promptsrc",
        trainer=PromptSRC,
        paper="PromptSRC (Khattak et al., arXiv 2307.06948)",
        add_config=add_config,
        order=7,
        recipes={
            "base2new": f"{RECIPES}/vit_b16_c2_ep20_batch4_4+4ctx.yaml",
            "xd": f"{RECIPES}/vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets.yaml",
            "fewshot": fewshot_recipe,
        },
        bench_recipe=f"{RECIPES}/vit_b16_c2_ep20_batch4_4+4ctx.yaml",
        caption_keys=("N_CTX_TEXT", "N_CTX_VISION", "PROMPT_DEPTH_TEXT", "PROMPT_DEPTH_VISION"),
    )
)
