"""The data check of the benchmarks (the library behind ``python -m datasets.check``): for each
benchmark it reports whether the folder is there, the expected (published) and found
number of images per split and of classes, the images a split lists that are missing, the
images that cannot be decoded, and for every problem the exact fix (what to download, where to
put it, which file is missing). It reads with the same code as the readers and writes nothing.

Severity: FAIL (the reader would stop, or an image cannot be loaded), WARN (it would run, but
not on the published benchmark: a missing split file, other counts), MISSING (no dataset
folder). The exit code is 1 when anything FAILs or is MISSING (with ``--strict`` also on WARN),
else 0.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass, field
from typing import Sequence

from tabulate import tabulate

from engine.seam import DATASET_REGISTRY, get_logger

from .errors import DatasetError, listing
from .findings import FAIL, WARN, Finding, Findings, verify_images
from .hints import draw_split_hint, fetch_instructions, misplaced_hints, refetch_fix
from .imagenet import (
    CACHE_NAME,
    ImageNetFolderTestSet,
    cache_fix,
    flat_val_message,
    list_imagenet,
    read_imagenet_classnames,
)
from .images import find_missing, list_images, subdirs
from .specs import DatasetSpec, spec_for
from .split_drawing import per_class_counts, trainval_counts
from .split_files import SPLITS, Item, Split, parse_split, read_json_file

__all__ = ["Report", "check_benchmarks", "check_dataset", "format_report"]

_log = get_logger("datasets.check")


@dataclass
class Report(Findings):
    """The check of one benchmark.

    Attributes:
        spec: the benchmark.
        root: the data root checked.
        found: whether its folder exists.
        rows: [part, expected, found, missing] per split, then [classes, expected, found, ""].
        findings: problems and notes, each with its fix.
        decoded / unreadable: images opened and images that failed to decode.
    """

    spec: DatasetSpec
    root: str = ""
    found: bool = True
    rows: list[list] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    decoded: int = 0
    unreadable: int = 0

    @property
    def status(self) -> str:
        return self.worst() if self.found else "MISSING"


# ---------------------------------------------------------------------------------------------
# Per-benchmark checks
# ---------------------------------------------------------------------------------------------

def _hints(spec: DatasetSpec, root: str, expected: str) -> str:
    return "".join(f"\n  Hint: {h}" for h in misplaced_hints(spec, root, expected))


def _count_rows(
    report: Report, spec: DatasetSpec, found: dict[str, int], missing: dict[str, int] | None, n_classes: int
) -> None:
    """Expected vs found per split and classes; ``missing=None`` when not known per split."""
    mismatched = []
    for part, expected in spec.counts.items():
        got = found.get(part, 0)
        report.rows.append([part, expected, got, "" if missing is None else missing.get(part, 0)])
        if got != expected:
            mismatched.append(f"{part} {got:,} (published {expected:,})")
    report.rows.append(["classes", spec.num_classes, n_classes, None])
    if n_classes != spec.num_classes:
        mismatched.append(f"{n_classes:,} classes (published {spec.num_classes:,})")
    if mismatched:
        report.add(
            WARN,
            "counts differ from the published benchmark: " + ", ".join(mismatched),
            "if this should be the full benchmark, it is incomplete or uses another split: complete the image "
            f"folders and use the published files (`python -m datasets.download --root {report.root} "
            f"--dataset {spec.name}`, DATASETS.md). A custom or synthetic set is fine as it is.",
        )


def _check_images(
    report: Report, spec: DatasetSpec, root: str, image_dir: str, split: Split, source: str, decode: bool, workers: int
) -> dict[str, int]:
    """Existence (and decoding) of every listed image; returns the missing count per split."""
    missing_by_part = {}
    all_missing: list[str] = []
    total = 0
    for part, items in split.items():
        missing = find_missing(image_dir, [rel for rel, _, _ in items])
        missing_by_part[part] = len(missing)
        all_missing += missing
        total += len(items)
    if all_missing:
        where = (
            f"the image folder {image_dir} does not exist"
            if not osp.isdir(image_dir)
            else f"{len(all_missing):,} of {total:,} images listed in {source} are missing under {image_dir}:\n"
            + listing(all_missing, "    ")
        )
        hints = _hints(spec, root, image_dir) if not osp.isdir(image_dir) else ""
        report.add(FAIL, where, fetch_instructions(spec, root, kinds=("images",)) + hints)
    if decode:
        missing_set = set(all_missing)
        paths = sorted(
            {osp.join(image_dir, rel) for items in split.values() for rel, _, _ in items if rel not in missing_set}
        )
        bad = verify_images(paths, workers)
        report.decoded, report.unreadable = len(paths), len(bad)
        if bad:
            report.add(
                FAIL,
                f"{len(bad):,} of {len(paths):,} images cannot be decoded (corrupt, truncated or not images):\n"
                + listing([f"{p}  ({e})" for p, e in bad], "    "),
                "Fix: restore these files from the original archive (extract it again; fetch it again if its "
                "checksum fails). Do not delete them: the split lists them. To get the archive again, "
                + fetch_instructions(spec, root, ("images",))[len("Fix: ") :],
            )
    return missing_by_part


def _predicted_counts(source: dict[str, list[Item]]) -> tuple[dict[str, int], int]:
    """Split sizes the reader will make from the official files (no randomness needed)."""
    per_label: dict[str, dict[int, int]] = {}
    for key, items in source.items():
        counts: dict[int, int] = {}
        for _, label, _ in items:
            counts[label] = counts.get(label, 0) + 1
        per_label[key] = counts
    labels = set().union(*[set(c) for c in per_label.values()])
    if "all" in source:
        parts = [per_class_counts(n) for n in per_label["all"].values()]
        found = {k: sum(p[i] for p in parts) for i, k in enumerate(SPLITS)}
    elif "trainval" in source:
        parts = [trainval_counts(n) for n in per_label["trainval"].values()]
        found = {"train": sum(p[0] for p in parts), "val": sum(p[1] for p in parts), "test": len(source["test"])}
    else:
        found = {k: len(v) for k, v in source.items()}
    return found, len(labels)


def _check_split_dataset(report: Report, spec: DatasetSpec, root: str, decode: bool, workers: int) -> None:
    reader = DATASET_REGISTRY.get(spec.name)
    dataset_dir = osp.join(root, spec.folder)
    image_dir = osp.join(root, spec.image_dir_rel)
    split_path = osp.join(dataset_dir, spec.split_file) if spec.split_file else None
    if split_path is not None and osp.isfile(split_path):
        fix = refetch_fix(spec, root, split_path)
        try:
            split = parse_split(read_json_file(split_path, fix), split_path, fix=fix)
        except DatasetError as e:
            report.add(FAIL, str(e))  # its fix is in the message
            return
        found = {k: len(v) for k, v in split.items()}
        n_classes = len({label for _, label, _ in split["train"]})
        source = split_path
    else:
        if split_path is not None:
            report.add(
                FAIL,
                f"{spec.split_file} not found: runs stop until it is there (no random split is drawn in its place)",
                fetch_instructions(spec, root, kinds=("metadata",), verify="split") + "\n" + draw_split_hint(spec, root),
            )
        try:
            official, source = reader.read_source(spec, root)
        except DatasetError as e:
            report.add(FAIL, str(e))
            return
        found, n_classes = _predicted_counts(official)
        split = official
    missing = _check_images(report, spec, root, image_dir, split, source, decode, workers)
    if "all" in split or "trainval" in split:  # unsplit official lists: the FAIL line has the total
        missing = None
    _count_rows(report, spec, found, missing, n_classes)


def _check_imagenet(report: Report, spec: DatasetSpec, root: str, decode: bool, workers: int) -> None:
    image_dir = osp.join(root, spec.image_dir_rel)
    try:
        classnames = read_imagenet_classnames(spec, root)
    except DatasetError as e:
        report.add(FAIL, str(e))
        classnames = None
    for sub in ("train", "val"):
        folder = osp.join(image_dir, sub)
        if not osp.isdir(folder):
            report.add(
                FAIL, f"{folder} not found", fetch_instructions(spec, root, kinds=("images",)) + _hints(spec, root, folder)
            )
            return
    val_dir = osp.join(image_dir, "val")
    if not subdirs(val_dir) and list_images(val_dir):
        report.add(FAIL, flat_val_message(spec, root, val_dir, len(list_images(val_dir))))
        return
    if classnames is None:
        return
    cache = osp.join(root, spec.folder, CACHE_NAME)
    try:
        if osp.isfile(cache):
            split = parse_split(read_json_file(cache, cache_fix(cache)), cache, ("train", "test"), cache_fix(cache))
            source = cache
        else:
            split = list_imagenet(spec, root, image_dir, classnames)
            source = image_dir
    except DatasetError as e:
        report.add(FAIL, str(e))
        return
    missing = _check_images(report, spec, root, image_dir, split, source, decode, workers)
    if source == cache and any(missing.values()):
        report.add(FAIL, f"{cache} lists images that are gone", cache_fix(cache))
    found = {k: len(v) for k, v in split.items()}
    n_train = len({label for _, label, _ in split["train"]})
    n_val = len({label for _, label, _ in split["test"]})
    if n_val != n_train:
        report.add(WARN, f"images/train has {n_train} classes but images/val has {n_val}", "complete images/val")
    _count_rows(report, spec, found, missing, n_train)


def _check_variant(report: Report, spec: DatasetSpec, root: str, decode: bool, workers: int) -> None:
    reader = DATASET_REGISTRY.get(spec.name)
    assert issubclass(reader, ImageNetFolderTestSet), reader
    try:
        items, n_folders = reader.read_items(spec, root)
    except DatasetError as e:
        report.add(FAIL, str(e))
        return
    split = {"test": items}
    image_dir = osp.join(root, spec.image_dir_rel)
    missing = _check_images(report, spec, root, image_dir, split, image_dir, decode, workers)
    _count_rows(report, spec, {"test": len(items)}, missing, n_folders)


def check_dataset(root: str, name: str, decode: bool = True, workers: int = 1) -> Report:
    """Check one benchmark under the data root ``root``; nothing is written."""
    spec = spec_for(name)
    root = osp.abspath(osp.expanduser(root))
    report = Report(spec, root)
    dataset_dir = osp.join(root, spec.folder)
    if not osp.isdir(dataset_dir):
        report.found = False
        report.add(
            FAIL,
            f"dataset folder {dataset_dir} not found",
            fetch_instructions(spec, root) + _hints(spec, root, dataset_dir),
        )
        return report
    if spec.name == "ImageNet":
        _check_imagenet(report, spec, root, decode, workers)
    elif spec.test_only:
        _check_variant(report, spec, root, decode, workers)
    else:
        _check_split_dataset(report, spec, root, decode, workers)
    return report


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def format_report(report: Report) -> str:
    """The human-readable block of one benchmark."""
    spec = report.spec
    lines = [f"== {spec.name} ({spec.folder}/): {report.status}"]
    if report.rows:
        table = [
            [r[0], f"{r[1]:,}", f"{r[2]:,}", "" if r[3] is None else "-" if r[3] == "" else f"{r[3]:,}"]
            for r in report.rows
        ]
        body = tabulate(table, headers=["", "expected", "found", "missing"], colalign=("left", "right", "right", "right"))
        lines += [f"   {line}" for line in body.splitlines()]
    if report.decoded:
        lines.append(f"   images decoded: {report.decoded:,}, unreadable: {report.unreadable:,}")
    for finding in report.findings:
        msg = finding.message.replace("\n", "\n" + " " * 9)
        lines.append(f"   {finding.severity:<5} {msg}")
        if finding.fix:
            fix = finding.fix if finding.fix.startswith("Fix:") else f"Fix: {finding.fix}"
            lines.append("         " + fix.replace("\n", "\n         "))
    return "\n".join(lines)


def check_benchmarks(root: str, names: Sequence[str], decode: bool = True, workers: int = 1, strict: bool = False,
                     skip_missing: bool = False) -> int:  # fmt: skip
    """Check the benchmarks ``names`` under the data root ``root``, log each report and a summary;
    1 when anything FAILs or is MISSING (``strict``: also on WARN; ``skip_missing``: MISSING does
    not fail), else 0."""
    mode = "" if decode else " (files only, not decoded)"
    _log.info(f"Checking {len(names)} benchmark(s) under {root}{mode}")
    reports = []
    for name in names:
        report = check_dataset(root, name, decode=decode, workers=workers)
        reports.append(report)
        _log.info(format_report(report))
    statuses = [r.status for r in reports]
    summary = ", ".join(f"{statuses.count(s)} {s}" for s in ("OK", WARN, FAIL, "MISSING") if statuses.count(s))
    failing = {FAIL} | ({WARN} if strict else set()) | (set() if skip_missing else {"MISSING"})
    code = 1 if any(s in failing for s in statuses) else 0
    verdict = "Something needs fixing (see FAIL/MISSING above)." if code else "All checked benchmarks are usable."
    _log.info(f"Summary: {summary}. {verdict}")
    return code
