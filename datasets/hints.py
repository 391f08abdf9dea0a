"""Messages that say how to get a benchmark and where its misplaced files probably are.

Every "not found" error of a reader ends with these: the download command and the manual steps
(from the benchmark's artifacts), and hints such as a nested copy, a folder under another name
or an archive not yet extracted.
"""
from __future__ import annotations

import os
import os.path as osp
import shlex
from typing import Iterable, Sequence

from .download_specs import DOWNLOAD_DIR, Artifact, display_url, hand_fetched_path
from .errors import MAX_LISTED, DatasetError, indent
from .specs import SPECS, DatasetSpec

__all__ = [
    "DRAW_SPLIT",
    "check_command",
    "draw_split_hint",
    "fetch_instructions",
    "hint_text",
    "misplaced_hints",
    "missing_split_message",
    "refetch_fix",
    "require_dataset_folder",
    "require_files",
]

# What the official lists are needed for when the split file is absent (require_files' purpose).
DRAW_SPLIT = "draw a split from the official lists (no split file)"


def check_command(root: str, dataset: str, folder: str = "", classnames: str = "") -> str:
    """The data check of one dataset as a command that runs as printed (paths quoted for the
    shell): ``--folder`` (and ``--classnames``) name your own data's folder and class-name file."""
    words = ["python", "-m", "datasets.check", "--root", root, "--dataset", dataset]
    words += ["--folder", folder] if folder else []
    words += ["--classnames", classnames] if classnames else []
    return shlex.join(words)


def _artifact_line(artifact: Artifact, root: str, download: str) -> str:
    urls = " or ".join(display_url(u) for u in artifact.urls)
    where = f"save it as {hand_fetched_path(artifact, root)}"
    if artifact.unpack is not None:
        where += f" and run `{download}` (it verifies and unpacks it), or extract it yourself so that {osp.join(root, artifact.target)} exists"
    note = f" ({artifact.note})" if artifact.note else ""
    return f"  - {artifact.description}: {artifact.filename} from {urls}; {where}{note}"


def fetch_instructions(
    spec: DatasetSpec, root: str, kinds: Iterable[str] | None = None, verify: str | None = None
) -> str:
    """The fix for a missing dataset or part of it: the download command and the manual steps.

    ``kinds`` limits the files listed to "metadata" and/or "images"; ``verify`` to one kind of
    small file ("split", "classnames", ...).
    """
    kinds = tuple(kinds) if kinds is not None else ("metadata", "images")
    arts = [a for a in spec.artifacts if a.kind in kinds and (verify is None or a.verify == verify)]
    only_metadata = " --metadata-only" if "images" not in kinds else ""
    download = f"python -m datasets.download --root {shlex.quote(root)} --dataset {spec.name}{only_metadata}"
    lines = [f"Fix: run `{download}`"]
    if arts:
        lines[0] += ", or fetch by hand:"
        lines += [_artifact_line(a, root, download) for a in arts]
    if spec.manual and "images" in kinds:
        lines.append(f"  {spec.manual.replace('DATA', root)}")
    lines.append(f"  Then check with `{check_command(root, spec.name)}` (see DATASETS.md).")
    return "\n".join(lines)


def _walk_dirs(top: str, max_depth: int) -> Iterable[tuple[str, int]]:
    """Sub-folders of ``top`` down to ``max_depth`` (top itself excluded)."""
    stack = [(top, 0)]
    while stack:
        path, depth = stack.pop()
        if depth >= max_depth:
            continue
        try:
            entries = sorted(e.path for e in os.scandir(path) if e.is_dir() and not e.name.startswith("."))
        except OSError:
            continue
        for sub in entries:
            yield sub, depth + 1
            stack.append((sub, depth + 1))


def misplaced_hints(spec: DatasetSpec, root: str, expected: str) -> list[str]:
    """Where a missing folder or file probably is: a nested copy, another name, an unextracted archive."""
    hints: list[str] = []
    dataset_dir = osp.join(root, spec.folder)
    base = osp.basename(expected.rstrip("/"))
    if not osp.isdir(dataset_dir) and osp.isdir(root):
        wanted = spec.folder.lower().replace("-", "_")
        for name in sorted(os.listdir(root)):
            if name != spec.folder and name.lower().replace("-", "_") == wanted and osp.isdir(osp.join(root, name)):
                hints.append(f"found {osp.join(root, name)}: rename it to {dataset_dir}")
    search = [(dataset_dir, 3)] if osp.isdir(dataset_dir) else []
    search.append((root, 2))
    # Folders of the other benchmarks hold their own images/ etc.: never suggest those.
    others = tuple(osp.join(root, s.folder) + os.sep for s in SPECS.values() if s.folder != spec.folder)
    seen: set[str] = set()
    for top, depth in search:
        for path, _ in _walk_dirs(top, depth):
            if (path + os.sep).startswith(others):
                continue
            if osp.basename(path) == base and osp.abspath(path) != osp.abspath(expected) and path not in seen:
                seen.add(path)
                hints.append(f"found a folder named '{base}' at {path}: move it to {expected}")
    # Known alternative names for the same folder in other releases.
    aliases = {"images": ("sketch",), "2750": ("EuroSAT_RGB", "EuroSAT")}
    for alias in aliases.get(base, ()):
        candidate = osp.join(osp.dirname(expected), alias)
        if osp.isdir(candidate):
            hints.append(f"found {candidate}: rename it to {expected}")
    for artifact in spec.artifacts:
        for folder in (root, dataset_dir, osp.join(root, DOWNLOAD_DIR)):
            path = osp.join(folder, artifact.filename)
            if artifact.unpack is not None and osp.isfile(path):
                hints.append(
                    f"{path} is there but not extracted: run `python -m datasets.download --root {shlex.quote(root)} "
                    f"--dataset {spec.name}` to verify and unpack it"
                )
    return hints[:MAX_LISTED]


def hint_text(hints: list[str]) -> str:
    return "".join(f"\nHint: {h}" for h in hints)


def require_dataset_folder(spec: DatasetSpec, root: str) -> str:
    """The dataset folder, or an error with the expected layout and how to get it."""
    dataset_dir = osp.join(root, spec.folder)
    if not osp.isdir(dataset_dir):
        raise DatasetError(
            f"{spec.name}: dataset folder {dataset_dir} not found (DATASET.ROOT={root}).\n"
            f"Expected layout:\n{indent(spec.layout)}\n"
            + fetch_instructions(spec, root)
            + hint_text(misplaced_hints(spec, root, dataset_dir))
        )
    return dataset_dir


def require_files(spec: DatasetSpec, root: str, relpaths: Sequence[str], purpose: str) -> None:
    """Raise one error naming every missing file of ``relpaths`` (relative to the dataset folder)."""
    dataset_dir = osp.join(root, spec.folder)
    missing = [p for p in relpaths if not osp.isfile(osp.join(dataset_dir, p))]
    if missing:
        listed = "\n".join(f"  {osp.join(dataset_dir, p)}" for p in missing)
        raise DatasetError(
            f"{spec.name}: cannot {purpose}; missing:\n{listed}\n"
            + fetch_instructions(spec, root, kinds=("metadata",))
            + hint_text([h for p in missing for h in misplaced_hints(spec, root, osp.join(dataset_dir, p))])
        )



def refetch_fix(spec: DatasetSpec, root: str, path: str) -> str:
    """The fix for a damaged file of a benchmark that the download helper fetches (its split file)."""
    return f"delete {path}; `python -m datasets.download --root {shlex.quote(root)} --dataset {spec.name} --metadata-only` fetches the original"


def missing_split_message(spec: DatasetSpec, root: str, path: str) -> str:
    """Why a run stops when its split file is missing, and the three ways on."""
    if spec.split_file is None or osp.basename(path) != spec.split_file:  # DATASET.SPLIT_FILE
        return (
            f"{spec.name}: DATASET.SPLIT_FILE {path} not found. Point DATASET.SPLIT_FILE at a split file in CoOp's "
            f"format (relative to {osp.join(root, spec.folder)} or absolute), or leave it empty for the official split."
        )
    return (
        f"{spec.name}: the official split file {path} is missing. No split is drawn in its place (CoOp would "
        "draw a new random one, and results would no longer compare with published numbers).\n"
        + fetch_instructions(spec, root, kinds=("metadata",), verify="split")
        + "\n"
        + draw_split_hint(spec, root)
    )


def draw_split_hint(spec: DatasetSpec, root: str) -> str:
    """The way on without the official split file: a split drawn on purpose, under its own name."""
    return (
        "  Or train on a split of your own (results not comparable with published ones): "
        f"`python -m datasets.make_split --root {shlex.quote(root)} --dataset {spec.name}`, then pass the file it writes "
        "as DATASET.SPLIT_FILE."
    )

