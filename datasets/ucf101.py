"""UCF101 (Soomro et al., 2012) as middle video frames, read as in CoOp (arXiv 2109.01134).

Layout: ``ucf101/UCF-101-midframes/<Action_Name>/*.jpg`` + ``split_zhou_UCF101.json``. Without
the split file, the official list 01 (``ucfTrainTestlist/trainlist01.txt``) is split 80/20 into
train/val and ``testlist01.txt`` is the test set; class names split CamelCase with underscores.
"""
from __future__ import annotations

import os.path as osp
import re

from engine.seam import DATASET_REGISTRY

from .base import CoOpSplitReader
from .common import DRAW_SPLIT, DatasetError, Item, require_files
from .specs import DatasetSpec


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

    spec_name = "UCF101"
    dataset_dir = "ucf101"

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
