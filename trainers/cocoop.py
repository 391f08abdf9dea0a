"""CoCoOp: Conditional Context Optimization (Zhou et al., "Conditional Prompt Learning for
Vision-Language Models", CVPR 2022, arXiv 2203.05557).

A lightweight Meta-Net turns each image's feature into a bias ``pi(x)`` added to every context
vector, so the prompt ``[SOS] v_1+pi(x) ... v_M+pi(x) [CLASS] . [EOT]`` is instance-conditional.
The text encoder therefore runs per image and class; evaluation batches that work over images and
classes in memory-bounded chunks (``TRAINER.COCOOP.TEXT_BATCH`` prompts per encoder call).
"""
from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import TRAINER_REGISTRY, ConfigError, get_logger

from .base import DEFAULT_TEMPLATE, ClipPromptTrainer, Learner
from .clip_prompting import ClassPrompts, PromptedCLIP, clip_logits, iter_chunks
from .keys import user_set
from .prompt_learners import context_words
from .spec import MethodSpec, register_method

__all__ = ["SPEC", "CoCoOp", "CoCoOpModel", "CoCoOpPromptLearner", "MetaNet", "add_config"]

_log = get_logger("trainers.cocoop")

META_NET_REDUCTION = 16  # hidden width = visual feature width / 16 (CoCoOp, Sec. 3.2)


def add_config(cfg: CN) -> None:
    """TRAINER.COCOOP, with CoCoOp's keys and defaults plus the evaluation chunk size."""
    cfg.TRAINER.COCOOP = CN()
    # Number of learnable context tokens M (ignored when CTX_INIT is given: its word count is used).
    cfg.TRAINER.COCOOP.N_CTX = 16
    # Initialise the context from these words (e.g. "a photo of a"); "" = random N(0, 0.02^2).
    cfg.TRAINER.COCOOP.CTX_INIT = ""
    # fp32 | fp16 | amp (GPU only; fp32 on CPU).
    cfg.TRAINER.COCOOP.PREC = "amp"
    # At most this many prompts (images x classes) per text-encoder call (the batch is split into
    # chunks of images); lower it if evaluation runs out of memory, raise it for speed. A memory
    # knob, like the test batch size: a run folder does not count it as a change of results (SPEC).
    cfg.TRAINER.COCOOP.TEXT_BATCH = 20000


class MetaNet(nn.Sequential):
    """Linear-ReLU-Linear from the image feature (E) to a context bias (D), hidden width E/16."""

    def __init__(self, vis_dim: int, ctx_dim: int):
        hidden = max(vis_dim // META_NET_REDUCTION, 1)
        super().__init__(
            OrderedDict(
                [("linear1", nn.Linear(vis_dim, hidden)), ("relu", nn.ReLU(inplace=True)), ("linear2", nn.Linear(hidden, ctx_dim))]
            )
        )


class CoCoOpPromptLearner(Learner):
    """Context ``ctx`` (n_ctx, D) and the Meta-Net; parameter names match the CoCoOp repository
    (``asked``: the user set N_CTX, see :func:`trainers.prompt_learners.context_words`)."""

    def __init__(self, clip_model: nn.Module, classnames: list[str], n_ctx: int, ctx_init: str = "", asked: bool = False):
        super().__init__()
        text, self.n_ctx, from_words = context_words(n_ctx, ctx_init, "TRAINER.COCOOP", asked)
        self.prompts = ClassPrompts(clip_model, classnames, self.n_ctx, text, "TRAINER.COCOOP.N_CTX")
        self.ctx = nn.Parameter(self.prompts.initial_context(from_words))  # (n, D)
        self.meta_net = MetaNet(clip_model.visual.output_dim, self.ctx.shape[1])
        _log.info(f'Initial context: "{text}"; number of context words (tokens): {self.n_ctx}')

    def forward(self, image_features: torch.Tensor, length: int | None = None) -> torch.Tensor:
        """Instance-conditional prompts (B, n_cls, L, D) for normalised image features (B, E)."""
        bias = self.meta_net(image_features.to(self.ctx.dtype))  # (B, D)
        ctx = self.ctx.unsqueeze(0) + bias.unsqueeze(1)  # (B, n, D)
        n_cls = self.prompts.n_cls
        return self.prompts.assemble(ctx.unsqueeze(1).expand(-1, n_cls, -1, -1), "end", length)  # (B, n_cls, L, D)


class CoCoOpModel(PromptedCLIP):
    """``forward(image) -> logits`` (B, n_cls) with per-image text features."""

    def __init__(self, clip_model: nn.Module, learner: CoCoOpPromptLearner, text_batch: int, fused: bool = True):
        super().__init__(clip_model, learner, fused)
        self.text_batch = text_batch  # max prompts per text-encoder call

    def text_features(self, image_features: torch.Tensor) -> torch.Tensor:
        """(B, n_cls, E) for normalised image features (B, E)."""
        p = self.learner.prompts
        prompts = self.learner(image_features, self.text_length(p))  # (B, n_cls, L, D)
        B, n_cls = prompts.shape[:2]
        eot = p.eot_idx.repeat(B)  # (B*n_cls,)
        feats = self.text_encoder(prompts.flatten(0, 1), eot)  # (B*n_cls, E)
        return feats.view(B, n_cls, -1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        image_features = self.image_encoder(image)
        image_features = image_features / image_features.norm(dim=-1, keepdim=True)  # (B, E)
        # Chunks of images, so that one text-encoder call holds <= text_batch prompts (a training
        # batch of CoCoOp's recipe, 1 image, is one chunk).
        per_chunk = max(1, self.text_batch // self.learner.prompts.n_cls)
        logits = [
            clip_logits(image_features[s], self.text_features(image_features[s]), self.logit_scale)
            for s in iter_chunks(image.shape[0], per_chunk)
        ]
        return torch.cat(logits)  # (B, n_cls)


@TRAINER_REGISTRY.register()
class CoCoOp(ClipPromptTrainer):
    """CoCoOp trainer (registered model: ``prompt_learner``, as in the CoOp repository)."""

    CFG_NODE = "COCOOP"
    MODEL_NAME = "prompt_learner"

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        if cfg.TRAINER.COCOOP.N_CTX < 1 and not cfg.TRAINER.COCOOP.CTX_INIT:
            raise ConfigError(f"TRAINER.COCOOP.N_CTX must be >= 1, got {cfg.TRAINER.COCOOP.N_CTX}")
        if cfg.TRAINER.COCOOP.TEXT_BATCH < 1:
            raise ConfigError(f"TRAINER.COCOOP.TEXT_BATCH must be >= 1, got {cfg.TRAINER.COCOOP.TEXT_BATCH}")

    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> CoCoOpModel:
        c = cfg.TRAINER.COCOOP
        learner = CoCoOpPromptLearner(clip_model, classnames, c.N_CTX, c.CTX_INIT, user_set(c, "N_CTX"))
        return CoCoOpModel(clip_model, learner, c.TEXT_BATCH, fused=cfg.MODEL.BACKBONE.FUSED)


RECIPE = "configs/trainers/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml"

SPEC = register_method(
    MethodSpec(
        name="cocoop",
        trainer=CoCoOp,
        paper="CoCoOp (Zhou et al., arXiv 2203.05557)",
        add_config=add_config,
        order=2,
        recipes={"base2new": RECIPE, "xd": RECIPE},
        bench_recipe=RECIPE,
        bench_official=(dict(precision="fp16", label="fp16", n_cls=500, batch=1, train_ms=61, peak_mb=8085, eval_img_s=50),),
        caption_keys=("N_CTX",),
        non_result_keys=("TEXT_BATCH",),
    )
)
