"""Train or evaluate a CLIP prompt-tuning method (MuDPT, CoOp, CoCoOp, zero-shot CLIP).

Same command line as CoOp/CoCoOp/MaPLe's ``train.py``, plus ``--backend``::

    python train.py --root DATA --seed 1 --trainer MuDPT \
        --dataset-config-file configs/datasets/oxford_pets.yaml \
        --config-file configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml \
        --output-dir output/... DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base

Config merge order (as in Dassl): defaults, dataset yaml, method yaml, CLI flags, trailing
``KEY VALUE`` opts. The frozen config is written to ``<output-dir>/config.yaml``.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

DEBUG_ENV = "MUDPT_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--root", type=str, default="", help="path to the datasets root (DATASET.ROOT)")
    p.add_argument("--output-dir", "--output_dir", type=str, default="", help="output directory (OUTPUT_DIR)")
    p.add_argument("--resume", type=str, default="", help="checkpoint directory to resume from (default: the output dir)")
    p.add_argument("--seed", type=int, default=None, help="random seed; also selects the few-shot subset (>= 0 to fix it)")
    p.add_argument("--source-domains", type=str, nargs="+", help="source domains (DA/DG datasets only)")
    p.add_argument("--target-domains", type=str, nargs="+", help="target domains (DA/DG datasets only)")
    p.add_argument("--transforms", type=str, nargs="+", help="data augmentation names (INPUT.TRANSFORMS)")
    p.add_argument("--config-file", type=str, default="", help="method config (configs/trainers/<Trainer>/*.yaml)")
    p.add_argument("--dataset-config-file", type=str, default="", help="dataset config (configs/datasets/*.yaml)")
    p.add_argument("--trainer", type=str, default="", help="trainer name (TRAINER.NAME), e.g. MuDPT, CoOp, CoCoOp, ZeroshotCLIP")
    p.add_argument("--backbone", type=str, default="", help="CLIP backbone name (MODEL.BACKBONE.NAME), e.g. ViT-B/16")
    p.add_argument("--head", type=str, default="", help="head name (MODEL.HEAD.NAME; unused by CLIP trainers)")
    p.add_argument("--eval-only", "--eval_only", action="store_true", help="evaluate only (load --model-dir first)")
    p.add_argument("--model-dir", "--model_dir", type=str, default="", help="load the model from this output directory")
    p.add_argument("--load-epoch", "--load_epoch", type=int, default=None, help="load model.pth.tar-<epoch> (default: model-best)")
    p.add_argument("--no-train", action="store_true", help="build everything but do not call trainer.train()")
    p.add_argument(
        "--backend",
        choices=("auto", "dassl", "builtin"),
        default=None,
        help="engine: real Dassl if installed (auto), Dassl, or the built-in engine (default: $MUDPT_BACKEND or auto)",
    )
    p.add_argument("opts", default=None, nargs=argparse.REMAINDER, help="KEY VALUE pairs that override the config")
    return p


def _merge_file(cfg, path: str, kind: str) -> None:
    """merge_from_file with an error that names the file, the key and the fix."""
    from engine.registry import closest_names

    if not os.path.isfile(path):
        raise FileNotFoundError(f"{kind} config file not found: {path}")
    try:
        cfg.merge_from_file(path)
    except KeyError as e:
        key = str(e.args[0]).replace("Non-existent config key: ", "") if e.args else str(e)
        parent, _, leaf = key.rpartition(".")
        node = cfg
        for part in filter(None, parent.split(".")):
            node = node.get(part, {}) if hasattr(node, "get") else {}
        known = list(node.keys()) if hasattr(node, "keys") else []
        hint = f" Did you mean {parent + '.' if parent else ''}{closest_names(leaf, known)[0]}?" if closest_names(leaf, known) else ""
        raise KeyError(
            f"Unknown config key {key} in {path}.{hint} Known keys under {parent or 'the root'}: {', '.join(known)}."
        ) from None
    except ValueError as e:
        raise ValueError(f"{path}: {e}. Write the value with the default's type (e.g. 1.0 for a float, (224, 224) for a tuple).") from None


def setup_cfg(args: argparse.Namespace):
    """Defaults + project keys, dataset yaml, method yaml, CLI flags, opts; frozen."""
    import datasets
    import trainers
    from engine.seam import get_cfg_default

    cfg = get_cfg_default()
    datasets.add_dataset_config(cfg)
    trainers.add_trainer_config(cfg)
    if args.dataset_config_file:
        _merge_file(cfg, args.dataset_config_file, "dataset")
    if args.config_file:
        _merge_file(cfg, args.config_file, "method")

    if args.root:
        cfg.DATASET.ROOT = args.root
    if args.output_dir:
        cfg.OUTPUT_DIR = args.output_dir
    if args.resume:
        cfg.RESUME = args.resume
    if args.seed is not None:  # CoOp's `if args.seed:` silently ignored --seed 0
        cfg.SEED = args.seed
    if args.source_domains:
        cfg.DATASET.SOURCE_DOMAINS = args.source_domains
    if args.target_domains:
        cfg.DATASET.TARGET_DOMAINS = args.target_domains
    if args.transforms:
        cfg.INPUT.TRANSFORMS = args.transforms
    if args.trainer:
        cfg.TRAINER.NAME = args.trainer
    if args.backbone:
        cfg.MODEL.BACKBONE.NAME = args.backbone
    if args.head:
        cfg.MODEL.HEAD.NAME = args.head

    opts = list(args.opts or [])
    if opts and opts[0] == "--":
        opts = opts[1:]
    if len(opts) % 2:
        raise ValueError(f"Config overrides come in KEY VALUE pairs; got an odd list: {opts}")
    try:
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs: "Non-existent key: X"
        raise KeyError(f"{e} (in the command-line overrides). Check the spelling; keys are case-sensitive, e.g. DATASET.NUM_SHOTS.") from None
    except ValueError as e:
        raise ValueError(f"command-line override: {e}. Write the value with the default's type.") from None
    cfg.freeze()
    datasets.check_dataset_config(cfg)
    return cfg


def check_required(cfg) -> None:
    """The trainer and dataset must be given and known (checked before anything is built)."""
    from engine.registry import unknown_name_message
    from engine.seam import TRAINER_REGISTRY

    names = TRAINER_REGISTRY.registered_names()
    if not cfg.TRAINER.NAME:
        raise ValueError(f"No trainer given: pass --trainer (one of {', '.join(sorted(names))}).")
    if cfg.TRAINER.NAME not in names:
        raise ValueError(unknown_name_message("trainer", cfg.TRAINER.NAME, names, "--trainer / TRAINER.NAME"))
    if not cfg.DATASET.NAME:
        raise ValueError("No dataset given: pass --dataset-config-file configs/datasets/<name>.yaml.")


def print_args(args: argparse.Namespace, cfg, log) -> None:
    log.info("***************")
    log.info("** Arguments **")
    log.info("***************")
    for key in sorted(vars(args)):
        log.info(f"{key}: {getattr(args, key)}")
    log.info("************")
    log.info("** Config **")
    log.info("************")
    log.info(str(cfg))


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.backend:
        os.environ["MUDPT_BACKEND"] = args.backend  # read by engine.seam at first import
    try:
        return run(args)
    except Exception as e:
        if os.environ.get(DEBUG_ENV):
            raise
        if not _is_user_error(e):  # a bug, not bad input: keep the traceback
            traceback.print_exc()
        message = e.args[0] if isinstance(e, KeyError) and e.args else e
        print(f"error: {message}", file=sys.stderr)
        if _is_user_error(e):
            print(f"(set {DEBUG_ENV}=1 to see the traceback)", file=sys.stderr)
        return 1


def _is_user_error(e: Exception) -> bool:
    """Errors caused by bad input (config, data, weights): shown as one message."""
    from datasets import DatasetError
    from trainers.clip_loader import CLIPLoadError

    return isinstance(e, (ValueError, KeyError, FileNotFoundError, ImportError, CLIPLoadError, DatasetError))


def run(args: argparse.Namespace) -> int:
    import torch

    from engine.seam import (
        BACKEND_DESCRIPTION,
        atomic_write_text,
        build_trainer,
        collect_env_info,
        get_logger,
        set_random_seed,
        setup_logger,
    )

    log = get_logger("train")
    cfg = setup_cfg(args)
    check_required(cfg)
    if cfg.SEED >= 0:
        log.info(f"Setting fixed seed: {cfg.SEED}")
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True

    print_args(args, cfg, log)
    log.info(f"Engine backend: {BACKEND_DESCRIPTION}")
    log.info("Collecting env info ...")
    log.info(f"** System info **\n{collect_env_info()}\n")
    if cfg.OUTPUT_DIR:
        atomic_write_text(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), cfg.dump())

    trainer = build_trainer(cfg)
    if args.eval_only:
        trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
        return 0
    if not args.no_train:
        trainer.train()
    return 0


if __name__ == "__main__":
    sys.exit(main())
