"""Building a run's config from values, once, and validating it where it is built.

Merge order (Dassl's): the defaults, the dataset yaml, the method yaml, the values given as
arguments (the flags of ``train.py``), then the ``KEY VALUE`` overrides. The config is then
checked once: the dataset keys (:func:`datasets.check_dataset_config`), the required keys (a
known trainer, a dataset), the engine's keys (:func:`runconfig.checks.check_engine_keys`) and the
method's keys (its trainer's ``check_cfg``). Everything that builds from it (the model factory,
the learners' builders) takes a checked config; what depends on the backbone (prompt depths, a
ViT) is checked once CLIP is loaded, by one helper
(:func:`trainers.clip_prompting.check_prompt_depth`), and what depends on the class names (the
prompts' length) where the prompts are tokenised (:class:`trainers.clip_prompting.ClassPrompts`).

The keys the user set (the overrides, and the keys of a config file of the user's own: not a
recipe under ``configs/``, not a complete config such as a run's config.yaml) are marked on the
config (:func:`trainers.keys.mark_user_keys`): notes about a setting a run cannot honour go to
the console only for those.
"""
from __future__ import annotations

import os.path as osp
from typing import Sequence

from yacs.config import CfgNode as CN

import datasets
from engine.seam import TRAINER_REGISTRY, ConfigError
from trainers.factory import trainer_class
from trainers.keys import mark_user_keys

from .checks import check_engine_keys
from .defaults import REPO, default_config
from .merge import merge_file, merge_overrides, merge_text, official_opts

__all__ = ["build_config", "validate_config"]


def build_config(
    trainer: str = "",
    config_file: str = "",
    dataset_config_file: str = "",
    config_text: str = "",
    config_source: str = "",
    opts: Sequence[str] = (),
    root: str = "",
    output_dir: str = "",
    resume: str = "",
    seed: int | None = None,
    source_domains: Sequence[str] | None = None,
    target_domains: Sequence[str] | None = None,
    transforms: Sequence[str] | None = None,
    backbone: str = "",
    head: str = "",
) -> CN:
    """The frozen, checked config of a run.

    Args:
        trainer: ``TRAINER.NAME`` (it also says which official key spellings a file may use).
        config_file: the method's config (``configs/trainers/<Trainer>/*.yaml``, or a run's config.yaml).
        dataset_config_file: the dataset's config (``configs/datasets/<name>.yaml``).
        config_text: a config's yaml text, merged after the files (a run's config stored elsewhere,
            e.g. in an exported model); ``config_source`` names where it comes from, for errors.
        opts: ``KEY VALUE`` overrides, merged last.
        root, output_dir, resume, seed, source_domains, target_domains, transforms, backbone, head:
            ``DATASET.ROOT``, ``OUTPUT_DIR``, ``RESUME``, ``SEED``, ``DATASET.SOURCE_DOMAINS``,
            ``DATASET.TARGET_DOMAINS``, ``INPUT.TRANSFORMS``, ``MODEL.BACKBONE.NAME``,
            ``MODEL.HEAD.NAME`` when given (empty values leave the files' values).
    """
    cfg = default_config()
    user_keys: list[str] = []
    for path, kind in ((dataset_config_file, "dataset"), (config_file, "method")):
        if path:
            keys = merge_file(cfg, path, kind, trainer)
            if not _recipe(path) and not _complete(cfg, keys):
                user_keys += keys
    if config_text:
        merge_text(cfg, config_text, config_source or "the config text", trainer)
    if root:
        cfg.DATASET.ROOT = root
    if output_dir:
        cfg.OUTPUT_DIR = output_dir
    if resume:
        cfg.RESUME = resume
    if seed is not None:  # CoOp's `if args.seed:` silently ignored --seed 0
        cfg.SEED = seed
    if source_domains:
        cfg.DATASET.SOURCE_DOMAINS = list(source_domains)
    if target_domains:
        cfg.DATASET.TARGET_DOMAINS = list(target_domains)
    if transforms:
        cfg.INPUT.TRANSFORMS = list(transforms)
    if trainer:
        cfg.TRAINER.NAME = trainer
    if backbone:
        cfg.MODEL.BACKBONE.NAME = backbone
    if head:
        cfg.MODEL.HEAD.NAME = head
    user_keys += merge_overrides(cfg, official_opts(opts, trainer))
    datasets.check_dataset_config(cfg)  # before freezing: it writes DATASET.FOLDER in one spelling
    mark_user_keys(cfg, user_keys)
    cfg.freeze()
    validate_config(cfg)
    return cfg


def _recipe(path: str) -> bool:
    """A config file of the repository (``configs/...``: a recipe, a dataset's config)."""
    configs = osp.join(osp.realpath(REPO), "configs") + osp.sep
    return osp.realpath(path).startswith(configs)


def _complete(cfg: CN, keys: Sequence[str]) -> bool:
    """A complete config (a run's config.yaml, the file sweep.py hands to train.py): it sets every
    section of the tree, whether asked for or not."""
    return set(cfg) <= {key.split(".")[0] for key in keys}


def validate_config(cfg: CN) -> type:
    """The required keys (a known trainer, a dataset), the engine's keys and the method's keys;
    returns the trainer class. Called once, by :func:`build_config`."""
    if not cfg.TRAINER.NAME:
        raise ConfigError(f"No trainer given: pass --trainer (one of {', '.join(sorted(TRAINER_REGISTRY.registered_names()))}).")
    trainer_cls = trainer_class(cfg.TRAINER.NAME)
    if not cfg.DATASET.NAME:
        raise ConfigError("No dataset given: pass --dataset-config-file configs/datasets/<name>.yaml.")
    check_engine_keys(cfg, trainer_cls)
    trainer_cls.check_cfg(cfg)
    return trainer_cls
