"""Loading and freezing the OpenAI CLIP backbone (unmodified ``openai-clip``), shared by every trainer.

CLIP: Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
arXiv 2103.00020. Weights come from ``clip.load`` (OpenAI's TorchScript files, downloaded to
``~/.cache/clip`` and sha256-checked) or from ``MODEL.BACKBONE.PATH``: an OpenAI TorchScript file
or a plain state-dict file (``openai-clip`` 1.0.1 cannot read the latter: it retries
``torch.load`` on a file handle that ``torch.jit.load`` already consumed).
The model is always returned in fp32 on the CPU; trainers move and cast it.
"""
from __future__ import annotations

import io
import os
import os.path as osp
import re
import urllib.error
import warnings
from typing import Any

import torch
import torch.nn as nn

from engine.seam import WeightsError, atomic_write_bytes

with warnings.catch_warnings():
    # openai-clip imports pkg_resources, which setuptools deprecates loudly.
    warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    import clip
    from clip.clip import _MODELS as CLIP_URLS
    from clip.clip import _tokenizer as CLIP_TOKENIZER  # the BPE tokenizer clip.tokenize uses
    from clip.model import CLIP, build_model

__all__ = [
    "CLIP_TOKENIZER",
    "CLIPLoadError",
    "backbone_identity",
    "build_tiny_clip",
    "cast_clip_weights",
    "clip_download_path",
    "fetch_hint",
    "freeze",
    "load_clip",
    "load_clip_from_cfg",
    "save_state_dict",
    "weights_file",
]

DEFAULT_DOWNLOAD_ROOT = osp.expanduser("~/.cache/clip")


class CLIPLoadError(WeightsError):
    """CLIP weights could not be found, downloaded or read."""


EXPECTED_WEIGHTS = (
    "Expected an OpenAI CLIP file (e.g. ViT-B-16.pt, as clip.load downloads it) or a CLIP state dict "
    "saved with torch.save."
)


def clip_download_path(name: str, download_root: str | None = None) -> tuple[str, str]:
    """(URL, local path) where ``clip.load`` looks for the weights of model ``name``."""
    url = CLIP_URLS[name]
    return url, osp.join(download_root or DEFAULT_DOWNLOAD_ROOT, osp.basename(url))


def _read_weights_file(path: str) -> dict[str, torch.Tensor]:
    """State dict of a CLIP file: OpenAI TorchScript archive or ``torch.save``d state dict."""
    if os.path.getsize(path) == 0:
        raise CLIPLoadError(f'Cannot read CLIP weights from "{path}": the file is empty (an interrupted download or copy?). {EXPECTED_WEIGHTS}')
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load is deprecated in torch >= 2.9
        try:
            return torch.jit.load(path, map_location="cpu").state_dict()
        except RuntimeError:
            pass  # not TorchScript: a plain state dict
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # torch's own text suggests weights_only=False, i.e. running the file's code: not advice to relay.
        raise CLIPLoadError(
            f'Cannot read CLIP weights from "{path}": it is neither a TorchScript archive nor a file of tensors '
            f"saved with torch.save ({type(e).__name__}). {EXPECTED_WEIGHTS}"
        ) from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict) or "token_embedding.weight" not in obj:
        raise CLIPLoadError(f'"{path}" is not a CLIP checkpoint (no "token_embedding.weight" in it). {EXPECTED_WEIGHTS}')
    return obj


def _build_from_state_dict(path: str, state_dict: dict[str, torch.Tensor]) -> CLIP:
    """``clip.model.build_model`` in fp32, with errors that say which tensors are missing."""
    try:
        # build_model infers the architecture from the tensors' names and shapes, then loads them
        # (after casting to fp16): reload in fp32 below so fp32 files stay exact.
        model = build_model(dict(state_dict)).float()
    except (KeyError, IndexError) as e:
        raise CLIPLoadError(
            f'"{path}" is not a complete CLIP state dict: {e} is missing, and the architecture cannot be '
            f"inferred without it ({len(state_dict)} tensors in the file). {EXPECTED_WEIGHTS}"
        ) from None
    except RuntimeError as e:  # torch's load_state_dict: 'Missing key(s) in state_dict: "a", "b". ...'
        text = str(e)
        missing_part = text.partition("Missing key(s) in state_dict:")[2].partition("Unexpected key(s)")[0]
        missing = re.findall(r'"([^"]+)"', missing_part)
        if missing:
            shown = ", ".join(missing[:5]) + (", ..." if len(missing) > 5 else "")
            raise CLIPLoadError(
                f'"{path}" misses {len(missing)} tensors of the CLIP model it describes ({shown}; {len(state_dict)} '
                f"tensors in the file): a partial or truncated file? {EXPECTED_WEIGHTS}"
            ) from None
        raise CLIPLoadError(f'"{path}" does not fit a CLIP model ({text.splitlines()[-1].strip()}). {EXPECTED_WEIGHTS}') from None
    model.load_state_dict({k: v for k, v in state_dict.items() if k in model.state_dict()})
    return model


def load_clip(name: str, path: str = "", download_root: str | None = None) -> CLIP:
    """The CLIP model ``name`` (e.g. "ViT-B/16") or the one stored at ``path``, fp32, CPU, eval mode.

    Args:
        name: key of ``clip.available_models()``; ignored when ``path`` is given.
        path: local weights file (OpenAI TorchScript or a state dict).
        download_root: where ``clip.load`` caches downloads (default ``~/.cache/clip``).
    """
    if path:
        path = osp.expanduser(path)
        if not osp.isfile(path):
            raise CLIPLoadError(f'MODEL.BACKBONE.PATH "{path}" does not exist. Point it (or CLIP_PATH) at a CLIP weights file.')
        model = _build_from_state_dict(path, _read_weights_file(path))
    else:
        if name not in clip.available_models():
            raise CLIPLoadError(
                f"Unknown CLIP backbone '{name}' (MODEL.BACKBONE.NAME). Available: {', '.join(clip.available_models())}; "
                "or set MODEL.BACKBONE.PATH to a weights file."
            )
        url, target = clip_download_path(name, download_root)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                model, _ = clip.load(name, device="cpu", jit=False, download_root=download_root or DEFAULT_DOWNLOAD_ROOT)
        except (urllib.error.URLError, OSError, TimeoutError) as e:
            raise CLIPLoadError(
                f"CLIP weights for '{name}' are not at {target} and could not be downloaded ({e}). "
                f"Download {url} on a machine with internet access and put it at {target}, "
                "or anywhere and set MODEL.BACKBONE.PATH (scripts: CLIP_PATH=/path/to/file)."
            ) from e
    return model.float().eval()


def load_clip_from_cfg(cfg: Any) -> CLIP:
    """``load_clip`` driven by ``cfg.MODEL.BACKBONE`` (NAME, PATH)."""
    return load_clip(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PATH)


def weights_file(cfg: Any) -> str:
    """The local file the weights of ``cfg.MODEL.BACKBONE`` are read from: ``MODEL.BACKBONE.PATH``,
    else the file ``clip.load`` caches for ``MODEL.BACKBONE.NAME`` ("" for a name it does not know)."""
    if cfg.MODEL.BACKBONE.PATH:
        return osp.expanduser(cfg.MODEL.BACKBONE.PATH)
    name = cfg.MODEL.BACKBONE.NAME
    return clip_download_path(name)[1] if name in CLIP_URLS else ""


def backbone_identity(cfg: Any) -> dict[str, str]:
    """What a trained model's numbers depend on besides its own tensors: the CLIP it prompts.
    ``source`` (the package that builds it), ``name`` (``MODEL.BACKBONE.NAME``), ``pretrained``
    (a weights tag, "" for OpenAI's), ``file`` (the weights file's name) and ``sha256`` (of its
    bytes; "" when the file is not here)."""
    from engine.seam import sha256_file

    path = weights_file(cfg)
    present = bool(path) and osp.isfile(path)
    return {
        "source": "openai-clip",
        "name": cfg.MODEL.BACKBONE.NAME,
        "pretrained": "",
        "file": osp.basename(path) if path else "",
        "sha256": sha256_file(path) if present else "",
    }


def fetch_hint(identity: dict[str, str]) -> str:
    """How to get the weights an identity names (for an error that says which weights to fetch)."""
    name, sha = identity.get("name", ""), identity.get("sha256", "")
    digest = f" (sha256 {sha})" if sha else ""
    if identity.get("source") == "openai-clip" and name in CLIP_URLS:
        url, target = clip_download_path(name)
        return f"OpenAI's {name} weights{digest}: {url}, at {target} or anywhere with MODEL.BACKBONE.PATH"
    return f"the weights file {identity.get('file') or name!r}{digest}, passed as MODEL.BACKBONE.PATH"


def cast_clip_weights(model: nn.Module, dtype: torch.dtype, projections: bool = True) -> nn.Module:
    """Store CLIP's matmul weights (Linear, Conv, attention projections; with ``projections`` also
    ``text_projection`` and ``visual.proj``) in ``dtype``, in place; returns ``model``.

    LayerNorms, embeddings, the class/positional embeddings and ``logit_scale`` stay fp32, as in
    ``clip.model.convert_weights`` (CLIP's LayerNorm computes in fp32 and needs fp32 weights).
    Under autocast, weights stored in the autocast dtype give the same matmul results as fp32
    weights (autocast rounds them to that dtype anyway) at half the memory and without a per-step
    cast: frozen weights are not in autocast's cast cache.
    """
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(dtype)
        if isinstance(module, nn.MultiheadAttention):
            for attr in ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v"):
                tensor = getattr(module, attr)
                if tensor is not None:
                    tensor.data = tensor.data.to(dtype)
        if projections:
            for attr in ("text_projection", "proj"):
                tensor = getattr(module, attr, None)
                if isinstance(tensor, torch.Tensor):
                    tensor.data = tensor.data.to(dtype)
    return model


def freeze(module: nn.Module) -> nn.Module:
    """No gradients and eval mode for every parameter of ``module`` (returns it)."""
    module.requires_grad_(False)
    module.eval()
    return module


def build_tiny_clip(
    embed_dim: int = 32,
    image_resolution: int = 32,
    vision_layers: int = 2,
    vision_width: int = 64,
    vision_patch_size: int = 16,
    context_length: int = 77,
    vocab_size: int = 49408,
    transformer_width: int = 64,
    transformer_heads: int = 1,
    transformer_layers: int = 2,
    seed: int | None = 0,
) -> CLIP:
    """A randomly initialised, tiny ``clip.model.CLIP`` (fp32, eval) for tests, smoke runs and benches.

    The vocabulary and context length are CLIP's real ones, so the real tokenizer works. Note that
    ``clip.model.build_model`` infers heads as width // 64: keep widths multiples of 64 (and text
    heads = width // 64) for a model that round-trips through a weights file.
    """
    gen_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        model = CLIP(
            embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
            context_length, vocab_size, transformer_width, transformer_heads, transformer_layers,
        )
    finally:
        if seed is not None:
            torch.random.set_rng_state(gen_state)
    return model.float().eval()


def save_state_dict(model: nn.Module, path: str) -> None:
    """Save a CLIP model as a plain state-dict file that :func:`load_clip` (``path=``) reads."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
