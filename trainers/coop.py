"""CoOp: Context Optimization (Zhou et al., "Learning to Prompt for Vision-Language Models",
IJCV 2022, arXiv 2109.01134).

Learnable context vectors replace the words of a hand-crafted prompt in CLIP's text input:
``[SOS] [V]_1 ... [V]_M [CLASS] . [EOT]``. The context is shared by all classes (unified) or
one per class (``CSC``); the class token sits at the end, the middle or the front.

As the official code: with ``CTX_INIT`` the context has one vector per *word* of it, initialised
from the embeddings of its first tokens (a word of several BPE tokens leaves its last tokens in
the frozen prompt, after the context), and is shared by all classes whatever ``CSC`` says.
"""
from __future__ import annotations

import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer
from .clip_prompting import ContextPromptedCLIP
from .prompt_learners import add_context_keys, build_context_learner, check_context_keys
from .spec import MethodSpec, register_method

__all__ = ["CoOp", "SPEC", "add_config"]

RECIPES = "configs/trainers/CoOp"


def add_config(cfg: CN) -> None:
    """TRAINER.COOP, with CoOp's keys and defaults (PREC defaults to amp: bf16 autocast on GPU)."""
    cfg.TRAINER.COOP = CN()
    add_context_keys(cfg.TRAINER.COOP)


@TRAINER_REGISTRY.register()
class CoOp(ClipPromptTrainer):
    """CoOp trainer (registered model: ``prompt_learner``, as in the CoOp repository)."""

    CFG_NODE = "COOP"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        check_context_keys(cfg.TRAINER.COOP, "TRAINER.COOP")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> ContextPromptedCLIP:
        learner = build_context_learner(cfg.TRAINER.COOP, "TRAINER.COOP", classnames, clip_model)
        return ContextPromptedCLIP(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)


def fewshot_recipe(dataset: str, shots: int) -> str:
    """CoOp's epochs by shots (its scripts/coop/main.sh): 200 for 8/16, 100 for 2/4, 50 for 1 shot and ImageNet."""
    if dataset == "imagenet" or shots == 1:
        return f"{RECIPES}/vit_b16_ep50.yaml"
    if shots in (2, 4):
        return f"{RECIPES}/vit_b16_ep100.yaml"
    return f"{RECIPES}/vit_b16.yaml"


def base2new_recipe(dataset: str, shots: int) -> str:
    """Base-to-new as in CoCoOp's scripts: ImageNet trains for 50 epochs."""
    return f"{RECIPES}/vit_b16_ep50_ctxv1.yaml" if dataset == "imagenet" else f"{RECIPES}/vit_b16_ctxv1.yaml"


SPEC = register_method(
    MethodSpec(
        name="coop",
        trainer=CoOp,
        paper="CoOp (Zhou et al., arXiv 2109.01134)",
        add_config=add_config,
        order=1,
        recipes={"base2new": base2new_recipe, "xd": f"{RECIPES}/vit_b16_ep50_ctxv1.yaml", "fewshot": fewshot_recipe},
        # Few-shot as in CoOp's paper: 16 learnable context tokens.
        protocol_opts={"fewshot": ("TRAINER.COOP.N_CTX", "16")},
        bench_recipe=f"{RECIPES}/vit_b16_ep50.yaml",
        bench_official=(dict(precision="fp16", label="fp16", n_cls=500, batch=32, train_ms=58, peak_mb=8098, eval_img_s=2678),),
        caption_keys=("N_CTX",),
    )
)
