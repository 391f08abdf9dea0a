"""What the download helper fetches for a benchmark: its files (:class:`Artifact`), their
published checksums (:class:`Checksum`) and where they end up under the data root.

A benchmark's artifacts are part of its facts (``DatasetSpec.artifacts``, in its reader module);
``datasets.download`` fetches them and every "not found" message (``datasets.hints``) lists them.
"""
from __future__ import annotations

import os.path as osp
from dataclasses import dataclass

__all__ = [
    "DOWNLOAD_DIR",
    "GDRIVE",
    "Artifact",
    "Checksum",
    "classnames_artifact",
    "display_url",
    "hand_fetched_path",
    "split_artifact",
]

# Google Drive files that CoOp's DATASETS.md links to (split files, ImageNet class names, ...).
GDRIVE = "gdrive:"
# Where the download helper fetches to, under the data root (its --download-dir changes it).
DOWNLOAD_DIR = "downloads"


@dataclass(frozen=True)
class Checksum:
    """A published digest of a downloadable file.

    Args:
        algorithm: "md5" or "sha256".
        digest: lower-case hex digest.
        source: who publishes it (the loader whose code lists it), for DATASETS.md.
    """

    algorithm: str
    digest: str
    source: str


@dataclass(frozen=True)
class Artifact:
    """One downloadable file and where it ends up under the data root.

    Args:
        description: what it is, for messages ("split file", "images archive").
        filename: the file's name as downloaded (the download helper looks for it in the
            download folder, the data root and the dataset folder before fetching it).
        urls: sources tried in order; ``gdrive:<id>`` is a Google Drive file id (fetched with gdown).
        target: path relative to the data root whose existence means "already in place".
        checksums: published digests of the file (it must match one of them); every archive
            has one except CoOp's UCF-101-midframes.zip, whose content the data check verifies.
        unpack: for archives, (path inside the extracted archive, destination relative to the
            data root) pairs; ``None`` for plain files, which are moved to ``target``.
        kind: "metadata" (small files) or "images" (big archives).
        verify: name of a content check for small files ("split", "classnames", "cat_to_name").
        note: extra advice printed with the manual instructions.
    """

    description: str
    filename: str
    urls: tuple[str, ...]
    target: str
    checksums: tuple[Checksum, ...] = ()
    unpack: tuple[tuple[str, str], ...] | None = None
    kind: str = "metadata"
    verify: str | None = None
    note: str = ""


def split_artifact(folder: str, split_file: str, gdrive_id: str) -> Artifact:
    """CoOp's split file of a benchmark, on Google Drive (verified by its content)."""
    return Artifact(
        description="split file (CoOp's fixed train/val/test split)",
        filename=split_file,
        urls=(GDRIVE + gdrive_id,),
        target=f"{folder}/{split_file}",
        verify="split",
    )


# CoOp's ImageNet class names (``wnid name`` per line, the CLIP names), shared by the variants.
_IMAGENET_CLASSNAMES_ID = "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF"


def classnames_artifact(folder: str) -> Artifact:
    """CoOp's ImageNet ``classnames.txt``, which ImageNet and its variants share."""
    return Artifact(
        description="classnames.txt (1000 lines `wnid class name`, CoOp's CLIP class names)",
        filename="classnames.txt",
        urls=(GDRIVE + _IMAGENET_CLASSNAMES_ID,),
        target=f"{folder}/classnames.txt",
        verify="classnames",
        note="the same file as DATA/imagenet/classnames.txt: copying that one works too",
    )


def hand_fetched_path(artifact: Artifact, root: str, download_dir: str | None = None) -> str:
    """Where a file fetched by hand goes; the one answer of the download helper and of every "not
    found" message (the data check's, the readers'). A plain file (a split file, class names)
    goes where the readers read it, so nothing more is needed (the download helper finds it in
    place); an archive into the download folder (``download_dir``, default ``ROOT/downloads``),
    where the download helper verifies it against its checksum and unpacks it."""
    if artifact.unpack is None:
        return osp.join(root, artifact.target)
    return osp.join(download_dir or osp.join(root, DOWNLOAD_DIR), artifact.filename)


def display_url(url: str) -> str:
    """A URL a person can open (Google Drive ids become drive.google.com links)."""
    if url.startswith(GDRIVE):
        return f"https://drive.google.com/uc?id={url[len(GDRIVE):]}"
    return url
