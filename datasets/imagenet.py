"""ImageNet (ILSVRC2012; Deng et al., CVPR 2009), read as in CoOp (arXiv 2109.01134).

Layout: ``imagenet/images/{train,val}/<wnid>/*.JPEG`` + ``classnames.txt`` (1000 lines
``wnid class name``, CLIP's class names). The val set is the test set (and the val set of the
run). CoOp caches the lists in ``preprocessed.pkl``; here they go to ``preprocessed.json``
(paths relative to ``images/``). Few-shot subsets are drawn from train only.

Also the ImageNet family's shared code: ``read_imagenet_classnames`` (the ``classnames.txt`` every
member has) and ``ImageNetFolderTestSet``, the base class of the test-only variants (ImageNet-A,
-R, -Sketch, V2), each read from its class folders.
"""
from __future__ import annotations

import os.path as osp
import re
from collections import OrderedDict
from typing import Any

from engine.seam import DATASET_REGISTRY, DatasetBase, Datum, get_logger

from .class_subsets import subsample_classes
from .config import check_subsample, dataset_root, reject_split_file
from .download_specs import classnames_artifact
from .errors import DatasetError, listing
from .fake_trees import WnidFakeTree, register_fake_tree
from .fewshot import fewshot_cache_path, load_or_sample_fewshot
from .hints import check_command, fetch_instructions, misplaced_hints, require_dataset_folder
from .images import build_datums, list_images, subdirs
from .specs import DatasetSpec, register_spec
from .split_files import Item, Split, read_split, write_split

SPEC = register_spec(
    DatasetSpec(
        name="ImageNet",
        config="imagenet",
        display_name="ImageNet",
        template="a photo of a {}.",
        protocols=("base2new", "fewshot", "xd_source"),
        order=0,
        folder="imagenet",
        image_subdir="images",
        split_file=None,
        num_classes=1000,
        counts={"train": 1_281_167, "test": 50_000},
        layout=(
            "imagenet/\n"
            "  classnames.txt          1000 lines `wnid class name`\n"
            "  images/train/<wnid>/*.JPEG   1000 class folders\n"
            "  images/val/<wnid>/*.JPEG     1000 class folders (the val set is the test set)"
        ),
        metadata=("classnames.txt",),
        artifacts=(classnames_artifact("imagenet"),),
        manual=(
            "ImageNet (ILSVRC2012) needs an account: download ILSVRC2012_img_train.tar and "
            "ILSVRC2012_img_val.tar from https://image-net.org/download-images, extract the train "
            "set into DATA/imagenet/images/train/<wnid>/ and the val set into "
            "DATA/imagenet/images/val/<wnid>/ (a symbolic link to an existing copy is fine). "
            "The val tar is flat: sort it into class folders with `python -m datasets.download "
            "--root DATA --sort-imagenet-val LABELS`, LABELS being ILSVRC2012_devkit_t12.tar.gz "
            "or Kaggle's LOC_val_solution.csv."
        ),
    )
)

_log = get_logger("datasets.imagenet")

CACHE_NAME = "preprocessed.json"


def cache_fix(path: str) -> str:
    """The fix for a damaged or stale listing cache: the reader made it, and makes it again."""
    return f"delete {path}: the next run lists the image folders again and saves it"

WNID_PATTERN = re.compile(r"^n\d{8}$")


def read_imagenet_classnames(spec: DatasetSpec, root: str, expected: int = 1000) -> "OrderedDict[str, str]":
    """Read ``<dataset>/classnames.txt`` (``wnid class name`` per line) and validate it.

    It must hold ``expected`` lines with distinct, well-formed wnids in ImageNet's class order
    (sorted wnids; ImageNetV2's folder k is the k-th line).
    """
    path = osp.join(root, spec.folder, "classnames.txt")
    fix = _classnames_fix(spec, root)
    if not osp.isfile(path):
        raise DatasetError(f"{spec.name}: {path} not found.\n{fix}")
    classnames: "OrderedDict[str, str]" = OrderedDict()
    problems: list[str] = []
    n_lines = 0
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, start=1):
            line = line.strip()
            if not line:
                continue
            n_lines += 1
            wnid, _, name = line.partition(" ")
            if not WNID_PATTERN.match(wnid) or not name.strip():
                problems.append(f"line {lineno}: {line[:60]!r} is not `wnid class name`")
            elif wnid in classnames:
                problems.append(f"line {lineno}: {wnid} appears twice")
            else:
                classnames[wnid] = name.strip()
    if n_lines != expected:
        problems.insert(0, f"{n_lines} class lines, expected {expected}")
    wnids = list(classnames)
    if not problems and wnids != sorted(wnids):
        problems.append("the lines are not in ImageNet's class order (sorted by wnid)")
    if problems:
        raise DatasetError(f"{spec.name}: {path} is not a valid ImageNet classnames.txt:\n{listing(problems)}\n{fix}")
    return classnames


def _classnames_fix(spec: DatasetSpec, root: str) -> str:
    source = osp.join(root, "imagenet", "classnames.txt")
    target = osp.join(root, spec.folder, "classnames.txt")
    steps = [
        f"Fix: put CoOp's classnames.txt (1000 lines `wnid class name`, from "
        f"https://drive.google.com/uc?id=1-61f_ol79pViBFDG_IDlUQSwoLcn2XXF) at {target}"
    ]
    if spec.folder != "imagenet":
        steps.append(f"(copy {source} if you have it)")
    steps.append(f"or run `python -m datasets.download --root {root} --dataset {spec.name} --metadata-only`.")
    return " ".join(steps)


def flat_val_message(spec: DatasetSpec, root: str, val_dir: str, n_files: int) -> str:
    """The fix for the most common ImageNet problem: val images not sorted into class folders."""
    return (
        f"{spec.name}: {val_dir} holds {n_files:,} loose images instead of 1000 class folders "
        "(the ILSVRC2012 val archive is flat).\n"
        f"Fix: sort them into <wnid>/ folders with `python -m datasets.download --root {root} "
        "--sort-imagenet-val LABELS`, where LABELS is ILSVRC2012_devkit_t12.tar.gz (from image-net.org) "
        "or Kaggle's LOC_val_solution.csv; or use any copy of ImageNet whose val/ has class folders."
    )


def list_imagenet(spec: DatasetSpec, root: str, image_dir: str, classnames: dict[str, str]) -> Split:
    """Train and test (= val) items from the class folders, labelled by sorted train folder."""
    train_dir, val_dir = osp.join(image_dir, "train"), osp.join(image_dir, "val")
    for folder in (train_dir, val_dir):
        if not osp.isdir(folder):
            hints = "".join(f"\nHint: {h}" for h in misplaced_hints(spec, root, folder))
            raise DatasetError(
                f"{spec.name}: {folder} not found.\n{fetch_instructions(spec, root, kinds=('images',))}{hints}"
            )
    train_folders = subdirs(train_dir)
    val_folders = subdirs(val_dir)
    if not val_folders:
        loose = len(list_images(val_dir))
        if loose:
            raise DatasetError(flat_val_message(spec, root, val_dir, loose))
    unknown = sorted(set(train_folders + val_folders) - set(classnames))
    if unknown:
        raise DatasetError(
            f"{spec.name}: {len(unknown)} folders under {image_dir} are not classes of classnames.txt: "
            f"{', '.join(unknown[:5])}. Fix: leave only the 1000 wnid folders in train/ and val/."
        )
    extra_val = sorted(set(val_folders) - set(train_folders))
    if extra_val:
        raise DatasetError(
            f"{spec.name}: val/ has classes that train/ lacks: {', '.join(extra_val[:5])}. "
            "Fix: complete images/train (an interrupted extraction?)."
        )
    label_of = {wnid: label for label, wnid in enumerate(train_folders)}
    split: Split = {"train": [], "test": []}
    for key, top, folders in (("train", train_dir, train_folders), ("test", val_dir, val_folders)):
        sub = osp.basename(top)
        for wnid in folders:
            split[key] += [
                (f"{sub}/{wnid}/{name}", label_of[wnid], classnames[wnid]) for name in list_images(osp.join(top, wnid))
            ]
    if not split["train"] or not split["test"]:
        raise DatasetError(f"{spec.name}: no images under {train_dir} or {val_dir}.\n{fetch_instructions(spec, root)}")
    return split


@DATASET_REGISTRY.register()
class ImageNet(DatasetBase):
    """1000 classes; the val set is used for validation and test."""

    spec = SPEC
    dataset_dir = SPEC.folder

    def __init__(self, cfg: Any):
        spec = self.spec
        self.template = spec.template
        subsample = check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all"))
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_folder(spec, root)
        self.image_dir = osp.join(self.dataset_dir, spec.image_subdir)
        self.preprocessed = osp.join(self.dataset_dir, CACHE_NAME)
        self.split_fewshot_dir = osp.join(self.dataset_dir, "split_fewshot")
        reject_split_file(cfg, spec)
        classnames = read_imagenet_classnames(spec, root)

        if osp.isfile(self.preprocessed):
            split, created = read_split(self.preprocessed, ("train", "test"), cache_fix(self.preprocessed)), False
        else:
            split, created = list_imagenet(spec, root, self.image_dir, classnames), True
        n_train = len({label for _, label, _ in split["train"]})
        n_test = len({label for _, label, _ in split["test"]})
        if n_train != spec.num_classes or n_test != n_train:
            _log.warning(
                f"WARNING: {self.image_dir} has {n_train} train and {n_test} val classes; the benchmark has "
                f"{spec.num_classes}. Labels follow the train folders present. "
                f"Run `{check_command(root, spec.name)}`."
            )
        datums = build_datums(spec, root, self.image_dir, split, self.preprocessed if not created else self.image_dir)
        if created:
            write_split(split, self.preprocessed, compact=True)
        train, test = datums["train"], datums["test"]
        # The listing (no randomness: sorted folders) and the class names define the data.
        self.data_files = {"split": self.preprocessed, "classnames": osp.join(self.dataset_dir, "classnames.txt")}

        num_shots = cfg.DATASET.NUM_SHOTS
        if num_shots >= 1:
            train, _ = load_or_sample_fewshot(
                self, self.split_fewshot_dir, self.image_dir, num_shots, cfg.SEED, train, None
            )
            self.data_files["fewshot"] = fewshot_cache_path(self.split_fewshot_dir, num_shots, cfg.SEED)
        train, test = subsample_classes(train, test, subsample=subsample)
        super().__init__(train_x=train, val=test, test=test)

    @classmethod
    def check_command(cls, cfg: Any) -> str:
        """The data check of this benchmark under ``DATASET.ROOT`` (named by the engine's image errors)."""
        return check_command(dataset_root(cfg), cls.spec.name)


class ImageNetFolderTestSet(DatasetBase):
    """A test-only ImageNet variant: class folders under one image folder plus ``classnames.txt``.

    As in CoOp, the test set is also passed as ``train_x`` (it defines the class names) and
    NUM_SHOTS / SUBSAMPLE_CLASSES do not apply. Subclasses set ``spec`` and ``dataset_dir`` and
    may override ``class_folders``.
    """

    spec: DatasetSpec
    dataset_dir = ""

    def __init__(self, cfg: Any):
        spec = self.spec
        self.template = spec.template
        if check_subsample(cfg.DATASET.get("SUBSAMPLE_CLASSES", "all")) != "all":
            _log.info(f"Note: {spec.name} is a test-only set; DATASET.SUBSAMPLE_CLASSES does not apply to it.")
        root = dataset_root(cfg)
        self.dataset_dir = require_dataset_folder(spec, root)
        self.image_dir = osp.join(self.dataset_dir, spec.image_subdir)
        reject_split_file(cfg, spec)
        items, n_folders = self.read_items(spec, root)
        self.data_files = {"classnames": osp.join(self.dataset_dir, "classnames.txt")}  # the labels
        if n_folders != spec.num_classes:
            _log.warning(
                f"WARNING: {self.image_dir} has {n_folders} class folders, the benchmark has {spec.num_classes}; "
                f"labels follow the folders present. Run `{check_command(root, spec.name)}`."
            )
        data = [Datum(impath=osp.join(self.image_dir, rel), label=label, classname=cname) for rel, label, cname in items]
        super().__init__(train_x=data, test=data)

    @classmethod
    def check_command(cls, cfg: Any) -> str:
        """The data check of this benchmark under ``DATASET.ROOT`` (named by the engine's image errors)."""
        return check_command(dataset_root(cfg), cls.spec.name)

    @classmethod
    def read_items(cls, spec: DatasetSpec, root: str) -> tuple[list[Item], int]:
        """Every image (path relative to the image folder, label, class name) and the number of
        class folders; errors name the file or folder to fix."""
        classnames = read_imagenet_classnames(spec, root)
        image_dir = osp.join(root, spec.image_dir_rel)
        if not osp.isdir(image_dir):
            hints = "".join(f"\nHint: {h}" for h in misplaced_hints(spec, root, image_dir))
            raise DatasetError(
                f"{spec.name}: the image folder {image_dir} does not exist.\n"
                + fetch_instructions(spec, root, kinds=("images",))
                + hints
            )
        folders = cls.class_folders(spec, image_dir, classnames)
        items: list[Item] = []
        for folder, label, classname in folders:
            items += [(f"{folder}/{name}", label, classname) for name in list_images(osp.join(image_dir, folder))]
        if not items:
            raise DatasetError(f"{spec.name}: no images under {image_dir}.\n{fetch_instructions(spec, root)}")
        return items, len(folders)

    @classmethod
    def class_folders(cls, spec: DatasetSpec, image_dir: str, classnames: dict[str, str]) -> list[tuple[str, int, str]]:
        """(folder, label, classname) per class: wnid folders, sorted, labelled in that order."""
        folders = subdirs(image_dir)
        unknown = [f for f in folders if f not in classnames]
        if unknown:
            raise DatasetError(
                f"{spec.name}: {len(unknown)} folders in {image_dir} are not ImageNet classes of its "
                f"classnames.txt: {', '.join(unknown[:5])}. "
                "Fix: leave only the wnid class folders there (and check that classnames.txt is CoOp's file)."
            )
        return [(folder, label, classnames[folder]) for label, folder in enumerate(folders)]


def _write_fake(image_dir: str, wnids, lines, n_train: int, n_test: int, write_image):
    """train/<wnid>/<wnid>_<k>.JPEG and val/<wnid>/ILSVRC2012_val_<n>.JPEG (val = test)."""
    names = dict(lines)
    val_index = 0
    for label, wnid in enumerate(wnids):
        for k in range(n_train):
            write_image(osp.join(image_dir, "train", wnid, f"{wnid}_{k + 1}.JPEG"), label)
        for _ in range(n_test):
            val_index += 1
            write_image(osp.join(image_dir, "val", wnid, f"ILSVRC2012_val_{val_index:08d}.JPEG"), label)
    n = len(wnids)
    return {"train": n_train * n, "val": n_test * n, "test": n_test * n}, [names[w] for w in wnids]


register_fake_tree(SPEC, WnidFakeTree(write=_write_fake))  # a fake copy (datasets.synthetic)
