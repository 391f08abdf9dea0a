"""ImageNet-A (Hendrycks et al., CVPR 2021), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-adversarial/imagenet-a/<wnid>/*.jpg`` (200 folders and a README.txt) +
``classnames.txt`` (a copy of ImageNet's). Labels are 0..199 over the sorted folders; the class
names are ImageNet's.
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ImageNetFolderTestSet


@DATASET_REGISTRY.register()
class ImageNetA(ImageNetFolderTestSet):
    """7,500 natural adversarial images of 200 ImageNet classes."""

    spec_name = "ImageNetA"
    dataset_dir = "imagenet-adversarial"
