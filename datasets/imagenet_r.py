"""ImageNet-R (Hendrycks et al., ICCV 2021), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-rendition/imagenet-r/<wnid>/*.jpg`` (200 folders and a README.txt) +
``classnames.txt`` (a copy of ImageNet's). Labels are 0..199 over the sorted folders; the class
names are ImageNet's.
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .download_specs import Artifact, Checksum, classnames_artifact
from .fake_trees import register_fake_tree, wnid_folder_tree
from .imagenet import ImageNetFolderTestSet
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="ImageNetR",
        config="imagenet_r",
        display_name="ImageNet-R",
        template="a photo of a {}.",
        protocols=("dg_target",),
        order=14,
        folder="imagenet-rendition",
        image_subdir="imagenet-r",
        split_file=None,
        num_classes=200,
        counts={"test": 30_000},
        test_only=True,
        layout=(
            "imagenet-rendition/\n"
            "  imagenet-r/<wnid>/*.jpg  200 class folders (and a README.txt)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            classnames_artifact("imagenet-rendition"),
            Artifact(
                description="images archive",
                filename="imagenet-r.tar",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-r.tar",),
                target="imagenet-rendition/imagenet-r",
                checksums=(Checksum("md5", "a61312130a589d0ca1a8fca1f2bd3337", "pytorch-ood (dataset.img.ImageNetR)"),),
                unpack=(("imagenet-r", "imagenet-rendition/imagenet-r"),),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class ImageNetR(ImageNetFolderTestSet):
    """30,000 renditions (art, cartoons, ...) of 200 ImageNet classes."""

    spec = SPEC
    dataset_dir = SPEC.folder


register_fake_tree(SPEC, wnid_folder_tree("imagenet_r", "jpg", readme=True))  # a fake copy (datasets.synthetic)
