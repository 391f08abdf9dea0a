"""The default config tree, the keys of a method's runs, and which keys cannot change results."""
from __future__ import annotations

import functools
import os.path as osp
from pathlib import Path

from yacs.config import CfgNode as CN

import datasets
import trainers
from engine.seam import ResultKeys, flatten_config, get_cfg_default

from .merge import merge_file

__all__ = ["REPO", "config_keys", "default_config", "non_result_keys", "recipe_config", "result_keys"]

#: The repository root: recipes (``configs/...``) are named relative to it.
REPO = str(Path(__file__).resolve().parents[1])
TRAINER_KEY = "TRAINER.NAME"


@functools.lru_cache(maxsize=None)
def _defaults() -> CN:
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    trainers.add_trainer_config(cfg)
    cfg.freeze()
    return cfg


def default_config() -> CN:
    """Dassl's defaults plus the keys of the datasets and the methods of this project (unfrozen),
    before any yaml is merged."""
    cfg = _defaults().clone()
    cfg.defrost()
    return cfg


def result_keys() -> ResultKeys:
    """Which config keys cannot change results (Dassl's, the shared CLIP keys', each method's) and
    how sentinel values compare: run folders, the runner's folder names and the grids use it."""
    return trainers.result_keys()


def non_result_keys() -> frozenset[str]:
    """The config keys that cannot change results."""
    return result_keys().ignored


@functools.lru_cache(maxsize=None)
def config_keys(node: str) -> tuple[str, ...]:
    """The keys of the config a method's runs have (other methods' ``TRAINER`` nodes left out)."""
    keys = flatten_config(_defaults()).keys()
    return tuple(k for k in keys if not k.startswith("TRAINER.") or k.startswith(f"TRAINER.{node}.") or k == TRAINER_KEY)


@functools.lru_cache(maxsize=None)
def recipe_config(config_file: str) -> CN:
    """The config a recipe file gives (defaults + the file; ``config_file`` relative to the
    repository root or absolute), frozen; errors name the file. What the runner compares a run's
    values with, to name its folder after what differs."""
    cfg = default_config()
    merge_file(cfg, osp.join(REPO, config_file), "method")
    cfg.freeze()
    return cfg
