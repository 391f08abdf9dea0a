"""The config keys the CLIP trainers share, and which keys of the trainers cannot change results.

:func:`add_common_config` adds the keys every CLIP trainer reads (``MODEL.BACKBONE.PATH``,
``MODEL.BACKBONE.PRETRAINED``, ``MODEL.BACKBONE.FUSED``, ``TRAIN.CHECKPOINT_KEEP_LAST``); each
method adds its own node (its spec's ``add_config``). :func:`result_keys` is a pure function of what they declare: Dassl's keys
that cannot change results, these shared ones, and each method's ``non_result_keys`` and
``effective_values``. Run folders, resume, checkpoint loading, the protocol runner's folder names
and the grids of ``parse_results.py`` all compare configs with it.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from yacs.config import CfgNode as CN

from engine.seam import DASSL_RESULT_KEYS, ResultKeys

from .spec import METHODS

__all__ = ["COMMON_EFFECTIVE_VALUES", "COMMON_NON_RESULT_KEYS", "add_common_config", "mark_user_keys", "result_keys", "user_set"]

# Neither changes results: the weights file is compared by content (its sha256, in run.json),
# and which checkpoints are kept does not change the training.
COMMON_NON_RESULT_KEYS = ("MODEL.BACKBONE.PATH", "TRAIN.CHECKPOINT_KEEP_LAST")


def _pretrained_weights(tag: Any, config: Mapping[str, Any]) -> Any:
    """What ``MODEL.BACKBONE.PRETRAINED`` means for results: the weights it names, unless
    ``MODEL.BACKBONE.PATH`` gives them (then the file is compared by content, and the tag only
    says where it comes from). Dassl's boolean of the same key (configs written before the key
    named a weights tag: every CLIP is pretrained) names no tag."""
    return "" if isinstance(tag, bool) or config.get("MODEL.BACKBONE.PATH") else tag


#: Shared keys whose stored value acts as another (see ``runconfig.result_keys``).
COMMON_EFFECTIVE_VALUES = {"MODEL.BACKBONE.PRETRAINED": _pretrained_weights}


def add_common_config(cfg: CN) -> None:
    """Keys shared by all CLIP trainers (added to Dassl's tree before any yaml is merged)."""
    # Local CLIP weights file (OpenAI .pt or a state dict; open_clip's checkpoints and .safetensors
    # for open_clip:<model>); "" = download MODEL.BACKBONE.NAME into ~/.cache/clip via clip.load
    # (open_clip: MODEL.BACKBONE.PRETRAINED). Same key as the MuDPT release.
    cfg.MODEL.BACKBONE.PATH = ""
    # MODEL.BACKBONE.NAME open_clip:<model> only: the weights tag open_clip downloads (one of
    # open_clip.list_pretrained_tags_by_model(<model>), e.g. "laion2b_s34b_b79k"). With
    # MODEL.BACKBONE.PATH the file is used and the tag only says where it comes from.
    cfg.MODEL.BACKBONE.PRETRAINED = ""
    # True: run CLIP's blocks with fused attention (F.scaled_dot_product_attention) and stop the
    # text tower at the last EOT token (exact); False: CLIP's own blocks (the reference path).
    cfg.MODEL.BACKBONE.FUSED = True
    # Keep only the newest N checkpoints model.pth.tar-<epoch> of a run (0 = keep all, as Dassl).
    # With TRAIN.CHECKPOINT_FREQ 1 this makes every run resumable at the cost of one file.
    cfg.TRAIN.CHECKPOINT_KEEP_LAST = 0


def result_keys() -> ResultKeys:
    """Which config keys cannot change results, and how sentinel values compare: Dassl's, the
    shared keys', and every method's (its spec)."""
    ignored = set(DASSL_RESULT_KEYS.ignored) | set(COMMON_NON_RESULT_KEYS)
    effective = {**DASSL_RESULT_KEYS.effective, **COMMON_EFFECTIVE_VALUES}
    for spec in METHODS.values():
        ignored.update(spec.own_key(key) for key in spec.non_result_keys)
        effective.update((spec.own_key(key), rule) for key, rule in spec.effective_values.items())
    return ResultKeys(frozenset(ignored), effective)


# --- which keys the user set ------------------------------------------------------------------------
# A note about a setting that a run cannot honour as written (PREC amp on a machine without CUDA,
# CoOp's N_CTX replaced by the word count of CTX_INIT) is for the console only where the user asked
# for that setting: a key of a command-line override (``KEY VALUE``) or of a config file of the
# user's own. A key that only a recipe (``configs/...``) or a complete config (a run's config.yaml,
# the file sweep.py hands to train.py: they hold every key, asked for or not) sets was not asked
# for: its note goes to log.txt only, or nowhere where another line already says it. The config
# module marks the keys where it builds the config (``runconfig.build_config``); in a config built
# otherwise (Dassl's own tools/train.py) no key is marked. The mark lives on the config node
# itself, as yacs keeps its own flags, so a clone of the config keeps it.
_USER_KEYS = "__user_keys__"


def mark_user_keys(cfg: CN, keys: Iterable[str]) -> None:
    """Record that the user set each dotted key of ``keys`` in ``cfg`` (unknown keys are skipped)."""
    for key in keys:
        parent, _, leaf = key.rpartition(".")
        node = cfg
        for part in filter(None, parent.split(".")):
            node = node.get(part) if isinstance(node, CN) else None
        if isinstance(node, CN) and leaf in node:
            node.__dict__.setdefault(_USER_KEYS, set()).add(leaf)


def user_set(node: CN, key: str) -> bool:
    """Whether the user set ``key`` of the config node ``node``, e.g. ``user_set(cfg.TRAINER.COOP, "PREC")``
    (see :func:`mark_user_keys`)."""
    return key in node.__dict__.get(_USER_KEYS, ())
