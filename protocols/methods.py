"""The methods the protocols run, with the published recipe (config file) of each protocol.

A method here is a registered trainer plus its recipes: adding one is an entry in :data:`METHODS`
(and its trainer file); its protocol scripts ``scripts/<name>/*.sh`` are written by
``python sweep.py write-scripts`` and checked by a test.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

__all__ = ["METHODS", "Method", "method_for"]

TRAINERS = "configs/trainers"


@dataclass(frozen=True)
class Method:
    """A method and its recipes.

    Args:
        name: its name on the command line and its folder under ``scripts/``.
        trainer: the registered trainer (``TRAINER.NAME``); its config node is ``TRAINER.<TRAINER>``
            (upper-cased, Dassl's convention), and whether it trains at all is the trainer's fact.
        paper: the method and where it comes from, for help texts.
        base2new: the base-to-new recipe ("": none).
        xd: the cross-dataset recipe ("": none).
        base2new_imagenet: ImageNet's base-to-new recipe when it differs.
        fewshot: (dataset config name, shots) -> recipe; None when the method has no few-shot recipe.
        fewshot_opts: extra ``KEY VALUE`` pairs of its few-shot runs.
    """

    name: str
    trainer: str
    paper: str
    base2new: str = ""
    xd: str = ""
    base2new_imagenet: str = ""
    fewshot: Callable[[str, int], str] | None = None
    fewshot_opts: tuple[str, ...] = ()

    @property
    def node(self) -> str:
        """``TRAINER.<node>`` holds its keys: overrides of another node's keys do not reach its runs."""
        return self.trainer.upper()

    @property
    def zero_shot(self) -> bool:
        """Nothing to train: every step evaluates (the trainer's ``ZERO_SHOT``)."""
        from trainers.base import method_class

        return method_class(self.trainer).ZERO_SHOT

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols it has a recipe for."""
        recipes = {"base2new": self.base2new, "xd": self.xd, "fewshot": self.fewshot}
        return tuple(name for name, recipe in recipes.items() if recipe)

    def config(self, protocol: str, dataset: str, shots: int) -> str:
        """The recipe of ``protocol`` for ``dataset`` (a config name, e.g. "imagenet") and ``shots``."""
        if protocol == "base2new":
            return self.base2new_imagenet if dataset == "imagenet" and self.base2new_imagenet else self.base2new
        if protocol == "xd":
            return self.xd
        if protocol == "fewshot" and self.fewshot is not None:
            return self.fewshot(dataset, shots)
        raise KeyError(f"{self.name} has no recipe for the {protocol} protocol (it has: {', '.join(self.protocols)})")


def _coop_fewshot(dataset: str, shots: int) -> str:
    """CoOp's epochs by shots (its scripts/coop/main.sh): 200 for 8/16, 100 for 2/4, 50 for 1 shot and ImageNet."""
    if dataset == "imagenet" or shots == 1:
        return f"{TRAINERS}/CoOp/vit_b16_ep50.yaml"
    if shots in (2, 4):
        return f"{TRAINERS}/CoOp/vit_b16_ep100.yaml"
    return f"{TRAINERS}/CoOp/vit_b16.yaml"


# PromptSRC's few-shot recipe sets its Gaussian prompt aggregation per dataset (its official yaml,
# switched by hand): mean 30 / std 30 for these, mean 45 / std 5 for the others.
PROMPTSRC_GPA30 = frozenset({"imagenet", "caltech101", "oxford_pets", "food101", "ucf101", "sun397"})


def _promptsrc_fewshot(dataset: str, shots: int) -> str:
    suffix = "" if dataset in PROMPTSRC_GPA30 else "_gpa45"
    return f"{TRAINERS}/PromptSRC/vit_b16_c2_ep50_batch4_4+4ctx_few_shot{suffix}.yaml"


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            name="mudpt",
            trainer="MuDPT",
            paper="MuDPT (Miao et al., arXiv 2306.11400)",
            base2new=f"{TRAINERS}/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml",
            xd=f"{TRAINERS}/MuDPT/vit_b16_c2_ep5_batch4_depth9_xd.yaml",
            fewshot=lambda dataset, shots: f"{TRAINERS}/MuDPT/vit_b16_c2_ep10_batch4_depth9_fewshot.yaml",
        ),
        Method(
            name="coop",
            trainer="CoOp",
            paper="CoOp (Zhou et al., arXiv 2109.01134)",
            # Base-to-new and cross-dataset as in CoCoOp's scripts (ImageNet trains for 50 epochs).
            base2new=f"{TRAINERS}/CoOp/vit_b16_ctxv1.yaml",
            base2new_imagenet=f"{TRAINERS}/CoOp/vit_b16_ep50_ctxv1.yaml",
            xd=f"{TRAINERS}/CoOp/vit_b16_ep50_ctxv1.yaml",
            # Few-shot as in CoOp's paper: 16 learnable context tokens.
            fewshot=_coop_fewshot,
            fewshot_opts=("TRAINER.COOP.N_CTX", "16"),
        ),
        Method(
            name="cocoop",
            trainer="CoCoOp",
            paper="CoCoOp (Zhou et al., arXiv 2203.05557)",
            base2new=f"{TRAINERS}/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml",
            xd=f"{TRAINERS}/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1.yaml",
        ),
        Method(
            name="kgcoop",
            trainer="KgCoOp",
            paper="KgCoOp (Yao et al., arXiv 2303.13283)",
            # The official recipe for every protocol (its repository has no cross-dataset recipe).
            base2new=f"{TRAINERS}/KgCoOp/vit_b16_ep100_ctxv1.yaml",
            xd=f"{TRAINERS}/KgCoOp/vit_b16_ep100_ctxv1.yaml",
            fewshot=lambda dataset, shots: f"{TRAINERS}/KgCoOp/vit_b16_ep100_ctxv1.yaml",
        ),
        Method(
            name="maple",
            trainer="MaPLe",
            paper="MaPLe (Khattak et al., arXiv 2210.03117)",
            base2new=f"{TRAINERS}/MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml",
            xd=f"{TRAINERS}/MaPLe/vit_b16_c2_ep5_batch4_2ctx_cross_datasets.yaml",
        ),
        Method(
            name="ivlp",
            trainer="IVLP",
            paper="IVLP, independent vision-language prompting (the baseline of MaPLe, arXiv 2210.03117)",
            # MaPLe's recipe; PromptSRC's is IVLP/vit_b16_c2_ep20_batch4_4+4ctx.yaml (CFG=...).
            base2new=f"{TRAINERS}/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml",
            xd=f"{TRAINERS}/IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml",
        ),
        Method(
            name="vpt",
            trainer="VPT",
            paper="VPT, deep visual prompting (Jia et al., arXiv 2203.12119) as MaPLe's repository runs it",
            base2new=f"{TRAINERS}/VPT/vit_b16_c2_ep5_batch4_4.yaml",
            xd=f"{TRAINERS}/VPT/vit_b16_c2_ep5_batch4_4.yaml",
        ),
        Method(
            name="promptsrc",
            trainer="PromptSRC",
            paper="PromptSRC (Khattak et al., arXiv 2307.06948)",
            base2new=f"{TRAINERS}/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml",
            xd=f"{TRAINERS}/PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx_cross_datasets.yaml",
            fewshot=_promptsrc_fewshot,
        ),
        Method(
            name="lpclip",
            trainer="LinearProbeCLIP",
            paper="Linear-probe CLIP (Radford et al., arXiv 2103.00020) as CoOp's lpclip runs it",
            fewshot=lambda dataset, shots: f"{TRAINERS}/LinearProbeCLIP/vit_b16.yaml",
        ),
        Method(
            name="zsclip",
            trainer="ZeroshotCLIP",
            paper="Zero-shot CLIP (Radford et al., arXiv 2103.00020) with CoOp's hand-crafted prompts",
            base2new=f"{TRAINERS}/CoOp/vit_b16.yaml",
            xd=f"{TRAINERS}/CoOp/vit_b16.yaml",
        ),
    )
}


def method_for(name: str) -> Method:
    key = name.strip().lower()
    for method in METHODS.values():
        if key in (method.name, method.trainer.lower()):
            return method
    raise KeyError(f"Unknown method {name!r}; the methods: {', '.join(METHODS)}")
