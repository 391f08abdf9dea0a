"""The 15 benchmark readers on trees built from the real CoOp split files and class lists.

Trees hold empty placeholder files at exactly the listed paths (readers only check existence).
The reference material is in ../shared; tests that need it skip when it is absent.
"""
from __future__ import annotations

import json
import math
import os
import os.path as osp
import random
import shutil
from collections import Counter
from pathlib import Path

import pytest

import datasets
from datasets.errors import DatasetError
from datasets.fewshot import sample_fewshot
from datasets.make_split import make_split_file
from datasets.specs import SPECS
from datasets.synthetic import make_synthetic_dataset
from engine.seam import DATASET_REGISTRY, get_cfg_default

from dataset_trees import (
        SPLITS_DIR,
        ZHOU_DATASETS,
        build_zhou_tree,
        golden_files,
        golden_relative,
        imagenet_class_lines,
        load_golden,
        read_lines,
        read_shared_split,
        requires_shared,
        scratch_dir,
        sun397_class_paths,
        tmp_path,  # noqa: F401  (fixture: tmp_path in /dev/shm)
    )

REPO = Path(__file__).resolve().parents[1]
REGISTERED = {
    "ImageNet", "Caltech101", "OxfordPets", "StanfordCars", "OxfordFlowers", "Food101", "FGVCAircraft",
    "SUN397", "DescribableTextures", "EuroSAT", "UCF101", "ImageNetV2", "ImageNetSketch", "ImageNetA", "ImageNetR",
}
# Published sizes (CoOp paper, Table of datasets): train / val / test, classes.
PUBLISHED = {
    "Caltech101": (4128, 1649, 2465, 100),
    "DescribableTextures": (2820, 1128, 1692, 47),
    "EuroSAT": (13500, 5400, 8100, 10),
    "OxfordFlowers": (4093, 1633, 2463, 102),
    "OxfordPets": (2944, 736, 3669, 37),
    "StanfordCars": (6509, 1635, 8041, 196),
    "UCF101": (7639, 1898, 3783, 101),
}


def make_cfg(root, name, shots=-1, seed=1, subsample="all", split_file=""):
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    cfg.DATASET.SPLIT_FILE = split_file
    cfg.SEED = seed
    return cfg


def build(root, name, shots=-1, seed=1, subsample="all", split_file=""):
    """Seed Python's random as train.py does, then build the registered reader."""
    random.seed(seed)
    return DATASET_REGISTRY.get(name)(make_cfg(root, name, shots, seed, subsample, split_file))


def rel_items(dataset, items):
    return [(osp.relpath(d.impath, dataset.image_dir).replace(os.sep, "/"), d.label, d.classname) for d in items]


# ---------------------------------------------------------------------------------------------
# Registry, configs, config keys
# ---------------------------------------------------------------------------------------------
def test_all_fifteen_readers_are_registered():
    assert REGISTERED <= set(DATASET_REGISTRY.registered_names())
    assert set(SPECS) == REGISTERED


@pytest.mark.parametrize("spec", list(SPECS.values()), ids=lambda s: s.name)
def test_dataset_yaml_names_the_registered_reader(spec):
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    cfg.merge_from_file(str(REPO / "configs" / "datasets" / f"{spec.config}.yaml"))
    assert cfg.DATASET.NAME == spec.name
    assert cfg.DATASET.NAME in DATASET_REGISTRY.registered_names()


def test_add_dataset_config_adds_subsample_classes_and_validation_rejects_bad_values():
    cfg = get_cfg_default()
    assert "SUBSAMPLE_CLASSES" not in cfg.DATASET
    datasets.add_dataset_config(cfg)
    assert cfg.DATASET.SUBSAMPLE_CLASSES == "all"
    datasets.check_dataset_config(cfg)
    cfg.DATASET.SUBSAMPLE_CLASSES = "novel"
    with pytest.raises(DatasetError, match=r"SUBSAMPLE_CLASSES='novel' is not valid; use one of all, base, new"):
        datasets.check_dataset_config(cfg)


def test_reader_rejects_bad_subsample_value(tmp_path):
    make_synthetic_dataset(tmp_path, "dtd", n_classes=2, empty_images=True)
    with pytest.raises(DatasetError, match="use one of all, base, new"):
        build(tmp_path, "DescribableTextures", subsample="half")


# ---------------------------------------------------------------------------------------------
# The seven benchmarks with a real CoOp split file
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def zhou_root(tmp_path_factory):
    if not SPLITS_DIR.is_dir():
        pytest.skip(f"reference data {SPLITS_DIR} not found (it exists only in the dev/CI environment)")
    with scratch_dir(tmp_path_factory.mktemp("zhou")) as root:
        for name in ZHOU_DATASETS:
            build_zhou_tree(str(root), name)
        yield root


@pytest.fixture(scope="module")
def zhou_full(zhou_root):
    """The full (all classes, no few-shot) reader of each benchmark, built once."""
    cache = {}

    def get(name):
        if name not in cache:
            cache[name] = build(zhou_root, name)
        return cache[name]

    return get


@requires_shared
@pytest.mark.parametrize("name", list(ZHOU_DATASETS))
def test_zhou_split_sizes_classes_and_names(zhou_root, name, capsys):
    ds = build(zhou_root, name)
    n_train, n_val, n_test, n_classes = PUBLISHED[name]
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (n_train, n_val, n_test)
    assert ds.num_classes == n_classes == len(ds.classnames)
    split = read_shared_split(name)
    expected_names = dict((label, cname) for _, label, cname in split["train"])
    assert ds.classnames == [expected_names[i] for i in range(n_classes)]
    assert f"Reading split from {osp.join(zhou_root, SPECS[name].folder, SPECS[name].split_file)}" in capsys.readouterr().out
    # Items keep the split's order, paths and labels.
    assert rel_items(ds, ds.test[:3]) == [tuple(i) for i in split["test"][:3]]


@requires_shared
def test_zhou_classname_conventions(zhou_full):
    caltech = zhou_full("Caltech101").classnames
    assert caltech[:4] == ["face", "leopard", "motorbike", "accordion"]  # renamed folders, sorted by folder
    assert "BACKGROUND_Google" not in caltech and "Faces_easy" not in caltech
    assert zhou_full("EuroSAT").classnames == [
        "Annual Crop Land", "Forest", "Herbaceous Vegetation Land", "Highway or Road", "Industrial Buildings",
        "Pasture Land", "Permanent Crop Land", "Residential Buildings", "River", "Sea or Lake",
    ]
    with open(SPLITS_DIR / "cat_to_name.json", encoding="utf-8") as f:
        cat_to_name = json.load(f)
    flowers = zhou_full("OxfordFlowers").classnames
    assert flowers == [cat_to_name[str(i + 1)] for i in range(102)]
    assert zhou_full("OxfordPets").classnames[0] == "abyssinian"
    assert zhou_full("StanfordCars").classnames[0] == "2000 AM General Hummer SUV"
    assert zhou_full("UCF101").classnames[0] == "Apply_Eye_Makeup"


@requires_shared
@pytest.mark.parametrize("name", list(ZHOU_DATASETS))
def test_zhou_base_new_halves_are_relabelled(zhou_root, zhou_full, name):
    full = zhou_full(name)
    n = full.num_classes
    m = math.ceil(n / 2)
    base = build(zhou_root, name, subsample="base")
    new = build(zhou_root, name, subsample="new")
    assert base.classnames == full.classnames[:m]
    assert new.classnames == full.classnames[m:]
    assert (base.num_classes, new.num_classes) == (m, n - m)
    for part in ("train_x", "val", "test"):
        labels = Counter(d.label for d in getattr(full, part))
        assert len(getattr(base, part)) == sum(c for y, c in labels.items() if y < m)
        assert len(getattr(new, part)) == sum(c for y, c in labels.items() if y >= m)
    # New classes are relabelled from 0: the first "new" item is class m of the full set.
    first_new = next(d for d in full.test if d.label >= m)
    match = next(d for d in new.test if d.impath == first_new.impath)
    assert match.label == first_new.label - m and match.classname == first_new.classname


@requires_shared
@pytest.mark.parametrize("name", list(ZHOU_DATASETS))
def test_zhou_fewshot_sizes_cache_and_golden(zhou_root, zhou_full, name, capsys):
    spec = SPECS[name]
    cache = osp.join(zhou_root, spec.folder, "split_fewshot", "shot_16-seed_1.json")
    if osp.exists(cache):
        os.remove(cache)
    full = zhou_full(name)
    ds = build(zhou_root, name, shots=16, seed=1)
    out = capsys.readouterr().out
    assert f"Saving preprocessed few-shot data to {cache}" in out
    per_class_train = Counter(d.label for d in full.train_x)
    per_class_val = Counter(d.label for d in full.val)
    assert len(ds.train_x) == sum(min(16, c) for c in per_class_train.values())
    assert len(ds.val) == sum(min(4, c) for c in per_class_val.values())
    assert ds.classnames == full.classnames

    # The cache is JSON with paths relative to the image folder, and equals the golden subset.
    with open(cache, encoding="utf-8") as f:
        cached = json.load(f)
    golden = golden_relative(name, load_golden(ZHOU_DATASETS[name], 16, 1))
    assert [tuple(i) for i in cached["train"]] == golden["train"]
    assert [tuple(i) for i in cached["val"]] == golden["val"]
    assert rel_items(ds, ds.train_x) == golden["train"]

    # Round trip: another random state, same seed -> the cached subset, read back.
    random.seed(12345)
    again = DATASET_REGISTRY.get(name)(make_cfg(zhou_root, name, shots=16, seed=1))
    assert f"Loading preprocessed few-shot data from {cache}" in capsys.readouterr().out
    assert [d.impath for d in again.train_x] == [d.impath for d in ds.train_x]
    assert [d.impath for d in again.val] == [d.impath for d in ds.val]


@requires_shared
@pytest.mark.parametrize("name", list(ZHOU_DATASETS))
def test_fewshot_sampler_reproduces_every_golden_subset(zhou_full, name):
    ds = zhou_full(name)
    pairs = golden_files(ZHOU_DATASETS[name])
    assert (16, 1) in pairs and (1, 1) in pairs
    for shots, seed in pairs:
        random.seed(seed)
        train, val = sample_fewshot(ds, ds.train_x, ds.val, shots)
        golden = golden_relative(name, load_golden(ZHOU_DATASETS[name], shots, seed))
        assert rel_items(ds, train) == golden["train"], (shots, seed)
        assert rel_items(ds, val) == golden["val"], (shots, seed)


@requires_shared
def test_same_seed_same_subset_other_seed_other_subset(zhou_root):
    fewshot_dir = osp.join(zhou_root, "dtd", "split_fewshot")
    shutil.rmtree(fewshot_dir, ignore_errors=True)
    first = [d.impath for d in build(zhou_root, "DescribableTextures", shots=4, seed=7).train_x]
    shutil.rmtree(fewshot_dir)
    second = [d.impath for d in build(zhou_root, "DescribableTextures", shots=4, seed=7).train_x]
    other = [d.impath for d in build(zhou_root, "DescribableTextures", shots=4, seed=8).train_x]
    assert first == second
    assert first != other and len(first) == len(other) == 4 * 47


@requires_shared
def test_base_and_new_runs_share_one_fewshot_subset(zhou_root):
    base = build(zhou_root, "OxfordPets", shots=2, seed=3, subsample="base")
    new = build(zhou_root, "OxfordPets", shots=2, seed=3, subsample="new")
    full = build(zhou_root, "OxfordPets", shots=2, seed=3)
    assert [d.impath for d in base.train_x] + [d.impath for d in new.train_x] == [d.impath for d in full.train_x]
    assert len(base.train_x) == 2 * 19 and len(new.train_x) == 2 * 18


# ---------------------------------------------------------------------------------------------
# Few-shot cache details (synthetic trees)
# ---------------------------------------------------------------------------------------------
def test_existing_pickle_cache_is_neither_read_nor_overwritten(tmp_path, capsys):
    syn = make_synthetic_dataset(tmp_path, "oxford_pets", n_classes=3, empty_images=True)
    fewshot_dir = osp.join(syn.dataset_dir, "split_fewshot")
    os.makedirs(fewshot_dir)
    pkl = osp.join(fewshot_dir, "shot_2-seed_1.pkl")
    with open(pkl, "wb") as f:
        f.write(b"\x80\x05 not a pickle we would ever load")
    ds = build(tmp_path, "OxfordPets", shots=2, seed=1)
    assert len(ds.train_x) == 6
    with open(pkl, "rb") as f:
        assert f.read() == b"\x80\x05 not a pickle we would ever load"
    assert osp.isfile(osp.join(fewshot_dir, "shot_2-seed_1.json"))
    assert f"Note: {pkl} is a pickle cache (CoOp's); it is not read." in capsys.readouterr().out


def test_fewshot_cache_survives_a_moved_data_root(tmp_path, capsys):
    make_synthetic_dataset(tmp_path / "a", "dtd", n_classes=3, empty_images=True)
    first = build(tmp_path / "a", "DescribableTextures", shots=2, seed=5)
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    capsys.readouterr()
    random.seed(999)
    moved = DATASET_REGISTRY.get("DescribableTextures")(make_cfg(tmp_path / "b", "DescribableTextures", shots=2, seed=5))
    assert "Loading preprocessed few-shot data from" in capsys.readouterr().out
    assert [d.impath.replace(str(tmp_path / "b"), "") for d in moved.train_x] == [
        d.impath.replace(str(tmp_path / "a"), "") for d in first.train_x
    ]
    assert all(d.impath.startswith(str(tmp_path / "b")) for d in moved.train_x)


def test_stale_fewshot_cache_is_an_error_with_the_fix(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "dtd", n_classes=3, empty_images=True)
    cache = osp.join(syn.dataset_dir, "split_fewshot", "shot_1-seed_1.json")
    os.makedirs(osp.dirname(cache))
    with open(cache, "w", encoding="utf-8") as f:
        json.dump({"train": [["banded/gone.jpg", 0, "banded"]], "val": [["banded/banded_0005.jpg", 0, "banded"]]}, f)
    with pytest.raises(DatasetError, match=r"does not match the current split: 1 train entries .*Fix: delete"):
        build(tmp_path, "DescribableTextures", shots=1, seed=1)


def test_imagenet_fewshot_cache_holds_train_only(tmp_path):
    make_synthetic_dataset(tmp_path, "imagenet", n_classes=3, n_train=3, n_test=2, empty_images=True)
    ds = build(tmp_path, "ImageNet", shots=2, seed=1)
    with open(osp.join(tmp_path, "imagenet", "split_fewshot", "shot_2-seed_1.json"), encoding="utf-8") as f:
        cached = json.load(f)
    assert list(cached) == ["train"] and len(cached["train"]) == 6
    assert cached["train"][0][0].startswith("train/n00000000/")
    assert len(ds.val) == len(ds.test) == 6 and ds.val is ds.test


# ---------------------------------------------------------------------------------------------
# Benchmarks without a split file here: official layout from the real class lists
# ---------------------------------------------------------------------------------------------
def _coop_folder_split_reference(image_dir: str, seed: int, shots: int):
    """An independent rendering of CoOp's order of random draws: 50/20/30 per sorted class folder
    (files sorted), then few-shot train (K) and val (min(K, 4)) with random.sample per label."""
    random.seed(seed)
    split = {"train": [], "val": [], "test": []}
    for label, cat in enumerate(sorted(os.listdir(image_dir))):
        images = sorted(os.listdir(osp.join(image_dir, cat)))
        random.shuffle(images)
        n_tr, n_va = round(len(images) * 0.5), round(len(images) * 0.2)
        split["train"] += [f"{cat}/{i}" for i in images[:n_tr]]
        split["val"] += [f"{cat}/{i}" for i in images[n_tr : n_tr + n_va]]
        split["test"] += [f"{cat}/{i}" for i in images[n_tr + n_va :]]
    out = {}
    for key, k in (("train", shots), ("val", min(shots, 4))):
        groups = {}
        for rel in split[key]:
            groups.setdefault(rel.split("/")[0], []).append(rel)
        out[key] = [rel for items in groups.values() for rel in random.sample(items, k)]
    return split, out


@requires_shared
def test_make_split_draws_coops_food101_split_under_its_own_name(tmp_path, capsys):
    names = read_lines(SPLITS_DIR / "classnames" / "food101.txt")
    syn = make_synthetic_dataset(
        tmp_path, "food101", classes=names, n_train=5, n_val=2, n_test=3, write_split=False, empty_images=True
    )
    reference_split, _ = _coop_folder_split_reference(syn.image_dir, seed=1, shots=2)
    split_path = make_split_file(str(tmp_path), "food101", seed=1)
    assert split_path == osp.join(syn.dataset_dir, "split_generated_Food101_seed1.json")
    assert f"Saved split to {split_path}" in capsys.readouterr().out
    assert not osp.exists(osp.join(syn.dataset_dir, "split_zhou_Food101.json"))  # never the official name
    with open(split_path, encoding="utf-8") as f:
        text = f.read()
    written = json.loads(text)
    assert text.startswith('{\n    "train": [\n        [\n            "') and not text.endswith("\n")  # CoOp's format
    assert [i[0] for i in written["train"]] == reference_split["train"]
    assert [i[0] for i in written["test"]] == reference_split["test"]
    assert (len(written["train"]), len(written["val"]), len(written["test"])) == (505, 202, 303)
    # Runs read it only when asked to, by DATASET.SPLIT_FILE, and record it as their split.
    ds = build(tmp_path, "Food101", split_file="split_generated_Food101_seed1.json")
    assert "Reading split from" in capsys.readouterr().out
    assert ds.classnames == names and ds.num_classes == 101
    assert rel_items(ds, ds.train_x) == [tuple(i) for i in written["train"]]
    assert ds.data_files == {"split": split_path}


@requires_shared
def test_sun397_split_drawn_from_official_partition(tmp_path):
    paths = sun397_class_paths()
    names = read_lines(SPLITS_DIR / "classnames" / "sun397.txt")
    assert len(paths) == 397
    syn = make_synthetic_dataset(
        tmp_path, "sun397", classes=paths, n_train=4, n_val=1, n_test=2, write_split=False, empty_images=True
    )
    drawn = make_split_file(str(tmp_path), "SUN397")
    ds = build(tmp_path, "SUN397", split_file=drawn)
    assert ds.classnames == names  # "b/bakery/shop" -> "shop bakery", in ClassName.txt order
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (397 * 4, 397 * 1, 397 * 2)
    assert syn.classnames == names
    base = build(tmp_path, "SUN397", subsample="base", split_file=drawn)
    assert base.num_classes == 199 and base.classnames == names[:199]


@requires_shared
def test_fgvc_aircraft_reads_official_lists_without_a_split_file(tmp_path):
    variants = read_lines(SPLITS_DIR / "classnames" / "fgvc_aircraft.txt")
    syn = make_synthetic_dataset(
        tmp_path, "fgvc_aircraft", classes=variants, n_train=2, n_val=1, n_test=1, empty_images=True
    )
    state = random.getstate()
    ds = DATASET_REGISTRY.get("FGVCAircraft")(make_cfg(tmp_path, "FGVCAircraft"))
    assert random.getstate() == state  # no split is drawn, so no randomness is used
    assert ds.classnames == variants and ds.num_classes == 100
    assert (len(ds.train_x), len(ds.val), len(ds.test)) == (200, 100, 100)
    assert not any(f.startswith("split_zhou") for f in os.listdir(syn.dataset_dir))
    few = build(tmp_path, "FGVCAircraft", shots=1, seed=1)
    assert len(few.train_x) == 100 and len(few.val) == 100


@requires_shared
def test_imagenet_lists_from_folders_with_json_cache(tmp_path, capsys):
    lines = imagenet_class_lines()
    wnids = [w for w, _ in lines]
    make_synthetic_dataset(tmp_path, "imagenet", class_lines=lines, classes=wnids, n_train=2, n_test=1, empty_images=True)
    ds = build(tmp_path, "ImageNet")
    cache = osp.join(tmp_path, "imagenet", "preprocessed.json")
    assert f"Saved split to {cache}" in capsys.readouterr().out
    assert ds.classnames == read_lines(SPLITS_DIR / "classnames" / "imagenet.txt")
    assert ds.classnames[:3] == ["tench", "goldfish", "great white shark"]
    assert (len(ds.train_x), len(ds.test), ds.num_classes) == (2000, 1000, 1000)
    assert not osp.exists(osp.join(tmp_path, "imagenet", "preprocessed.pkl"))
    again = build(tmp_path, "ImageNet")
    assert f"Reading split from {cache}" in capsys.readouterr().out
    assert [d.impath for d in again.train_x] == [d.impath for d in ds.train_x]
    new = build(tmp_path, "ImageNet", subsample="new")
    assert new.num_classes == 500 and new.classnames[0] == ds.classnames[500]


@requires_shared
@pytest.mark.parametrize("name, synsets, indices", [
    ("ImageNetA", "imagenet_a_synsets.txt", "imagenet_a_indices.txt"),
    ("ImageNetR", "imagenet_r_synsets.txt", "imagenet_r_indices.txt"),
])
def test_imagenet_a_r_use_their_200_classes_with_imagenet_names(tmp_path, name, synsets, indices):
    lines = imagenet_class_lines()
    wnids = read_lines(SPLITS_DIR / synsets)
    idx = [int(i) for i in read_lines(SPLITS_DIR / indices)]
    make_synthetic_dataset(tmp_path, name, class_lines=lines, classes=wnids, n_test=2, empty_images=True)
    ds = build(tmp_path, name)
    assert ds.num_classes == 200
    assert ds.classnames == [lines[i][1] for i in idx]
    assert len(ds.test) == 400 and ds.train_x is ds.test and ds.val is None


@requires_shared
@pytest.mark.parametrize("name", ["ImageNetV2", "ImageNetSketch"])
def test_imagenet_v2_and_sketch_use_all_1000_classes(tmp_path, name):
    lines = imagenet_class_lines()
    make_synthetic_dataset(tmp_path, name, class_lines=lines, classes=[w for w, _ in lines], n_test=1, empty_images=True)
    ds = build(tmp_path, name)
    assert ds.classnames == [n for _, n in lines]
    assert len(ds.test) == 1000


# ---------------------------------------------------------------------------------------------
# A missing official split stops the run; make_split draws one from the official files on purpose
# ---------------------------------------------------------------------------------------------
DRAWABLE = [
    "OxfordPets", "StanfordCars", "UCF101", "SUN397", "OxfordFlowers", "EuroSAT", "Caltech101", "DescribableTextures",
]


@pytest.mark.parametrize("name", DRAWABLE)
def test_missing_official_split_stops_and_make_split_draws_one(tmp_path, name):
    syn = make_synthetic_dataset(
        tmp_path, name, n_classes=3, n_train=6, n_val=2, n_test=3, write_split=False, empty_images=True
    )
    spec = SPECS[name]
    state = random.getstate()
    before = sorted(os.listdir(syn.dataset_dir))
    with pytest.raises(DatasetError) as err:
        build(tmp_path, name, seed=4)
    msg = str(err.value)
    official = osp.join(syn.dataset_dir, spec.split_file)
    assert f"{name}: the official split file {official} is missing. No split is drawn in its place" in msg
    assert f"python -m datasets.download --root {tmp_path} --dataset {name} --metadata-only" in msg
    assert f"python -m datasets.make_split --root {tmp_path} --dataset {name}`" in msg
    assert sorted(os.listdir(syn.dataset_dir)) == before and not osp.exists(official)  # nothing written

    random.setstate(state)
    drawn = make_split_file(str(tmp_path), name, seed=4)
    assert osp.basename(drawn) == f"split_generated_{name}_seed4.json" and not osp.exists(official)
    ds = build(tmp_path, name, seed=4, split_file=osp.basename(drawn))
    assert {"train": len(ds.train_x), "val": len(ds.val), "test": len(ds.test)} == syn.counts
    assert ds.classnames == syn.classnames
    with open(drawn, encoding="utf-8") as f:
        written = json.load(f)
    assert rel_items(ds, ds.val) == [tuple(i) for i in written["val"]]
    # Same seed on a fresh copy -> the same split (sorted listing, seeded shuffle).
    shutil.copytree(syn.dataset_dir, tmp_path / "copy" / spec.folder, ignore=shutil.ignore_patterns("split_*"))
    with open(make_split_file(str(tmp_path / "copy"), name, seed=4), encoding="utf-8") as f:
        assert json.load(f) == written
    with pytest.raises(DatasetError, match="already exists: train on it with DATASET.SPLIT_FILE"):
        make_split_file(str(tmp_path), name, seed=4)
    with pytest.raises(DatasetError, match="is the official split file's name; a drawn split never takes it"):
        make_split_file(str(tmp_path), name, seed=5, out=official)


# ---------------------------------------------------------------------------------------------
# Fix-it errors
# ---------------------------------------------------------------------------------------------
def test_missing_dataset_folder_names_layout_and_download(tmp_path):
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "EuroSAT")
    msg = str(err.value)
    assert f"EuroSAT: dataset folder {tmp_path / 'eurosat'} not found" in msg
    assert "2750/<class>/*.jpg" in msg
    assert f"python -m datasets.download --root {tmp_path} --dataset EuroSAT" in msg
    assert "https://drive.google.com/uc?id=1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o" in msg


def test_missing_images_give_one_error_with_count_and_first_paths(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "oxford_pets", n_classes=4, n_train=4, n_val=2, n_test=2, empty_images=True)
    for path in syn.files[:7]:
        os.remove(path)
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "OxfordPets")
    msg = str(err.value)
    split_path = osp.join(syn.dataset_dir, "split_zhou_OxfordPets.json")
    assert f"OxfordPets: 7 of 32 images listed in {split_path} are missing under {syn.image_dir}" in msg
    assert "  Abyssinian_1.jpg\n" in msg and "... and 2 more" in msg
    assert "images.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz" in msg


def test_missing_image_folder_points_to_a_misplaced_copy(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "dtd", n_classes=2, empty_images=True)
    os.makedirs(osp.join(syn.dataset_dir, "dtd"))
    shutil.move(syn.image_dir, osp.join(syn.dataset_dir, "dtd", "images"))  # extracted one level too deep
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "DescribableTextures")
    msg = str(err.value)
    assert f"the image folder {syn.image_dir} does not exist" in msg
    nested = osp.join(syn.dataset_dir, "dtd", "images")
    assert f"Hint: found a folder named 'images' at {nested}: move it to {syn.image_dir}" in msg


def test_make_split_without_official_lists_says_what_to_get(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "oxford_pets", n_classes=2, write_split=False, empty_images=True)
    shutil.rmtree(osp.join(syn.dataset_dir, "annotations"))
    with pytest.raises(DatasetError) as err:
        make_split_file(str(tmp_path), "OxfordPets")
    msg = str(err.value)
    assert "OxfordPets: cannot draw a split from the official lists (no split file); missing:" in msg
    assert osp.join(syn.dataset_dir, "annotations", "trainval.txt") in msg
    assert "split_zhou_OxfordPets.json from https://drive.google.com/uc?id=1501r8Ber4nNKvmlFVQZ8SeUHTcdTTEqs" in msg


def test_split_file_setting_errors(tmp_path):
    make_synthetic_dataset(tmp_path, "eurosat", n_classes=2, empty_images=True)
    with pytest.raises(DatasetError, match=r"EuroSAT: DATASET.SPLIT_FILE .*nope.json not found"):
        build(tmp_path, "EuroSAT", split_file="nope.json")
    make_synthetic_dataset(tmp_path, "imagenet_a", n_classes=2, empty_images=True)
    with pytest.raises(DatasetError, match="DATASET.SPLIT_FILE does not apply to ImageNetA"):
        build(tmp_path, "ImageNetA", split_file="x.json")


def test_num_shots_beyond_a_class_warns_once_with_the_counts(tmp_path, capsys):
    make_synthetic_dataset(tmp_path, "dtd", n_classes=3, n_train=4, n_val=2, n_test=2, empty_images=True)
    ds = build(tmp_path, "DescribableTextures", shots=100, seed=1)
    out = capsys.readouterr().out
    assert out.count("WARNING: DATASET.NUM_SHOTS") == 1
    assert "WARNING: DATASET.NUM_SHOTS 100 exceeds the training images of 3 of 3 classes (banded 4, blotchy 4, braided 4)" in out
    assert len(ds.train_x) == 12  # Dassl's behaviour: each class keeps all its images
    build(tmp_path, "DescribableTextures", shots=4, seed=1)
    assert "WARNING" not in capsys.readouterr().out


def test_malformed_split_file_is_reported_with_the_item(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "eurosat", n_classes=2, empty_images=True)
    path = osp.join(syn.dataset_dir, "split_zhou_EuroSAT.json")
    with open(path, encoding="utf-8") as f:
        split = json.load(f)
    split["val"][1] = ["AnnualCrop/x.jpg", "0"]
    with open(path, "w", encoding="utf-8") as f:
        json.dump(split, f)
    with pytest.raises(DatasetError, match=r"is not a valid split file:\n  val\[1\] = \['AnnualCrop/x.jpg', '0'\] is not"):
        build(tmp_path, "EuroSAT")


def test_damaged_files_name_the_fix_that_fits_how_each_was_made(tmp_path):
    """A few-shot cache is made by the runs: delete it and it is drawn again (nothing to fetch).
    The official split file is fetched again; a split file of your own is yours to correct; the
    ImageNet listing cache is listed again."""
    syn = make_synthetic_dataset(tmp_path, "eurosat", n_classes=2, empty_images=True)
    ds = build(tmp_path, "EuroSAT", shots=1, seed=1)
    cache = ds.data_files["fewshot"]
    drawn = [d.impath for d in ds.train_x]
    for damage, what in (("{oops", "is not valid JSON"), (json.dumps({"train": []}), "is not a split file")):
        with open(cache, "w", encoding="utf-8") as f:
            f.write(damage)
        with pytest.raises(DatasetError) as err:
            build(tmp_path, "EuroSAT", shots=1, seed=1)
        msg = str(err.value)
        assert f"{cache} {what}" in msg and msg.count("Fix:") == 1 and "fetch" not in msg
        assert f"Fix: delete {cache} and rerun: the run draws the subset again and saves it (the same subset" in msg
    os.remove(cache)  # as the fix says: the same subset again
    assert [d.impath for d in build(tmp_path, "EuroSAT", shots=1, seed=1).train_x] == drawn

    official = osp.join(syn.dataset_dir, "split_zhou_EuroSAT.json")
    shutil.copy(official, osp.join(syn.dataset_dir, "mine.json"))
    for path, split_file, fix in (
        (official, "", f"Fix: delete {official}; `python -m datasets.download --root {tmp_path} --dataset EuroSAT --metadata-only` fetches the original."),
        (osp.join(syn.dataset_dir, "mine.json"), "mine.json", f"Fix: correct {syn.dataset_dir}/mine.json (CoOp's format"),
    ):
        with open(path, "w", encoding="utf-8") as f:
            f.write("[]")
        with pytest.raises(DatasetError) as err:
            build(tmp_path, "EuroSAT", split_file=split_file)
        assert fix in str(err.value) and str(err.value).count("Fix:") == 1

    inet = make_synthetic_dataset(tmp_path, "imagenet", n_classes=2, n_test=2, empty_images=True)
    build(tmp_path, "ImageNet")
    listing = osp.join(inet.dataset_dir, "preprocessed.json")
    with open(listing, "w", encoding="utf-8") as f:
        f.write("{oops")
    with pytest.raises(DatasetError, match=f"Fix: delete {listing}: the next run lists the image folders again and saves it.$"):
        build(tmp_path, "ImageNet")
    os.remove(listing)
    assert len(build(tmp_path, "ImageNet").test) == 4


@pytest.mark.parametrize("mutate, expected", [
    (lambda lines: lines[:999], "999 class lines, expected 1000"),
    (lambda lines: lines[:998] + [lines[0], lines[999]], "line 999: n00000000 appears twice"),
    (lambda lines: [lines[1], lines[0]] + lines[2:], "not in ImageNet's class order"),
    (lambda lines: ["tench n01440764"] + lines[1:], "line 1: 'tench n01440764' is not `wnid class name`"),
])
def test_bad_classnames_txt_is_rejected_with_the_fix(tmp_path, mutate, expected):
    syn = make_synthetic_dataset(tmp_path, "imagenet_sketch", n_classes=2, empty_images=True)
    path = osp.join(syn.dataset_dir, "classnames.txt")
    lines = read_lines(Path(path))
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(mutate(lines)) + "\n")
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "ImageNetSketch")
    msg = str(err.value)
    assert f"{path} is not a valid ImageNet classnames.txt" in msg and expected in msg
    assert "1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF" in msg and "imagenet/classnames.txt if you have it" in msg


def test_flat_imagenet_val_folder_gets_the_sorting_command(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "imagenet", n_classes=2, n_test=2, empty_images=True)
    val = osp.join(syn.image_dir, "val")
    for wnid in os.listdir(val):
        for name in os.listdir(osp.join(val, wnid)):
            shutil.move(osp.join(val, wnid, name), osp.join(val, name))
        os.rmdir(osp.join(val, wnid))
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "ImageNet")
    assert f"{val} holds 4 loose images instead of 1000 class folders" in str(err.value)
    assert f"python -m datasets.download --root {tmp_path} --sort-imagenet-val LABELS" in str(err.value)


def test_reader_does_not_open_images(tmp_path):
    """Corrupt-image policy: readers only check existence (opening 1.3M ImageNet files on every run
    is too slow); the data check decodes every image, and loading one fails with its path."""
    syn = make_synthetic_dataset(tmp_path, "dtd", n_classes=2)
    with open(syn.files[0], "wb") as f:
        f.write(b"garbage")
    ds = build(tmp_path, "DescribableTextures")
    assert syn.files[0] in [d.impath for d in ds.train_x + ds.val + ds.test]


def test_datasets_md_covers_every_benchmark_and_the_tools():
    text = (REPO / "DATASETS.md").read_text(encoding="utf-8")
    assert "python -m datasets.check --root $DATA" in text
    assert "python -m datasets.download --root $DATA" in text
    for spec in SPECS.values():
        assert f"`{spec.folder}/`" in text, spec.name
        assert f"| {spec.name} | {spec.config} |" in text, spec.name
        if spec.split_file:
            assert spec.split_file in text, spec.name
        counts = " | ".join(f"{spec.counts[k]:,}" if k in spec.counts else "" for k in ("train", "val", "test"))
        if spec.name != "ImageNet":
            assert f"| {spec.num_classes:,} | {counts} |" in text, spec.name
        for artifact in spec.artifacts:  # the checksum table shows every published digest
            for checksum in artifact.checksums:
                assert f"`{checksum.digest}`" in text, (spec.name, artifact.filename)
    assert "python -m datasets.make_split --root $DATA --dataset food101 --seed 1" in text


def test_python_random_ends_in_the_same_state_with_or_without_the_fewshot_cache(tmp_path):
    """A run restarted from scratch reads the cache its first attempt wrote: the random stream
    after the reader must not depend on that, or the restart would not repeat the attempt."""
    make_synthetic_dataset(tmp_path, "dtd", n_classes=3, n_train=6, n_val=2, n_test=2, empty_images=True)
    first = build(tmp_path, "DescribableTextures", shots=2, seed=3)  # samples, writes the cache
    after_sampling = random.getstate()
    again = build(tmp_path, "DescribableTextures", shots=2, seed=3)  # reads the cache
    assert random.getstate() == after_sampling
    assert rel_items(again, again.train_x) == rel_items(first, first.train_x)
