"""Train or evaluate a CLIP prompt-tuning method (MuDPT, CoOp, CoCoOp, zero-shot CLIP).

Same command line as CoOp/CoCoOp/MaPLe's ``train.py``, plus ``--backend``, ``--restart`` and
``--verbose``::

    python train.py --root DATA --seed 1 --trainer MuDPT \
        --dataset-config-file configs/datasets/oxford_pets.yaml \
        --config-file configs/trainers/MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml \
        --output-dir output/... DATASET.NUM_SHOTS 16 DATASET.SUBSAMPLE_CLASSES base

Config merge order (as in Dassl): defaults, dataset yaml, method yaml, CLI flags, trailing
``KEY VALUE`` opts (flags may also come after them). The output folder is bound to its run
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


def official_keys(trainer: str):
    """(official node, our node, value converter) for a trainer whose official code keeps its keys
    in another method's node (KgCoOp: ``TRAINER.COOP``), else None: an official yaml or command line
    then trains with this ``train.py`` unchanged."""
    if not trainer:
        return None
    from engine.seam import TRAINER_REGISTRY

    if trainer not in TRAINER_REGISTRY.registered_names():
        return None
    cls = TRAINER_REGISTRY.get(trainer)
    node = getattr(cls, "OFFICIAL_NODE", "")
    if not node:
        return None
    return node, cls.CFG_NODE, sys.modules[cls.__module__].official_value


def _official_opts(opts: list[str], trainer: str) -> list[str]:
    """``TRAINER.<official node>.KEY VALUE`` pairs as ``TRAINER.<node>.KEY VALUE`` (see official_keys)."""
    alias = official_keys(trainer)
    if alias is None:
        return opts
    node, ours, convert = alias
    prefix = f"TRAINER.{node}."
    out = list(opts)
    for i in range(0, len(out) - 1, 2):
        if out[i].startswith(prefix):
            key = out[i][len(prefix) :]
            out[i] = f"TRAINER.{ours}.{key}"
            if key == "CTX_INIT" and out[i + 1] in ("True", "False"):
                out[i + 1] = convert(key, out[i + 1] == "True")
    return out


def merge_file(cfg, path: str, kind: str, trainer: str = "") -> None:
    """merge_from_file with an error that names the file (and line), the key and the fix. For a
    trainer with official keys elsewhere (see official_keys), an official file's keys of that node
    go to the trainer's node (a file that has the trainer's own node is merged as it is)."""
    import yaml

    from engine.registry import closest_names
    from engine.seam import ConfigError

    if not os.path.isfile(path):
        raise ConfigError(f"{kind} config file not found: {path}")
    try:
        alias = official_keys(trainer)
        if alias is None:
            cfg.merge_from_file(path)
        else:
            node, ours, convert = alias
            with open(path, encoding="utf-8") as f:
                loaded = type(cfg).load_cfg(f)
            trainer_node = loaded.get("TRAINER", {})
            # An official file has the official node only; a full config (a run's config.yaml) has both.
            official = trainer_node.pop(node, None) if ours not in trainer_node else None
            if official:
                loaded.TRAINER.setdefault(ours, type(cfg)())
                for key, value in official.items():
                    loaded.TRAINER[ours][key] = convert(key, value)
            cfg.merge_from_other_cfg(loaded)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}, line {mark.line + 1}, column {mark.column + 1}" if mark is not None else path
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{where}: not valid YAML ({problem}). Fix the syntax there (indentation, brackets, quotes).") from None
    except KeyError as e:
        key = str(e.args[0]).replace("Non-existent config key: ", "") if e.args else str(e)
        parent, _, leaf = key.rpartition(".")
        node = cfg
        for part in filter(None, parent.split(".")):
            node = node.get(part, {}) if hasattr(node, "get") else {}
        known = list(node.keys()) if hasattr(node, "keys") else []
        hint = f" Did you mean {parent + '.' if parent else ''}{closest_names(leaf, known)[0]}?" if closest_names(leaf, known) else ""
        parts = key.split(".")
        own = trainer.upper()
        if trainer and len(parts) > 2 and parts[0] == "TRAINER" and parts[1] != own:
            hint += f" (This run's trainer, {trainer}, reads TRAINER.{own}.*: is the file written for another method?)"
        raise ConfigError(
            f"Unknown config key {key} in {path}.{hint} Known keys under {parent or 'the root'}: {', '.join(known)}."
        ) from None
    except ValueError as e:
        raise ConfigError(f"{path}: {e}. Write the value with the default's type (e.g. 1.0 for a float, (224, 224) for a tuple).") from None
    except AssertionError as e:  # yacs: the file is not a mapping of keys
        raise ConfigError(f"{path} is not a config file: {e or 'expected KEY: value mappings'}.") from None


def setup_cfg(args: argparse.Namespace):
    """Defaults + project keys, dataset yaml, method yaml, CLI flags, opts; frozen."""
    import datasets

    cfg = default_cfg()
    if args.dataset_config_file:
        merge_file(cfg, args.dataset_config_file, "dataset", args.trainer)
    if args.config_file:
        merge_file(cfg, args.config_file, "method", args.trainer)

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

    merge_overrides(cfg, _official_opts(args.opts or [], args.trainer))
    datasets.check_dataset_config(cfg)  # before freezing: it writes DATASET.FOLDER in one spelling
    cfg.freeze()
    return cfg


def merge_overrides(cfg, opts: list[str]) -> None:
    """Merge ``KEY VALUE`` pairs into ``cfg`` with errors that say what to fix."""
    from engine.seam import ConfigError

    opts = list(opts)
    if opts and opts[0] == "--":
        opts = opts[1:]
    if len(opts) % 2:
        raise ConfigError(f"Config overrides come in KEY VALUE pairs; got an odd list: {opts}")
    try:
        cfg.merge_from_list(opts)
    except AssertionError as e:  # yacs: "Non-existent key: X"
        raise ConfigError(f"{e} (in the command-line overrides). Check the spelling; keys are case-sensitive, e.g. DATASET.NUM_SHOTS.") from None
    except ValueError as e:
        raise ConfigError(f"command-line override: {e}. Write the value with the default's type.") from None


def default_cfg():
    """Dassl's defaults plus the keys of the datasets and trainers of this project (unfrozen)."""
    import trainers

    return trainers.default_config()


def check_required(cfg, args: argparse.Namespace):
    """The trainer and dataset must be given and known, and the flags fit the trainer (checked
    before anything is built). Returns the trainer class."""
    from engine.registry import unknown_name_message
    from engine.seam import TRAINER_REGISTRY, ConfigError

    names = TRAINER_REGISTRY.registered_names()
    if not cfg.TRAINER.NAME:
        raise ConfigError(f"No trainer given: pass --trainer (one of {', '.join(sorted(names))}).")
    if cfg.TRAINER.NAME not in names:
        raise ConfigError(unknown_name_message("trainer", cfg.TRAINER.NAME, names, "--trainer / TRAINER.NAME"))
    if not cfg.DATASET.NAME:
        raise ConfigError("No dataset given: pass --dataset-config-file configs/datasets/<name>.yaml.")
    trainer_cls = TRAINER_REGISTRY.get(cfg.TRAINER.NAME)
    zero_shot = getattr(trainer_cls, "ZERO_SHOT", False)
    if zero_shot and not args.eval_only and not args.no_train:
        raise ConfigError(f"{cfg.TRAINER.NAME} has nothing to train: add --eval-only.")
    if args.eval_only and not args.model_dir and not zero_shot:
        raise ConfigError(
            f"--eval-only needs --model-dir: the output folder of the {cfg.TRAINER.NAME} training run to evaluate "
            "(only zero-shot methods evaluate without one)."
        )
    if args.restart and args.no_train:
        raise ConfigError("--restart discards a run; --no-train runs nothing. Use one of them.")
    return trainer_cls


# ---------------------------------------------------------------------------------------------
# Inputs: files whose content the run depends on (sha256 in run.json)
# ---------------------------------------------------------------------------------------------
def weights_and_model_inputs(cfg, args: argparse.Namespace) -> dict[str, Any]:
    """The CLIP weights file (when MODEL.BACKBONE.PATH is set; a name is in the config) and, for
    an evaluation, the checkpoint files it will load. Missing files are left to the loaders,
    whose errors say what to fix."""
    from engine.seam import RunFolder, UserError, file_input, model_file

    inputs: dict[str, Any] = {}
    weights = os.path.expanduser(cfg.MODEL.BACKBONE.PATH)
    if weights and os.path.isfile(weights):
        inputs["clip"] = file_input(weights)
    if args.eval_only and args.model_dir:
        for folder in RunFolder(args.model_dir).model_dirs():
            try:
                inputs[f"model.{os.path.basename(folder)}"] = file_input(model_file(folder, args.load_epoch))
            except UserError:
                pass
    return inputs


def data_inputs(dataset, root: str) -> dict[str, Any]:
    """The files that define the data a reader read (``data_files``), relative to the data root."""
    from engine.seam import file_input

    files = getattr(dataset, "data_files", {}) or {}
    return {f"data.{role}": file_input(path, root) for role, path in files.items() if os.path.isfile(path)}


def check_same_split(model_dir: str, cfg, current: dict[str, Any]) -> None:
    """An evaluation on the training dataset must use the split the model was trained with:
    another split can put the model's own training images into the test set."""
    import yaml

    from datasets.own_data import normalise_folder
    from engine.seam import DataError, RunFolder, get_logger

    folder = RunFolder(model_dir)
    record, config = folder.record(), folder.config_text()
    if not record or config is None:
        get_logger("train").info(f"Note: {model_dir} has no run.json: the split it was trained on cannot be checked.")
        return
    trained = (yaml.safe_load(config) or {}).get("DATASET") or {}
    if trained.get("NAME") != cfg.DATASET.NAME:
        return  # another dataset (cross-dataset transfer): nothing to compare
    if normalise_folder(trained.get("FOLDER") or "") != normalise_folder(cfg.DATASET.get("FOLDER", "")):
        return  # another folder of your own data: another dataset too
    theirs = {k: v for k, v in record.get("inputs", {}).items() if k.startswith("data.") and k != "data.fewshot"}
    for name, entry in theirs.items():
        mine = current.get(name)
        if mine is not None and mine["sha256"] != entry["sha256"]:
            raise DataError(
                f"The model in {model_dir} was trained with {entry['path']} (sha256 {entry['sha256'][:12]}); this "
                f"evaluation reads {mine['path']} (sha256 {mine['sha256'][:12]}). On another split the test set can "
                "hold the model's own training images: evaluate with the split file it was trained with."
            )


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

    log = get_logger("train")
    set_verbose(args.verbose)
    cfg = setup_cfg(args)
    check_required(cfg, args)
    kind = "eval" if args.eval_only else "train"
    root = data_root(cfg)
    binding = None
    if cfg.OUTPUT_DIR and not args.no_train:
        state.folder, state.kind = RunFolder(cfg.OUTPUT_DIR), kind
        inputs = weights_and_model_inputs(cfg, args)
        binding = bind(state.folder, cfg, kind, inputs, args.restart)
        if binding.action == "complete":
            log.info(binding.message, extra=CONSOLE)
            return 0
        state.folder.start(cfg.dump(), kind, ["train.py", *args.argv], inputs)
        state.started = True

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
    _log_details(args, cfg)

    trainer = build_trainer(cfg)
    log.info(describe_data(trainer), extra=CONSOLE)
    precision = getattr(trainer, "precision", None)
    log.info(f"  device   {trainer.device}{f', {precision}' if precision is not None else ''}", extra=CONSOLE)
    inputs = data_inputs(trainer.dm.dataset, root)
    log.info(f"Data files (sha256): {inputs or 'none'}")
    if state.started:
        state.folder.check_data(inputs)
        state.folder.update(inputs=inputs)

    if args.eval_only:
        if args.model_dir:
            check_same_split(args.model_dir, cfg, inputs)
            trainer.load_model(args.model_dir, epoch=args.load_epoch)
        trainer.test()
    elif not args.no_train:
        trainer.train()
        cost = getattr(trainer, "training_cost", lambda: None)()
        if cost is not None:
            log.info(
                f"Cost: {cost['trainable_params']:,} trainable parameters, {cost['train_ms_per_iter']:.1f} ms/iter "
                f"(median over {cost['epochs_timed']} timed epoch(s), the first left out when there are more, data loading included), peak memory "
                f"{cost['peak_memory_mb']:,.0f} MB ({cost['memory_kind']})"
            )
            if state.started:
                state.folder.update(cost=cost)
    if state.started:
        state.folder.update(status="complete")
    return 0


def data_root(cfg) -> str:
    return os.path.abspath(os.path.expanduser(cfg.DATASET.ROOT)) if cfg.DATASET.ROOT else ""


def bind(folder, cfg, kind: str, inputs: dict[str, Any], restart: bool):
    """The run-folder rule for this run (see engine.run_folder.RunFolder.bind)."""
    return folder.bind(cfg.dump(), kind, inputs, defaults=default_cfg().dump(), restart=restart, data_root=data_root(cfg))


def folder_action(argv: list[str]) -> str:
    """What this command line would do with its output folder, without doing anything: "complete"
    (nothing to do), "resume", "restart" (from scratch) or "new"; a folder holding another run
    raises the same error as the run would. The protocol runner asks before starting a process."""
    from engine.seam import RunFolder

    args = parse_args(argv)
    cfg = setup_cfg(args)
    check_required(cfg, args)
    if args.restart or args.no_train or not cfg.OUTPUT_DIR:
        return "new"
    folder = RunFolder(cfg.OUTPUT_DIR)
    try:
        return bind(folder, cfg, "eval" if args.eval_only else "train", weights_and_model_inputs(cfg, args), False).action
    finally:
        folder.unlock()


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
