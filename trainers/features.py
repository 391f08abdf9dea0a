"""What a method's model classifies with: its image features and its class text features.

Every model of the substrate computes ``logits = scale * cos(image features, class text
features)`` (:func:`trainers.clip_prompting.clip_logits`); these two functions return the two
sides of any method's model without knowing its class: the image side as the output of its image
encoder in its own ``forward`` (with the visual prompts it inserts), the text side from the kind
of text features it has (learned prompts, deep prompts or hand-crafted ones). The alignment
analysis and the Python API (``mudpt.Classifier``) read features through them.
"""
from __future__ import annotations

import torch
import torch.nn as nn

from engine.seam import ConfigError

from .clip_prompting import ContextPromptedCLIP, DeepPromptedCLIP, HandcraftedTextFeatures

__all__ = ["class_text_features", "image_features", "text_encoder_of"]


def image_features(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """(B, E) image features of ``image`` (B, 3, H, W) as ``model`` classifies with them (not
    normalised): the output of its image encoder's first call in ``model(image)``."""
    outputs: list[torch.Tensor] = []
    handle = model.image_encoder.register_forward_hook(lambda module, args, output: outputs.append(output))
    try:
        model(image)
    finally:
        handle.remove()
    return outputs[0]


def class_text_features(model: nn.Module) -> torch.Tensor:
    """The class text features (n_cls, E) ``model`` classifies with (not normalised)."""
    if isinstance(model, DeepPromptedCLIP):
        text_l0, text_deep, _, _ = model.learner()
        return model.encode_text(text_l0, text_deep)
    if isinstance(model, ContextPromptedCLIP):
        return model.text_features()
    if isinstance(getattr(model, "text_features", None), HandcraftedTextFeatures):
        return model.text_features()
    why = "its text features depend on each image" if hasattr(model, "text_encoder") else "it has no text side"
    raise ConfigError(
        f"{type(model).__name__} has no text feature per class ({why}). Use its predictions (logits), or a method "
        "with one text feature per class."
    )


def text_encoder_of(model: nn.Module) -> nn.Module:
    """The text encoder that computes the model's class features (hand-crafted ones have their own)."""
    handcrafted = getattr(model, "text_features", None)
    return handcrafted.encoder if isinstance(handcrafted, HandcraftedTextFeatures) else model.text_encoder
