"""EuroSAT (Helber et al., 2019), RGB release, read as in CoOp (arXiv 2109.01134).

Layout: ``eurosat/2750/<class>/*.jpg`` + ``split_zhou_EuroSAT.json``. Without the split file,
each class folder is shuffled and split 50/20/30, and the folder names become CoOp's longer
class names (``AnnualCrop`` -> ``Annual Crop Land``).
"""
from __future__ import annotations

from engine.seam import DATASET_REGISTRY

from .base import ClassFolderReader

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

    spec_name = "EuroSAT"
    dataset_dir = "eurosat"

    new_cnames = NEW_CNAMES
