"""EuroSAT (Helber et al., 2019), RGB release, read as in CoOp (arXiv 2109.01134).

Layout: ``eurosat/2750/<class>/*.jpg`` + ``split_zhou_EuroSAT.json``. To draw a split without the
split file (``datasets.make_split``), each class folder is shuffled and split 50/20/30, and the
folder names become CoOp's longer class names (``AnnualCrop`` -> ``Annual Crop Land``).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader
from .download_specs import Artifact, Checksum, split_artifact
from .fake_trees import FakeTree, register_fake_tree
from .specs import DatasetSpec, register_spec

SPEC = register_spec(
    DatasetSpec(
        name="EuroSAT",
        config="eurosat",
        display_name="EuroSAT",
        template="a centered satellite photo of {}.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=9,
        folder="eurosat",
        image_subdir="2750",
        split_file="split_zhou_EuroSAT.json",
        num_classes=10,
        counts={"train": 13_500, "val": 5400, "test": 8100},
        layout=(
            "eurosat/\n"
            "  2750/<class>/*.jpg        (the RGB release; its folder is named 2750)\n"
            "  split_zhou_EuroSAT.json"
        ),
        artifacts=(
            split_artifact("eurosat", "split_zhou_EuroSAT.json", "1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o"),
            Artifact(
                description="images archive (RGB)",
                filename="EuroSAT.zip",
                urls=(
                    "https://huggingface.co/datasets/torchgeo/eurosat/resolve/"
                    "c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
                    "http://madm.dfki.de/files/sentinel/EuroSAT.zip",
                ),
                target="eurosat/2750",
                checksums=(Checksum("md5", "c8fa014336c82ac7804f0398fcb19387", "torchvision (datasets.EuroSAT)"),),
                unpack=(("2750", "eurosat/2750"),),
                kind="images",
            ),
        ),
    )
)

# CoOp's class names for the ten EuroSAT folders (descriptive names read better in prompts).
NEW_CNAMES = {
    "AnnualCrop": "Annual Crop Land",
    "Forest": "Forest",
    "HerbaceousVegetation": "Herbaceous Vegetation Land",
    "Highway": "Highway or Road",
    "Industrial": "Industrial Buildings",
    "Pasture": "Pasture Land",
    "PermanentCrop": "Permanent Crop Land",
    "Residential": "Residential Buildings",
    "River": "River",
    "SeaLake": "Sea or Lake",
}


@DATASET_REGISTRY.register()
class EuroSAT(ClassFolderReader):
    """10 land-use classes of Sentinel-2 patches."""

    spec = SPEC
    dataset_dir = SPEC.folder

    new_cnames = NEW_CNAMES


# A fake copy (datasets.synthetic): EuroSAT's class folders and image names.
register_fake_tree(SPEC, FakeTree(
    classes=tuple(NEW_CNAMES),
    image=lambda im, _: f"{im.raw}/{im.raw}_{im.k + 1}.jpg",
    classname=lambda raw: NEW_CNAMES.get(raw, raw),
    sorted_classes=True,
))  # fmt: skip
