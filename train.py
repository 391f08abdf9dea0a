"""Train or evaluate a CLIP prompt-tuning method (MuDPT, CoOp, CoCoOp, zero-shot CLIP).

Same command line as CoOp/CoCoOp/MaPLe's ``train.py``, plus ``--backend``, ``--restart`` and
``--verbose``::

    python train.py --root DATA --seed 1 --trainer MuDPT \
        --dataset-config-file configs/datasets/oxford_pets.yaml \
        --config-file configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml \
        --output-dir output/... DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base

The config is built by the config module (``runconfig.build_config``, merge order as in Dassl:
defaults, dataset yaml, method yaml, CLI flags, trailing ``KEY VALUE`` opts; flags may also come
after them) and checked there once. The output folder is bound to its run
(``engine.run_folder``): its ``config.yaml`` is the contract, a rerun resumes exactly, a
complete run is not run again, and a different run is refused unless ``--restart``.

Errors: bad input (``engine.errors.UserError``) prints one line, ``error: ...``, that says what
to fix, and exits 1; Ctrl-C (or SIGTERM) prints how to resume and exits 130; anything else is
a bug and keeps its traceback. Every fatal message also goes to the run's log.txt.
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import traceback
from dataclasses import dataclass
from typing import Any

DEBUG_ENV = "MUDPT_DEBUG"
EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C


def build_parser() -> argparse.ArgumentParser:
    # No "(default: ...)" added to every option: none has a default worth printing (empty, None,
    # False); where a default means something, its help text says it.
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
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
    p.add_argument("--eval-only", "--eval_only", action="store_true", help="evaluate only (the model of --model-dir)")
    p.add_argument("--model-dir", "--model_dir", type=str, default="", help="the output folder of the training run to evaluate")
    p.add_argument(
        "--load-epoch", "--load_epoch", type=int, default=None,
        help="evaluate model.pth.tar-<epoch> (default: model-best.pth.tar if the run kept one, else its last checkpoint)",
    )  # fmt: skip
    p.add_argument("--no-train", action="store_true", help="build everything but do not call trainer.train()")
    p.add_argument(
        "--restart", action="store_true",
        help="discard the run the output folder holds (its checkpoints; logs and config go to .previous/) and start afresh",
    )  # fmt: skip
    p.add_argument("--verbose", action="store_true", help="print every log line, the full config and system info (always in log.txt)")
    p.add_argument(
        "--backend",
        choices=("auto", "dassl", "builtin"),
        default=None,
        help="engine: real Dassl if installed (auto), Dassl, or the built-in engine (default: $MUDPT_BACKEND or auto)",
    )
    p.add_argument("opts", default=None, nargs="*", metavar="KEY VALUE", help="pairs that override the config")
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Flags may come before or after the ``KEY VALUE`` pairs."""
    return build_parser().parse_intermixed_args(argv)


def config_from_args(args: argparse.Namespace):
    """The run's config from the command line (``runconfig.build_config``), frozen and checked."""
    from runconfig import build_config

    return build_config(
        trainer=args.trainer, config_file=args.config_file, dataset_config_file=args.dataset_config_file, opts=args.opts or [],
        root=args.root, output_dir=args.output_dir, resume=args.resume, seed=args.seed, source_domains=args.source_domains,
        target_domains=args.target_domains, transforms=args.transforms, backbone=args.backbone, head=args.head,
    )  # fmt: skip


def check_run_options(cfg, args: argparse.Namespace) -> None:
    """The flags fit the trainer (checked before anything is built)."""
    from engine.seam import ConfigError
    from trainers.factory import trainer_class

    zero_shot = trainer_class(cfg.TRAINER.NAME).ZERO_SHOT
    if zero_shot and not args.eval_only and not args.no_train:
        raise ConfigError(f"{cfg.TRAINER.NAME} has nothing to train: add --eval-only.")
    if args.eval_only and not args.model_dir and not zero_shot:
        raise ConfigError(
            f"--eval-only needs --model-dir: the output folder of the {cfg.TRAINER.NAME} training run to evaluate "
            "(only zero-shot methods evaluate without one)."
        )
    if args.restart and args.no_train:
        raise ConfigError("--restart discards a run; --no-train runs nothing. Use one of them.")


def check_model_dir(cfg, args: argparse.Namespace):
    """The training run an evaluation reads (``--model-dir``) is one it may read: trained by this
    method, and complete unless ``--load-epoch`` asks for an epoch of it (the run folder's rule,
    shared with the analyses and the API). Returns what an explicit epoch of an unfinished run is
    (to say and record), else None."""
    from engine.seam import RunFolder
    from trainers.factory import trainer_class

    if not (args.eval_only and args.model_dir) or trainer_class(cfg.TRAINER.NAME).ZERO_SHOT:
        return None
    return RunFolder(args.model_dir).check_evaluable(args.load_epoch, trainer=cfg.TRAINER.NAME)


# ---------------------------------------------------------------------------------------------
# The console header
# ---------------------------------------------------------------------------------------------
def describe_task(cfg, args: argparse.Namespace) -> str:
    what = []
    if cfg.DATASET.get("SUBSAMPLE_CLASSES", "all") != "all":
        what.append(f"{cfg.DATASET.SUBSAMPLE_CLASSES} classes")
    if cfg.DATASET.NUM_SHOTS >= 1:
        what.append(f"{cfg.DATASET.NUM_SHOTS} shots")
    details = f" ({', '.join(what)})" if what else ""
    verb = "evaluating" if args.eval_only else "training"
    return f"{cfg.TRAINER.NAME} on {cfg.DATASET.NAME}{details}, seed {cfg.SEED}: {verb}"


def describe_data(trainer) -> str:
    dataset = trainer.dm.dataset
    sizes = [f"{len(dataset.train_x):,} train"] if dataset.train_x is not dataset.test else []
    sizes += [f"{len(dataset.val):,} val"] if dataset.val else []
    sizes.append(f"{len(dataset.test):,} test")
    return f"  data     {trainer.num_classes} classes; {', '.join(sizes)} images"


@dataclass
class _Run:
    """What main() needs to report a failure: the run folder (locked once set), whether this
    process opened an attempt in its record, and the kind of run."""

    folder: Any = None
    started: bool = False
    kind: str = "train"


def run(args: argparse.Namespace, state: _Run) -> int:
    import torch

    from engine.seam import (
        BACKEND,
        BACKEND_DESCRIPTION,
        CONSOLE,
        RunFolder,
        build_trainer,
        get_logger,
        log_file_path,
        set_random_seed,
        set_verbose,
        setup_logger,
    )

    from runconfig import bind_folder, check_same_split, data_inputs, data_root, run_inputs

    log = get_logger("train")
    set_verbose(args.verbose)
    cfg = config_from_args(args)
    check_run_options(cfg, args)
    unfinished = check_model_dir(cfg, args)
    kind = "eval" if args.eval_only else "train"
    root = data_root(cfg)
    binding = None
    if cfg.OUTPUT_DIR and not args.no_train:
        state.folder, state.kind = RunFolder(cfg.OUTPUT_DIR), kind
        inputs = run_inputs(cfg, args.model_dir if args.eval_only else "", args.load_epoch)
        binding = bind_folder(state.folder, cfg, kind, inputs, args.restart)
        if binding.action == "complete":
            log.info(binding.message, extra=CONSOLE)
            return 0
        state.folder.start(cfg.dump(), kind, ["train.py", *args.argv], inputs, binding)
        state.started = True
        if unfinished is not None:
            state.folder.update(unfinished_training=unfinished.record())
    elif cfg.OUTPUT_DIR:
        RunFolder(cfg.OUTPUT_DIR).make()  # --no-train writes its log there

    if cfg.SEED >= 0:
        set_random_seed(cfg.SEED)
    setup_logger(cfg.OUTPUT_DIR)  # Dassl's returns nothing: ask the tee where the log is
    log_name = os.path.basename(log_file_path() or "log.txt")
    if torch.cuda.is_available() and cfg.USE_CUDA:
        torch.backends.cudnn.benchmark = True

    log.info(describe_task(cfg, args), extra=CONSOLE)
    configs = ", ".join(filter(None, [args.config_file, args.dataset_config_file])) or "(defaults)"
    n_opts = len(args.opts or []) // 2
    log.info(f"  config   {configs}{f' + {n_opts} overrides' if n_opts else ''}", extra=CONSOLE)
    log.info(f"  engine   {BACKEND_DESCRIPTION}", extra=CONSOLE)
    log.info(f"  output   {cfg.OUTPUT_DIR} ({log_name} there has the full config and system info)", extra=CONSOLE)
    if binding is not None:
        log.info(f"  run      {binding.message}", extra=CONSOLE)
        if binding.action == "resume" and BACKEND == "dassl":
            log.warning("WARNING: under real Dassl, checkpoints hold no random-number state: the resumed run is not bitwise identical to an uninterrupted one.")
    if unfinished is not None:
        log.warning(unfinished.note())
    _log_details(args, cfg)

    trainer = build_trainer(cfg)
    log.info(describe_data(trainer), extra=CONSOLE)
    precision = getattr(trainer, "precision", None)
    log.info(f"  device   {trainer.device}{f', {precision}' if precision is not None else ''}", extra=CONSOLE)
    inputs = data_inputs(trainer.dm.dataset, root)
    log.info(f"Data files (sha256): {inputs or 'none'}")
    if state.started:
        note = state.folder.check_data(inputs)
        if note:
            log.info(note, extra=CONSOLE)
        state.folder.update(inputs=inputs)

    if args.eval_only:
        if args.model_dir:
            check_same_split(args.model_dir, cfg, inputs)
            trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
    elif not args.no_train:
        trainer.train()
        cost = getattr(trainer, "training_cost", lambda: None)()  # the engine's (real Dassl records none)
        if cost is not None:
            peak = "unknown" if cost["peak_memory_mb"] is None else f"{cost['peak_memory_mb']:,.0f} MB"
            log.info(
                f"Cost: {cost['trainable_params']:,} trainable parameters, {cost['train_ms_per_iter']:.1f} ms/iter "
                f"(median over {cost['epochs_timed']} timed epoch(s), the first left out when there are more, data loading included), peak memory "
                f"{peak} ({cost['memory_kind']})"
            )
            if state.started:
                state.folder.update(cost=cost)
    if state.started:
        state.folder.update(status="complete")
    return 0


def _log_details(args: argparse.Namespace, cfg) -> None:
    """Arguments, config and system info: into log.txt (and on the console with --verbose)."""
    from engine.seam import collect_env_info, get_logger

    log = get_logger("train")
    log.info("***************\n** Arguments **\n***************")
    for key in sorted(vars(args)):
        log.info(f"{key}: {getattr(args, key)}")
    log.info(f"************\n** Config **\n************\n{cfg}")
    log.info(f"** System info **\n{collect_env_info()}\n")


def _on_sigterm(signum, frame) -> None:
    raise KeyboardInterrupt("SIGTERM")


def _report(state: _Run, message: str, status: str, error: str) -> None:
    """A fatal message: on stderr, in log.txt, and in the run record."""
    from engine.seam import write_log_file

    print(message, file=sys.stderr)
    write_log_file(message)
    if state.started:
        state.folder.update(status=status, error=error)


def _interrupted_message(state: _Run) -> str:
    folder = state.folder
    if not state.started:
        return "Interrupted."
    if state.kind == "eval":
        return "Interrupted. Rerun the same command to evaluate again."
    epoch = folder.last_epoch()
    if epoch is None:
        return (
            "Interrupted before the first checkpoint: rerunning the same command starts from scratch "
            "(TRAIN.CHECKPOINT_FREQ 1 keeps a checkpoint every epoch)."
        )
    return f"Interrupted. Rerun the same command to resume from the checkpoint of epoch {epoch} in {folder.path}."


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.backend:
        os.environ["MUDPT_BACKEND"] = args.backend  # read by engine.seam at first import
    from engine.errors import UserError

    state = _Run()
    # SIGTERM (a scheduler's polite stop) ends the run like Ctrl-C, with a resumable record.
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = (signal.signal(signal.SIGTERM, _on_sigterm), signal.getsignal(signal.SIGINT)) if in_main_thread else None
    try:
        return run(args, state)
    except UserError as e:
        if os.environ.get(DEBUG_ENV):
            raise
        _report(state, f"error: {e}", "failed", str(e).splitlines()[0])
        return 1
    except KeyboardInterrupt:
        if in_main_thread:  # a second Ctrl-C (or a runner passing the first one on) must not cut the record short
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        _report(state, _interrupted_message(state), "interrupted", "interrupted")
        return EXIT_INTERRUPTED
    except Exception as e:
        # A bug or an environment fault, not bad input: the whole traceback, in log.txt too.
        text = traceback.format_exc()
        _report(state, text.rstrip(), "failed", f"{type(e).__name__}: {e}".splitlines()[0])
        return 1
    finally:
        from engine.seam import close_logger

        close_logger()
        if state.folder is not None:
            state.folder.unlock()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous[0])
            signal.signal(signal.SIGINT, previous[1])


if __name__ == "__main__":
    sys.exit(main())
