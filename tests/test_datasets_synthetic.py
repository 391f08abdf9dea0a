"""datasets.synthetic: tiny fake benchmarks in the real layouts, read by the real readers."""
from __future__ import annotations

import os.path as osp
import random

import pytest
from PIL import Image

import datasets
from datasets.benchmark_check import check_dataset
from datasets.synthetic import SYNTHETIC_NAMES, make_synthetic_dataset
from engine.seam import DATASET_REGISTRY, get_cfg_default


from dataset_trees import tmp_path  # noqa: F401  (tmp_path: a fixture in /dev/shm)


def _build(root, name, shots=-1):
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = shots
    cfg.SEED = 1
    random.seed(1)
    return DATASET_REGISTRY.get(name)(cfg)


@pytest.mark.parametrize("name", SYNTHETIC_NAMES)
def test_synthetic_dataset_is_read_by_its_reader(tmp_path, name):
    syn = make_synthetic_dataset(tmp_path, name, n_classes=4, n_train=3, n_val=2, n_test=2, image_size=12)
    ds = _build(tmp_path, syn.name)
    got = {"train": len(ds.train_x), "test": len(ds.test)}
    if ds.val is not None:
        got["val"] = len(ds.val)
    assert got == syn.counts
    assert ds.classnames == syn.classnames and syn.num_classes == 4
    with Image.open(ds.train_x[0].impath) as img:
        assert img.size == (12, 12)
    # Images of different classes differ (one colour per class), so a model can learn them.
    first = {d.label: d.impath for d in ds.test}
    pixels = {Image.open(p).convert("RGB").getpixel((6, 6)) for p in first.values()}
    assert len(pixels) == 4
    assert check_dataset(str(tmp_path), syn.name, decode=True).status in ("OK", "WARN")


@pytest.mark.parametrize("config", ["dtd", "oxford_pets", "eurosat", "caltech101", "imagenet"])
def test_trainer_fixture_datasets_support_few_shot(tmp_path, config):
    syn = make_synthetic_dataset(tmp_path, config, n_classes=3, n_train=4, n_val=2, n_test=2)
    ds = _build(tmp_path, syn.name, shots=2)
    assert len(ds.train_x) == 2 * 3
    assert osp.isfile(ds.train_x[0].impath)
    assert syn.config == config


def test_unknown_name_is_rejected(tmp_path):
    with pytest.raises(KeyError, match="Unknown dataset 'cifar10'"):
        make_synthetic_dataset(tmp_path, "cifar10")
