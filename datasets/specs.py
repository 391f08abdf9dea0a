"""The facts of a benchmark (:class:`DatasetSpec`) and the table of all of them (:data:`SPECS`).

Each benchmark's facts live in its reader module (``datasets/<benchmark>.py``), which registers
them with :func:`register_spec` next to the reader: folder, split file, published counts, the
files to download and their checksums, the name in results tables, the zero-shot prompt and the
protocols that use it. Everything else derives from :data:`SPECS`: the readers, the data check
(``python -m datasets.check``), the download helper, zero-shot CLIP's prompts, the protocol
runner's dataset lists, the tables of ``parse_results.py`` and DATASETS.md (checked by a test).
So adding a benchmark is one reader module plus its ``configs/datasets/<config>.yaml``.

Folder names, file names and counts are those of CoOp's DATASETS.md and of the CoOp paper's
dataset table (Zhou et al., "Learning to Prompt for Vision-Language Models", arXiv 2109.01134);
checksums are the ones torchvision, TensorFlow Datasets and other public loaders publish for the
same archives.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .download_specs import Artifact

__all__ = ["PROTOCOL_ROLES", "SPECS", "DatasetSpec", "dataset_names", "register_spec", "spec_for"]

# How a benchmark takes part in the protocols of the CoOp family (protocols/definitions.py):
# base-to-new and few-shot learning, the source or a target of cross-dataset transfer, a target of
# domain generalisation (the ImageNet variants).
PROTOCOL_ROLES = ("base2new", "fewshot", "xd_source", "xd_target", "dg_target")
#: The hand-crafted prompt of a dataset that has none of its own (your own data, unknown names):
#: CLIP's generic one.
DEFAULT_TEMPLATE = "a photo of a {}."


@dataclass(frozen=True)
class DatasetSpec:
    """Layout and published size of one benchmark.

    Args:
        name: the registered reader name (``DATASET.NAME``).
        config: stem of ``configs/datasets/<config>.yaml``; also the name in run folders and on
            the protocol scripts' command lines.
        display_name: the name in results tables and plots (the papers' names).
        template: the hand-crafted zero-shot prompt, ``{}`` standing for the class name (CoOp's).
        protocols: the roles of the benchmark in the protocols (see :data:`PROTOCOL_ROLES`).
        order: position in the papers' tables (and so in every list of benchmarks).
        folder: the dataset folder under ``DATASET.ROOT`` (CoOp's name).
        image_subdir: image folder inside ``folder``; split paths are relative to it ("" = the
            dataset folder itself, as for StanfordCars).
        split_file: CoOp's split file name, or None where CoOp uses none.
        num_classes: classes in the benchmark.
        counts: published images per split; ImageNet evaluates on its val set (test = val),
            the four ImageNet variants only have a test set.
        test_only: the ImageNet variants (evaluation only).
        layout: the expected tree, for messages and DATASETS.md.
        metadata: files (relative to ``folder``) needed to draw a split when the split file is
            absent (``datasets.make_split``), or always read (FGVCAircraft and the ImageNet family).
        artifacts: what the download helper fetches.
        manual: how to get the images by hand when there is no public download.
    """

    name: str
    config: str
    display_name: str
    template: str
    protocols: tuple[str, ...]
    order: int
    folder: str
    image_subdir: str
    split_file: str | None
    num_classes: int
    counts: dict[str, int]
    test_only: bool = False
    layout: str = ""
    metadata: tuple[str, ...] = ()
    artifacts: tuple[Artifact, ...] = field(default_factory=tuple)
    manual: str = ""

    @property
    def image_dir_rel(self) -> str:
        """The image folder relative to the data root."""
        return f"{self.folder}/{self.image_subdir}" if self.image_subdir else self.folder

    def __post_init__(self) -> None:
        unknown = set(self.protocols) - set(PROTOCOL_ROLES)
        if unknown:
            raise ValueError(f"{self.name}: unknown protocol roles {sorted(unknown)}; valid: {PROTOCOL_ROLES}")
        if "{}" not in self.template:
            raise ValueError(f"{self.name}: the template {self.template!r} has no {{}} for the class name")


# Name -> spec of every registered benchmark, in table order (``order``); the reader modules fill
# it when ``datasets`` is imported.
SPECS: dict[str, DatasetSpec] = {}


def register_spec(spec: DatasetSpec) -> DatasetSpec:
    """Add a benchmark's facts to :data:`SPECS` (kept in table order); returns ``spec``."""
    for other in SPECS.values():
        clash = {"name": spec.name, "config": spec.config, "folder": spec.folder, "order": spec.order}
        same = [k for k, v in clash.items() if getattr(other, k) == v]
        if same:
            raise ValueError(f"{spec.name}: {', '.join(same)} already used by {other.name}")
    ordered = sorted([*SPECS.values(), spec], key=lambda s: s.order)
    SPECS.clear()
    SPECS.update((s.name, s) for s in ordered)
    return spec


def dataset_names() -> tuple[str, ...]:
    """The reader names of all registered benchmarks, in table order."""
    return tuple(SPECS)


def spec_for(name: str) -> DatasetSpec:
    """The spec of a dataset given its reader name, config stem or folder name (any case)."""
    key = name.strip().lower()
    for spec in SPECS.values():
        if key in (spec.name.lower(), spec.config.lower(), spec.folder.lower()):
            return spec
    valid = ", ".join(dataset_names())
    raise KeyError(f"Unknown dataset '{name}'. Valid names: {valid} (or their config names, e.g. 'dtd').")
