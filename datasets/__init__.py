"""Readers of the CoOp-family benchmarks and of your own data, the data check and the download helper.

Importing this package imports every reader module (one per benchmark, found by name), which
registers its reader in ``DATASET_REGISTRY`` under the name the CoOp family uses
(``DescribableTextures``, ``ImageNetA``, ...) and its facts in ``SPECS``; ``ImageFolder`` and ``CSVDataset`` read your own data
(``DATASET.FOLDER``) and are listed in ``OWN_DATA``. ``add_dataset_config``
adds the project's dataset keys to a yacs config before any yaml is merged. Tools:
``python -m datasets.check``, ``python -m datasets.download``, ``python -m datasets.make_split``.
"""
from __future__ import annotations

import importlib
import pkgutil

from .config import (
    NUM_SHOTS_ALL,
    SUBSAMPLE_CHOICES,
    add_dataset_config,
    check_subsample,
)
from .config_checks import check_dataset_config
from .errors import DatasetError
from .own_data import OWN_DATA
from .specs import SPECS, dataset_names, spec_for

__all__ = [
    "DatasetError",
    "NUM_SHOTS_ALL",
    "OWN_DATA",
    "SPECS",
    "SUBSAMPLE_CHOICES",
    "add_dataset_config",
    "check_dataset_config",
    "check_subsample",
    "dataset_names",
    "spec_for",
]

# Modules of this package that are not benchmark readers: the shared machinery and the tools run
# with `python -m` (importing those here would make runpy warn). Every other module is a reader.
_NOT_READERS = {
    # the shared machinery, one job per module
    "base", "benchmark_check", "class_subsets", "config", "config_checks", "download_specs", "errors", "fake_trees", "fewshot",
    "findings", "hints", "images", "own_data", "own_data_check", "specs", "split_drawing", "split_files",
    # the tools
    "synthetic", "check", "download", "make_split",
}
for _module in pkgutil.iter_modules(__path__):
    if _module.name not in _NOT_READERS:
        importlib.import_module(f"{__name__}.{_module.name}")
