"""A method as one spec: everything the rest of the project knows of a method, in its own file.

Each method file (``trainers/<method>.py``) ends with its registered trainer and one
``register_method(MethodSpec(...))``. Importing the ``trainers`` package imports every method
file (found by name, as the dataset readers are), so :data:`METHODS` holds every method and no
other module lists them: the config's trainer nodes, the keys that cannot change results, the
protocol runner's ``--methods``, recipes and scripts, the bench's method list and recipe, and the
captions of ``parse_results.py`` all derive from it. Adding a method is its file plus its recipe
files (``configs/trainers/<Trainer>/*.yaml``); ``python sweep.py write-scripts`` then writes its
protocol scripts (``scripts/<name>/``, generated from the spec and the protocols).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Union

from engine.seam import ConfigError

__all__ = ["METHODS", "MethodSpec", "Recipe", "method_for", "method_of_trainer", "register_method"]

#: A recipe: a config file (relative to the repository root), or a function of the dataset (its
#: config name, e.g. "imagenet") and the shots that returns one.
Recipe = Union[str, Callable[[str, int], str]]
#: How a key whose stored value stands for another (a sentinel such as 0 = "derived") acts:
#: rule(value, the flat config) -> the value it means. Configs are compared by these values.
EffectiveRule = Callable[[Any, Mapping[str, Any]], Any]


@dataclass(frozen=True)
class MethodSpec:
    """A method and what the project needs to know of it.

    Args:
        name: its name on the command line (``--methods``) and its folder under ``scripts/``.
        trainer: its registered trainer class (``TRAINER.NAME`` is the class name; its keys are in
            ``TRAINER.<trainer.CFG_NODE>``; whether it trains at all is the trainer's ``ZERO_SHOT``).
        paper: the method and where it comes from, for help texts.
        add_config: adds the method's config node(s) to a config tree, each key with a comment and a
            typed default (called before any yaml is merged).
        order: its place in method lists and tables (ties: by name).
        recipes: protocol name -> its recipe (a protocol without one is not run for this method).
        protocol_opts: protocol name -> extra ``KEY VALUE`` pairs of its runs (CoOp's few-shot N_CTX).
        bench_recipe: the config the bench times it with ("" = not benchmarked).
        bench_official: the official code's numbers in the bench's shape (dicts with precision,
            label, n_cls, batch, train_ms, peak_mb, eval_img_s), shown under the bench's rows.
        caption_keys: the keys of its node that table captions name, in caption order.
        non_result_keys: keys of its node that cannot change results (memory knobs, cache folders):
            run folders and grids leave them out.
        effective_values: key of its node -> :data:`EffectiveRule`.
        official_node: the node its official code reads its keys from when that is another method's
            (KgCoOp: ``COOP``): an official yaml or command line is read into the method's own node.
        official_value: (key, official value) -> the value the method's node takes.
    """

    name: str
    trainer: type
    paper: str
    add_config: Callable[[Any], None]
    order: int = 0
    recipes: Mapping[str, Recipe] = field(default_factory=dict)
    protocol_opts: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bench_recipe: str = ""
    bench_official: tuple[Mapping[str, Any], ...] = ()
    caption_keys: tuple[str, ...] = ()
    non_result_keys: tuple[str, ...] = ()
    effective_values: Mapping[str, EffectiveRule] = field(default_factory=dict)
    official_node: str = ""
    official_value: Callable[[str, Any], Any] | None = None

    @property
    def trainer_name(self) -> str:
        """``TRAINER.NAME`` of its runs."""
        return self.trainer.__name__

    @property
    def node(self) -> str:
        """``TRAINER.<node>`` holds its keys: overrides of another node's keys do not reach its runs."""
        return self.trainer.CFG_NODE

    @property
    def zero_shot(self) -> bool:
        """Nothing to train: every step evaluates (the trainer's ``ZERO_SHOT``)."""
        return bool(self.trainer.ZERO_SHOT)

    @property
    def protocols(self) -> tuple[str, ...]:
        """The protocols it has a recipe for."""
        return tuple(self.recipes)

    def recipe(self, protocol: str, dataset: str, shots: int) -> str:
        """Its recipe of ``protocol`` for ``dataset`` (a config name, e.g. "imagenet") and ``shots``."""
        if protocol not in self.recipes:
            raise KeyError(f"{self.name} has no recipe for the {protocol} protocol (it has: {', '.join(self.protocols)})")
        recipe = self.recipes[protocol]
        return recipe if isinstance(recipe, str) else recipe(dataset, shots)

    def own_key(self, key: str) -> str:
        """``KEY`` of its node as a dotted config key: ``TRAINER.<node>.KEY``."""
        return f"TRAINER.{self.node}.{key}"


#: Name -> spec of every method, in list order (``order``, then name); the method files fill it
#: when ``trainers`` is imported.
METHODS: dict[str, MethodSpec] = {}


def register_method(spec: MethodSpec) -> MethodSpec:
    """Add a method to :data:`METHODS` (kept in list order); returns ``spec``."""
    for other in METHODS.values():
        if other.name == spec.name or other.trainer is spec.trainer:
            raise ValueError(f"method {spec.name!r} ({spec.trainer_name}): its name or trainer is already {other.name!r}'s")
    ordered = sorted([*METHODS.values(), spec], key=lambda s: (s.order, s.name))
    METHODS.clear()
    METHODS.update((s.name, s) for s in ordered)
    return spec


def method_for(name: str) -> MethodSpec:
    """The method named ``name``: its command-line name or its trainer's name (any case)."""
    key = name.strip().lower()
    for spec in METHODS.values():
        if key in (spec.name, spec.trainer_name.lower()):
            return spec
    raise ConfigError(f"Unknown method {name!r}; the methods: {', '.join(METHODS)}")


def method_of_trainer(trainer: str) -> MethodSpec | None:
    """The method whose trainer is named ``trainer`` (``TRAINER.NAME``), or None (a trainer of
    another repository, or a registered trainer that is not a method of the protocols)."""
    return next((spec for spec in METHODS.values() if spec.trainer_name == trainer), None)
