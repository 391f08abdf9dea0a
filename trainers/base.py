"""What every CLIP trainer shares: config keys, precision, the optimisation step, model
building through the model factory, and checkpoint loading.

A method file (``coop.py``, ``mudpt.py``, ...) subclasses :class:`ClipPromptTrainer` and provides
only ``build_custom_model`` (its model: ``forward(image) -> logits`` and ``loss(image, label)``)
plus its config node; the trainable tensors are the parameters of one module, the *learner*,
which is what gets registered, optimised and checkpointed (frozen CLIP weights never are).
Zero-shot methods have no learner and train nothing (``ZERO_SHOT``).

:func:`build_model` (the model factory) builds any registered method's model from
(cfg, class names, CLIP) with no data loader or optimizer: trainers, the benchmark and the
analysis tools all build models through it.
"""
from __future__ import annotations

import contextlib
import os
import os.path as osp
import statistics
import time
from typing import Any, Sequence

import torch
import torch.nn as nn
from yacs.config import CfgNode as CN

from engine.seam import (
    CONSOLE,
    TRAINER_REGISTRY,
    CheckpointError,
    ConfigError,
    TrainerX,
    build_lr_scheduler,
    build_optimizer,
    checkpoint_epochs,
    checkpoint_name,
    compute_accuracy,
    config_differences,
    declare_non_result_keys,
    describe_differences,
    get_logger,
    latest_checkpoint,
    load_checkpoint,
    load_pretrained_weights,
    model_file,
)

from datasets.specs import DEFAULT_TEMPLATE  # the hand-crafted prompt of a dataset that names none

from .clip_loader import cast_clip_weights, freeze, load_clip_from_cfg
from .clip_prompting import TextFeatureCache

__all__ = [
    "DEFAULT_TEMPLATE",
    "PREC_CHOICES",
    "ClipPromptTrainer",
    "Learner",
    "Precision",
    "add_common_config",
    "build_model",
    "check_choice",
    "method_class",
    "optimizer_step",
]

_log = get_logger("trainers.base")

PREC_CHOICES = ("fp16", "fp32", "amp")


def add_common_config(cfg: CN) -> None:
    """Keys shared by all CLIP trainers (added to Dassl's tree before any yaml is merged)."""
    # Local CLIP weights file (OpenAI .pt or a state dict); "" = download MODEL.BACKBONE.NAME
    # into ~/.cache/clip via clip.load. Same key as the MuDPT release.
    cfg.MODEL.BACKBONE.PATH = ""
    # True: run CLIP's blocks with fused attention (F.scaled_dot_product_attention) and stop the
    # text tower at the last EOT token (exact); False: CLIP's own blocks (the reference path).
    cfg.MODEL.BACKBONE.FUSED = True
    # Keep only the newest N checkpoints model.pth.tar-<epoch> of a run (0 = keep all, as Dassl).
    # With TRAIN.CHECKPOINT_FREQ 1 this makes every run resumable at the cost of one file.
    cfg.TRAIN.CHECKPOINT_KEEP_LAST = 0
    # Neither changes results: the weights file is compared by content (its sha256, in run.json),
    # and which checkpoints are kept does not change the training.
    declare_non_result_keys("MODEL.BACKBONE.PATH", "TRAIN.CHECKPOINT_KEEP_LAST")


def check_choice(value: Any, choices: Sequence[Any], key: str) -> None:
    """Raise a fix-it ConfigError unless ``value`` is one of ``choices``."""
    if value not in choices:
        raise ConfigError(f"{key} = {value!r} is not valid; choose one of {', '.join(map(repr, choices))}.")


class Precision:
    """How CLIP runs. ``fp32``; ``fp16`` (CLIP weights in half precision, learnable tensors in fp32,
    cast where they enter CLIP); ``amp`` (fp32 weights, autocast to bf16 where the GPU supports
    it, else fp16). On CPU everything runs in fp32 (with a note if something else was asked)."""

    def __init__(self, requested: str, device: torch.device, key: str = "PREC"):
        check_choice(requested, PREC_CHOICES, key)
        self.requested = requested
        self.device = device
        self.mode = requested if device.type == "cuda" else "fp32"
        if self.mode != requested:
            _log.info(f"Note: {key} {requested!r} needs a CUDA device; running in fp32 on {device.type}", extra=CONSOLE)
        self.autocast_dtype: torch.dtype | None = None
        if self.mode == "amp":
            self.autocast_dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16

    def prepare_clip(self, clip_model: nn.Module) -> nn.Module:
        """Cast the frozen CLIP for this precision (in place): fp16 = CoOp's half-precision CLIP;
        amp = matmul weights stored in the autocast dtype (same results, half the memory)."""
        if self.mode == "fp16":
            cast_clip_weights(clip_model, torch.float16)
        elif self.autocast_dtype is not None:
            # The projections stay fp32 so the encoders keep an fp32 residual stream, as with
            # fp32 weights under autocast.
            cast_clip_weights(clip_model, self.autocast_dtype, projections=False)
        return clip_model

    @property
    def uses_fp16(self) -> bool:
        return self.mode == "fp16" or self.autocast_dtype == torch.float16

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def make_scaler(self) -> "torch.amp.GradScaler | None":
        # fp16 gradients underflow without loss scaling; bf16 and fp32 need none.
        return torch.amp.GradScaler(self.device.type) if self.uses_fp16 else None

    def __str__(self) -> str:
        extra = f", autocast {str(self.autocast_dtype).replace('torch.', '')}" if self.autocast_dtype else ""
        return f"{self.mode}{extra}"


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


def method_class(name: str) -> type:
    """The registered trainer class of a method (``TRAINER.NAME``)."""
    import trainers  # noqa: F401  (registers every method)

    if name not in TRAINER_REGISTRY.registered_names():
        raise ConfigError(f"Unknown trainer {name!r}; registered: {', '.join(sorted(TRAINER_REGISTRY.registered_names()))}.")
    return TRAINER_REGISTRY.get(name)


def dataset_template(cfg: CN) -> str:
    """The hand-crafted prompt: ``DATASET.TEMPLATE`` if set, else that of ``cfg.DATASET.NAME`` (its
    spec's), else :data:`DEFAULT_TEMPLATE` (your own data: ImageFolder, CSVDataset)."""
    from datasets import SPECS

    if cfg.DATASET.get("TEMPLATE", ""):
        return cfg.DATASET.TEMPLATE
    spec = SPECS.get(cfg.DATASET.NAME)
    return spec.template if spec is not None else DEFAULT_TEMPLATE


def build_model(
    cfg: CN, classnames: Sequence[str], clip_model: nn.Module, device: torch.device | str = "cpu", template: str | None = None,
    checked: bool = False,
) -> nn.Module:
    """The model factory: method ``cfg.TRAINER.NAME``'s model for ``classnames`` on a loaded,
    frozen ``clip_model``, exactly as training builds it (config checks, the method's builder, the
    trainable-list checks, CLIP cast for the precision, moved to ``device``); no data loader, no
    optimizer. ``template`` is the dataset's hand-crafted prompt (default: that of
    ``cfg.DATASET.NAME``), for the methods that use hand-crafted text features.

    The model has ``forward(image) -> logits``, ``loss(image, label) -> (loss, logits)``, a
    ``learner`` (its trainable tensors; None for zero-shot methods) and ``precision`` (how it
    runs: ``with model.precision.autocast(): ...``). ``checked``: the trainer's ``check_cfg``
    already validated ``cfg`` (the trainer's constructor runs it first, in Dassl's order).
    """
    cls = method_class(cfg.TRAINER.NAME)
    if not checked:
        cls.check_cfg(cfg)
    device = torch.device(device)
    node = f"TRAINER.{cls.CFG_NODE}.PREC"
    precision = Precision(cfg.TRAINER[cls.CFG_NODE].PREC, device, node)
    check_input_size(cfg, clip_model)
    _log.info(f"Building custom CLIP ({cls.__name__}, precision {precision})")
    model = cls.build_custom_model(cfg, list(classnames), clip_model, template or dataset_template(cfg))
    learner = getattr(model, "learner", None)
    if learner is not None:
        _check_trainable(clip_model, learner, learner.trainable_parameters())
        if cfg.MODEL.INIT_WEIGHTS:
            load_pretrained_weights(learner, cfg.MODEL.INIT_WEIGHTS)
    precision.prepare_clip(clip_model)  # learner tensors stay fp32
    model.precision = precision
    return model.to(device)


def _peak_memory(device: torch.device) -> tuple[float, str]:
    """(MB, kind): CUDA's largest allocation since its last reset, else this process's peak RSS."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20, "cuda_max_allocated"
    import resource  # POSIX only

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_peak_rss"  # KiB on Linux


def _check_trainable(clip_model: nn.Module, learner: nn.Module, named: list[tuple[str, nn.Parameter]]) -> None:
    """The learner's parameters are exactly the trainable list, and CLIP is fully frozen."""
    listed = {id(p) for _, p in named}
    owned = {id(p) for p in learner.parameters()}
    if listed != owned:
        raise RuntimeError("trainable_parameters() must list exactly the learner's parameters")
    if any(p.requires_grad for p in clip_model.parameters()):
        raise RuntimeError("a CLIP parameter requires grad; CLIP must stay frozen")
    if not all(p.requires_grad for _, p in named):
        raise RuntimeError("every listed trainable tensor must require grad")


class ClipPromptTrainer(TrainerX):
    """Base trainer: frozen CLIP + a method-specific model built by :func:`build_model`; the
    training step is the model's ``loss`` and :func:`optimizer_step`."""

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
        ``learner`` attribute (a :class:`Learner`; None for a zero-shot method). Called by
        :func:`build_model` only."""
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
        check_choice(cls.method_cfg(cfg).PREC, PREC_CHOICES, f"TRAINER.{cls.CFG_NODE}.PREC")
        cls.check_method_cfg(cfg)

    def build_model(self) -> None:
        template = getattr(self.dm.dataset, "template", None)
        self.setup_model(list(self.dm.dataset.classnames), load_frozen_clip(self.cfg), template)

    def setup_model(self, classnames: list[str], clip_model: nn.Module, template: str | None = None) -> None:
        """The model (:func:`build_model`) and, for a method that trains, the optimizer, the
        scheduler and the registration of its learner."""
        cfg = self.cfg
        self.model = build_model(cfg, classnames, clip_model, self.device, template, checked=True)
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

    def _checkpoint_extras(self) -> dict:
        """The engine's extras, plus the GradScaler (fp16) and the class count the learner was built for."""
        extras = super()._checkpoint_extras()
        extras["num_classes"] = self.num_classes
        if self.scaler is not None:
            extras["grad_scaler"] = self.scaler.state_dict()
        return extras

    def _restore_extras(self, checkpoint: dict) -> None:
        super()._restore_extras(checkpoint)
        if self.scaler is not None and "grad_scaler" in checkpoint:
            self.scaler.load_state_dict(checkpoint["grad_scaler"])

    def run_epoch(self) -> None:
        """The engine's epoch, timed for :meth:`training_cost` (wall clock / iterations, data
        loading included; one device sync per epoch), and the peak memory of training so far."""
        timed = getattr(self, "_epoch_iter_ms", [])
        if self.device.type == "cuda" and not timed:
            torch.cuda.reset_peak_memory_stats(self.device)  # training's peak, not building's
        start = time.perf_counter()
        super().run_epoch()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
        self._epoch_iter_ms = [*timed, 1000.0 * (time.perf_counter() - start) / max(self.num_batches, 1)]
        self._peak_memory = _peak_memory(self.device)  # before the final evaluation

    def training_cost(self) -> dict[str, Any] | None:
        """What this process's training cost, for ``run.json`` and the results tables: trainable
        parameters, the median over its epochs of ms per iteration (the first epoch left out when
        there are more: it pays the warm-up of workers, allocator and kernels), and the peak memory
        at the end of its last epoch (CUDA: the largest allocation since training started; CPU: the
        process's peak RSS, loading included); None when it trained no epoch."""
        epochs = getattr(self, "_epoch_iter_ms", [])
        if not epochs:
            return None
        epochs = epochs[1:] or epochs
        learner = self.model.learner
        peak, kind = self._peak_memory
        return {
            "trainable_params": sum(p.numel() for _, p in learner.trainable_parameters()) if learner is not None else 0,
            "train_ms_per_iter": round(statistics.median(epochs), 3),
            "peak_memory_mb": round(peak, 1),
            "memory_kind": kind,
            "epochs_timed": len(epochs),
        }

    def after_epoch(self) -> None:
        super().after_epoch()
        keep = self.cfg.TRAIN.CHECKPOINT_KEEP_LAST
        if keep > 0:
            for name in self.get_model_names():
                prune_checkpoints(osp.join(self.output_dir, name), keep)

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

    def model_keys(self, cfg: CN | None = None) -> list[str]:
        """The config keys that define the learner's tensors: a checkpoint trained with other
        values does not fit (the method, the backbone, every ``TRAINER.<NODE>`` key but PREC)."""
        node = self.method_cfg(cfg or self.cfg)
        own = [f"TRAINER.{self.CFG_NODE}.{k}" for k in node if k != "PREC"]
        return ["TRAINER.NAME", "MODEL.BACKBONE.NAME", *own]

    def load_model(self, directory: str, epoch: int | None = None) -> None:
        """Load the learner from ``directory/<name>/model.pth.tar-<epoch>``; without ``epoch``,
        ``model-best.pth.tar`` when the run kept one (TEST.FINAL_MODEL best_val), else its last
        checkpoint. Class-dependent tensors of the anchor repos' checkpoints are ignored; a
        checkpoint of another method, backbone, prompt shape or class set is refused with the
        differing values named."""
        if not directory:
            _log.info("Note that load_model() is skipped as no pretrained model is given")
            return
        for name in self.get_model_names():
            model_path = model_file(osp.join(directory, name), epoch)
            checkpoint = load_checkpoint(model_path)
            _log.info(f'Loading weights to {name} from "{model_path}" (epoch = {checkpoint["epoch"]})', extra=CONSOLE)
            self._check_fits(model_path, checkpoint)
            state_dict = {k: v for k, v in checkpoint["state_dict"].items() if k.rpartition(".")[2] not in self.CLASS_DEPENDENT_KEYS}
            module = self._models[name]
            mismatched = shape_mismatches(module, state_dict)
            if mismatched:
                raise CheckpointError(self._misfit_message(model_path, checkpoint, mismatched))
            try:
                module.load_state_dict(state_dict)
            except RuntimeError as e:
                raise CheckpointError(
                    f'"{model_path}" does not fit the {type(module).__name__} built from this config ({e}). '
                    "Use the trainer config of the training run (its config.yaml)."
                ) from e

    def _check_fits(self, model_path: str, checkpoint: dict) -> None:
        """Refuse a checkpoint whose recorded config builds another learner."""
        if not isinstance(checkpoint.get("config"), str):
            return  # written by Dassl or the anchor repos: only the shapes can be checked
        keys = set(self.model_keys())
        from trainers import default_config

        defaults = default_config().dump()  # keys a checkpoint of an older version lacks count as their defaults
        diffs = [d for d in config_differences(checkpoint["config"], self.cfg.dump(), defaults) if d[0] in keys]
        if diffs:
            raise CheckpointError(
                f'"{model_path}" was trained with another model config:\n'
                f"{describe_differences(diffs, 'checkpoint', 'this run')}\n"
                "Evaluate with the training run's values (its config.yaml), e.g. by passing them as KEY VALUE pairs."
            )

    def _misfit_message(self, model_path: str, checkpoint: dict, mismatched: list[tuple[str, tuple, tuple]]) -> str:
        shapes = "\n".join(f"  {key}: checkpoint {tuple(a)}, this run {tuple(b)}" for key, a, b in mismatched)
        msg = f'"{model_path}" does not fit the model built from this config; tensors of other shapes:\n{shapes}'
        trained_on = checkpoint.get("num_classes")
        if trained_on is not None and trained_on != self.num_classes:
            msg += (
                f"\nThe checkpoint was trained on {trained_on} classes and this run has {self.num_classes} "
                f"(DATASET.SUBSAMPLE_CLASSES {self.cfg.DATASET.SUBSAMPLE_CLASSES}): its class-specific tensors "
                "(e.g. CoOp's CSC True context) cannot be evaluated on other classes."
            )
        else:
            msg += "\nUse the trainer config of the training run (its config.yaml)."
        return msg


def load_frozen_clip(cfg: CN) -> nn.Module:
    """CLIP from ``cfg.MODEL.BACKBONE``, frozen (fp32, CPU, eval mode)."""
    _log.info(f"Loading CLIP (backbone: {cfg.MODEL.BACKBONE.PATH or cfg.MODEL.BACKBONE.NAME})")
    return freeze(load_clip_from_cfg(cfg))


def check_input_size(cfg: CN, clip_model: nn.Module) -> None:
    """INPUT.SIZE must equal the CLIP image tower's input resolution."""
    res = clip_model.visual.input_resolution
    if tuple(cfg.INPUT.SIZE) != (res, res):
        raise ConfigError(
            f"INPUT.SIZE {tuple(cfg.INPUT.SIZE)} does not match the CLIP backbone's input resolution {res}; "
            f'set INPUT.SIZE "({res}, {res})".'
        )


def prune_checkpoints(folder: str, keep: int) -> list[str]:
    """Delete all but the newest ``keep`` ``model.pth.tar-<epoch>`` files of ``folder`` (the one
    named in the ``checkpoint`` pointer is always kept); returns the deleted names."""
    current = latest_checkpoint(folder)
    deleted = []
    for epoch in checkpoint_epochs(folder)[:-keep]:
        fname = checkpoint_name(epoch)
        if osp.join(folder, fname) != current:
            os.remove(osp.join(folder, fname))
            deleted.append(fname)
    return deleted


def trainable_summary(named: Sequence[tuple[str, nn.Parameter]]) -> str:
    """One line: how many trainable tensors and parameters, by group (the first name component)."""
    groups: dict[str, int] = {}
    for name, p in named:
        group = name.split(".")[0]
        groups[group] = groups.get(group, 0) + p.numel()
    total = sum(groups.values())
    by_group = ", ".join(f"{g} {n:,}" for g, n in groups.items())
    return f"  trainable {len(named)} tensors, {total:,} parameters ({by_group})"


def shape_mismatches(module: nn.Module, state_dict: dict) -> list[tuple[str, tuple, tuple]]:
    """(key, checkpoint shape, module shape) for each tensor both have with different shapes."""
    own = module.state_dict()
    return [(k, tuple(v.shape), tuple(own[k].shape)) for k, v in state_dict.items() if k in own and own[k].shape != v.shape]

