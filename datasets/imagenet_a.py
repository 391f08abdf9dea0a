"""ImageNet-A (Hendrycks et al., CVPR 2021), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-adversarial/imagenet-a/<wnid>/*.jpg`` (200 folders and a README.txt) +
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
        name="ImageNetA",
        config="imagenet_a",
        display_name="ImageNet-A",
        template="a photo of a {}.",
        protocols=("dg_target",),
        order=13,
        folder="imagenet-adversarial",
        image_subdir="imagenet-a",
        split_file=None,
        num_classes=200,
        counts={"test": 7500},
        test_only=True,
        layout=(
            "imagenet-adversarial/\n"
            "  imagenet-a/<wnid>/*.jpg  200 class folders (and a README.txt)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            classnames_artifact("imagenet-adversarial"),
            Artifact(
                description="images archive",
                filename="imagenet-a.tar",
                urls=("https://people.eecs.berkeley.edu/~hendrycks/imagenet-a.tar",),
                target="imagenet-adversarial/imagenet-a",
                checksums=(Checksum("md5", "c3e55429088dc681f30d81f4726b6595", "pytorch-ood (dataset.img.ImageNetA)"),),
                unpack=(("imagenet-a", "imagenet-adversarial/imagenet-a"),),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class ImageNetA(ImageNetFolderTestSet):
    """7,500 natural adversarial images of 200 ImageNet classes."""

    spec = SPEC
    dataset_dir = SPEC.folder


register_fake_tree(SPEC, wnid_folder_tree("imagenet_a", "jpg", readme=True))  # a fake copy (datasets.synthetic)
