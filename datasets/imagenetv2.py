"""ImageNetV2 matched-frequency (Recht et al., ICML 2019), a test-only set, read as in CoOp.

Layout: ``imagenetv2/imagenetv2-matched-frequency-format-val/<k>/*.jpeg`` with k = 0..999 the
ImageNet class index, + ``classnames.txt`` (a copy of ImageNet's; line k names class k).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ImageNetFolderTestSet
from .common import DatasetError, subdirs
from .specs import DatasetSpec


@DATASET_REGISTRY.register()
class ImageNetV2(ImageNetFolderTestSet):
    """10,000 new test images of the 1000 ImageNet classes."""

    spec_name = "ImageNetV2"
    dataset_dir = "imagenetv2"

    @classmethod
    def class_folders(cls, spec: DatasetSpec, image_dir: str, classnames: dict[str, str]) -> list[tuple[str, int, str]]:
        """Folder k holds class k (the k-th line of classnames.txt)."""
        names = list(classnames.values())
        folders = subdirs(image_dir)
        bad = [f for f in folders if not f.isdigit() or int(f) >= len(names)]
        if bad:
            raise DatasetError(
                f"{spec.name}: folders in {image_dir} must be the class indices 0..{len(names) - 1}; "
                f"found {', '.join(bad[:5])}. Fix: extract imagenetv2-matched-frequency.tar.gz unchanged."
            )
        return [(f, int(f), names[int(f)]) for f in sorted(folders, key=int)]
