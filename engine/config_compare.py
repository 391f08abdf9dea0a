"""Comparing two configs by what can change results.

Two runs are the same run when every config key that can change what they compute has the same
value. :class:`ResultKeys` says which keys cannot (performance knobs, paths compared by content)
and how keys whose stored value stands for another compare (a sentinel such as 0 = "derived from
another key"). The engine knows Dassl's keys (:data:`DASSL_RESULT_KEYS`); the project's config
module adds the keys of its datasets and methods, each declared next to its definition
(``runconfig.result_keys``). Run folders (:mod:`engine.run_folder`), resume and checkpoint
loading compare configs with :func:`config_differences`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import yaml

__all__ = [
    "DASSL_NON_RESULT_KEYS",
    "DASSL_RESULT_KEYS",
    "MISSING",
    "ResultKeys",
    "config_differences",
    "describe_differences",
    "flat_differences",
    "flatten_config",
]

# Dassl's keys that cannot change what a run computes. DATASET.ROOT is compared through the
# content of the files the run read (their sha256 in run.json), so a moved data root is the same
# run. DATALOADER.NUM_WORKERS does not change the distribution of the augmentations, but it does
# change which ones are drawn: a run resumed with another value is no longer bitwise identical to
# an uninterrupted one (the log says so).
DASSL_NON_RESULT_KEYS: frozenset[str] = frozenset(
    {
        "OUTPUT_DIR",
        "RESUME",
        "VERBOSE",
        "DATASET.ROOT",
        "DATALOADER.NUM_WORKERS",
        "DATALOADER.TEST.BATCH_SIZE",
        "TRAIN.PRINT_FREQ",
        "TRAIN.CHECKPOINT_FREQ",
        "TEST.PER_CLASS_RESULT",
        "TEST.COMPUTE_CMAT",
    }
)


@dataclass(frozen=True)
class ResultKeys:
    """How configs compare.

    Args:
        ignored: keys that cannot change results (left out of every comparison).
        effective: key -> rule(value, the flat config) -> the value it acts as; configs compare by
            these values (a run written with the explicit value and one with the sentinel that
            means it are the same run).
    """

    ignored: frozenset[str] = DASSL_NON_RESULT_KEYS
    effective: Mapping[str, Callable[[Any, Mapping[str, Any]], Any]] = field(default_factory=dict)

    def values(self, flat: Mapping[str, Any]) -> dict[str, Any]:
        """The flat config with every key at the value it acts as."""
        return {k: (self.effective[k](v, flat) if k in self.effective else v) for k, v in flat.items()}


#: Dassl's keys alone (what the engine knows without the project's config).
DASSL_RESULT_KEYS = ResultKeys()


def flatten_config(node: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config (as ``yaml.safe_load`` gives it) as ``{"OPTIM.LR": value, ...}``."""
    if not isinstance(node, dict):
        return {prefix: node}
    flat: dict[str, Any] = {}
    for key, value in node.items():
        flat.update(flatten_config(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def load_flat(text: str) -> dict[str, Any]:
    """A config dump (yaml text) as a flat ``{"OPTIM.LR": value, ...}``."""
    return flatten_config(yaml.safe_load(text) or {})


MISSING = "(absent)"


def config_differences(
    old: str, new: str, defaults: str | None = None, keys: ResultKeys = DASSL_RESULT_KEYS
) -> list[tuple[str, Any, Any]]:
    """``(key, old value, new value)`` for every key (dotted name) whose value differs between two
    config dumps, leaving out the keys that cannot change results (``keys.ignored``). A key absent
    from one dump (written by another version of the code) counts only if the other's value is not
    the default (``defaults``: a dump of the default config). Values are compared as they act
    (``keys.effective``)."""
    return flat_differences(load_flat(old), load_flat(new), load_flat(defaults) if defaults else {}, keys)


def flat_differences(
    old: Mapping[str, Any], new: Mapping[str, Any], defaults: Mapping[str, Any] | None = None, keys: ResultKeys = DASSL_RESULT_KEYS
) -> list[tuple[str, Any, Any]]:
    """:func:`config_differences` of configs already flat (``{"OPTIM.LR": value, ...}``), for a
    caller that compares many configs with one (parsing each yaml dump once)."""
    a, b = keys.values(old), keys.values(new)
    base = keys.values(defaults) if defaults else {}
    diffs = []
    for key in sorted(set(a) | set(b)):
        if key in keys.ignored:
            continue
        va, vb = a.get(key, MISSING), b.get(key, MISSING)
        if va == vb:
            continue
        if MISSING in (va, vb) and key in base and (va if vb is MISSING else vb) == base[key]:
            continue
        diffs.append((key, va, vb))
    return diffs


def _show(value: Any) -> str:
    return value if value is MISSING else repr(value) if isinstance(value, str) else str(value)


def describe_differences(diffs: Sequence[tuple[str, Any, Any]], old_label: str, new_label: str) -> str:
    """One indented line per difference: ``KEY: <old> (old_label) vs <new> (new_label)``."""
    return "\n".join(f"  {key}: {_show(a)} ({old_label}) vs {_show(b)} ({new_label})" for key, a, b in diffs)
