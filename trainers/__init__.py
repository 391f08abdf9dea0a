"""CLIP prompt-tuning trainers, registered in ``TRAINER_REGISTRY`` on import.

``add_trainer_config(cfg)`` adds every trainer's keys (and the shared CLIP keys) to a Dassl
config tree; ``default_config()`` is the whole default tree (Dassl's, the datasets', the
trainers'), before any yaml is merged.
"""
from yacs.config import CfgNode as CN

from . import cocoop, coop, ivlp, kgcoop, linear_probe, maple, mudpt, promptsrc, vpt, zsclip
from .base import add_common_config

_METHOD_MODULES = (zsclip, linear_probe, coop, cocoop, kgcoop, mudpt, maple, ivlp, vpt, promptsrc)


def add_trainer_config(cfg: CN) -> None:
    """Add ``MODEL.BACKBONE.PATH``/``FUSED`` and each trainer's ``TRAINER.<NAME>`` node."""
    add_common_config(cfg)
    for module in _METHOD_MODULES:
        module.add_config(cfg)


def default_config() -> CN:
    """Dassl's defaults plus the keys of the datasets and trainers of this project (unfrozen)."""
    import datasets
    from engine.seam import get_cfg_default

    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    add_trainer_config(cfg)
    return cfg
