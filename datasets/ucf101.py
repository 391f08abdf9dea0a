"""UCF101 (Soomro et al., 2012) as middle video frames, read as in CoOp (arXiv 2109.01134).

Layout: ``ucf101/UCF-101-midframes/<Action_Name>/*.jpg`` + ``split_zhou_UCF101.json``. To draw a
split without the split file (``datasets.make_split``), the official list 01
(``ucfTrainTestlist/trainlist01.txt``) is split 80/20 into train/val and ``testlist01.txt`` is the
test set; class names split CamelCase with underscores.
"""
from __future__ import annotations

import os.path as osp
import re

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .download_specs import GDRIVE, Artifact, Checksum, split_artifact
from .errors import DatasetError
from .fake_trees import FakeTree, register_fake_tree, write_lines
from .hints import DRAW_SPLIT, require_files
from .specs import DatasetSpec, register_spec
from .split_files import Item

SPEC = register_spec(
    DatasetSpec(
        name="UCF101",
        config="ucf101",
        display_name="UCF101",
        template="a photo of a person doing {}.",
        protocols=("base2new", "fewshot", "xd_target"),
        order=10,
        folder="ucf101",
        image_subdir="UCF-101-midframes",
        split_file="split_zhou_UCF101.json",
        num_classes=101,
        counts={"train": 7639, "val": 1898, "test": 3783},
        layout=(
            "ucf101/\n"
            "  UCF-101-midframes/<Action_Name>/*.jpg   (one middle frame per video)\n"
            "  ucfTrainTestlist/classInd.txt, trainlist01.txt, testlist01.txt   (only needed without the split file)\n"
            "  split_zhou_UCF101.json"
        ),
        metadata=("ucfTrainTestlist/classInd.txt", "ucfTrainTestlist/trainlist01.txt", "ucfTrainTestlist/testlist01.txt"),
        artifacts=(
            split_artifact("ucf101", "split_zhou_UCF101.json", "1I0S0q91hJfsV9Gf4xDIjgDq4AqBNJb1y"),
            Artifact(
                description="middle frames archive (CoOp's UCF-101-midframes.zip)",
                filename="UCF-101-midframes.zip",
                urls=(GDRIVE + "10Jqome3vtUA2keJkNanAiFpgbyC9Hc2O",),
                target="ucf101/UCF-101-midframes",
                # No checksum is published for CoOp's Drive file: the data check run after
                # unpacking verifies its content (every image the split file lists is there).
                unpack=(("UCF-101-midframes", "ucf101/UCF-101-midframes"),),
                kind="images",
            ),
            Artifact(
                description="official train/test lists",
                filename="UCF101TrainTestSplits-RecognitionTask.zip",
                urls=("https://www.crcv.ucf.edu/data/UCF101/UCF101TrainTestSplits-RecognitionTask.zip",),
                target="ucf101/ucfTrainTestlist",
                checksums=(
                    Checksum(
                        "sha256",
                        "5c0d1a53b8ed364a2ac830a73f405e51bece7d98ce1254fd19ed4a36b224bd27",
                        "TensorFlow Datasets (ucf101 url_checksums)",
                    ),
                ),
                unpack=(("ucfTrainTestlist", "ucf101/ucfTrainTestlist"),),
                note="only needed without the split file",
            ),
        ),
    )
)


def ucf_classname(action: str) -> str:
    """CoOp's class name (and frame folder) of an action: ``ApplyEyeMakeup`` -> ``Apply_Eye_Makeup``."""
    return "_".join(re.findall("[A-Z][^A-Z]*", action))


def read_ucf_list(path: str, cname2lab: dict[str, int]) -> list[Item]:
    """Items of an official list (lines ``Action/v_Action_gXX_cYY.avi [label]``)."""
    items: list[Item] = []
    unknown: list[str] = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            entry = line.strip().split(" ")[0]
            if not entry:
                continue
            action, _, filename = entry.partition("/")
            if action not in cname2lab:
                unknown.append(entry)
                continue
            renamed = ucf_classname(action)
            items.append((f"{renamed}/{filename.replace('.avi', '.jpg')}", cname2lab[action], renamed))
    if unknown:
        raise DatasetError(f"UCF101: {path} lists actions missing from classInd.txt: {unknown[:5]}")
    return items


@DATASET_REGISTRY.register()
class UCF101(CoOpSplitReader):
    """101 human actions (one frame per video)."""

    spec = SPEC
    dataset_dir = SPEC.folder

    @classmethod
    def read_source(cls, spec: DatasetSpec, root: str) -> tuple[dict[str, list[Item]], str]:
        require_files(spec, root, spec.metadata, DRAW_SPLIT)
        list_dir = osp.join(root, spec.folder, "ucfTrainTestlist")
        cname2lab = {}
        with open(osp.join(list_dir, "classInd.txt"), encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    label, action = line.strip().split(" ")
                    cname2lab[action] = int(label) - 1
        trainval = read_ucf_list(osp.join(list_dir, "trainlist01.txt"), cname2lab)
        test = read_ucf_list(osp.join(list_dir, "testlist01.txt"), cname2lab)
        return {"trainval": trainval, "test": test}, list_dir


def _fake_video(im) -> str:
    return f"v_{im.raw}_g{im.k + 1:02d}_c01"


def _fake_lists(dataset_dir: str, classes: list[str], written) -> None:
    """ucfTrainTestlist/: classInd.txt, trainlist01.txt (``<avi> <id>``) and testlist01.txt."""
    list_dir = osp.join(dataset_dir, "ucfTrainTestlist")
    write_lines(osp.join(list_dir, "classInd.txt"), [f"{i + 1} {c}" for i, c in enumerate(classes)])
    train = [f"{im.raw}/{_fake_video(im)}.avi {im.label + 1}" for im, _ in written if im.part != "test"]
    write_lines(osp.join(list_dir, "trainlist01.txt"), train)
    write_lines(osp.join(list_dir, "testlist01.txt"), [f"{im.raw}/{_fake_video(im)}.avi" for im, _ in written if im.part == "test"])


# A fake copy (datasets.synthetic): CoOp's mid-frames (<Class_Name>/<video>.jpg) and the official lists.
register_fake_tree(SPEC, FakeTree(
    classes=("ApplyEyeMakeup", "ApplyLipstick", "Archery", "BabyCrawling", "BalanceBeam", "BandMarching"),
    image=lambda im, _: f"{im.cname}/{_fake_video(im)}.jpg",
    extra_class=lambda i: f"Synthetic{chr(ord('A') + i % 26)}Action{i:03d}",
    classname=ucf_classname,
    drawn="trainval",
    metadata=_fake_lists,
))  # fmt: skip
