"""ImageNet-R (Hendrycks et al., ICCV 2021), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-rendition/imagenet-r/<wnid>/*.jpg`` (200 folders and a README.txt) +
``classnames.txt`` (a copy of ImageNet's). Labels are 0..199 over the sorted folders; the class
names are ImageNet's.
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ImageNetFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetR(ImageNetFolderTestSet):
    """30,000 renditions (art, cartoons, ...) of 200 ImageNet classes."""

    spec_name = "ImageNetR"
    dataset_dir = "imagenet-rendition"
