"""CLIP prompt-tuning methods, one file each, on a shared substrate.

Importing this package imports every method module (every module but the substrate, found by
name), which registers its trainer in ``TRAINER_REGISTRY`` and its spec in :data:`METHODS`
(:mod:`trainers.spec`). ``add_trainer_config(cfg)`` adds the shared CLIP keys and every method's
node to a Dassl config tree (a Dassl-based ``train.py`` calls it in its ``extend_cfg``);
:func:`create_model` is the model factory; :func:`result_keys` says which keys cannot change results.
"""
from __future__ import annotations

import importlib
import pkgutil

from yacs.config import CfgNode as CN

from .factory import create_model
from .keys import add_common_config, result_keys
from .spec import METHODS, MethodSpec, method_for, method_of_trainer

__all__ = ["METHODS", "MethodSpec", "add_trainer_config", "create_model", "method_for", "method_of_trainer", "result_keys"]

# The substrate: modules of this package that are not methods. Every other module is one method.
_SUBSTRATE = {"base", "clip_loader", "clip_prompting", "factory", "features", "keys", "precision", "prompt_learners", "spec"}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _SUBSTRATE:
        importlib.import_module(f"{__name__}.{_module.name}")


def add_trainer_config(cfg: CN) -> None:
    """Add ``MODEL.BACKBONE.PATH``/``PRETRAINED``/``FUSED``, ``TRAIN.CHECKPOINT_KEEP_LAST`` and each
    method's ``TRAINER.<NAME>`` node (before any yaml is merged)."""
    add_common_config(cfg)
    for spec in METHODS.values():
        spec.add_config(cfg)
