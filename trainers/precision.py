"""How frozen CLIP runs: ``TRAINER.<NODE>.PREC`` as a :class:`Precision` (fp32, fp16 or amp).

The factory (:func:`trainers.factory.create_model`) casts CLIP for it and hands it to the model;
the trainers and the bench run the training step and evaluation under its autocast and scaler.
"""
from __future__ import annotations

import contextlib

import torch
import torch.nn as nn

from engine.seam import CONSOLE, get_logger

from .clip_loader import cast_clip_weights

__all__ = ["PREC_CHOICES", "Precision"]

_log = get_logger("trainers.precision")

PREC_CHOICES = ("fp16", "fp32", "amp")

# The notes already written, (key, requested, device type): each at most once per process (the
# alignment analysis builds a model per run; sweep.py's steps are processes of their own).
_NOTED: set[tuple[str, str, str]] = set()


class Precision:
    """How CLIP runs. ``fp32``; ``fp16`` (CLIP weights in half precision, learnable tensors in fp32,
    cast where they enter CLIP); ``amp`` (fp32 weights, autocast to bf16 where the GPU supports
    it, else fp16). On CPU everything runs in fp32. ``requested`` is one of :data:`PREC_CHOICES`
    (the config checks it where it is built).

    The rule for the note that fp32 runs instead of what was requested: it is written only where
    the user ``asked`` for that precision (``key`` set by a command-line override or a config file
    of their own, :func:`trainers.keys.user_set`), and once per process. A recipe's PREC on a
    machine without CUDA is no choice of the user's: ``train.py``'s header already says the run
    is on the CPU in fp32."""

    def __init__(self, requested: str, device: torch.device, key: str = "PREC", asked: bool = False):
        self.requested = requested
        self.device = device
        self.mode = requested if device.type == "cuda" else "fp32"
        noted = (key, requested, device.type)
        if self.mode != requested and asked and noted not in _NOTED:
            _NOTED.add(noted)
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
