"""MaPLe: Multi-modal Prompt Learning (Khattak, Rasheed, Maaz, Khan, Khan, CVPR 2023,
arXiv 2210.03117).

Deep text prompts, and visual prompts that are a learned function of them: the shallow text
context ``P_0`` (``ctx``) replaces the first ``N_CTX`` tokens of "a photo of a" (the rest of the
words stay, frozen); the shallow visual prompts are ``F_0(P_0)`` (``proj``), appended to the image
tokens; before block ``i`` (1 <= i < J) the text tower gets ``P_i`` (``compound_prompts_text``) in
place of the context rows and the image tower gets ``F_i(P_i)`` (``compound_prompt_projections``)
in place of the visual prompt rows. Each coupling ``F`` is a Linear from the text width to the
image width; the J-1 deep ones start as copies of one Linear (identical weights), as in the
official code. Plain cross-entropy.

Tensor names and the order of random initialisation are the official ones: ``ctx`` (random only
without CTX_INIT), ``proj``, the deep text prompts in layer order, then one Linear copied J-1
times. Differences from the official code: widths come from the backbone (the official code
hard-codes ViT-B's 512 and 768), a CTX_INIT with fewer tokens than N_CTX <= 4 is an error (the
official code reads EOT/padding embeddings as context; with N_CTX > 4 both start from random
context whatever CTX_INIT says, with a note here), and precision is ours (fp32, amp or fp16 with fp32 learnable tensors; the official code runs only
in fp16, with ``ctx`` and ``proj`` stored in fp16).
"""
from __future__ import annotations

import copy

import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, Learner
from .clip_prompting import ClassPrompts, DeepPromptedCLIP, check_prompt_depth, random_prompts
from .prompt_learners import DeepPrompts, official_context
from .spec import MethodSpec, register_method

__all__ = ["SPEC", "MaPLe", "MultiModalPromptLearner", "add_config"]

_log = get_logger("trainers.maple")


def add_config(cfg: CN) -> None:
    """TRAINER.MAPLE, with the official keys and defaults (PREC: ours, amp)."""
    cfg.TRAINER.MAPLE = CN()
    # Prompt tokens per layer, in both towers.
    cfg.TRAINER.MAPLE.N_CTX = 2
    # The prompt text; the context replaces its first N_CTX tokens ("" = "X" placeholders, random init).
    # Used only for N_CTX <= 4, as in the official code: with more, the context starts random.
    cfg.TRAINER.MAPLE.CTX_INIT = "a photo of a"
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.MAPLE.PREC = "amp"
    # J: blocks that receive prompts in each tower, counting block 0 (1 = shallow prompts only).
    cfg.TRAINER.MAPLE.PROMPT_DEPTH = 9


class MultiModalPromptLearner(Learner):
    """Every trainable tensor of MaPLe: ``ctx`` P_0 (n, D_t), ``proj`` F_0 (D_t -> D_v),
    ``compound_prompts_text`` P_1..P_{J-1} (each (n, D_t)) and ``compound_prompt_projections``
    F_1..F_{J-1} (each D_t -> D_v). ``forward()`` returns the prompts the encoders insert.

    Args:
        class_prompts: tokenised class prompts whose first ``n`` context tokens P_0 replaces.
        ctx_from_words: P_0 starts from the embeddings of those tokens (else N(0, 0.02^2)).
        vision_dim: width of the image tower.
        depth: J.
    """

    def __init__(self, class_prompts: ClassPrompts, ctx_from_words: bool, vision_dim: int, depth: int):
        super().__init__()
        self.prompts = class_prompts
        self.n_ctx = class_prompts.n_ctx
        text_dim = class_prompts.context_embedding.shape[-1]
        self.ctx = nn.Parameter(class_prompts.initial_context(ctx_from_words))  # P_0 (n, D_t)
        self.proj = nn.Linear(text_dim, vision_dim)  # F_0
        self.compound_prompts_text = nn.ParameterList([random_prompts(self.n_ctx, text_dim) for _ in range(depth - 1)])  # P_1..P_{J-1}
        template = nn.Linear(text_dim, vision_dim)  # drawn once; the deep couplings start as its copies
        self.compound_prompt_projections = nn.ModuleList([copy.deepcopy(template) for _ in range(depth - 1)])  # F_1..F_{J-1}

    def forward(self) -> DeepPrompts:
        """``(P_0, [P_1..P_{J-1}], F_0(P_0), [F_i(P_i)])``: entry ``i`` of a deep list goes before block ``i + 1``."""
        text_deep = list(self.compound_prompts_text)
        vision_deep = [f(p) for f, p in zip(self.compound_prompt_projections, text_deep)]
        return self.ctx, text_deep, self.proj(self.ctx), vision_deep


@TRAINER_REGISTRY.register()
class MaPLe(ClipPromptTrainer):
    """MaPLe trainer. The registered model is the prompt learner, under the official checkpoint
    folder name ``MultiModalPromptLearner``."""

    CFG_NODE = "MAPLE"
    MODEL_NAME = "MultiModalPromptLearner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        c = cfg.TRAINER.MAPLE
        if c.N_CTX < 1:
            raise ConfigError(f"TRAINER.MAPLE.N_CTX = {c.N_CTX} is not valid; use a positive number of prompt tokens (e.g. 2).")
        if c.PROMPT_DEPTH < 1:
            raise ConfigError(f"TRAINER.MAPLE.PROMPT_DEPTH = {c.PROMPT_DEPTH} is not valid; use 1 (shallow prompts) to the number of blocks (12 for ViT-B/16).")
        official_context(c.CTX_INIT, c.N_CTX, "TRAINER.MAPLE", note=False)

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> DeepPromptedCLIP:
        c = cfg.TRAINER.MAPLE
        check_prompt_depth(clip_model, "TRAINER.MAPLE.PROMPT_DEPTH", c.PROMPT_DEPTH, "both", cfg.MODEL.BACKBONE.NAME)
        text, from_words = official_context(c.CTX_INIT, c.N_CTX, "TRAINER.MAPLE")
        prompts = ClassPrompts(clip_model, classnames, c.N_CTX, text, "TRAINER.MAPLE.N_CTX")
        learner = MultiModalPromptLearner(prompts, from_words, clip_model.visual.conv1.out_channels, c.PROMPT_DEPTH)
        _log.info(f'Prompt text: "{text} <class>."; the context replaces its first {c.N_CTX} tokens; prompt depth J = {c.PROMPT_DEPTH}')
        return DeepPromptedCLIP(clip_model, learner, fused=cfg.MODEL.BACKBONE.FUSED)


RECIPES = "configs/trainers/MaPLe"

SPEC = register_method(
    MethodSpec(
        name="maple",
        trainer=MaPLe,
        paper="MaPLe (Khattak et al., arXiv 2210.03117)",
        add_config=add_config,
        order=4,
        recipes={"base2new": f"{RECIPES}/vit_b16_c2_ep5_batch4_2ctx.yaml", "xd": f"{RECIPES}/vit_b16_c2_ep5_batch4_2ctx_cross_datasets.yaml"},
        bench_recipe=f"{RECIPES}/vit_b16_c2_ep5_batch4_2ctx.yaml",
        bench_official=(dict(precision="fp16", label="fp16", n_cls=500, batch=4, train_ms=64, peak_mb=8111, eval_img_s=2887),),
        caption_keys=("N_CTX", "PROMPT_DEPTH"),
    )
)
