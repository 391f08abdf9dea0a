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

from engine.seam import ConfigError, closest_names, get_logger
from trainers import method_of_trainer

__all__ = ["merge_file", "merge_overrides", "merge_text", "official_opts"]

_log = get_logger("runconfig.merge")


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


def merge_file(cfg: CN, path: str, kind: str, trainer: str = "") -> list[str]:
    """merge_from_file with an error that names the file (and line), the key and the fix (see
    :func:`merge_text`); returns the dotted keys the file sets."""
    if not os.path.isfile(path):
        raise ConfigError(f"{kind} config file not found: {path}")
    with open(path, encoding="utf-8") as f:
        return merge_text(cfg, f.read(), path, trainer)


def _load_mapping(text: str, source: str) -> dict | None:
    """The yaml ``text`` as a mapping of keys, None when it sets nothing (empty, or comments only);
    a list, a scalar or bad syntax is an error naming ``source``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{source}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else source
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}). Fix the syntax there (indentation, brackets, quotes).") from None
    if data is None or data == {}:
        return None
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else f"a single value ({data!r})"
        raise ConfigError(
            f"{source} is not a config file: its YAML is {kind}, not KEY: value mappings (e.g. `OPTIM:` then `  LR: 0.002` "
            "on the next line); the config files under configs/ show the form."
        )
    return data


def _names(node: CN, most: int = 6) -> str:
    keys = list(node.keys())
    return ", ".join(keys[:most]) + (", ..." if len(keys) > most else "")


def _check_shapes(cfg: CN, loaded: dict, source: str, prefix: str = "") -> None:
    """A section of the config (``OPTIM``) given a value, or a value (``OPTIM.LR``) given a section:
    one line naming the key and what it is. Keys the config does not have are left to yacs' merge
    (its error names the key and the known ones)."""
    for key, value in loaded.items():
        if key not in cfg:
            continue
        full, default = f"{prefix}{key}", cfg[key]
        if isinstance(default, CN) and not isinstance(value, dict):
            raise ConfigError(
                f"{full} in {source} is a section (its keys: {_names(default)}), not a value (got {value!r}): "
                f"write its keys indented under it, e.g. `{key}:` then `  {next(iter(default), 'KEY')}: ...` on the next line."
            )
        if not isinstance(default, CN) and isinstance(value, dict):
            raise ConfigError(
                f"{full} in {source} is a value ({type(default).__name__}, default {default!r}), not a section: "
                f"write `{key}: <value>` on one line."
            )
        if isinstance(default, CN):
            _check_shapes(default, value, source, f"{full}.")


def _flat_keys(mapping: dict, prefix: str = "") -> list[str]:
    """The dotted keys a loaded mapping sets (its leaves)."""
    keys = []
    for key, value in mapping.items():
        if isinstance(value, dict) and value:
            keys += _flat_keys(value, f"{prefix}{key}.")
        else:
            keys.append(f"{prefix}{key}")
    return keys


_EMPTY_WARNED: set[str] = set()


def merge_text(cfg: CN, text: str, source: str, trainer: str = "") -> list[str]:
    """Merge a config's yaml ``text`` (from ``source``: a file, or where the text was stored) into
    ``cfg``, with an error that names the source (and line), the key and the fix. For a method with
    official keys elsewhere (see the module), an official file's keys of that node go to the
    method's node (a file that has the method's own node is merged as it is). Returns the dotted
    keys the text sets (in the method's node); text that sets nothing is merged with a warning
    (once per source and process)."""
    path = source
    data = _load_mapping(text, source)
    if data is None:
        if source not in _EMPTY_WARNED:
            _EMPTY_WARNED.add(source)
            _log.warning(f"Warning: {source} sets nothing (it is empty or holds only comments): the run uses the other configs and the defaults.")
        return []
    try:
        loaded = type(cfg)(data)
        _dassl_pretrained_flag(loaded)
        alias = _official(trainer)
        if alias is not None:
            node, ours, convert = alias
            trainer_node = loaded.get("TRAINER", {})
            # An official file has the official node only; a full config (a run's config.yaml) has both.
            official = trainer_node.pop(node, None) if ours not in trainer_node else None
            if official:
                loaded.TRAINER.setdefault(ours, type(cfg)())
                for key, value in official.items():
                    loaded.TRAINER[ours][key] = convert(key, value)
        _check_shapes(cfg, loaded, path)
        cfg.merge_from_other_cfg(loaded)
    except ConfigError:
        raise
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
    return _flat_keys(loaded)


def _check_override_key(cfg: CN, key: str) -> None:
    """An override names one value: not a section (``OPTIM``), nor a key below a value (``OPTIM.LR.X``)."""
    node, parts = cfg, key.split(".")
    for i, part in enumerate(parts):
        if not isinstance(node, CN) or part not in node:
            if not isinstance(node, CN):
                parent = ".".join(parts[:i])
                raise ConfigError(f"{key} (in the command-line overrides): {parent} is a value, not a section; override it as `{parent} VALUE`.")
            return  # an unknown key: yacs' error names it
        node = node[part]
    if isinstance(node, CN):
        raise ConfigError(
            f"{key} (in the command-line overrides) is a section (its keys: {_names(node)}), not a value: override its keys "
            f"one by one, e.g. `{key}.{next(iter(node), 'KEY')} VALUE`."
        )


def merge_overrides(cfg: CN, opts: Sequence[str]) -> list[str]:
    """Merge ``KEY VALUE`` pairs into ``cfg`` with errors that say what to fix; returns the keys."""
    opts = list(opts)
    if opts and opts[0] == "--":
        opts = opts[1:]
    if len(opts) % 2:
        raise ConfigError(f"Config overrides come in KEY VALUE pairs; got an odd list: {opts}")
    keys = opts[0::2]
    for key in keys:
        _check_override_key(cfg, key)
    try:
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs: "Non-existent key: X"
        raise ConfigError(f"{e} (in the command-line overrides). Check the spelling; keys are case-sensitive, e.g. DATASET.NUM_SHOTS.") from None
    except ValueError as e:
        raise ConfigError(f"command-line override: {e}. Write the value with the default's type.") from None
    return keys
