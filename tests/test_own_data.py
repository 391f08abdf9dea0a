"""Your own data: ImageFolder and CSVDataset readers, their config keys, the data check, and
zero-shot CLIP, CoOp and MuDPT through train.py (base-to-new and few-shot), the protocol runner
and parse_results on them (tiny CLIP, CPU)."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

import datasets
from conftest import tiny_run_opts
from datasets.check import main as check_main
from datasets.errors import DatasetError
from datasets.image_folder import GENERATED_SPLIT
from datasets.own_data_check import check_own_data
from engine.errors import ConfigError
from engine.seam import DATASET_REGISTRY, get_cfg_default

REPO = Path(__file__).resolve().parents[1]
IMAGEFOLDER = str(REPO / "configs" / "datasets" / "imagefolder.yaml")
CSVDATASET = str(REPO / "configs" / "datasets" / "csvdataset.yaml")
COOP = str(REPO / "configs" / "trainers" / "CoOp" / "vit_b16_ep50_ctxv1.yaml")
ZS = str(REPO / "configs" / "trainers" / "CoOp" / "vit_b16.yaml")
MUDPT = str(REPO / "configs" / "trainers" / "MuDPT" / "vit_b16_c2_ep10_batch4_depth9.yaml")
CLASSES = ("golden_retriever", "red_fox", "tabby_cat")
# MuDPT at the tiny CLIP's size (as tests/test_mudpt_e2e.py runs it).
MUDPT_TINY = ["TRAINER.MUDPT.PROMPT_DEPTH", "3", "TRAINER.MUDPT.INJ_WIDTH", "64", "TRAINER.MUDPT.INJ_HEADS", "2"]


def write_image(path: Path, label: int, size: int = 16) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (size, size), ((label * 80) % 256, 60, 200 - label * 50)).save(path)


def image_folder(top: Path, per_class: int = 7, classes=CLASSES) -> Path:
    """``top/<class>/img<k>.jpg``."""
    for label, cls in enumerate(classes):
        for k in range(per_class):
            write_image(top / cls / f"img{k}.jpg", label)
    return top


def make_cfg(root, name, folder, shots=-1, subsample="all", **keys):
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    cfg.DATASET.ROOT = str(root)
    cfg.DATASET.NAME = name
    cfg.DATASET.FOLDER = str(folder)
    cfg.DATASET.NUM_SHOTS = shots
    cfg.DATASET.SUBSAMPLE_CLASSES = subsample
    for key, value in keys.items():
        cfg.DATASET[key] = value
    cfg.SEED = 1
    return cfg


def build(root, name, folder, shots=-1, subsample="all", **keys):
    cfg = make_cfg(root, name, folder, shots, subsample, **keys)
    datasets.check_dataset_config(cfg)
    return DATASET_REGISTRY.get(name)(cfg)


def counts(ds) -> dict[str, int]:
    return {"train": len(ds.train_x), "val": len(ds.val), "test": len(ds.test)}


# ---------------------------------------------------------------------------------------------
# ImageFolder
# ---------------------------------------------------------------------------------------------
def test_image_folder_draws_once_saves_and_reuses_the_split(tmp_path, capsys):
    image_folder(tmp_path / "pets")
    random.seed(5)
    state = random.getstate()
    ds = build(tmp_path, "ImageFolder", "pets")
    assert random.getstate() == state  # the split is drawn with its own seed: the run's stream is untouched
    assert ds.classnames == ["golden retriever", "red fox", "tabby cat"]
    assert counts(ds) == {"train": 12, "val": 3, "test": 6}  # CoOp's 50/20/30 of 7 images: 4/1/2
    split_path = tmp_path / "pets" / GENERATED_SPLIT
    assert ds.data_files == {"split": str(split_path)}
    saved = split_path.read_bytes()
    assert sorted(json.loads(saved)) == ["test", "train", "val"]
    assert ds.template == "a photo of a {}."
    mtime = split_path.stat().st_mtime_ns
    capsys.readouterr()
    again = build(tmp_path, "ImageFolder", str(tmp_path / "pets"))  # absolute folder: the same data
    assert split_path.read_bytes() == saved and split_path.stat().st_mtime_ns == mtime  # read, not rewritten
    assert f"Reading split from {split_path}" in capsys.readouterr().out
    assert [d.impath for d in again.test] == [d.impath for d in ds.test]


def test_image_folder_refuses_a_folder_that_no_longer_gives_its_split(tmp_path):
    """The change is named by image (one added image is one added image, though the split drawn
    from the folder now differs in every part), with what to do for either way on."""
    folder = image_folder(tmp_path / "pets")
    saved = folder / GENERATED_SPLIT
    build(tmp_path, "ImageFolder", "pets")
    write_image(folder / "red_fox" / "new.jpg", 1)
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "ImageFolder", "pets")
    assert str(err.value) == (
        f"ImageFolder: {folder} no longer gives the split saved in {saved}:\n"
        "1 image added since the split was saved:\n  red_fox/new.jpg\n"
        "The data is not changed silently: runs on the saved split stay comparable only with it.\n"
        f"Fix: to keep the saved split, move the added images out of the folder. To train on the folder as it is now, "
        f"delete {saved} (the split is drawn again from the images there); runs made with the old split then refuse "
        "to resume (their split file changed)."
    )
    (folder / "red_fox" / "img2.jpg").rename(folder / "red_fox" / "img2_renamed.jpg")
    (folder / "classnames.txt").write_text("golden_retriever golden retriever\nred_fox fox\ntabby_cat tabby cat\n")
    (folder / "split_fewshot").mkdir()  # few-shot caches: to be deleted with the split
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "ImageFolder", "pets")
    msg = str(err.value)
    assert "2 images added since the split was saved:\n  red_fox/img2_renamed.jpg\n  red_fox/new.jpg\n" in msg
    assert "1 saved image no longer there:\n  red_fox/img2.jpg\nclass names changed (classnames.txt):\n  'red fox' is now 'fox'\n" in msg
    assert "Fix: to keep the saved split, move the added images out of the folder, put the missing images back and restore the class names." in msg
    assert f"delete {saved} (the split is drawn again from the images there) and {folder / 'split_fewshot'} (its few-shot" in msg
    saved.unlink()
    (folder / "split_fewshot").rename(tmp_path / "old_fewshot")
    assert len(build(tmp_path, "ImageFolder", "pets").train_x) == 12  # drawn again, as the fix says


def test_image_folder_class_names_from_a_file_and_base_new_halves(tmp_path):
    folder = image_folder(tmp_path / "pets")
    (folder / "classnames.txt").write_text("golden_retriever golden retriever dog\nred_fox fox\ntabby_cat tabby\n")
    base = build(tmp_path, "ImageFolder", "pets", subsample="base", shots=2)
    new = build(tmp_path, "ImageFolder", "pets", subsample="new", shots=2)
    assert base.classnames == ["golden retriever dog", "fox"] and new.classnames == ["tabby"]
    assert len(base.train_x) == 4 and len(new.train_x) == 2 and len(new.test) == 2
    assert (folder / "split_fewshot" / "shot_2-seed_1.json").is_file()
    assert base.data_files["fewshot"] == str(folder / "split_fewshot" / "shot_2-seed_1.json")
    (folder / "classnames.txt").unlink()
    (folder / "names.json").write_text(json.dumps({"golden_retriever": "retriever", "red_fox": "fox"}))
    with pytest.raises(DatasetError, match=r"names.json does not match the data:\n  no name for class folder 'tabby_cat'"):
        build(tmp_path, "ImageFolder", "pets", CLASSNAMES="names.json")


def test_image_folder_with_train_val_test_folders(tmp_path):
    for part, n in (("train", 3), ("val", 1), ("test", 2)):
        image_folder(tmp_path / "given" / part, per_class=n, classes=("cat", "dog"))
    ds = build(tmp_path, "ImageFolder", "given")
    assert ds.classnames == ["cat", "dog"] and counts(ds) == {"train": 6, "val": 2, "test": 4}
    assert all("/test/" in d.impath for d in ds.test)
    # Without val/: 20% of each training class is held out.
    for part, n in (("train", 5), ("test", 2)):
        image_folder(tmp_path / "noval" / part, per_class=n, classes=("cat", "dog"))
    assert counts(build(tmp_path, "ImageFolder", "noval")) == {"train": 8, "val": 2, "test": 4}


def test_image_folder_errors_name_the_fix(tmp_path):
    image_folder(tmp_path / "tiny", per_class=2)
    with pytest.raises(DatasetError, match=r"cannot split the classes 50/20/30.*\n  golden retriever \(2 images\)\n(?s:.*)Fix: add images"):
        build(tmp_path, "ImageFolder", "tiny")
    with pytest.raises(DatasetError, match=r"(?s)DATASET.FOLDER 'nope' is not a folder .*Expected layout"):
        build(tmp_path, "ImageFolder", "nope")
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    (tmp_path / "empty" / "dog").mkdir(parents=True)
    write_image(tmp_path / "empty" / "dog" / "a.jpg", 0)
    with pytest.raises(DatasetError, match="class folders without images"):
        build(tmp_path, "ImageFolder", "empty")


def test_image_folder_layout_errors_missing_test_and_a_split_fewshot_class(tmp_path):
    for part in ("train", "val"):
        image_folder(tmp_path / "notest" / part, per_class=3, classes=("cat", "dog"))
    with pytest.raises(DatasetError, match=r"has train/, val/ but no test/: a split of your own needs train/ and test/"):
        build(tmp_path, "ImageFolder", "notest")
    image_folder(tmp_path / "odd", classes=("cat", "dog", "split_fewshot"))
    with pytest.raises(DatasetError, match=r"split_fewshot holds images, .* Fix: rename that class folder"):
        build(tmp_path, "ImageFolder", "odd")


def test_own_data_errors_give_own_data_fixes(tmp_path):
    from datasets.fake_trees import FAKE_TREES
    from datasets.specs import SPECS

    assert set(FAKE_TREES) == set(SPECS)  # no benchmark silently lost from the generated trees
    for part, n in (("train", 2), ("test", 2)):
        image_folder(tmp_path / "few" / part, per_class=n, classes=("cat", "dog"))
    with pytest.raises(DatasetError, match=r"Fix: add training images to that class .* or give a validation set yourself"):
        build(tmp_path, "ImageFolder", "few")
    folder = image_folder(tmp_path / "pets")
    (folder / "names.json").write_text("{oops")
    with pytest.raises(DatasetError) as err:
        build(tmp_path, "ImageFolder", "pets", CLASSNAMES="names.json")
    assert str(err.value).count("is not valid JSON") == 1 and "fetch it again" not in str(err.value)
    (folder / "mine.json").write_text(json.dumps({"train": [], "val": [], "test": []}))
    with pytest.raises(DatasetError, match=r"Fix: correct .*mine.json .*or leave DATASET.SPLIT_FILE empty"):
        build(tmp_path, "ImageFolder", "pets", SPLIT_FILE="mine.json")
    with pytest.raises(DatasetError, match=r"DATASET.CLASSNAMES 'names.json' does not apply with DATASET.SPLIT_FILE"):
        build(tmp_path, "ImageFolder", "pets", SPLIT_FILE="mine.json", CLASSNAMES="names.json")


@pytest.mark.parametrize("keys, message", [
    ({"NAME": "ImageFolder", "FOLDER": ""}, "DATASET.FOLDER is empty: ImageFolder reads your images from it"),
    ({"NAME": "DescribableTextures", "FOLDER": "pets"}, "DATASET.FOLDER='pets' applies to your own data (CSVDataset, ImageFolder), not to DescribableTextures"),
    ({"NAME": "ImageFolder", "FOLDER": "pets", "TEMPLATE": "a photo of"}, "DATASET.TEMPLATE='a photo of' is not a prompt template"),
])  # fmt: skip
def test_config_keys_are_checked(keys, message):
    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    for key, value in keys.items():
        cfg.DATASET[key] = value
    with pytest.raises(ConfigError) as err:
        datasets.check_dataset_config(cfg)
    assert message in str(err.value)


# ---------------------------------------------------------------------------------------------
# CSVDataset
# ---------------------------------------------------------------------------------------------
def csv_folder(top: Path, with_val: bool = True, columns: str = "path,label") -> Path:
    parts = {"train": 4, "val": 1, "test": 2} if with_val else {"train": 5, "test": 2}
    for part, n in parts.items():
        lines = [columns]
        for label, cls in enumerate(("cat", "dog", "owl")):
            for k in range(n):
                rel = f"images/{cls}_{part}_{k}.png"
                write_image(top / rel, label)
                lines.append(f"{rel},{label}" if columns == "path,label" else f"{rel},{cls}")
        (top / f"{part}.csv").write_text("\n".join(lines) + "\n")
    return top


def test_csv_dataset_labels_with_a_classnames_file(tmp_path):
    folder = csv_folder(tmp_path / "zoo")
    with pytest.raises(DatasetError, match=r"labels 0, 1, 2 have no class name \(CLIP needs names, not numbers\)"):
        build(tmp_path, "CSVDataset", "zoo")
    (folder / "classnames.txt").write_text("0 tabby cat\n1 dog\n2 barn owl\n")
    ds = build(tmp_path, "CSVDataset", "zoo", TEMPLATE="a photo of a {}, an animal.")
    assert ds.classnames == ["tabby cat", "dog", "barn owl"] and counts(ds) == {"train": 12, "val": 3, "test": 6}
    assert sorted(ds.data_files) == ["classnames", "test_csv", "train_csv", "val_csv"]
    assert ds.template == "a photo of a {}, an animal."


def test_csv_dataset_classname_column_and_drawn_val(tmp_path):
    folder = csv_folder(tmp_path / "zoo", with_val=False, columns="path,classname")
    ds = build(tmp_path, "CSVDataset", "zoo", shots=2)
    assert ds.classnames == ["cat", "dog", "owl"]
    assert len(ds.train_x) == 6 and len(ds.val) == 3  # 2 shots; val: min(2, 4) of the held-out 20%
    assert not (folder / GENERATED_SPLIT).exists()  # the CSVs are the split (val drawn from train.csv, seed 1)
    (folder / "test.csv").write_text("file,classname\nimages/cat_test_0.png,cat\n")
    with pytest.raises(DatasetError, match="the header is file,classname; expected `path,label`"):
        build(tmp_path, "CSVDataset", "zoo")


@pytest.mark.parametrize("edit, message", [
    ({"train": "images/cat_train_0.png,0\n"}, r"images/cat_train_0.png: listed twice: .*train.csv:2 and .*train.csv:14"),
    ({"test": "./images/cat_train_1.png,0\n"}, r"in both train and test \(a test image must not be trained on\): .*train.csv:3 and .*test.csv:8"),
    ({"val": "images/cat_train_0.png,1\n"}, r"in both train and val .*, with two classes \(0, 1\)"),
    ({"train": "\n\nimages/x.png,cat\n"}, r"train.csv has malformed lines:\n  line 16: label 'cat' is not an integer"),
    ({"train": '"images/\nx.png",1\nimages/y.png,1.5\n'}, r"line 16: label '1.5' is not an integer"),
])  # fmt: skip
def test_csv_dataset_refuses_duplicates_leaks_and_names_the_lines(tmp_path, edit, message):
    folder = csv_folder(tmp_path / "zoo")
    (folder / "classnames.txt").write_text("0 cat\n1 dog\n2 owl\n")
    for part, text in edit.items():
        with open(folder / f"{part}.csv", "a") as f:
            f.write(text)
    with pytest.raises(DatasetError, match=message):
        build(tmp_path, "CSVDataset", "zoo")


def test_csv_dataset_labels_are_integers_and_names_distinct(tmp_path):
    folder = csv_folder(tmp_path / "zoo")
    (folder / "classnames.txt").write_bytes("\ufeff0 cat\n1 dog\n2 owl\n".encode())  # a byte-order mark is fine
    train = (folder / "train.csv").read_text().replace(",2\n", ",02\n")
    (folder / "train.csv").write_bytes(("\ufeff" + train).encode())
    ds = build(tmp_path, "CSVDataset", "zoo")
    assert ds.classnames == ["cat", "dog", "owl"] and counts(ds) == {"train": 12, "val": 3, "test": 6}  # 02 is 2
    (folder / "classnames.txt").write_text("0 cat\n1 dog\n2 cat\n")
    with pytest.raises(DatasetError, match=r"Several classes have the same name .*\n  'cat': labels '0', '2'\nFix: merge"):
        build(tmp_path, "CSVDataset", "zoo")
    (folder / "classnames.txt").write_bytes("0 chat\n1 dog\n2 caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"classnames.txt is not UTF-8 text .*Fix: save .*classnames.txt as UTF-8"):
        build(tmp_path, "CSVDataset", "zoo")
    (folder / "classnames.txt").unlink()
    (folder / "train.csv").write_bytes("path,label,classname\nimages/cat_train_0.png,0,caf\xe9\n".encode("latin-1"))
    with pytest.raises(DatasetError, match=r"train.csv is not UTF-8 text"):
        build(tmp_path, "CSVDataset", "zoo")


def test_image_folder_classes_with_the_same_name_are_refused(tmp_path):
    image_folder(tmp_path / "pets", classes=("golden_retriever", "golden retriever", "cat"))
    with pytest.raises(DatasetError, match=r"'golden retriever': class folders 'golden retriever', 'golden_retriever'"):
        build(tmp_path, "ImageFolder", "pets")


# ---------------------------------------------------------------------------------------------
# The data check
# ---------------------------------------------------------------------------------------------
def test_data_check_reports_classes_images_unreadable_and_short_classes(tmp_path, capsys):
    folder = image_folder(tmp_path / "pets")
    (folder / "red_fox" / "img3.jpg").write_bytes(b"not a jpeg")
    report = check_own_data(str(tmp_path), "imagefolder", "pets", shots=5)
    assert [(label, name, n["train"], n["val"], n["test"]) for label, name, n in report.class_counts()] == [
        (0, "golden retriever", 4, 1, 2), (1, "red fox", 4, 1, 2), (2, "tabby cat", 4, 1, 2),
    ]  # fmt: skip
    assert report.status == "FAIL" and report.decoded == 21 and report.unreadable == 1
    messages = "\n".join(f.message for f in report.findings)
    assert "3 of 3 classes have fewer training images than --shots 5" in messages
    assert "1 image cannot be decoded" in messages and "red_fox/img3.jpg" in messages
    fix = next(f.fix for f in report.findings if "cannot be decoded" in f.message)
    assert fix == "replace or delete them; training would stop at the first one"  # no split file to delete yet
    assert not (folder / GENERATED_SPLIT).exists()  # the check writes nothing
    capsys.readouterr()
    assert check_main(["--root", str(tmp_path), "--dataset", "imagefolder", "--folder", "pets", "--shots", "4", "--workers", "1"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("== ImageFolder (")  # the report only: not the reader's "Splitting into ..." line
    assert "3 classes" in out and "Summary: FAIL." in out and "Splitting" not in out
    assert check_main(["--root", str(tmp_path), "--dataset", "imagefolder"]) == 2
    assert "name its folder with --folder" in capsys.readouterr().out


def test_data_check_fails_one_class_and_missing_images(tmp_path):
    image_folder(tmp_path / "one", classes=("cat",))
    with pytest.raises(DatasetError, match=r"holds 1 class; a classifier needs at least 2"):
        build(tmp_path, "ImageFolder", "one", subsample="new")
    report = check_own_data(str(tmp_path), "imagefolder", "one", decode=False)
    assert report.status == "FAIL" and "needs at least 2" in report.findings[0].message
    folder = csv_folder(tmp_path / "zoo", columns="path,classname")
    (folder / "images" / "dog_test_1.png").unlink()
    report = check_own_data(str(tmp_path), "csvdataset", "zoo", decode=False)
    assert report.status == "FAIL" and "1 of 21 images listed in" in report.findings[0].message
    assert "images/dog_test_1.png" in report.findings[0].message


# ---------------------------------------------------------------------------------------------
# train.py end to end (tiny CLIP)
# ---------------------------------------------------------------------------------------------
def _argv(root, out, trainer, config, clip_file, dataset_cfg=IMAGEFOLDER, folder="pets", flags=(), opts=()):
    return [
        "--root", str(root), "--seed", "1", "--trainer", trainer, "--dataset-config-file", dataset_cfg,
        "--config-file", config, "--output-dir", str(out), *flags, *tiny_run_opts(clip_file),
        "DATASET.FOLDER", folder, *opts,
    ]  # fmt: skip


def _accuracy(out: Path) -> str:
    log = (out / "log.txt").read_text()
    return log[log.rindex("* accuracy:"):].splitlines()[0]


def test_zero_shot_coop_and_mudpt_base_to_new_on_an_image_folder(tmp_path, tiny_clip_file, run_train):
    image_folder(tmp_path / "data" / "pets", per_class=6, classes=("cat", "dog", "fox", "owl"))
    root = tmp_path / "data"
    zs = tmp_path / "zs"
    argv = _argv(root, zs, "ZeroshotCLIP", ZS, tiny_clip_file, flags=["--eval-only"], opts=["DATASET.TEMPLATE", "a blurry photo of a {}."])
    assert run_train(argv) == 0
    assert "a blurry photo of a cat." in (zs / "log.txt").read_text()
    for trainer, config, extra in (("CoOp", COOP, []), ("MuDPT", MUDPT, MUDPT_TINY)):
        base, new = tmp_path / f"{trainer}_base", tmp_path / f"{trainer}_new"
        opts = ["DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "base", *extra]
        assert run_train(_argv(root, base, trainer, config, tiny_clip_file, folder="./pets/", opts=opts)) == 0
        record = json.loads((base / "run.json").read_text())
        assert record["status"] == "complete"
        assert record["inputs"]["data.split"]["path"] == f"pets/{GENERATED_SPLIT}"
        assert "FOLDER: pets\n" in (base / "config.yaml").read_text()  # one spelling of the folder
        new_opts = ["DATASET.NUM_SHOTS", "2", "DATASET.SUBSAMPLE_CLASSES", "new", *extra]
        assert run_train(_argv(root, new, trainer, config, tiny_clip_file, flags=["--eval-only", "--model-dir", str(base)], opts=new_opts)) == 0
        assert "* total: 4" in (new / "log.txt").read_text()  # new classes fox, owl x 2 test images (6 split 3/1/2)


def test_an_unreadable_image_names_a_data_check_that_runs_as_printed(tmp_path, tiny_clip_file, run_train, capsys):
    """The error of an unreadable image of your own data names the data check of that folder
    (--folder, --classnames; paths quoted), and that command runs as printed and lists the image."""
    import shlex

    root = tmp_path / "my data"  # a space: the command quotes it
    for part, n in (("train", 2), ("val", 1), ("test", 2)):
        image_folder(root / "pets" / part, per_class=n, classes=("cat", "dog"))
    (root / "pets" / "names.txt").write_text("cat house cat\ndog dog\n")
    bad = root / "pets" / "test" / "dog" / "img1.jpg"
    bad.write_bytes(b"not an image")
    out = tmp_path / "zs"
    argv = _argv(root, out, "ZeroshotCLIP", ZS, tiny_clip_file, flags=["--eval-only"], opts=["DATASET.CLASSNAMES", "names.txt"])
    capsys.readouterr()
    assert run_train(argv) == 1
    err = capsys.readouterr().err
    command = shlex.join(["python", "-m", "datasets.check", "--root", str(root), "--dataset", "imagefolder",
                          "--folder", "pets", "--classnames", "names.txt"])  # fmt: skip
    assert err == (
        f'error: Cannot read image "{bad}" (cannot identify image file). Replace the file or remove it from the split; '
        f"`{command}` lists all unreadable images.\n"
    )
    words = shlex.split(err[err.index("`") + 1 : err.rindex("`")])
    assert words[:3] == ["python", "-m", "datasets.check"]
    assert check_main(words[3:]) == 1  # runs (2 would be a usage error) and fails on the image
    report = capsys.readouterr().out
    assert "== ImageFolder" in report and f"{bad}  (UnidentifiedImageError" in report and "house cat" in report


def test_fewshot_coop_on_csv_and_a_changed_split_is_refused(tmp_path, tiny_clip_file, run_train, capsys):
    root = tmp_path / "data"
    folder = csv_folder(root / "zoo", columns="path,classname")
    out = tmp_path / "csv_coop"
    argv = _argv(root, out, "CoOp", COOP, tiny_clip_file, CSVDATASET, "zoo", opts=["DATASET.NUM_SHOTS", "1"])
    assert run_train(argv) == 0
    assert _accuracy(out).startswith("* accuracy:")
    inputs = json.loads((out / "run.json").read_text())["inputs"]
    assert {"data.train_csv", "data.val_csv", "data.test_csv", "data.fewshot"} <= set(inputs)
    # The same command again: complete, not run again. A changed CSV: refused with both sha256.
    assert run_train(argv) == 0
    write_image(folder / "images" / "cat_test_extra.png", 0)
    with open(folder / "test.csv", "a") as f:
        f.write("images/cat_test_extra.png,cat\n")
    capsys.readouterr()
    assert run_train(argv) == 1
    err = capsys.readouterr().err
    assert "test_csv" in err and "sha256" in err


def test_a_redrawn_image_folder_split_is_refused_by_the_resumed_run(tmp_path, tiny_clip_file, run_train, capsys):
    root = tmp_path / "data"
    folder = image_folder(root / "pets", per_class=6)
    out = tmp_path / "run"
    argv = _argv(root, out, "CoOp", COOP, tiny_clip_file, opts=["DATASET.NUM_SHOTS", "1"])
    assert run_train(argv) == 0
    # The user adds images and draws the split again (as the reader's error says): the run's data changed.
    write_image(folder / "red_fox" / "extra.jpg", 1)
    (folder / GENERATED_SPLIT).unlink()
    capsys.readouterr()
    assert run_train(argv) == 1
    err = capsys.readouterr().err
    assert f"pets/{GENERATED_SPLIT}" in err and "sha256" in err


# ---------------------------------------------------------------------------------------------
# The protocol runner and parse_results
# ---------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sweep_and_parse_results_on_an_image_folder(tmp_path, tiny_clip_file, capsys, monkeypatch):
    from protocols.cli import main as sweep_main

    image_folder(tmp_path / "data" / "pets", per_class=6, classes=("cat", "dog", "fox", "owl"))
    for var in ("DATA", "OUTPUT", "CLIP_PATH", "CFG", "DRY_RUN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    tiny = ["--clip-path", tiny_clip_file, "INPUT.SIZE", "(32, 32)", "DATALOADER.NUM_WORKERS", "0",
            "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "OPTIM.MAX_EPOCH", "1", "DATASET.NUM_SHOTS", "1"]  # fmt: skip
    common = ["base2new", "--methods", "coop", "--datasets", "imagefolder", "--seeds", "1",
              "--data", str(tmp_path / "data"), "--output", str(tmp_path / "output")]  # fmt: skip
    assert sweep_main([*common, *tiny]) == 2
    assert "name its folder with the overrides, e.g. `DATASET.FOLDER my_data`" in capsys.readouterr().err
    assert sweep_main([*common, *tiny, "DATASET.FOLDER", "pets"]) == 0, capsys.readouterr()
    assert capsys.readouterr().out.rstrip().endswith("Summary: 2 done")
    runs = sorted((tmp_path / "output" / "base2new").glob("*/imagefolder/shots_1/CoOp/*/seed1"))
    assert [r.parts[-6] for r in runs] == ["test_new", "train_base"] and all("folderpets" in r.parts[-2] for r in runs)
    from results.cli import main as parse_results_main

    capsys.readouterr()
    assert parse_results_main([str(tmp_path / "output")]) == 0
    tables = capsys.readouterr().out
    assert "imagefolder" in tables and "Base-to-new" in tables


def test_evaluating_on_another_folder_is_another_dataset(tmp_path):
    from runconfig import check_same_split
    from engine.seam import DataError

    model = tmp_path / "model"
    model.mkdir()
    (model / "config.yaml").write_text("DATASET:\n  NAME: ImageFolder\n  FOLDER: my_pets\n")
    (model / "run.json").write_text(json.dumps({"inputs": {"data.split": {"path": "my_pets/s.json", "sha256": "a" * 64}}}))
    current = {"data.split": {"path": "b/s.json", "sha256": "b" * 64}}
    check_same_split(str(model), make_cfg(tmp_path, "ImageFolder", "b"), current)  # another folder: no comparison
    with pytest.raises(DataError, match="On another split"):  # the same folder (spelt otherwise), another split
        check_same_split(str(model), make_cfg(tmp_path, "ImageFolder", "./my_pets/"), current)


def test_sweep_folder_overrides_one_spelling_grid_and_no_mix_with_benchmarks(tmp_path, capsys, monkeypatch):
    from protocols.cli import main as sweep_main

    for var in ("DATA", "OUTPUT", "CLIP_PATH", "CFG", "DRY_RUN"):
        monkeypatch.delenv(var, raising=False)
    common = ["base2new", "--methods", "coop", "--seeds", "1", "--data", str(tmp_path), "--output", str(tmp_path / "o"), "--dry-run"]
    assert sweep_main([*common, "--datasets", "dtd,imagefolder", "DATASET.FOLDER", "pets"]) == 2
    assert "run them as two sweeps, `--datasets dtd` and `--datasets imagefolder DATASET.FOLDER my_data`" in capsys.readouterr().err
    assert sweep_main([*common, "--datasets", "dtd", "DATASET.FOLDER", "pets"]) == 2
    assert "DATASET.FOLDER applies to your own data" in capsys.readouterr().err
    assert sweep_main([*common, "--datasets", "imagefolder", "DATASET.FOLDER", "./pets/"]) == 0
    out = capsys.readouterr().out
    assert "folderpets" in out and "DATASET.FOLDER pets" in out and "./pets/" not in out
    assert sweep_main([*common, "--datasets", "imagefolder", "--grid", "DATASET.FOLDER=pets/,birds"]) == 0
    out = capsys.readouterr().out
    assert "folderpets" in out and "folderbirds" in out and "pets/" not in out.replace("folderpets/", "")
