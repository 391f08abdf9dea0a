"""What every CLIP trainer shares: the learner, the optimisation step and the trainer glue.

A method file (``coop.py``, ``mudpt.py``, ...) subclasses :class:`ClipPromptTrainer` and provides
only ``build_custom_model`` (its model: ``forward(image) -> logits`` and ``loss(image, label)``),
its config checks and its spec (:mod:`trainers.spec`); the trainable tensors are the parameters
of one module, the *learner*, which is what gets registered, optimised and checkpointed (frozen
CLIP weights never are). Zero-shot methods have no learner and train nothing (``ZERO_SHOT``).

The model itself comes from the model factory (:func:`trainers.factory.create_model`), precision
from :mod:`trainers.precision`; the engine owns the loop, its timing and memory, checkpoints and
their fit checks.
"""
from __future__ import annotations

import os.path as osp
import weakref
from collections import OrderedDict
from typing import Any, Protocol, Sequence

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import (
    BACKEND,
    CONSOLE,
    CheckpointError,
    ConfigError,
    ResultKeys,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
    check_config_fits,
    compute_accuracy,
    get_logger,
    latest_checkpoint,
    load_checkpoint,
    NonFiniteLossError,
    load_fitting_state,
    model_file,
    prune_checkpoints,
)

from datasets.specs import DEFAULT_TEMPLATE  # the hand-crafted prompt of a dataset that names none

from .clip_prompting import TextFeatureCache
from .factory import create_model, load_frozen_clip
from .keys import result_keys
from .precision import PREC_CHOICES
from .spec import method_of_trainer

__all__ = [
    "DEFAULT_TEMPLATE",
    "CheckpointedState",
    "ClipPromptTrainer",
    "Learner",
    "check_choice",
    "optimizer_step",
    "trainable_summary",
]

_log = get_logger("trainers.base")

# Frozen configs already checked (by identity; an entry goes with its config): the config module
# checks a config where it builds it, and the engine's trainer constructor (Dassl's order) asks
# again for the same object.
_CHECKED: "weakref.WeakValueDictionary[int, CN]" = weakref.WeakValueDictionary()


def check_choice(value: Any, choices: Sequence[Any], key: str) -> None:
    """Raise a fix-it ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not valid; choose one of {', '.join(map(repr, choices))}.")


class Learner(nn.Module):
    """Base of the module holding a method's trainable tensors (prompts, Meta-Net, Injection Model).

    It is the only module registered with the engine, so checkpoints contain exactly its state:
    its parameters, plus no class-dependent tensors (those are non-persistent buffers). It owns
    the eval-time text-feature cache, cleared whenever its mode changes or weights are loaded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.text_cache = TextFeatureCache()

    def train(self, mode: bool = True) -> "Learner":
        self.text_cache.clear()
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self.text_cache.clear()
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def trainable_parameters(self) -> list[tuple[str, nn.Parameter]]:
        """The explicit list of trainable tensors: all parameters of the learner."""
        return list(self.named_parameters())


class CheckpointedState(Protocol):
    """Training state besides the learner's tensors that a resumed run needs (PromptSRC's running
    Gaussian prompt aggregation): tensors by name, read when a checkpoint is written and put back
    when a run resumes from it."""

    def state(self) -> dict[str, torch.Tensor]: ...

    def restore(self, state: dict[str, torch.Tensor]) -> None: ...


class _DasslState(nn.Module):
    """Under real Dassl, a :class:`CheckpointedState` as a registered model without parameters or
    optimizer: Dassl's checkpoints hold only the state dicts of registered models, so its
    ``save_model`` writes this one's (the state's tensors) into a folder of its own, and its
    ``resume_model_if_exist`` loads it back (``load_state_dict``)."""

    def __init__(self, state: CheckpointedState):
        super().__init__()
        self.held = state

    def state_dict(self, *args, **kwargs) -> "OrderedDict[str, torch.Tensor]":  # type: ignore[override]
        return OrderedDict(self.held.state())

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):  # type: ignore[override]
        self.held.restore(dict(state_dict))


def optimizer_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler=None, check=None) -> None:
    """One optimisation step on ``loss``: zero the gradients, ``check`` the loss (the engine's
    finite-loss check), backward and step, through the GradScaler when fp16 is used. The trainers
    and the benchmark run this same step."""
    optimizer.zero_grad(set_to_none=True)
    if check is not None:
        check(loss)
    if scaler is None:
        loss.backward()
        optimizer.step()
        return
    scaler.scale(loss).backward()
    scaler.step(optimizer)
    scaler.update()


def trainable_summary(named: Sequence[tuple[str, nn.Parameter]]) -> str:
    """One line: how many trainable tensors and parameters, by group (the first name component)."""
    groups: dict[str, int] = {}
    for name, p in named:
        group = name.split(".")[0]
        groups[group] = groups.get(group, 0) + p.numel()
    total = sum(groups.values())
    by_group = ", ".join(f"{g} {n:,}" for g, n in groups.items())
    return f"  trainable {len(named)} tensors, {total:,} parameters ({by_group})"


class ClipPromptTrainer(TrainerX):
    """Base trainer: frozen CLIP + a method-specific model from the model factory; the training
    step is the model's ``loss`` and :func:`optimizer_step`."""

    #: TRAINER.<CFG_NODE> holds the method's keys (PREC among them): the trainer's name
    #: upper-cased, the one node Dassl's ``clean_cfg`` keeps (checked at import).
    CFG_NODE = ""
    #: Name under which the learner is registered (checkpoint sub-folder), as in the anchors.
    MODEL_NAME = "prompt_learner"
    #: State-dict keys that depend on the class list; dropped when loading (anchors' checkpoints).
    CLASS_DEPENDENT_KEYS = ("token_prefix", "token_suffix")
    #: A method that trains nothing (train.py evaluates it without --model-dir, refuses to train).
    ZERO_SHOT = False
    #: Its training is optimizer steps on ``model.loss`` (the benchmark times them); False for a
    #: method fitted otherwise (linear-probe CLIP).
    GRADIENT_STEPS = True

    def __init_subclass__(cls, **kwargs) -> None:
        super().__init_subclass__(**kwargs)
        if cls.CFG_NODE != cls.__name__.upper():
            raise TypeError(f"{cls.__name__}.CFG_NODE must be {cls.__name__.upper()!r} (TRAINER.<NAME upper-cased>, the node Dassl's clean_cfg keeps)")

    # --- hooks a method implements ------------------------------------------------------------
    @classmethod
    def build_custom_model(cls, cfg: CN, classnames: list[str], clip_model: nn.Module, template: str = DEFAULT_TEMPLATE) -> nn.Module:
        """Return the model: ``forward(image) -> logits``, ``loss(image, label)``, and a
        ``learner`` attribute (a :class:`Learner`; None for a zero-shot method). Called by the
        model factory only, with a checked config (:meth:`check_cfg`); what depends on the
        backbone (prompt depths, a ViT) is checked here, once CLIP is known."""
        raise NotImplementedError

    @classmethod
    def check_method_cfg(cls, cfg: CN) -> None:
        """Validate the method's own keys (called from ``check_cfg``)."""

    # --- Dassl hooks --------------------------------------------------------------------------
    @classmethod
    def method_cfg(cls, cfg: CN) -> CN:
        return cfg.TRAINER[cls.CFG_NODE]

    @classmethod
    def check_cfg(cls, cfg: CN) -> None:
        """Validate the method's keys, once: where the config is built (``runconfig.build_config``);
        the trainer's constructor (Dassl's order) skips a frozen config already checked, and checks
        one built otherwise (Dassl's own ``tools/train.py``)."""
        if _CHECKED.get(id(cfg)) is cfg:
            return
        check_choice(cls.method_cfg(cfg).PREC, PREC_CHOICES, f"TRAINER.{cls.CFG_NODE}.PREC")
        cls.check_method_cfg(cfg)
        if cfg.is_frozen():
            _CHECKED[id(cfg)] = cfg

    def build_model(self) -> None:
        template = getattr(self.dm.dataset, "template", None)
        self.setup_model(list(self.dm.dataset.classnames), load_frozen_clip(self.cfg), template)

    def setup_model(self, classnames: list[str], clip_model: nn.Module, template: str | None = None) -> None:
        """The model (the model factory) and, for a method that trains, the optimizer, the
        scheduler and the registration of its learner."""
        cfg = self.cfg
        self.model = create_model(cfg, classnames, clip_model, self.device, template)
        self.precision = self.model.precision
        learner = self.model.learner
        if learner is None:
            self.scaler = None
            return
        named = learner.trainable_parameters()
        _log.info(trainable_summary(named), extra=CONSOLE)
        _log.info(f"Trainable tensors: {', '.join(f'{n} {tuple(p.shape)}' for n, p in named)}")
        self.optim = build_optimizer([p for _, p in named], cfg.OPTIM)
        self.sched = build_lr_scheduler(self.optim, cfg.OPTIM)
        self.register_model(self.MODEL_NAME, learner, self.optim, self.sched)
        self.scaler = self.precision.make_scaler()

    def result_keys(self) -> ResultKeys:
        """The config keys that cannot change results: Dassl's, the shared ones and every method's."""
        return result_keys()

    # --- training state kept in checkpoints ---------------------------------------------------
    def keep_in_checkpoints(self, key: str, state: CheckpointedState, what: str) -> None:
        """Keep ``state`` (``what`` it is, in words) in every checkpoint, so that a resumed run
        restores it; resuming from a checkpoint without it is refused (it would be silently lost).
        The built-in engine stores it in the learner's checkpoint under ``key``. Real Dassl's
        checkpoints hold only the state dicts of registered models: there it is registered as a
        model of its own, without parameters or optimizer (checkpoint folder ``<output>/<key>/``)."""
        self._kept_states = {**self._kept(), key: (state, what)}
        if BACKEND == "dassl":
            self.register_model(key, _DasslState(state))

    def _kept(self) -> dict[str, tuple[CheckpointedState, str]]:
        return self.__dict__.get("_kept_states", {})

    def learner_names(self) -> list[str]:
        """The registered models that are learners (not the states kept under real Dassl)."""
        return [name for name in self.get_model_names() if name not in self._kept()]

    def _lost_state(self, directory: str, what: str) -> CheckpointError:
        return CheckpointError(
            f"The checkpoint to resume in {directory} holds no {what} (written by an earlier version, or by another "
            "engine): resuming from it would lose it. Start the run again: train.py --restart, or another --output-dir."
        )

    def resume_model_if_exist(self, directory: str) -> int:
        if BACKEND == "dassl" and self._kept():
            self._check_dassl_states(directory)
        return super().resume_model_if_exist(directory)

    def _check_dassl_states(self, directory: str) -> None:
        """Under real Dassl: the kept states' folders are there wherever the learner's is, and
        every folder's ``checkpoint`` pointer names the same epoch (Dassl writes them one after
        the other: a run stopped in between has not)."""
        latest = {}
        for name in self.get_model_names():
            if osp.isfile(osp.join(directory, name, "checkpoint")):
                latest[name] = osp.basename(latest_checkpoint(osp.join(directory, name)))
        if not any(name in latest for name in self.learner_names()):
            return  # no checkpoint to resume: Dassl trains from scratch
        for key, (_, what) in self._kept().items():
            if key not in latest:
                raise self._lost_state(directory, what)
        if len(set(latest.values())) > 1:
            listed = ", ".join(f"{name}/{file}" for name, file in latest.items())
            raise CheckpointError(
                f"The checkpoints in {directory} are of different epochs ({listed}): the run stopped while writing them. "
                "Point each folder's `checkpoint` file at the same model.pth.tar-<epoch>, or start the run again "
                "(train.py --restart, or another --output-dir)."
            )

    def _checkpoint_extras(self) -> dict:
        """The engine's extras, plus the GradScaler (fp16), the classes the learner was built for
        (their count, and their names in label order: what a trained model predicts without its
        dataset, ``mudpt.load``) and the states kept in checkpoints (:meth:`keep_in_checkpoints`)."""
        extras = super()._checkpoint_extras()
        extras["num_classes"] = self.num_classes
        extras["classnames"] = list(self.dm.dataset.classnames)
        if self.scaler is not None:
            extras["grad_scaler"] = self.scaler.state_dict()
        for key, (state, _) in self._kept().items():
            extras[key] = state.state()
        return extras

    def _restore_extras(self, checkpoint: dict) -> None:
        super()._restore_extras(checkpoint)
        if self.scaler is not None and "grad_scaler" in checkpoint:
            self.scaler.load_state_dict(checkpoint["grad_scaler"])
        for key, (state, what) in self._kept().items():
            if key not in checkpoint:
                raise self._lost_state(self.cfg.RESUME or self.cfg.OUTPUT_DIR, what)
            state.restore(checkpoint[key])

    def after_epoch(self) -> None:
        getattr(self, "check_nonfinite", lambda: None)()  # the engine's deferred loss check first: it names the batch
        self.check_trained_tensors()
        super().after_epoch()
        keep = self.cfg.TRAIN.CHECKPOINT_KEEP_LAST
        if keep > 0:
            for name in self.get_model_names():
                prune_checkpoints(osp.join(self.output_dir, name), keep)

    def check_trained_tensors(self) -> None:
        """A trained tensor that is not finite at the end of an epoch (a step too large for a
        finite loss to show it) stops the run with the diverged-loss error, before the epoch is
        checkpointed or tested (one device sync per epoch)."""
        named = [
            (f"{name}.{pname}", p) for name in self.get_model_names() for pname, p in self._models[name].named_parameters() if p.requires_grad
        ]
        if not named:
            return
        finite = torch.stack([torch.isfinite(p.detach()).all() for _, p in named])
        if bool(finite.all()):
            return
        bad = [n for (n, _), ok in zip(named, finite.tolist()) if not ok]
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise NonFiniteLossError.diverged(f"Trained tensor {bad[0]}{more}", f"after epoch {self.epoch + 1}")

    def parse_batch_train(self, batch: dict):
        return batch["img"].to(self.device, non_blocking=True), batch["label"].to(self.device, non_blocking=True)

    def forward_backward(self, batch: dict) -> dict:
        image, label = self.parse_batch_train(batch)
        with self.precision.autocast():
            loss, output = self.model.loss(image, label)
        self.backward_and_update(loss)
        if (self.batch_idx + 1) == self.num_batches:
            self.update_lr()
        # Tensors, not floats: the meters read them only when a line is printed (no per-step sync).
        return {"loss": loss.detach(), "acc": compute_accuracy(output.detach(), label)[0]}

    def backward_and_update(self, loss: torch.Tensor) -> None:
        optimizer_step(loss, self.optim, self.scaler, self.detect_anomaly)

    def model_inference(self, input: torch.Tensor) -> torch.Tensor:
        with self.precision.autocast():
            return self.model(input).float()

    def train(self, *args, **kwargs):  # type: ignore[override]
        if self.ZERO_SHOT:
            raise RuntimeError(f"{type(self).__name__} has nothing to train: run train.py with --eval-only")
        return super().train(*args, **kwargs)

    # --- loading a trained model --------------------------------------------------------------
    @classmethod
    def model_keys(cls, cfg: CN) -> list[str]:
        """The config keys that define the learner's tensors: a checkpoint trained with other
        values does not fit (the method, the backbone, every ``TRAINER.<NODE>`` key but PREC)."""
        own = [f"TRAINER.{cls.CFG_NODE}.{k}" for k in cls.method_cfg(cfg) if k != "PREC"]
        return ["TRAINER.NAME", "MODEL.BACKBONE.NAME", *own]

    @classmethod
    def node_defaults(cls) -> str | None:
        """A config dump of the method's node at its defaults (what a key that a checkpoint of an
        older version lacks stood for); None for a trainer that is not a method of the protocols."""
        spec = method_of_trainer(cls.__name__)
        if spec is None:
            return None
        tree, node = CN(), CN()
        tree.TRAINER, node.TRAINER = CN(), CN()
        spec.add_config(tree)
        node.TRAINER[cls.CFG_NODE] = tree.TRAINER[cls.CFG_NODE]
        return node.dump()

    @classmethod
    def load_learner(cls, learner: nn.Module, model_path: str, checkpoint: dict, cfg: CN, n_cls: int) -> None:
        """Load a checkpoint of this method (read from ``model_path``) into ``learner``, built from
        ``cfg`` for ``n_cls`` classes. Class-dependent tensors of the anchor repos' checkpoints are
        ignored; a checkpoint of another method, backbone, prompt shape or class set is refused
        with the differing values named."""
        check_config_fits(model_path, checkpoint, cfg.dump(), cls.model_keys(cfg), result_keys(), cls.node_defaults())
        load_fitting_state(learner, model_path, checkpoint, cls.CLASS_DEPENDENT_KEYS, cls._class_hint(checkpoint, n_cls, cfg))

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load the learner from ``directory/<name>/model.pth.tar-<epoch>``; without ``epoch``,
        ``model-best.pth.tar`` when the run kept one (TEST.FINAL_MODEL best_val), else its last
        checkpoint (:meth:`load_learner` checks that it fits)."""
        if not directory:
            _log.info("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.learner_names():
            model_path = model_file(osp.join(directory, name), epoch)
            checkpoint = load_checkpoint(model_path)
            _log.info(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})', extra=CONSOLE)
            self.load_learner(self._models[name], model_path, checkpoint, self.cfg, self.num_classes)

    @staticmethod
    def _class_hint(checkpoint: dict, n_cls: int, cfg: CN) -> str:
        """Why a checkpoint of another class count cannot fit (class-specific tensors), else ""."""
        trained_on = checkpoint.get("num_classes")
        if trained_on is None or trained_on == n_cls:
            return ""
        return (
            f"The checkpoint was trained on {trained_on} classes and this run has {n_cls} "
            f"(DATASET.SUBSAMPLE_CLASSES {cfg.DATASET.SUBSAMPLE_CLASSES}): its class-specific tensors "
            "(e.g. CoOp's CSC True context) cannot be evaluated on other classes."
        )
