"""What the tables know about the benchmarks and the protocols, derived from their single sources.

Nothing here is a hand-written list: display names and table order come from each benchmark's own
facts (``datasets.SPECS``: ``config``, ``display_name``, ``order``, ``protocols``), the datasets
of a protocol and the run-folder layout of its steps from :mod:`protocols.definitions`. Importing
``datasets`` imports torch, so the facts are gathered on first use (:func:`benchmarks`), not when
this module is imported: ``parse_results.py --status`` stays light.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["Benchmarks", "ProtocolLayout", "StepLayout", "benchmarks"]

# The protocol roles of a benchmark (datasets/specs.py, PROTOCOL_ROLES) that the tables use.
XD_SOURCE_ROLE, XD_TARGET_ROLE, DG_TARGET_ROLE = "xd_source", "xd_target", "dg_target"


@dataclass(frozen=True)
class StepLayout:
    """One step of a protocol as the run layout shows it.

    Args:
        folder: its folder in the run layout ("" when the protocol has no step folder).
        table_role: what its result is in the tables ("base", "new", "source", "target", "").
        datasets: the config names of the benchmarks that take part in the step.
        known_only: True when only those benchmarks may appear (a step that trains once for
            every later step, such as the cross-dataset source); otherwise a dataset that is not
            registered is accepted (it gets a row under its folder name).
    """

    folder: str
    table_role: str
    datasets: frozenset[str]
    known_only: bool


@dataclass(frozen=True)
class ProtocolLayout:
    """A protocol as the run layout shows it: ``<name>/[<step folder>/]<dataset>/shots_<K>/...``."""

    name: str
    steps: tuple[StepLayout, ...]

    def step(self, folder: str) -> StepLayout | None:
        return next((step for step in self.steps if step.folder == folder), None)


@dataclass(frozen=True)
class Benchmarks:
    """The benchmark facts of the tables.

    Args:
        display: config name -> display name (the papers' names).
        order: config name -> position in the papers' tables.
        base2new: the datasets of base-to-new generalisation, in table order.
        fewshot: the datasets of few-shot learning, in table order.
        xd_source: the source of cross-dataset transfer and domain generalisation (ImageNet).
        xd_targets: the cross-dataset targets, in table order.
        dg_targets: the domain-generalisation targets (the ImageNet variants), in table order.
        protocols: our protocols' run layouts, by protocol name.
    """

    display: dict[str, str]
    order: dict[str, int]
    base2new: tuple[str, ...]
    fewshot: tuple[str, ...]
    xd_source: str
    xd_targets: tuple[str, ...]
    dg_targets: tuple[str, ...]
    protocols: dict[str, ProtocolLayout]

    def is_known(self, dataset: str) -> bool:
        return dataset in self.display

    def display_name(self, dataset: str) -> str:
        """The papers' name of a dataset; an unknown dataset keeps its folder name."""
        return self.display.get(dataset, dataset)

    def sort_key(self, dataset: str) -> tuple[int, str]:
        """Table order: the known datasets in the papers' order, then the unknown ones by name."""
        if dataset in self.order:
            return (self.order[dataset], dataset)
        return (max(self.order.values(), default=-1) + 1, dataset)

    def dg_header(self, dataset: str) -> str:
        """A domain-generalisation column header: the display name without the source's name,
        as the papers put the variants under "ImageNet" ('ImageNet-V2' -> '-V2')."""
        name, source = self.display_name(dataset), self.display_name(self.xd_source)
        return name[len(source) :] if name.startswith(source) and len(name) > len(source) else name


@functools.lru_cache(maxsize=None)
def benchmarks() -> Benchmarks:
    """The facts, read once from ``datasets.SPECS`` and ``protocols.PROTOCOLS``."""
    from datasets import SPECS
    from protocols import PROTOCOLS

    specs = sorted(SPECS.values(), key=lambda spec: spec.order)

    def with_role(role: str) -> tuple[str, ...]:
        return tuple(spec.config for spec in specs if role in spec.protocols)

    sources = with_role(XD_SOURCE_ROLE)
    if len(sources) != 1:
        raise ValueError(
            f"The benchmarks must have exactly one {XD_SOURCE_ROLE!r} (the cross-dataset source), found "
            f"{list(sources) or 'none'}: fix the `protocols` of their specs in datasets/<benchmark>.py."
        )
    layouts = {}
    for protocol in PROTOCOLS.values():
        steps = tuple(
            StepLayout(
                folder=step.folder,
                table_role=step.table_role,
                datasets=frozenset(spec.config for spec in protocol.datasets(step)),
                # One training run serves every dataset of the later steps: only its own datasets.
                known_only=not protocol.per_dataset and step.evaluates is None,
            )
            for step in protocol.steps
        )
        layouts[protocol.name] = ProtocolLayout(protocol.name, steps)
    return Benchmarks(
        display={spec.config: spec.display_name for spec in specs},
        order={spec.config: spec.order for spec in specs},
        base2new=tuple(spec.config for spec in PROTOCOLS["base2new"].datasets()),
        fewshot=tuple(spec.config for spec in PROTOCOLS["fewshot"].datasets()),
        xd_source=sources[0],
        xd_targets=with_role(XD_TARGET_ROLE),
        dg_targets=with_role(DG_TARGET_ROLE),
        protocols=layouts,
    )
