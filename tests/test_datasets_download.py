"""The download helper, without network: the offline message, verification, unpacking, the
ImageNet val sorter. ``fetch`` is replaced so that no test touches the network."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import os.path as osp
import re
import shutil
import tarfile
import zipfile

import numpy as np
import pytest

from datasets import download
from datasets.download import FetchError, main, process_artifact, sort_imagenet_val
from datasets.download_specs import Artifact, Checksum
from datasets.specs import SPECS
from datasets.synthetic import make_synthetic_dataset

from dataset_trees import SPLITS_DIR, requires_shared, tmp_path  # noqa: F401  (tmp_path: a fixture in /dev/shm)


@pytest.fixture
def offline(monkeypatch):
    """Every fetch fails as it does without network; the URLs tried are recorded."""
    calls = []

    def refuse(url, dest):
        calls.append((url, dest))
        raise FetchError("URLError: <urlopen error [Errno -2] Name or service not known>")

    monkeypatch.setattr(download, "fetch", refuse)
    return calls


def _md5(path):
    return hashlib.md5(open(path, "rb").read()).hexdigest()


def _tar_dtd(tmp_path, with_split=True):
    """A dtd-r1.0.1.tar.gz look-alike: dtd/images/<class>/*.jpg (and the split file)."""
    stage = tmp_path / "stage"
    syn = make_synthetic_dataset(stage, "dtd", n_classes=2, n_train=2, n_val=1, n_test=1, image_size=8)
    if not with_split:
        os.remove(osp.join(syn.dataset_dir, "split_zhou_DescribableTextures.json"))
    archive = tmp_path / "dtd-r1.0.1.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(syn.dataset_dir, arcname="dtd")
    shutil.rmtree(stage)
    return archive, syn


def test_offline_run_lists_every_url_and_target_path(tmp_path, offline, capsys):
    root = str(tmp_path)
    code = main(["--root", root, "--dataset", "dtd", "eurosat", "--no-check"])
    out = capsys.readouterr().out
    assert code == 1
    assert [url for url, _ in offline] == [
        "gdrive:1u3_QfB467jqHgNXC00UIzbLZRQCg2S7x",
        "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz",
        "gdrive:1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o",
        "https://huggingface.co/datasets/torchgeo/eurosat/resolve/c877bcd43f099cd0196738f714544e355477f3fd/EuroSAT.zip",
        "http://madm.dfki.de/files/sentinel/EuroSAT.zip",
    ]
    assert "Could not fetch or verify 4 file(s) (offline, or the host refused). Fetch them by hand" in out
    downloads = osp.join(root, "downloads")
    assert (
        "  [DescribableTextures] dataset archive\n"
        "      https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz\n"
        f"      -> {osp.join(downloads, 'dtd-r1.0.1.tar.gz')}"
    ) in out
    assert (  # a split file goes where the readers read it: nothing to unpack
        "      https://drive.google.com/uc?id=1Ip7yaCWFi0eaOFUGga0lUdVi_DDQth1o\n"
        f"      -> {osp.join(root, 'eurosat', 'split_zhou_EuroSAT.json')}"
    ) in out
    assert "      or http://madm.dfki.de/files/sentinel/EuroSAT.zip" in out


@pytest.mark.parametrize("name", sorted(SPECS))
def test_the_download_helper_and_the_data_check_name_one_place_per_file(tmp_path, offline, capsys, name):
    """Offline, the helper's list and the data check's fix put every file at the same path, and a
    split file put there by hand is then in place for the helper and read by the check."""
    from datasets.hints import fetch_instructions

    spec = SPECS[name]
    root = str(tmp_path)
    assert main(["--root", root, "--dataset", name, "--no-check"]) == 1
    places = re.findall(r"\n      -> (\S+)", capsys.readouterr().out)
    check = fetch_instructions(spec, root)
    assert len(places) == len(spec.artifacts)
    for artifact, place in zip(spec.artifacts, places):
        assert f"{artifact.filename} from " in check and f"; save it as {place}" in check, (artifact.filename, check)
    split = [(a, p) for a, p in zip(spec.artifacts, places) if a.verify == "split"]
    if split:
        (artifact, place), = split
        syn = make_synthetic_dataset(tmp_path / "made", spec.config, n_classes=2, n_train=2, n_val=1, n_test=1, empty_images=True)
        os.makedirs(osp.dirname(place))
        shutil.copy(osp.join(syn.dataset_dir, spec.split_file), place)
        outcome = process_artifact(spec, artifact, root, osp.join(root, "downloads"))
        assert (outcome.status, outcome.detail) == ("in place", place)


def test_offline_run_ends_with_the_data_check(tmp_path, offline, capsys):
    assert main(["--root", str(tmp_path), "--dataset", "imagenet_r"]) == 1
    out = capsys.readouterr().out
    assert "-> " + osp.join(tmp_path, "downloads", "imagenet-r.tar") in out
    assert "== ImageNetR (imagenet-rendition/): MISSING" in out


def test_dry_run_fetches_nothing(tmp_path, offline, capsys):
    assert main(["--root", str(tmp_path), "--dataset", "imagenet", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert offline == []
    assert "[ImageNet] classnames.txt: planned  https://drive.google.com/uc?id=1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF" in out
    assert "[ImageNet] manual step: ImageNet (ILSVRC2012) needs an account" in out


def test_archive_fetched_by_hand_is_verified_unpacked_and_readable(tmp_path, offline, monkeypatch, capsys):
    archive, syn = _tar_dtd(tmp_path)
    root = tmp_path / "data"
    os.makedirs(root / "downloads")
    shutil.move(str(archive), root / "downloads" / archive.name)
    spec = SPECS["DescribableTextures"]
    artifact = dataclasses.replace(spec.artifacts[1], checksums=(Checksum("md5", _md5(root / "downloads" / archive.name), "test"),))
    monkeypatch.setitem(SPECS, "DescribableTextures", dataclasses.replace(spec, artifacts=(artifact,)))

    code = main(["--root", str(root), "--dataset", "dtd"])
    out = capsys.readouterr().out
    assert offline == []  # found locally, nothing fetched
    assert "[DescribableTextures] dtd-r1.0.1.tar.gz: done" in out
    assert code == 0, out  # the check passes (synthetic counts are only a warning)
    assert "== DescribableTextures (dtd/): WARN" in out
    assert sorted(os.listdir(root / "dtd" / "images")) == ["banded", "blotchy"]
    assert not (root / "downloads" / archive.name).exists()  # removed after unpacking
    assert not [n for n in os.listdir(root) if n.startswith(".unpack")]


def test_checksum_mismatch_is_reported_and_the_file_kept(tmp_path):
    archive, _ = _tar_dtd(tmp_path)
    root = tmp_path / "data"
    os.makedirs(root / "downloads")
    shutil.move(str(archive), root / "downloads" / archive.name)
    spec = SPECS["DescribableTextures"]
    outcome = process_artifact(spec, spec.artifacts[1], str(root), str(root / "downloads"))
    assert outcome.status == "failed"
    got = _md5(root / "downloads" / archive.name)
    assert f"MD5 {got} differs from the published MD5 fff73e5086ae6bdbea199a49dfb8a4c1 (torchvision (datasets.DTD))" in outcome.detail
    assert (root / "downloads" / archive.name).exists() and not (root / "dtd").exists()


def test_unpack_merges_into_an_existing_dataset_folder(tmp_path):
    archive, _ = _tar_dtd(tmp_path, with_split=False)
    root = tmp_path / "data"
    os.makedirs(root / "dtd")
    (root / "dtd" / "split_zhou_DescribableTextures.json").write_text("{}")
    artifact = dataclasses.replace(SPECS["DescribableTextures"].artifacts[1], checksums=())
    download.unpack(str(archive), artifact, str(root))
    assert (root / "dtd" / "split_zhou_DescribableTextures.json").read_text() == "{}"
    assert (root / "dtd" / "images" / "banded").is_dir()


def test_unpack_finds_parts_inside_an_extra_top_folder(tmp_path):
    archive = tmp_path / "Partitions.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("ClassName.txt", "Training_01.txt", "Testing_01.txt"):
            zf.writestr(f"Partitions/{name}", "/a/abbey\n")
    download.unpack(str(archive), SPECS["SUN397"].artifacts[2], str(tmp_path / "data"))
    assert sorted(os.listdir(tmp_path / "data" / "sun397")) == ["ClassName.txt", "Testing_01.txt", "Training_01.txt"]


def test_archive_escaping_its_folder_is_refused(tmp_path):
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tf:
        data = b"owned"
        info = tarfile.TarInfo("../evil.txt")
        info.size = len(data)
        tf.addfile(info, io.BytesIO(data))
    artifact = Artifact("test archive", "evil.tar", ("https://example.invalid/evil.tar",), "x", unpack=(("dtd", "dtd"),))
    with pytest.raises(download.DatasetError, match="unsafe member"):
        download.unpack(str(archive), artifact, str(tmp_path / "data"))
    assert not (tmp_path / "evil.txt").exists()


def test_split_file_with_other_counts_fails_verification(tmp_path):
    syn = make_synthetic_dataset(tmp_path / "stage", "eurosat", n_classes=2, empty_images=True)
    os.makedirs(tmp_path / "downloads")
    shutil.copy(osp.join(syn.dataset_dir, "split_zhou_EuroSAT.json"), tmp_path / "downloads")
    spec = SPECS["EuroSAT"]
    outcome = process_artifact(spec, spec.artifacts[0], str(tmp_path), str(tmp_path / "downloads"))
    assert outcome.status == "failed"
    assert "split sizes {'train': 8, 'val': 4, 'test': 4} differ from the published" in outcome.detail


@requires_shared
def test_real_split_file_passes_verification_and_lands_in_place(tmp_path):
    os.makedirs(tmp_path / "downloads")
    shutil.copy(SPLITS_DIR / "split_zhou_DescribableTextures.json", tmp_path / "downloads")
    spec = SPECS["DescribableTextures"]
    outcome = process_artifact(spec, spec.artifacts[0], str(tmp_path), str(tmp_path / "downloads"))
    assert outcome.status == "done"
    target = tmp_path / "dtd" / "split_zhou_DescribableTextures.json"
    assert target.read_bytes() == (SPLITS_DIR / "split_zhou_DescribableTextures.json").read_bytes()
    again = process_artifact(spec, spec.artifacts[0], str(tmp_path), str(tmp_path / "downloads"))
    assert again.status == "in place"


def test_variant_classnames_are_copied_from_imagenet(tmp_path, offline):
    syn = make_synthetic_dataset(tmp_path, "imagenet", n_classes=2, empty_images=True)
    spec = SPECS["ImageNetA"]
    outcome = process_artifact(spec, spec.artifacts[0], str(tmp_path), str(tmp_path / "downloads"))
    assert outcome.status == "done" and offline == []
    with open(osp.join(syn.dataset_dir, "classnames.txt"), "rb") as f:
        assert (tmp_path / "imagenet-adversarial" / "classnames.txt").read_bytes() == f.read()


def _flat_val(tmp_path):
    syn = make_synthetic_dataset(tmp_path, "imagenet", n_classes=3, n_test=2, empty_images=True)
    val = osp.join(syn.image_dir, "val")
    truth = {}
    for wnid in sorted(os.listdir(val)):
        for name in os.listdir(osp.join(val, wnid)):
            truth[name] = wnid
            shutil.move(osp.join(val, wnid, name), osp.join(val, name))
        os.rmdir(osp.join(val, wnid))
    return val, truth


def _sorted_truth(val):
    return {name: wnid for wnid in os.listdir(val) for name in os.listdir(osp.join(val, wnid))}


def test_sort_imagenet_val_with_kaggle_csv(tmp_path, capsys):
    val, truth = _flat_val(tmp_path)
    csv_path = tmp_path / "LOC_val_solution.csv"
    rows = [f"{osp.splitext(n)[0]},{w} 1 2 3 4 {w} 5 6 7 8" for n, w in truth.items()]
    csv_path.write_text("ImageId,PredictionString\n" + "\n".join(rows) + "\n")
    assert main(["--root", str(tmp_path), "--sort-imagenet-val", str(csv_path)]) == 0
    assert f"Moved 6 images of {val} into class folders." in capsys.readouterr().out
    assert _sorted_truth(val) == truth


def test_sort_imagenet_val_with_the_devkit(tmp_path):
    from scipy.io import savemat

    val, truth = _flat_val(tmp_path)
    wnids = sorted(set(truth.values()))
    # meta.mat: leaf synsets with their ILSVRC2012_ID (devkit order) plus one non-leaf synset.
    synsets = np.zeros((len(wnids) + 1,), dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O"), ("num_children", "O")])
    for i, wnid in enumerate(reversed(wnids)):
        synsets[i] = (i + 1, wnid, 0)
    synsets[len(wnids)] = (len(wnids) + 1, "n99999999", 3)
    devkit = tmp_path / "devkit"
    os.makedirs(devkit / "ILSVRC2012_devkit_t12" / "data")
    savemat(devkit / "ILSVRC2012_devkit_t12" / "data" / "meta.mat", {"synsets": synsets})
    id_of = {w: i + 1 for i, w in enumerate(reversed(wnids))}
    ordered = sorted(truth)  # ILSVRC2012_val_00000001.JPEG, ... in index order
    (devkit / "ILSVRC2012_devkit_t12" / "data" / "ILSVRC2012_validation_ground_truth.txt").write_text(
        "".join(f"{id_of[truth[n]]}\n" for n in ordered)
    )
    archive = tmp_path / "ILSVRC2012_devkit_t12.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.add(devkit / "ILSVRC2012_devkit_t12", arcname="ILSVRC2012_devkit_t12")
    assert sort_imagenet_val(val, str(archive)) == 6
    assert _sorted_truth(val) == truth


def test_sort_imagenet_val_refuses_incomplete_labels(tmp_path):
    val, truth = _flat_val(tmp_path)
    labels = tmp_path / "labels.txt"
    first = sorted(truth)[0]
    labels.write_text(f"{first} {truth[first]}\n")
    with pytest.raises(download.DatasetError, match=r"has no label for 5 of the 6 images"):
        sort_imagenet_val(val, str(labels))
    assert sorted(os.listdir(val)) == sorted(truth)  # nothing moved


def test_every_archive_has_a_published_checksum():
    """Archives are unpacked only after their digest matched; the one exception is CoOp's Drive
    copy of the UCF101 middle frames (no digest is published), which the data check verifies."""
    content_checked = {("UCF101", "UCF-101-midframes.zip")}
    for spec in SPECS.values():
        for artifact in spec.artifacts:
            if artifact.unpack is None and artifact.verify is not None:
                continue  # split and class-name files: verified by their content
            key = (spec.name, artifact.filename)
            assert bool(artifact.checksums) != (key in content_checked), key
            for checksum in artifact.checksums:
                assert checksum.algorithm in ("md5", "sha256") and checksum.source
                assert len(checksum.digest) == {"md5": 32, "sha256": 64}[checksum.algorithm]


def test_a_file_matching_either_published_sha256_passes(tmp_path):
    data = tmp_path / "v2.tar.gz"
    data.write_bytes(b"archive bytes")
    digest = hashlib.sha256(b"archive bytes").hexdigest()
    spec = SPECS["ImageNetV2"]
    artifact = dataclasses.replace(
        spec.artifacts[1], checksums=(Checksum("sha256", "0" * 64, "one host"), Checksum("sha256", digest, "another host"))
    )
    assert download.verify_file(spec, artifact, str(data)) is None
    problem = download.verify_file(spec, dataclasses.replace(artifact, checksums=artifact.checksums[:1]), str(data))
    assert problem == f"SHA256 {digest} differs from the published SHA256 {'0' * 64} (one host) (incomplete or different file)"


@pytest.mark.parametrize("bad_label", ["../../escaped", "n99999999"])
def test_sort_imagenet_val_checks_every_label_before_moving(tmp_path, capsys, bad_label):
    val, truth = _flat_val(tmp_path)
    labels = tmp_path / "labels.txt"
    names = sorted(truth)
    labels.write_text("".join(f"{n} {bad_label if i == 2 else truth[n]}\n" for i, n in enumerate(names)))
    assert main(["--root", str(tmp_path), "--sort-imagenet-val", str(labels)]) == 1
    out = capsys.readouterr().out
    assert f"1 labels are not WordNet ids of classnames.txt (first: {names[2]}: '{bad_label}'); nothing was moved" in out
    assert sorted(os.listdir(val)) == names and not (tmp_path / "escaped").exists()


def test_sort_imagenet_val_without_classnames_still_needs_wordnet_ids(tmp_path):
    val, truth = _flat_val(tmp_path)
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"{n} {'../x' if i == 0 else truth[n]}\n" for i, n in enumerate(sorted(truth))))
    with pytest.raises(download.DatasetError, match=r"1 labels are not WordNet ids \(n \+ 8 digits\)"):
        sort_imagenet_val(val, str(labels))
    assert sorted(os.listdir(val)) == sorted(truth)


def test_fix_commands_run_as_printed_with_a_space_in_the_root():
    """Every command a fix names quotes the data root, so that it runs as printed."""
    from datasets.hints import draw_split_hint, fetch_instructions, refetch_fix

    spec, root = SPECS["EuroSAT"], "/data/my data"
    text = "\n".join([fetch_instructions(spec, root), draw_split_hint(spec, root), refetch_fix(spec, root, f"{root}/eurosat/x.json")])
    commands = re.findall(r"`(python -m [^`]+)`", text)
    assert len(commands) == 5 and all("--root '/data/my data' --dataset EuroSAT" in c for c in commands), commands
