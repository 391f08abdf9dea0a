"""The data check (``python -m datasets.check``): clean trees pass, planted faults are reported
with their fix and a non-zero exit code."""
from __future__ import annotations

import os
import os.path as osp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from datasets.benchmark_check import check_dataset
from datasets.check import main
from datasets.findings import verify_images
from datasets.synthetic import make_synthetic_dataset


from dataset_trees import tmp_path  # noqa: F401  (tmp_path: a fixture in /dev/shm)

REPO = Path(__file__).resolve().parents[1]
CLEAN = ("dtd", "oxford_pets", "eurosat", "caltech101", "imagenet", "imagenet_a", "fgvc_aircraft", "imagenetv2")


@pytest.fixture
def clean_root(tmp_path):
    for name in CLEAN:
        make_synthetic_dataset(tmp_path, name, n_classes=3, n_train=3, n_val=2, n_test=2, image_size=8)
    return tmp_path


def test_clean_tree_passes_with_exit_code_zero(clean_root, capsys):
    code = main(["--root", str(clean_root), "--workers", "1", "--dataset", *CLEAN])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAIL" not in out and "MISSING" not in out
    assert f"Summary: {len(CLEAN)} WARN. All checked benchmarks are usable." in out
    # Expected vs found per split and classes.
    assert "== DescribableTextures (dtd/): WARN" in out
    assert "counts differ from the published benchmark: train 9 (published 2,820)" in out
    assert "images decoded: 21, unreadable: 0" in out  # 3 classes x (3 + 2 + 2)


def test_report_rows_compare_expected_and_found(clean_root):
    report = check_dataset(str(clean_root), "OxfordPets")
    assert report.status == "WARN"
    assert report.rows == [
        ["train", 2944, 9, 0],
        ["val", 736, 6, 0],
        ["test", 3669, 6, 0],
        ["classes", 37, 3, None],
    ]


def test_strict_turns_warnings_into_failure(clean_root):
    assert main(["--root", str(clean_root), "--workers", "1", "--strict", "--dataset", "dtd"]) == 1


def test_planted_faults_are_each_reported_with_a_fix(clean_root, capsys):
    root = str(clean_root)
    # 1. A missing dataset folder.
    shutil.rmtree(osp.join(root, "eurosat"))
    # 2. An image listed in the split but absent.
    os.remove(osp.join(root, "dtd", "images", "banded", "banded_0002.jpg"))
    # 3. A corrupt and a truncated image.
    pets = osp.join(root, "oxford_pets", "images")
    with open(osp.join(pets, "Abyssinian_1.jpg"), "wb") as f:
        f.write(b"this is not a JPEG")
    with open(osp.join(pets, "Bengal_2.jpg"), "rb") as f:
        data = f.read()
    with open(osp.join(pets, "Bengal_2.jpg"), "wb") as f:
        f.write(data[: len(data) // 2])
    # 4. A classnames.txt with the wrong number of classes.
    names = osp.join(root, "imagenet-adversarial", "classnames.txt")
    with open(names, encoding="utf-8") as f:
        lines = f.readlines()
    with open(names, "w", encoding="utf-8") as f:
        f.writelines(lines[:-3])

    code = main(["--root", root, "--workers", "1", "--dataset", *CLEAN])
    out = capsys.readouterr().out
    assert code == 1

    assert "== EuroSAT (eurosat/): MISSING" in out
    assert f"FAIL  dataset folder {osp.join(root, 'eurosat')} not found" in out
    assert f"Fix: run `python -m datasets.download --root {root} --dataset EuroSAT`" in out

    assert "== DescribableTextures (dtd/): FAIL" in out
    assert (
        f"FAIL  1 of 21 images listed in {osp.join(root, 'dtd', 'split_zhou_DescribableTextures.json')} "
        f"are missing under {osp.join(root, 'dtd', 'images')}:"
    ) in out
    assert "banded/banded_0002.jpg" in out
    assert "dtd-r1.0.1.tar.gz from https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz" in out

    assert "== OxfordPets (oxford_pets/): FAIL" in out
    assert "FAIL  2 of 21 images cannot be decoded" in out
    assert f"{osp.join(pets, 'Abyssinian_1.jpg')}  (UnidentifiedImageError" in out
    assert f"{osp.join(pets, 'Bengal_2.jpg')}  (OSError" in out
    assert "Fix: restore these files from the original archive" in out
    assert "To get the archive again, run `python -m datasets.download" in out

    assert "== ImageNetA (imagenet-adversarial/): FAIL" in out
    assert f"{names} is not a valid ImageNet classnames.txt" in out and "997 class lines, expected 1000" in out
    assert f"copy {osp.join(root, 'imagenet', 'classnames.txt')} if you have it" in out

    assert "Summary: 4 WARN, 3 FAIL, 1 MISSING. Something needs fixing" in out


def test_missing_split_file_fails_and_names_the_download(tmp_path):
    make_synthetic_dataset(tmp_path, "ucf101", n_classes=2, n_train=4, n_val=1, n_test=2, write_split=False)
    report = check_dataset(str(tmp_path), "UCF101", decode=False)
    assert report.status == "FAIL"
    split_failure = report.findings[0]
    assert split_failure.message.startswith("split_zhou_UCF101.json not found: runs stop until it is there")
    assert "https://drive.google.com/uc?id=1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y" in split_failure.fix
    assert f"python -m datasets.make_split --root {tmp_path} --dataset UCF101" in split_failure.fix
    # Predicted sizes of the split the reader will make: trainval 5 per class -> 4 train + 1 val.
    assert report.rows[:3] == [["train", 7639, 8, ""], ["val", 1898, 2, ""], ["test", 3783, 4, ""]]


def test_damaged_files_fail_with_the_one_fix_that_fits(tmp_path, capsys):
    """A malformed official split file is fetched again (not "delete it so that a split is drawn":
    none is); a damaged ImageNet listing is made again by the next run."""
    syn = make_synthetic_dataset(tmp_path, "dtd", n_classes=2, n_train=2, n_val=1, n_test=1, empty_images=True)
    split = osp.join(syn.dataset_dir, "split_zhou_DescribableTextures.json")
    with open(split, "w", encoding="utf-8") as f:
        f.write("[]")
    assert main(["--root", str(tmp_path), "--dataset", "dtd", "--no-decode"]) == 1
    out = capsys.readouterr().out
    assert (
        f"FAIL  {split} is not a split file: expected lists under keys ['train', 'val', 'test'], found list. Fix: delete {split}; "
        f"`python -m datasets.download --root {tmp_path} --dataset DescribableTextures --metadata-only` fetches the original."
    ) in out
    assert out.count("Fix:") == 1
    inet = make_synthetic_dataset(tmp_path, "imagenet", n_classes=2, n_train=2, n_test=1, empty_images=True)
    listing = osp.join(inet.dataset_dir, "preprocessed.json")
    with open(listing, "w", encoding="utf-8") as f:
        f.write("{oops")
    report = check_dataset(str(tmp_path), "ImageNet", decode=False)
    assert report.status == "FAIL"
    assert report.findings[0].message.endswith(f"Fix: delete {listing}: the next run lists the image folders again and saves it.")


def test_missing_split_and_official_lists_fails(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "sun397", n_classes=2, write_split=False, image_size=8)
    os.remove(osp.join(syn.dataset_dir, "Testing_01.txt"))
    report = check_dataset(str(tmp_path), "SUN397", decode=False)
    assert report.status == "FAIL"
    assert "cannot draw a split from the official lists (no split file); missing:" in report.findings[-1].message
    assert osp.join(syn.dataset_dir, "Testing_01.txt") in report.findings[-1].message


def test_flat_imagenet_val_is_reported(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "imagenet", n_classes=2, n_test=1, image_size=8)
    val = osp.join(syn.image_dir, "val")
    for wnid in os.listdir(val):
        for name in os.listdir(osp.join(val, wnid)):
            shutil.move(osp.join(val, wnid, name), osp.join(val, name))
        os.rmdir(osp.join(val, wnid))
    report = check_dataset(str(tmp_path), "ImageNet")
    assert report.status == "FAIL"
    assert "holds 2 loose images instead of 1000 class folders" in report.findings[0].message
    assert "--sort-imagenet-val" in report.findings[0].message


def test_skip_missing_only_checks_what_is_there(tmp_path, capsys):
    make_synthetic_dataset(tmp_path, "dtd", n_classes=2, image_size=8)
    assert main(["--root", str(tmp_path), "--workers", "1", "--skip-missing"]) == 0
    out = capsys.readouterr().out
    assert "Summary: 1 WARN, 14 MISSING. All checked benchmarks are usable." in out
    assert main(["--root", str(tmp_path), "--workers", "1"]) == 1


def test_verify_images_with_a_worker_pool(tmp_path, monkeypatch):
    syn = make_synthetic_dataset(tmp_path, "eurosat", n_classes=2, n_train=2, n_val=1, n_test=1, image_size=8)
    with open(syn.files[3], "wb") as f:
        f.write(b"\xff\xd8\xff broken")
    monkeypatch.setattr("datasets.findings.MIN_IMAGES_FOR_POOL", 2)
    bad = verify_images(sorted(syn.files), workers=2)
    assert [p for p, _ in bad] == [syn.files[3]]


def test_unknown_dataset_name_lists_the_valid_ones(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--dataset", "Flowers"]) == 2
    assert "Unknown dataset 'Flowers'. Valid names: ImageNet, Caltech101" in capsys.readouterr().out


def test_command_line_entry_point(tmp_path):
    make_synthetic_dataset(tmp_path, "dtd", n_classes=2, image_size=8)
    run = subprocess.run(
        [sys.executable, "-m", "datasets.check", "--root", str(tmp_path), "--dataset", "dtd", "caltech101"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert "== DescribableTextures (dtd/): WARN" in run.stdout
    assert "== Caltech101 (caltech-101/): MISSING" in run.stdout
