"""ImageNet-Sketch (Wang et al., NeurIPS 2019), a test-only set, read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet-sketch/images/<wnid>/*.JPEG`` (1000 folders; the archive calls the folder
``sketch/``) + ``classnames.txt`` (a copy of ImageNet's).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .download_specs import GDRIVE, Artifact, Checksum, classnames_artifact
from .fake_trees import register_fake_tree, wnid_folder_tree
from .imagenet import ImageNetFolderTestSet
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="ImageNetSketch",
        config="imagenet_sketch",
        display_name="ImageNet-Sketch",
        template="a photo of a {}.",
        protocols=("dg_target",),
        order=12,
        folder="imagenet-sketch",
        image_subdir="images",
        split_file=None,
        num_classes=1000,
        counts={"test": 50_889},
        test_only=True,
        layout=(
            "imagenet-sketch/\n"
            "  images/<wnid>/*.JPEG    1000 class folders (the archive names this folder sketch/)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            classnames_artifact("imagenet-sketch"),
            Artifact(
                description="images archive (8 GB)",
                filename="ImageNet-Sketch.zip",
                urls=(
                    GDRIVE + "1Mj0i5HBthqH1p_yeXzsg22gZduvgoNeA",
                    "https://huggingface.co/datasets/songweig/imagenet_sketch/resolve/main/data/ImageNet-Sketch.zip",
                ),
                target="imagenet-sketch/images",
                checksums=(
                    Checksum(
                        "sha256",
                        "4d3ce6b82a7c48aabf14aeac105eb533e75707f152cc858f55bfc022031a72ed",
                        "TensorFlow Datasets and Hugging Face datasets (imagenet_sketch)",
                    ),
                ),
                unpack=(("sketch", "imagenet-sketch/images"),),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class ImageNetSketch(ImageNetFolderTestSet):
    """50,889 sketches of the 1000 ImageNet classes."""

    spec = SPEC
    dataset_dir = SPEC.folder


register_fake_tree(SPEC, wnid_folder_tree("imagenet_sketch", "JPEG"))  # a fake copy (datasets.synthetic)
