"""The data check of your own data: ``python -m datasets.check --root DATA --dataset imagefolder
--folder my_data [--shots 16]`` (or ``--dataset csvdataset``).

It reads the folder with the reader's own code (writing nothing: a split not yet drawn is drawn in
memory, exactly as the first run will draw and save it) and reports the classes with their names,
the images per class and split, the images that cannot be decoded, the classes too small to split
and those with fewer training images than the requested shots; each problem with its fix.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field

from tabulate import tabulate

from .errors import DatasetError, listing
from .findings import FAIL, INFO, WARN, Finding, Findings, verify_images
from .image_folder import GENERATED_SPLIT
from .own_data import OWN_DATA, OwnDataKind, own_data_kind, own_datums, require_two_classes, split_source
from .split_files import SPLITS, Split

__all__ = ["OwnDataReport", "check_own_data", "format_own_report"]


class _Keys(dict):
    """The few config keys a reader reads (``cfg.DATASET.get(...)``)."""

    __getattr__ = dict.__getitem__


class _Cfg:
    def __init__(self, classnames: str):
        self.DATASET = _Keys(SPLIT_FILE="", CLASSNAMES=classnames)


@dataclass
class OwnDataReport(Findings):
    """The check of one folder of your own data."""

    kind: OwnDataKind
    folder: str
    split: Split | None = None
    files: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    decoded: int = 0
    unreadable: int = 0

    @property
    def status(self) -> str:
        return self.worst()

    def class_counts(self) -> list[tuple[int, str, dict[str, int]]]:
        """(label, name, images per split) per class, in label order."""
        rows: dict[int, tuple[str, dict[str, int]]] = {}
        for part in SPLITS:
            for _, label, cname in (self.split or {}).get(part, []):
                rows.setdefault(label, (cname, {k: 0 for k in SPLITS}))[1][part] += 1
        return [(label, cname, counts) for label, (cname, counts) in sorted(rows.items())]


def check_own_data(
    root: str, name: str, folder: str, shots: int = 0, classnames: str = "", decode: bool = True, workers: int = 1
) -> OwnDataReport:
    """Check ``folder`` (relative to ``root``, or absolute) as dataset ``name`` (ImageFolder or
    CSVDataset) for ``shots`` training images per class (0: no shots check); nothing is written."""
    from engine.seam import DATASET_REGISTRY, quiet_logs

    kind = own_data_kind(name)
    if kind is None:
        raise KeyError(f"Unknown dataset '{name}' for --folder: use one of {', '.join(k.config for k in OWN_DATA.values())}.")
    path = osp.abspath(osp.join(root, osp.expanduser(folder)))
    report = OwnDataReport(kind, path)
    if not osp.isdir(path):
        report.add(FAIL, f"folder {path} not found", f"pass the folder of your data (relative to --root or absolute). Layout:\n{kind.layout}")
        return report
    reader = DATASET_REGISTRY.get(kind.name)
    try:
        with quiet_logs():  # the reader's lines ("Splitting into ...") are the report's findings here
            report.split, report.files = reader.read_split(path, _Cfg(classnames), write=False)
    except DatasetError as e:
        report.add(FAIL, str(e))
        return report
    try:
        require_two_classes(kind, path, report.split)
        own_datums(kind, path, report.split, split_source(report.files))  # every listed image exists
    except DatasetError as e:
        report.add(FAIL, str(e))
        return report
    split_file = report.files.get("split")
    if split_file and osp.basename(split_file) == GENERATED_SPLIT and not osp.isfile(split_file):
        report.add(INFO, f"the split is saved as {split_file} by the first run (what your folders do not give is drawn, seed 1); later runs read it")
    elif split_file:
        report.add(INFO, f"the split is read from {split_file} (its sha256 goes into every run's run.json)")
    counts = report.class_counts()
    empty = [f"{cname}: no {part} images" for _, cname, n in counts for part in ("val", "test") if n[part] == 0]
    if empty:
        report.add(WARN, "classes without validation or test images:\n" + listing(empty, "    "), "add images to those classes")
    if shots > 0:
        short = [f"{cname} ({n['train']} training images)" for _, cname, n in counts if n["train"] < shots]
        if short:
            report.add(
                WARN,
                f"{len(short)} of {len(counts)} classes have fewer training images than --shots {shots}:\n" + listing(short, "    "),
                f"add training images, or train with DATASET.NUM_SHOTS {min(n['train'] for _, _, n in counts)} or less "
                "(as in Dassl, those classes would keep all the images they have)",
            )
    # A deleted image leaves the saved split of an ImageFolder: that file goes too (drawn again).
    drawn_and_saved = bool(split_file) and osp.basename(split_file) == GENERATED_SPLIT and osp.isfile(split_file)
    if decode:
        paths = [osp.join(path, rel) for part in SPLITS for rel, _, _ in report.split[part]]
        bad = verify_images(paths, workers)
        report.decoded, report.unreadable = len(paths), len(bad)
        if bad:
            report.add(
                FAIL,
                f"{len(bad):,} image{'s' if len(bad) > 1 else ''} cannot be decoded:\n" + listing([f"{p}  ({e})" for p, e in bad], "    "),
                "replace or delete them"
                + (f" (then delete {split_file}: the split is drawn again)" if drawn_and_saved else "")
                + "; training would stop at the first one",
            )
    return report



def format_own_report(report: OwnDataReport) -> str:
    """The human-readable block of one folder: a row per class, then the findings."""
    lines = [f"== {report.kind.name} ({report.folder}): {report.status}"]
    counts = report.class_counts()
    if counts:
        table = [[label, cname, n["train"], n["val"], n["test"]] for label, cname, n in counts]
        total = {k: sum(n[k] for _, _, n in counts) for k in SPLITS}
        table.append(["", f"{len(counts)} classes", total["train"], total["val"], total["test"]])
        body = tabulate(table, headers=["label", "class", "train", "val", "test"], colalign=("right", "left", "right", "right", "right"))
        lines += [f"   {line}" for line in body.splitlines()]
    if report.decoded:
        lines.append(f"   images decoded: {report.decoded:,}, unreadable: {report.unreadable:,}")
    for finding in report.findings:
        lines.append(f"   {finding.severity:<5} " + finding.message.replace("\n", "\n" + " " * 9))
        if finding.fix:
            lines.append("         Fix: " + finding.fix.replace("\n", "\n         "))
    return "\n".join(lines)
