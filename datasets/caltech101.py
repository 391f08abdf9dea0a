"""Caltech101 (Fei-Fei et al., 2004), read as in CoOp (arXiv 2109.01134).

Layout: ``caltech-101/101_ObjectCategories/<class>/image_*.jpg`` + ``split_zhou_Caltech101.json``.
Without the split file, the background class and the duplicate ``Faces_easy`` folder are left
out (100 classes), each folder is shuffled and split 50/20/30, and four folders get CoOp's
singular names (``Faces`` -> ``face``, ...).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader

# Folders CoOp leaves out: the clutter class and a near-duplicate of Faces.
IGNORED = ("BACKGROUND_Google", "Faces_easy")
# CoOp's renamed classes (the other 96 keep their folder name).
NEW_CNAMES = {
    "airplanes": "airplane",
    "Faces": "face",
    "Leopards": "leopard",
    "Motorbikes": "motorbike",
}


@DATASET_REGISTRY.register()
class Caltech101(ClassFolderReader):
    """100 object classes."""

    spec_name = "Caltech101"
    dataset_dir = "caltech-101"

    ignored_folders = IGNORED
    new_cnames = NEW_CNAMES
