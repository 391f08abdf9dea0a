"""ImageNet-Sketch (Wang et al., NeurIPS 2019), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-sketch/images/<wnid>/*.JPEG`` (1000 folders; the archive calls the folder
``sketch/``) + ``classnames.txt`` (a copy of ImageNet's).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ImageNetFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetSketch(ImageNetFolderTestSet):
    """50,889 sketches of the 1000 ImageNet classes."""

    spec_name = "ImageNetSketch"
    dataset_dir = "imagenet-sketch"
