"""Image transforms with Dassl's pipelines and printed descriptions.

Only the augmentations CLIP prompt-tuning recipes use are provided (resize, random crops,
flip, normalisation and a few colour ones); an unsupported name fails with the supported list.
"""
from __future__ import annotations

from typing import Any, Sequence

import torchvision.transforms as T
from torchvision.transforms import InterpolationMode

from .errors import ConfigError
from .registry import unknown_name_message
from .utils import get_logger

__all__ = ["INTERPOLATION_MODES", "build_to_tensor", "build_transform"]

_log = get_logger("engine.transforms")

INTERPOLATION_MODES = {
    "bilinear": InterpolationMode.BILINEAR,
    "bicubic": InterpolationMode.BICUBIC,
    "nearest": InterpolationMode.NEAREST,
}

# Transform names accepted in INPUT.TRANSFORMS by this engine.
SUPPORTED_CHOICES = (
    "random_crop",
    "random_resized_crop",
    "random_flip",
    "colorjitter",
    "randomgrayscale",
    "gaussian_blur",
    "normalize",
)


def _interpolation(cfg: Any) -> InterpolationMode:
    name = cfg.INPUT.INTERPOLATION
    if name not in INTERPOLATION_MODES:
        raise ConfigError(unknown_name_message("interpolation", name, INTERPOLATION_MODES, "INPUT.INTERPOLATION"))
    return INTERPOLATION_MODES[name]


def build_transform(cfg: Any, is_train: bool = True, choices: Sequence[str] | None = None):
    """The train or test pipeline described by ``cfg.INPUT`` (``None`` if NO_TRANSFORM)."""
    if cfg.INPUT.NO_TRANSFORM:
        _log.info("Note: no transform is applied!")
        return None
    if choices is None:
        choices = cfg.INPUT.TRANSFORMS
    for choice in choices:
        if choice not in SUPPORTED_CHOICES:
            raise ConfigError(
                unknown_name_message("transform", choice, SUPPORTED_CHOICES, "INPUT.TRANSFORMS")
                + " Other Dassl augmentations need the real Dassl backend (--backend dassl)."
            )
    target_size = f"{cfg.INPUT.SIZE[0]}x{cfg.INPUT.SIZE[1]}"
    normalize = T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD)
    if is_train:
        return _build_train(cfg, choices, target_size, normalize)
    return _build_test(cfg, choices, target_size, normalize)


def _build_train(cfg: Any, choices: Sequence[str], target_size: str, normalize) -> T.Compose:
    _log.info("Building transform_train")
    interp = _interpolation(cfg)
    size = cfg.INPUT.SIZE
    tfms = []
    if "random_crop" not in choices and "random_resized_crop" not in choices:
        _log.info(f"+ resize to {target_size}")
        tfms.append(T.Resize(size, interpolation=interp))
    if "random_crop" in choices:
        _log.info(f"+ random crop (padding = {cfg.INPUT.CROP_PADDING})")
        tfms.append(T.RandomCrop(size, padding=cfg.INPUT.CROP_PADDING))
    if "random_resized_crop" in choices:
        scale = cfg.INPUT.RRCROP_SCALE
        _log.info(f"+ random resized crop (size={size}, scale={scale})")
        tfms.append(T.RandomResizedCrop(size, scale=scale, interpolation=interp))
    if "random_flip" in choices:
        _log.info("+ random flip")
        tfms.append(T.RandomHorizontalFlip())
    if "colorjitter" in choices:
        b, c, s, h = (cfg.INPUT.COLORJITTER_B, cfg.INPUT.COLORJITTER_C, cfg.INPUT.COLORJITTER_S, cfg.INPUT.COLORJITTER_H)
        _log.info(f"+ color jitter (brightness={b}, contrast={c}, saturation={s}, hue={h})")
        tfms.append(T.ColorJitter(brightness=b, contrast=c, saturation=s, hue=h))
    if "randomgrayscale" in choices:
        _log.info("+ random gray scale")
        tfms.append(T.RandomGrayscale(p=cfg.INPUT.RGS_P))
    if "gaussian_blur" in choices:
        _log.info(f"+ gaussian blur (kernel={cfg.INPUT.GB_K})")
        tfms.append(T.RandomApply([T.GaussianBlur(cfg.INPUT.GB_K)], p=cfg.INPUT.GB_P))
    _log.info("+ to torch tensor of range [0, 1]")
    tfms.append(T.ToTensor())
    if "normalize" in choices:
        _log.info(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)
    return T.Compose(tfms)


def _build_test(cfg: Any, choices: Sequence[str], target_size: str, normalize) -> T.Compose:
    _log.info("Building transform_test")
    size = cfg.INPUT.SIZE
    _log.info(f"+ resize the smaller edge to {max(size)}")
    tfms = [T.Resize(max(size), interpolation=_interpolation(cfg))]
    _log.info(f"+ {target_size} center crop")
    tfms.append(T.CenterCrop(size))
    _log.info("+ to torch tensor of range [0, 1]")
    tfms.append(T.ToTensor())
    if "normalize" in choices:
        _log.info(f"+ normalization (mean={cfg.INPUT.PIXEL_MEAN}, std={cfg.INPUT.PIXEL_STD})")
        tfms.append(normalize)
    return T.Compose(tfms)


def build_to_tensor(cfg: Any) -> T.Compose:
    """Resize to INPUT.SIZE + to-tensor (+ normalize): the un-augmented ``img0`` of a sample."""
    tfms = [T.Resize(cfg.INPUT.SIZE, interpolation=_interpolation(cfg)), T.ToTensor()]
    if "normalize" in cfg.INPUT.TRANSFORMS:
        tfms.append(T.Normalize(mean=cfg.INPUT.PIXEL_MEAN, std=cfg.INPUT.PIXEL_STD))
    return T.Compose(tfms)
