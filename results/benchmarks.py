"""What the tables know about the benchmarks and the protocols, derived from their single sources.

Nothing here is a hand-written list: display names and table order come from each benchmark's own
facts (``datasets.SPECS``: ``config``, ``display_name``, ``order``, ``protocols``), the datasets
of a protocol, its tables and the run-folder layout of its steps from
:mod:`protocols.definitions`. Importing ``datasets`` imports torch, so the facts are gathered on
first use (:func:`benchmarks`), not when this module is imported: ``parse_results.py --status``
stays light.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

__all__ = ["Benchmarks", "ProtocolLayout", "StepLayout", "benchmarks"]


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
        datasets: protocol name -> its datasets, in table order (an average over fewer is partial).
        roles: benchmark role -> its datasets, in table order (the targets of a transfer table).
        sources: protocol name -> the one dataset it trains on, for a protocol that trains once
            for every dataset of its later steps (cross-dataset: ImageNet).
        protocols: our protocols' run layouts, by protocol name.
    """

    display: dict[str, str]
    order: dict[str, int]
    datasets: dict[str, tuple[str, ...]]
    roles: dict[str, tuple[str, ...]]
    sources: dict[str, str]
    protocols: dict[str, ProtocolLayout]

    @property
    def xd_source(self) -> str:
        """The source of cross-dataset transfer (ImageNet), where CoCoOp's and MaPLe's layouts put it."""
        return self.sources["xd"]

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

    def target_header(self, dataset: str, source: str) -> str:
        """A transfer table's column header: the display name without the source's name, as the
        papers put the ImageNet variants under "ImageNet" ('ImageNet-V2' -> '-V2')."""
        name, prefix = self.display_name(dataset), self.display_name(source)
        return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else name


@functools.lru_cache(maxsize=None)
def benchmarks() -> Benchmarks:
    """The facts, read once from ``datasets.SPECS`` and ``protocols.PROTOCOLS``."""
    from datasets import SPECS
    from datasets.specs import PROTOCOL_ROLES
    from protocols import PROTOCOLS

    specs = sorted(SPECS.values(), key=lambda spec: spec.order)
    layouts, sources = {}, {}
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
        if not protocol.per_dataset:
            trained = protocol.datasets(protocol.steps[0])
            if len(trained) != 1:
                raise ValueError(
                    f"{protocol.name} trains once on one dataset, found {[s.config for s in trained] or 'none'}: fix the "
                    f"`protocols` of the benchmarks' specs in datasets/<benchmark>.py ({', '.join(protocol.steps[0].datasets)})."
                )
            sources[protocol.name] = trained[0].config
    return Benchmarks(
        display={spec.config: spec.display_name for spec in specs},
        order={spec.config: spec.order for spec in specs},
        datasets={p.name: tuple(spec.config for spec in p.datasets()) for p in PROTOCOLS.values()},
        roles={role: tuple(spec.config for spec in specs if role in spec.protocols) for role in PROTOCOL_ROLES},
        sources=sources,
        protocols=layouts,
    )
