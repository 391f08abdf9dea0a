"""ImageNetV2 matched-frequency (Recht et al., ICML 2019), a test-only set, read as in CoOp.

Layout: ``imagenetv2/imagenetv2-matched-frequency-format-val/<k>/*.jpeg`` with k = 0..999 the
ImageNet class index, + ``classnames.txt`` (a copy of ImageNet's; line k names class k).
"""
from __future__ import annotations

import os.path as osp

from engine.seam import DATASET_REGISTRY

from .download_specs import Artifact, Checksum, classnames_artifact
from .errors import DatasetError
from .fake_trees import WnidFakeTree, register_fake_tree
from .imagenet import ImageNetFolderTestSet
from .images import subdirs
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="ImageNetV2",
        config="imagenetv2",
        display_name="ImageNet-V2",
        template="a photo of a {}.",
        protocols=("dg_target",),
        order=11,
        folder="imagenetv2",
        image_subdir="imagenetv2-matched-frequency-format-val",
        split_file=None,
        num_classes=1000,
        counts={"test": 10_000},
        test_only=True,
        layout=(
            "imagenetv2/\n"
            "  imagenetv2-matched-frequency-format-val/<0..999>/*.jpeg   (folder k = ImageNet class k)\n"
            "  classnames.txt          (a copy of imagenet/classnames.txt)"
        ),
        metadata=("classnames.txt",),
        artifacts=(
            classnames_artifact("imagenetv2"),
            Artifact(
                description="matched-frequency test set",
                filename="imagenetv2-matched-frequency.tar.gz",
                urls=(
                    "https://huggingface.co/datasets/vaishaal/ImageNetV2/resolve/main/imagenetv2-matched-frequency.tar.gz",
                    "https://s3-us-west-2.amazonaws.com/imagenetv2public/imagenetv2-matched-frequency.tar.gz",
                ),
                target="imagenetv2/imagenetv2-matched-frequency-format-val",
                # Two different archives under one name: the Hugging Face copy and the S3 one.
                checksums=(
                    Checksum(
                        "sha256",
                        "f0c37fdf925916b19ea1323cd9a2208cdb6959ba2c32eef2a7fc393835c9ca7c",
                        "TensorFlow Datasets (imagenet_v2 checksums.tsv, the Hugging Face file)",
                    ),
                    Checksum(
                        "sha256",
                        "a32004f9e773279307499059d320336a23ccdc62cb32063da29bae9bd04c122c",
                        "TensorFlow Datasets (imagenet_v2 url_checksums, the S3 file)",
                    ),
                ),
                unpack=(
                    (
                        "imagenetv2-matched-frequency-format-val",
                        "imagenetv2/imagenetv2-matched-frequency-format-val",
                    ),
                ),
                kind="images",
            ),
        ),
    )
)


@DATASET_REGISTRY.register()
class ImageNetV2(ImageNetFolderTestSet):
    """10,000 new test images of the 1000 ImageNet classes."""

    spec = SPEC
    dataset_dir = SPEC.folder

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


def _write_fake(image_dir: str, wnids, lines, n_train: int, n_test: int, write_image):
    """<k>/<name>.jpeg, folder k being the k-th class of classnames.txt."""
    names = dict(lines)
    index_of = {wnid: i for i, (wnid, _) in enumerate(lines)}
    ordered = sorted(wnids, key=index_of.get)
    for wnid in ordered:
        label = index_of[wnid]
        for k in range(n_test):
            write_image(osp.join(image_dir, str(label), f"{label:04d}{k:04d}.jpeg"), label)
    n = n_test * len(wnids)
    return {"train": n, "test": n}, [names[w] for w in ordered]


register_fake_tree(SPEC, WnidFakeTree(write=_write_fake))  # a fake copy (datasets.synthetic)
