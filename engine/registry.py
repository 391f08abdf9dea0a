"""Name -> class registries (``TRAINER_REGISTRY``, ``DATASET_REGISTRY``, evaluators).

Same contract as Dassl's registry: ``@REGISTRY.register()`` stores a class under its
``__name__`` and returns it unchanged; registering a name twice is an error; ``get`` of an
unknown name raises with the registered names and the closest match.
"""
from __future__ import annotations

import difflib
from typing import Any, Callable, Iterable


def closest_names(name: str, choices: Iterable[str], n: int = 3) -> list[str]:
    """The registered names most similar to ``name`` (case-insensitive), best first."""
    choices = list(choices)
    lowered = {c.lower(): c for c in choices}
    hits = difflib.get_close_matches(name.lower(), list(lowered), n=n, cutoff=0.5)
    return [lowered[h] for h in hits]


def unknown_name_message(kind: str, name: str, choices: Iterable[str], source: str = "") -> str:
    """A fix-it message for an unknown registry name."""
    choices = sorted(choices)
    where = f" ({source})" if source else ""
    msg = f"Unknown {kind} '{name}'{where}. Registered: {', '.join(choices) or '(none)'}."
    close = closest_names(name, choices)
    if close:
        msg += f" Did you mean '{close[0]}'?"
    return msg


class Registry:
    """A registry of classes keyed by class name (or an explicit name)."""

    def __init__(self, name: str):
        self._name = name
        self._obj_map: dict[str, Any] = {}

    def _do_register(self, name: str, obj: Any, force: bool = False) -> None:
        if name in self._obj_map and not force:
            raise KeyError(
                f'An object named "{name}" was already registered in "{self._name}" registry '
                "(is one module imported under two package paths?)"
            )
        self._obj_map[name] = obj

    def register(self, obj: Any = None, force: bool = False) -> Callable | None:
        """Register ``obj``; without an argument, return a class decorator."""
        if obj is None:

            def wrapper(fn_or_class: Any) -> Any:
                self._do_register(fn_or_class.__name__, fn_or_class, force=force)
                return fn_or_class

            return wrapper
        self._do_register(obj.__name__, obj, force=force)
        return None

    def get(self, name: str) -> Any:
        if name not in self._obj_map:
            raise KeyError(unknown_name_message(f"name in the {self._name} registry", name, self._obj_map))
        return self._obj_map[name]

    def registered_names(self) -> list[str]:
        return list(self._obj_map.keys())

    def __contains__(self, name: str) -> bool:
        return name in self._obj_map

