"""Merging config files and ``KEY VALUE`` overrides into a config, with errors that say what to fix.

A method whose official code keeps its keys in another method's node (KgCoOp reads
``TRAINER.COOP.*``; its spec's ``official_node``) trains from an official yaml or command line
unchanged: those keys are read into the method's own node (the one Dassl's ``clean_cfg`` keeps).
"""
from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import yaml
from yacs.config import CfgNode as CN

from engine.seam import ConfigError, closest_names
from trainers import method_of_trainer

__all__ = ["merge_file", "merge_overrides", "merge_text", "official_opts"]


def _official(trainer: str) -> tuple[str, str, Callable[[str, Any], Any]] | None:
    """(official node, the method's node, value converter) for a method whose official code keeps
    its keys in another method's node, else None."""
    spec = method_of_trainer(trainer) if trainer else None
    if spec is None or not spec.official_node:
        return None
    return spec.official_node, spec.node, spec.official_value or (lambda key, value: value)


def official_opts(opts: Sequence[str], trainer: str) -> list[str]:
    """``TRAINER.<official node>.KEY VALUE`` pairs as ``TRAINER.<node>.KEY VALUE`` (see the module)."""
    alias = _official(trainer)
    if alias is None:
        return list(opts)
    node, ours, convert = alias
    prefix = f"TRAINER.{node}."
    out = list(opts)
    for i in range(0, len(out) - 1, 2):
        if out[i].startswith(prefix):
            key = out[i][len(prefix) :]
            out[i] = f"TRAINER.{ours}.{key}"
            if key == "CTX_INIT" and out[i + 1] in ("True", "False"):
                out[i + 1] = convert(key, out[i + 1] == "True")
    return out


def _dassl_pretrained_flag(loaded: CN) -> None:
    """``MODEL.BACKBONE.PRETRAINED`` is Dassl's boolean (load an ImageNet-pretrained backbone) in
    configs written before it named an open_clip weights tag (the ``config.yaml`` of earlier runs,
    dumps of Dassl's defaults): every CLIP is pretrained, so such a flag names no tag ("")."""
    backbone = (loaded.get("MODEL") or {}).get("BACKBONE") or {}
    if isinstance(backbone.get("PRETRAINED"), bool):
        backbone["PRETRAINED"] = ""


def merge_file(cfg: CN, path: str, kind: str, trainer: str = "") -> None:
    """merge_from_file with an error that names the file (and line), the key and the fix (see
    :func:`merge_text`)."""
    if not os.path.isfile(path):
        raise ConfigError(f"{kind} config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        merge_text(cfg, f.read(), path, trainer)


def merge_text(cfg: CN, text: str, source: str, trainer: str = "") -> None:
    """Merge a config's yaml ``text`` (from ``source``: a file, or where the text was stored) into
    ``cfg``, with an error that names the source (and line), the key and the fix. For a method with
    official keys elsewhere (see the module), an official file's keys of that node go to the
    method's node (a file that has the method's own node is merged as it is)."""
    path = source
    try:
        loaded = type(cfg).load_cfg(text)
        _dassl_pretrained_flag(loaded)
        alias = _official(trainer)
        if alias is None:
            cfg.merge_from_other_cfg(loaded)
        else:
            node, ours, convert = alias
            trainer_node = loaded.get("TRAINER", {})
            # An official file has the official node only; a full config (a run's config.yaml) has both.
            official = trainer_node.pop(node, None) if ours not in trainer_node else None
            if official:
                loaded.TRAINER.setdefault(ours, type(cfg)())
                for key, value in official.items():
                    loaded.TRAINER[ours][key] = convert(key, value)
            cfg.merge_from_other_cfg(loaded)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}). Fix the syntax there (indentation, brackets, quotes).") from None
    except KeyError as e:
        key = str(e.args[0]).replace("Non-existent config key: ", "") if e.args else str(e)
        parent, _, leaf = key.rpartition(".")
        node = cfg
        for part in filter(None, parent.split(".")):
            node = node.get(part, {}) if hasattr(node, "get") else {}
        known = list(node.keys()) if hasattr(node, "keys") else []
        hint = f" Did you mean {parent + '.' if parent else ''}{closest_names(leaf, known)[0]}?" if closest_names(leaf, known) else ""
        parts = key.split(".")
        own = trainer.upper()
        if trainer and len(parts) > 2 and parts[0] == "TRAINER" and parts[1] != own:
            hint += f" (This run's trainer, {trainer}, reads TRAINER.{own}.*: is the file written for another method?)"
        raise ConfigError(
            f"Unknown config key {key} in {path}.{hint} Known keys under {parent or 'the root'}: {', '.join(known)}."
        ) from None
    except ValueError as e:
        raise ConfigError(f"{path}: {e}. Write the value with the default's type (e.g. 1.0 for a float, (224, 224) for a tuple).") from None
    except AssertionError as e:  # yacs: the file is not a mapping of keys
        raise ConfigError(f"{path} is not a config file: {e or 'expected KEY: value mappings'}.") from None


def merge_overrides(cfg: CN, opts: Sequence[str]) -> None:
    """Merge ``KEY VALUE`` pairs into ``cfg`` with errors that say what to fix."""
    opts = list(opts)
    if opts and opts[0] == "--":
        opts = opts[1:]
    if len(opts) % 2:
        raise ConfigError(f"Config overrides come in KEY VALUE pairs; got an odd list: {opts}")
    try:
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs: "Non-existent key: X"
        raise ConfigError(f"{e} (in the command-line overrides). Check the spelling; keys are case-sensitive, e.g. DATASET.NUM_SHOTS.") from None
    except ValueError as e:
        raise ConfigError(f"command-line override: {e}. Write the value with the default's type.") from None
