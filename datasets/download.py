"""The download helper: ``python -m datasets.download --root DATA --dataset NAME [...]``.

For each benchmark it fetches what is publicly downloadable (CoOp's split files and class-name
files from Google Drive with gdown, the image archives from their official hosts), verifies
each file (MD5 where a public checksum is known; split and class-name files by their content),
unpacks the archives into the layout the readers expect, and finally runs the data check.

A file already in the download folder (``DATA/downloads`` by default), in the data root or in
the dataset folder is used instead of fetching it, so files fetched by hand go through the same
verification and unpacking. When a host refuses or there is no network, the helper ends with
the exact list of URLs and the paths to put the files at.

``--sort-imagenet-val LABELS`` sorts the flat ILSVRC2012 val folder into class folders, LABELS
being the devkit (ILSVRC2012_devkit_t12.tar.gz), Kaggle's LOC_val_solution.csv, or a text file
of ``<image> <wnid>`` lines.
"""
from __future__ import annotations

import argparse
import csv
import os
import os.path as osp
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from typing import Sequence

from engine.seam import file_digests, get_logger

from .download_specs import DOWNLOAD_DIR, GDRIVE, Artifact, display_url, hand_fetched_path
from .errors import DatasetError
from .imagenet import WNID_PATTERN, read_imagenet_classnames
from .images import list_images, subdirs
from .specs import SPECS, DatasetSpec, dataset_names, spec_for
from .split_files import parse_split, read_json_file

__all__ = [
    "FetchError",
    "Outcome",
    "fetch",
    "main",
    "process_artifact",
    "sort_imagenet_val",
    "unpack",
    "verify_file",
]

_log = get_logger("datasets.download")

CHUNK = 1 << 20  # bytes per read while downloading
TIMEOUT_S = 60  # per network operation
FLOWERS_NUM_CLASSES = 102


class FetchError(RuntimeError):
    """A file could not be fetched (no network, host refused, ...)."""


@dataclass
class Outcome:
    """What happened to one artifact: "in place", "done", "planned" or "failed"."""

    spec: DatasetSpec
    artifact: Artifact
    status: str
    detail: str = ""


# ---------------------------------------------------------------------------------------------
# Fetching and verifying
# ---------------------------------------------------------------------------------------------
def fetch(url: str, dest: str) -> None:
    """Download ``url`` (or ``gdrive:<id>``) to ``dest`` via a temporary ``.part`` file."""
    part = dest + ".part"
    os.makedirs(osp.dirname(dest) or ".", exist_ok=True)
    try:
        if url.startswith(GDRIVE):
            import gdown

            result = gdown.download(id=url[len(GDRIVE):], output=part, quiet=False)
            if not result:
                raise FetchError("Google Drive refused the download (quota exceeded or file not shared)")
        else:
            request = urllib.request.Request(url, headers={"User-Agent": "mudpt-datasets"})
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response, open(part, "wb") as f:
                shutil.copyfileobj(response, f, CHUNK)
        os.replace(part, dest)
    except FetchError:
        raise
    except Exception as e:  # noqa: BLE001 - network errors come in many types; all mean "fetch by hand"
        raise FetchError(f"{type(e).__name__}: {e}") from e
    finally:
        if osp.exists(part):
            os.remove(part)


def verify_file(spec: DatasetSpec, artifact: Artifact, path: str) -> str | None:
    """None if ``path`` is the expected file, else what is wrong with it."""
    if artifact.checksums:
        got = file_digests(path, sorted({c.algorithm for c in artifact.checksums}))
        if not any(got[c.algorithm] == c.digest for c in artifact.checksums):
            published = " or ".join(f"{c.algorithm.upper()} {c.digest} ({c.source})" for c in artifact.checksums)
            found = ", ".join(f"{name.upper()} {value}" for name, value in got.items())
            return f"{found} differs from the published {published} (incomplete or different file)"
    try:
        if artifact.verify == "split":
            split = parse_split(read_json_file(path), path)
            counts = {k: len(v) for k, v in split.items()}
            if counts != spec.counts:
                return f"split sizes {counts} differ from the published {spec.counts}"
        elif artifact.verify == "classnames":
            with tempfile.TemporaryDirectory() as tmp:
                os.makedirs(osp.join(tmp, spec.folder))
                shutil.copyfile(path, osp.join(tmp, spec.folder, "classnames.txt"))
                read_imagenet_classnames(spec, tmp)
        elif artifact.verify == "cat_to_name":
            names = read_json_file(path)
            if not isinstance(names, dict) or sorted(names, key=int) != [str(i) for i in range(1, FLOWERS_NUM_CLASSES + 1)]:
                return f"expected a JSON object with keys '1'..'{FLOWERS_NUM_CLASSES}'"
    except (DatasetError, ValueError) as e:
        return str(e).splitlines()[0]
    return None


# ---------------------------------------------------------------------------------------------
# Unpacking
# ---------------------------------------------------------------------------------------------
def _safe_extract(archive: str, dest: str) -> None:
    """Extract a tar or zip archive into ``dest``, refusing members that would land outside it."""
    dest_abs = osp.abspath(dest)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for name in zf.namelist():
                target = osp.abspath(osp.join(dest_abs, name))
                if not (target + os.sep).startswith(dest_abs + os.sep) and target != dest_abs:
                    raise DatasetError(f"{archive}: member {name!r} would be written outside {dest}; not extracting it.")
            zf.extractall(dest_abs)
    elif tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 / 3.10.12 / 3.9.17
                try:
                    tf.extractall(dest_abs, filter="data")
                except tarfile.FilterError as e:
                    raise DatasetError(f"{archive}: unsafe member ({e}); not extracting it.") from e
            else:
                for member in tf.getmembers():
                    target = osp.abspath(osp.join(dest_abs, member.name))
                    if not target.startswith(dest_abs + os.sep) or member.issym() or member.islnk():
                        raise DatasetError(f"{archive}: unsafe member {member.name!r}; not extracting it.")
                tf.extractall(dest_abs)
    else:
        raise DatasetError(f"{archive} is neither a tar nor a zip archive.")


def _find(top: str, relpath: str) -> str | None:
    """``top/relpath`` if it exists, else the first path under ``top`` ending with ``relpath``."""
    direct = osp.join(top, relpath)
    if osp.exists(direct):
        return direct
    tail = osp.normpath(relpath)
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames.sort()
        for name in dirnames + filenames:
            path = osp.join(dirpath, name)
            if osp.normpath(osp.relpath(path, top)).endswith(tail) and osp.basename(path) == osp.basename(tail):
                return path
    return None


def _merge_move(src: str, dst: str) -> None:
    """Move ``src`` to ``dst``; folders are merged into an existing ``dst`` (existing files kept)."""
    if not osp.exists(dst):
        os.makedirs(osp.dirname(dst), exist_ok=True)
        shutil.move(src, dst)
        return
    if osp.isdir(src) and osp.isdir(dst):
        for name in os.listdir(src):
            _merge_move(osp.join(src, name), osp.join(dst, name))
        shutil.rmtree(src, ignore_errors=True)


def unpack(archive: str, artifact: Artifact, root: str) -> None:
    """Extract ``archive`` and move its parts to their places under ``root`` (``artifact.unpack``)."""
    assert artifact.unpack is not None
    os.makedirs(root, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".unpack-{artifact.filename}-", dir=root)
    try:
        _safe_extract(archive, tmp)
        for inner, dest in artifact.unpack:
            found = _find(tmp, inner)
            if found is None:
                raise DatasetError(f"{archive} has no '{inner}' inside; is it the right file ({artifact.description})?")
            _merge_move(found, osp.join(root, dest))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# One artifact
# ---------------------------------------------------------------------------------------------
def _local_copy(spec: DatasetSpec, artifact: Artifact, root: str, download_dir: str) -> str | None:
    """A copy of the artifact already on disk: fetched by hand, or ImageNet's classnames.txt."""
    candidates = [osp.join(folder, artifact.filename) for folder in (download_dir, root, osp.join(root, spec.folder))]
    if artifact.verify == "classnames":  # one file serves ImageNet and its four variants
        candidates += [osp.join(root, s.folder, "classnames.txt") for s in SPECS.values() if "classnames.txt" in s.metadata]
    for path in candidates:
        if osp.isfile(path) and osp.abspath(path) != osp.abspath(osp.join(root, artifact.target)):
            return path
    return None


def process_artifact(
    spec: DatasetSpec,
    artifact: Artifact,
    root: str,
    download_dir: str,
    dry_run: bool = False,
    keep_archives: bool = False,
) -> Outcome:
    """Bring one artifact into place: find or fetch it, verify it, unpack or move it."""
    target = osp.join(root, artifact.target)
    if osp.exists(target):
        return Outcome(spec, artifact, "in place", target)
    local = _local_copy(spec, artifact, root, download_dir)
    if local is None:
        dest = osp.join(download_dir, artifact.filename)
        if dry_run:
            return Outcome(spec, artifact, "planned", f"{' or '.join(display_url(u) for u in artifact.urls)} -> {dest}")
        errors = []
        for url in artifact.urls:
            _log.info(f"Fetching {display_url(url)} -> {dest}")
            try:
                fetch(url, dest)
                local = dest
                break
            except FetchError as e:
                errors.append(f"{display_url(url)}: {e}")
        if local is None:
            return Outcome(spec, artifact, "failed", "; ".join(errors))
    elif dry_run:
        return Outcome(spec, artifact, "planned", f"use {local} (verify and unpack)")
    problem = verify_file(spec, artifact, local)
    if problem:
        return Outcome(spec, artifact, "failed", f"{local}: {problem}. Delete it and fetch it again.")
    try:
        if artifact.unpack is not None:
            _log.info(f"Unpacking {local}")
            unpack(local, artifact, root)
            if not keep_archives and osp.abspath(osp.dirname(local)) == osp.abspath(download_dir):
                os.remove(local)
        else:
            os.makedirs(osp.dirname(target), exist_ok=True)
            shutil.copyfile(local, target)
            if osp.abspath(osp.dirname(local)) == osp.abspath(download_dir) and not keep_archives:
                os.remove(local)
    except (DatasetError, OSError) as e:
        return Outcome(spec, artifact, "failed", str(e))
    if not osp.exists(target):
        return Outcome(spec, artifact, "failed", f"{local} was unpacked but {target} is still missing")
    return Outcome(spec, artifact, "done", target)


def _manual_list(outcomes: Sequence[Outcome], root: str, download_dir: str) -> str:
    lines = []
    for o in outcomes:
        urls = "\n      or ".join(display_url(u) for u in o.artifact.urls)
        put = hand_fetched_path(o.artifact, root, download_dir)
        lines.append(f"  [{o.spec.name}] {o.artifact.description}\n      {urls}\n      -> {put}")
        if o.artifact.note:
            lines.append(f"      ({o.artifact.note})")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# ImageNet val: flat folder -> class folders
# ---------------------------------------------------------------------------------------------
def _val_labels_from_devkit(path: str) -> dict[str, str]:
    """Image stem -> wnid from ILSVRC2012_devkit_t12.tar.gz (meta.mat + validation ground truth)."""
    from scipy.io import loadmat

    with tempfile.TemporaryDirectory() as tmp:
        _safe_extract(path, tmp)
        meta = _find(tmp, "data/meta.mat")
        truth = _find(tmp, "data/ILSVRC2012_validation_ground_truth.txt")
        if meta is None or truth is None:
            raise DatasetError(f"{path} lacks data/meta.mat or data/ILSVRC2012_validation_ground_truth.txt.")
        synsets = loadmat(meta, squeeze_me=True)["synsets"]
        wnid_of = {
            int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets if int(s["num_children"]) == 0
        }
        with open(truth, encoding="utf-8") as f:
            ids = [int(line) for line in f if line.strip()]
    return {f"ILSVRC2012_val_{i:08d}": wnid_of[idx] for i, idx in enumerate(ids, start=1)}


def _val_labels(path: str) -> dict[str, str]:
    """Image stem -> wnid from the devkit, Kaggle's CSV or ``<image> <wnid>`` lines."""
    if path.endswith((".tar.gz", ".tgz", ".tar")):
        return _val_labels_from_devkit(path)
    labels = {}
    with open(path, encoding="utf-8", newline="") as f:
        if path.endswith(".csv"):
            for row in csv.DictReader(f):
                labels[row["ImageId"]] = row["PredictionString"].split()[0]
        else:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    labels[osp.splitext(parts[0])[0]] = parts[1]
    return labels


def sort_imagenet_val(val_dir: str, labels_path: str, wnids: Sequence[str] | None = None) -> int:
    """Move the loose images of ``val_dir`` into ``val_dir/<wnid>/``; returns how many moved.

    Every label is checked before anything moves: it must be a WordNet id (``n`` + 8 digits),
    and one of ``wnids`` (the classes of classnames.txt) when given, so that no label can send
    an image elsewhere (a ``../`` in a label file) or into a folder no reader knows."""
    images = list_images(val_dir)
    if not images:
        raise DatasetError(f"{val_dir} has no loose images to sort (class folders: {len(subdirs(val_dir))}).")
    labels = _val_labels(labels_path)
    unlabelled = [name for name in images if osp.splitext(name)[0] not in labels]
    if unlabelled:
        raise DatasetError(
            f"{labels_path} has no label for {len(unlabelled)} of the {len(images)} images in {val_dir} "
            f"(first: {unlabelled[:3]}). Is it the ILSVRC2012 val set?"
        )
    label_of = {name: labels[osp.splitext(name)[0]] for name in images}
    known = set(wnids) if wnids is not None else None
    bad = [
        f"{name}: {wnid!r}"
        for name, wnid in label_of.items()
        if not WNID_PATTERN.match(wnid) or (known is not None and wnid not in known)
    ]
    if bad:
        what = "WordNet ids of classnames.txt" if known is not None else "WordNet ids (n + 8 digits)"
        raise DatasetError(
            f"{labels_path}: {len(bad)} labels are not {what} (first: {', '.join(bad[:3])}); nothing was moved. "
            "Use the ILSVRC2012 devkit or Kaggle's LOC_val_solution.csv."
        )
    for name, wnid in label_of.items():
        os.makedirs(osp.join(val_dir, wnid), exist_ok=True)
        os.replace(osp.join(val_dir, name), osp.join(val_dir, wnid, name))
    return len(images)


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m datasets.download",
        description="Fetch, verify and unpack the benchmarks into the layout the readers expect.",
    )
    parser.add_argument("--root", default=os.environ.get("DATA"), help="the data root (DATASET.ROOT); default $DATA")
    parser.add_argument("--dataset", nargs="+", metavar="NAME", help=f"benchmarks: {', '.join(dataset_names())}")
    parser.add_argument("--all", action="store_true", help="every benchmark (hundreds of GB with the images)")
    parser.add_argument(
        "--metadata-only", action="store_true", help="only the small files: split files, class names, labels"
    )
    parser.add_argument("--download-dir", help="where archives are fetched to (default: ROOT/downloads)")
    parser.add_argument("--dry-run", action="store_true", help="print what would be fetched and where; fetch nothing")
    parser.add_argument("--keep-archives", action="store_true", help="keep the archives after unpacking")
    parser.add_argument("--no-check", action="store_true", help="do not run the data check afterwards")
    parser.add_argument("--sort-imagenet-val", metavar="LABELS", help="sort ROOT/imagenet/images/val into class folders")
    args = parser.parse_args(argv)
    if not args.root:
        parser.error("--root is required (or set $DATA)")
    if not (args.dataset or args.all or args.sort_imagenet_val):
        parser.error("name the benchmarks with --dataset NAME ... (or --all)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    root = osp.abspath(osp.expanduser(args.root))
    download_dir = osp.abspath(args.download_dir or osp.join(root, DOWNLOAD_DIR))

    if args.sort_imagenet_val:
        imagenet = spec_for("ImageNet")
        val_dir = osp.join(root, imagenet.image_dir_rel, "val")
        try:
            classnames = osp.join(root, imagenet.folder, "classnames.txt")
            wnids = list(read_imagenet_classnames(imagenet, root)) if osp.isfile(classnames) else None
            moved = sort_imagenet_val(val_dir, args.sort_imagenet_val, wnids)
        except (DatasetError, OSError, KeyError) as e:
            _log.info(f"Could not sort {val_dir}: {e}")
            return 1
        _log.info(f"Moved {moved:,} images of {val_dir} into class folders.")
        if not (args.dataset or args.all):
            return 0

    try:
        specs = [spec_for(n) for n in (dataset_names() if args.all else args.dataset)]
    except KeyError as e:
        _log.info(str(e.args[0]))
        return 2
    kinds = ("metadata",) if args.metadata_only else ("metadata", "images")
    outcomes: list[Outcome] = []
    manual: list[DatasetSpec] = []
    for spec in specs:
        for artifact in spec.artifacts:
            if artifact.kind in kinds:
                outcome = process_artifact(spec, artifact, root, download_dir, args.dry_run, args.keep_archives)
                outcomes.append(outcome)
                _log.info(f"[{spec.name}] {artifact.filename}: {outcome.status}  {outcome.detail}")
        if spec.manual and "images" in kinds and not osp.isdir(osp.join(root, spec.image_dir_rel, "train")):
            manual.append(spec)

    failed = [o for o in outcomes if o.status == "failed"]
    for spec in manual:
        _log.info(f"[{spec.name}] manual step: {spec.manual.replace('DATA', root)}")
    if args.dry_run:
        return 0
    if failed:
        _log.info(
            f"\nCould not fetch or verify {len(failed)} file(s) (offline, or the host refused). Fetch them by hand and "
            "put each at the path after the arrow (where the data check says too), then rerun this command: it "
            "verifies and unpacks the archives it finds there.\n" + _manual_list(failed, root, download_dir)
        )
    code = 1 if failed or manual else 0
    if not args.no_check:
        from .benchmark_check import check_benchmarks

        code = max(code, check_benchmarks(root, [s.name for s in specs], decode=False))
    return code


if __name__ == "__main__":
    sys.exit(main())
