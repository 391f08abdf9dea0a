"""KgCoOp: Knowledge-guided Context Optimization (Yao, Zhang, Xu, "Visual-Language Prompt Tuning
with Knowledge-guided Context Optimization", CVPR 2023, arXiv 2303.13283).

CoOp's learned context, plus a term that keeps each class's learned text feature ``w_c`` close
to the frozen feature ``w_c^clip`` of the dataset's hand-crafted prompt ("a photo of a {}, a type
of pet.", ...): ``L = CE + W * (1 - mean_c cos(w_c, w_c^clip))`` over all classes of the split
(the official code's cosine form; for unit vectors it is ``W/2`` times the mean squared distance
the paper writes).

The official code reads CoOp's keys (``TRAINER.COOP.N_CTX / CSC / CTX_INIT / PREC /
CLASS_TOKEN_POSITION / W``, with CTX_INIT a bool meaning "a photo of a"); here they live in
``TRAINER.KGCOOP`` (the node Dassl's clean_cfg keeps for this trainer) and the config module reads
an official yaml's ``TRAINER.COOP`` keys into it (the spec's ``official_node``). Differences: CTX_INIT is
any text (True = "a photo of a", as the official yamls write it); the class token position is
honoured (the official code always puts it at the end); the unused ``bias_vectors``, Meta-Net and
adapter of the official code are not built; the anchors are computed by the run's own CLIP at its
precision (the official code loads a second fp16 CLIP for them).
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import ContextPromptedCLIP, HandcraftedTextFeatures, clip_logits
from .prompt_learners import ContextPromptLearner, add_context_keys, build_context_learner, check_context_keys
from .spec import MethodSpec, register_method

__all__ = ["SPEC", "KgCoOp", "KgCoOpModel", "add_config"]

#: CTX_INIT True in an official KgCoOp yaml: the context the official code then uses.
OFFICIAL_CTX_INIT = "a photo of a"
COSINE_EPS = 1e-7  # the official torch.nn.CosineSimilarity(eps=1e-07)


def add_config(cfg: CN) -> None:
    """TRAINER.KGCOOP: CoOp's keys and W, with the official defaults (PREC: ours)."""
    cfg.TRAINER.KGCOOP = CN()
    add_context_keys(cfg.TRAINER.KGCOOP)  # the official recipes set CTX_INIT "a photo of a"
    # Weight of the knowledge-guided term (the official default 1.0; every official run uses 8.0).
    cfg.TRAINER.KGCOOP.W = 1.0


def official_value(key: str, value):
    """An official ``TRAINER.COOP.<key>`` value as ``TRAINER.KGCOOP`` reads it: CTX_INIT True/False
    is "a photo of a"/""."""
    if key == "CTX_INIT" and isinstance(value, bool):
        return OFFICIAL_CTX_INIT if value else ""
    return value


class KgCoOpModel(ContextPromptedCLIP):
    """CoOp's model plus the frozen hand-crafted text features ``anchors`` and the KG term."""

    def __init__(self, clip_model: nn.Module, learner: ContextPromptLearner, classnames: list[str], template: str, weight: float, fused: bool = True):
        super().__init__(clip_model, learner, fused)
        self.anchors = HandcraftedTextFeatures(clip_model, classnames, [template], fused=fused)  # w^clip, normalised
        self.weight = weight

    def loss(self, image: torch.Tensor, label: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """CE + W (1 - mean over classes of cos(w_c, w_c^clip))."""
        text = self.text_features()  # (n_cls, E)
        logits = clip_logits(self.image_encoder(image), text, self.logit_scale)
        distance = 1 - F.cosine_similarity(text.float(), self.anchors().float(), dim=-1, eps=COSINE_EPS).mean()
        return F.cross_entropy(logits.float(), label) + self.weight * distance, logits


@TRAINER_REGISTRY.register()
class KgCoOp(ClipPromptTrainer):
    """KgCoOp trainer (registered model: ``prompt_learner``, as the official code)."""

    CFG_NODE = "KGCOOP"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        c = cfg.TRAINER.KGCOOP
        check_context_keys(c, "TRAINER.KGCOOP")
        if c.W < 0:
            raise ConfigError(f"TRAINER.KGCOOP.W = {c.W} is not valid; use a weight >= 0 (the official runs use 8.0).")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> KgCoOpModel:
        c = cfg.TRAINER.KGCOOP
        learner = build_context_learner(c, "TRAINER.KGCOOP", classnames, clip_model)
        return KgCoOpModel(clip_model, learner, classnames, template, c.W, fused=cfg.MODEL.BACKBONE.FUSED)


# The official recipe for every protocol (its repository has no cross-dataset recipe).
RECIPE = "configs/trainers/KgCoOp/vit_b16_ep100_ctxv1.yaml"

SPEC = register_method(
    MethodSpec(
        name="kgcoop",
        trainer=KgCoOp,
        paper="KgCoOp (Yao et al., arXiv 2303.13283)",
        add_config=add_config,
        order=3,
        recipes={"base2new": RECIPE, "xd": RECIPE, "fewshot": RECIPE},
        bench_recipe=RECIPE,
        caption_keys=("N_CTX", "W"),
        # The official code's node: an official yaml's or command line's keys go into ours.
        official_node="COOP",
        official_value=official_value,
    )
)
