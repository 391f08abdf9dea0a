"""Tests for engine.config: the Dassl-compatible defaults tree and the yacs
behaviours that CoOp-family configs and command lines rely on."""

from pathlib import Path

import pytest
from yacs.config import CfgNode

from engine.config import get_cfg_default

# Leaf (non-node) keys in the defaults tree. Checked against real Dassl.pytorch
# c61a1b5 (dassl.config.get_cfg_default()): same keys, values and value types.
DASSL_LEAF_KEY_COUNT = 135

# Dassl's trainer nodes for domain adaptation, domain generalisation and
# semi-supervised learning, kept so the printed config matches real Dassl.
DASSL_TRAINER_NODES = {
    "MCD", "MME", "CDAC", "SE", "M3SDA", "DAEL",
    "CROSSGRAD", "DDAIG", "DAELDG", "DOMAINMIX",
    "ENTMIN", "MEANTEACHER", "MIXMATCH", "FIXMATCH",
}

# Same content as CoOp's configs/trainers/CoOp/vit_b16_ep50.yaml.
COOP_VIT_B16_EP50_YAML = """\
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 32
  TEST:
    BATCH_SIZE: 100
  NUM_WORKERS: 8

INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]

OPTIM:
  NAME: "sgd"
  LR: 0.002
  MAX_EPOCH: 50
  LR_SCHEDULER: "cosine"
  WARMUP_EPOCH: 1
  WARMUP_TYPE: "constant"
  WARMUP_CONS_LR: 1e-5

TRAIN:
  PRINT_FREQ: 5

MODEL:
  BACKBONE:
    NAME: "ViT-B/16"
"""

# Same content as CoOp's configs/trainers/CoOp/rn50_val.yaml.
COOP_RN50_VAL_YAML = """\
DATALOADER:
  TRAIN_X:
    BATCH_SIZE: 200
  TEST:
    BATCH_SIZE: 200
  NUM_WORKERS: 8

INPUT:
  SIZE: (224, 224)
  INTERPOLATION: "bicubic"
  PIXEL_MEAN: [0.48145466, 0.4578275, 0.40821073]
  PIXEL_STD: [0.26862954, 0.26130258, 0.27577711]
  TRANSFORMS: ["random_resized_crop", "random_flip", "normalize"]

MODEL:
  BACKBONE:
    NAME: "RN50"
"""

# Same content as CoOp's configs/datasets/eurosat.yaml.
EUROSAT_DATASET_YAML = """\
DATASET:
  NAME: "EuroSAT"
"""


def _count_leaves(node: CfgNode) -> int:
    return sum(_count_leaves(v) if isinstance(v, CfgNode) else 1 for v in node.values())


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_each_call_returns_an_independent_tree():
    first = get_cfg_default()
    first.OPTIM.LR = 0.5
    first.INPUT.PIXEL_MEAN.append(1.0)
    first.TRAINER.NEW_NODE = CfgNode()
    first.freeze()

    second = get_cfg_default()
    assert second.OPTIM.LR == 0.0003
    assert second.INPUT.PIXEL_MEAN == [0.485, 0.456, 0.406]
    assert "NEW_NODE" not in second.TRAINER
    assert not second.is_frozen()
    second.SEED = 1  # mutable even though an earlier copy was frozen


@pytest.mark.parametrize(
    "key, expected",
    [
        ("VERSION", 1),
        ("OUTPUT_DIR", "./output"),
        ("SEED", -1),
        ("USE_CUDA", True),
        ("INPUT.SIZE", (224, 224)),
        ("INPUT.INTERPOLATION", "bilinear"),
        ("INPUT.TRANSFORMS", ()),
        ("INPUT.PIXEL_MEAN", [0.485, 0.456, 0.406]),
        ("INPUT.RRCROP_SCALE", (0.08, 1.0)),
        ("DATASET.NUM_SHOTS", -1),
        ("DATASET.SOURCE_DOMAINS", ()),
        ("DATALOADER.NUM_WORKERS", 4),
        ("DATALOADER.TRAIN_X.SAMPLER", "RandomSampler"),
        ("DATALOADER.TEST.SAMPLER", "SequentialSampler"),
        ("DATALOADER.TEST.BATCH_SIZE", 32),
        ("MODEL.BACKBONE.PRETRAINED", True),
        ("OPTIM.NAME", "adam"),
        ("OPTIM.LR", 0.0003),
        ("OPTIM.WEIGHT_DECAY", 0.0005),
        ("OPTIM.SGD_DAMPNING", 0),
        ("OPTIM.STEPSIZE", (-1,)),
        ("OPTIM.MAX_EPOCH", 10),
        ("OPTIM.WARMUP_EPOCH", -1),
        ("OPTIM.WARMUP_TYPE", "linear"),
        ("OPTIM.WARMUP_CONS_LR", 1e-05),
        ("OPTIM.WARMUP_MIN_LR", 1e-05),
        ("TRAIN.CHECKPOINT_FREQ", 0),
        ("TRAIN.PRINT_FREQ", 10),
        ("TEST.EVALUATOR", "Classification"),
        ("TEST.SPLIT", "test"),
        ("TEST.FINAL_MODEL", "last_step"),
        ("TRAINER.NAME", ""),
        ("TRAINER.MIXMATCH.RAMPUP", 20000),
        ("TRAINER.ENTMIN.LMDA", 0.001),
    ],
)
def test_spot_values_and_types_match_dassl(key, expected):
    value = get_cfg_default()
    for part in key.split("."):
        value = value[part]
    assert value == expected
    # yacs type-checks overrides against the default, so the type is part of the contract.
    assert type(value) is type(expected)


def test_leaf_count_and_trainer_nodes_match_dassl():
    cfg = get_cfg_default()
    assert _count_leaves(cfg) == DASSL_LEAF_KEY_COUNT
    assert set(cfg.keys()) == {
        "VERSION", "OUTPUT_DIR", "RESUME", "SEED", "USE_CUDA", "VERBOSE",
        "INPUT", "DATASET", "DATALOADER", "MODEL", "OPTIM", "TRAIN", "TEST", "TRAINER",
    }
    assert set(cfg.TRAINER.keys()) == DASSL_TRAINER_NODES | {"NAME"}


def test_unknown_yaml_key_is_rejected(tmp_path):
    cfg = get_cfg_default()
    path = _write(tmp_path, "bad.yaml", "OPTIM:\n  LEARNING_RATE: 0.1\n")
    with pytest.raises(KeyError, match="Non-existent config key: OPTIM.LEARNING_RATE"):
        cfg.merge_from_file(path)


def test_unknown_opts_key_is_rejected():
    cfg = get_cfg_default()
    with pytest.raises(AssertionError, match="Non-existent key: OPTIM.LEARNING_RATE"):
        cfg.merge_from_list(["OPTIM.LEARNING_RATE", "0.1"])


def test_int_for_float_default_is_a_type_mismatch():
    cfg = get_cfg_default()
    with pytest.raises(ValueError, match="Type mismatch"):
        cfg.merge_from_list(["OPTIM.LR", "1"])
    with pytest.raises(ValueError, match="Type mismatch"):
        cfg.merge_from_list(["OPTIM.MAX_EPOCH", "2.0"])


def test_opts_strings_are_literal_evaluated():
    cfg = get_cfg_default()
    cfg.merge_from_list(["INPUT.SIZE", "(32, 32)", "USE_CUDA", "False", "OPTIM.LR", "0.0025"])
    assert cfg.INPUT.SIZE == (32, 32)
    assert cfg.USE_CUDA is False
    assert cfg.OPTIM.LR == 0.0025


def test_yaml_list_for_tuple_default_becomes_tuple(tmp_path):
    cfg = get_cfg_default()
    cfg.merge_from_file(_write(tmp_path, "t.yaml", 'INPUT:\n  TRANSFORMS: ["random_flip", "normalize"]\n'))
    assert cfg.INPUT.TRANSFORMS == ("random_flip", "normalize")


def test_coop_dataset_and_trainer_yaml_merge(tmp_path):
    cfg = get_cfg_default()
    cfg.merge_from_file(_write(tmp_path, "eurosat.yaml", EUROSAT_DATASET_YAML))
    cfg.merge_from_file(_write(tmp_path, "vit_b16_ep50.yaml", COOP_VIT_B16_EP50_YAML))
    cfg.freeze()

    assert cfg.DATASET.NAME == "EuroSAT"
    assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 32
    assert cfg.DATALOADER.TEST.BATCH_SIZE == 100
    assert cfg.DATALOADER.NUM_WORKERS == 8
    assert cfg.INPUT.SIZE == (224, 224)
    assert cfg.INPUT.INTERPOLATION == "bicubic"
    assert cfg.INPUT.PIXEL_MEAN == [0.48145466, 0.4578275, 0.40821073]
    assert cfg.INPUT.PIXEL_STD == [0.26862954, 0.26130258, 0.27577711]
    assert cfg.INPUT.TRANSFORMS == ("random_resized_crop", "random_flip", "normalize")
    assert cfg.OPTIM.NAME == "sgd"
    assert cfg.OPTIM.LR == 0.002
    assert cfg.OPTIM.MAX_EPOCH == 50
    assert cfg.OPTIM.LR_SCHEDULER == "cosine"
    assert cfg.OPTIM.WARMUP_EPOCH == 1
    assert cfg.OPTIM.WARMUP_TYPE == "constant"
    # PyYAML reads 1e-5 as a string; yacs literal-evaluates it to a float.
    assert cfg.OPTIM.WARMUP_CONS_LR == 1e-05
    assert type(cfg.OPTIM.WARMUP_CONS_LR) is float
    assert cfg.TRAIN.PRINT_FREQ == 5
    assert cfg.MODEL.BACKBONE.NAME == "ViT-B/16"
    # Keys the yaml does not mention keep their defaults.
    assert cfg.OPTIM.WEIGHT_DECAY == 0.0005
    assert cfg.DATALOADER.TRAIN_X.SAMPLER == "RandomSampler"


def test_coop_rn50_val_yaml_merge(tmp_path):
    cfg = get_cfg_default()
    cfg.merge_from_file(_write(tmp_path, "rn50_val.yaml", COOP_RN50_VAL_YAML))
    assert cfg.DATALOADER.TRAIN_X.BATCH_SIZE == 200
    assert cfg.DATALOADER.TEST.BATCH_SIZE == 200
    assert cfg.MODEL.BACKBONE.NAME == "RN50"
    assert cfg.OPTIM.NAME == "adam"  # rn50_val sets no optimiser


def test_dump_round_trips(tmp_path):
    cfg = get_cfg_default()
    path = _write(tmp_path, "dumped.yaml", cfg.dump())
    reloaded = get_cfg_default()
    reloaded.SEED = 7
    reloaded.merge_from_file(path)
    assert reloaded == cfg
