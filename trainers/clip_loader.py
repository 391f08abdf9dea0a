"""Loading and freezing the CLIP backbone, shared by every trainer: OpenAI's models (unmodified
``openai-clip``) and ``open_clip``'s.

CLIP: Radford et al., "Learning Transferable Visual Models From Natural Language Supervision",
arXiv 2103.00020; OpenCLIP: Cherti et al., "Reproducible scaling laws for contrastive
language-image learning", arXiv 2212.07143. Two sources, one contract: the model is returned in
fp32 on the CPU, in eval mode, with CLIP's parameter names (``transformer.resblocks``,
``token_embedding``, ``visual.conv1``, ...), which both packages use.

* ``MODEL.BACKBONE.NAME`` "ViT-B/16" (a name of ``clip.available_models()``): ``clip.load``
  (OpenAI's TorchScript files, downloaded to ``~/.cache/clip`` and sha256-checked), or
  ``MODEL.BACKBONE.PATH``: an OpenAI TorchScript file or a plain state-dict file (``openai-clip``
  1.0.1 cannot read the latter: it retries ``torch.load`` on a file handle that
  ``torch.jit.load`` already consumed).
* ``MODEL.BACKBONE.NAME`` "open_clip:<model>" (a name of ``open_clip.list_models()``):
  ``open_clip.create_model(<model>)`` with the weights of ``MODEL.BACKBONE.PRETRAINED`` (a tag
  open_clip lists for the model, downloaded by open_clip) or of ``MODEL.BACKBONE.PATH`` (a state
  dict: what :func:`save_state_dict` writes, open_clip's own checkpoints and ``.safetensors``
  files, OpenAI's files for the ``-quickgelu`` models). Only models the substrate can prompt
  are accepted (:func:`check_promptable`): a causal text transformer read at the EOT token over
  CLIP's BPE vocabulary, softmax logits, and a ViT (class-token pooling) or ResNet image tower.

Also here, the facts the rest of the project reads from a loaded model of either source: its
input size (:func:`image_size`), its normalisation constants (:func:`normalization`), how its
text blocks get their causal mask (:func:`text_attn_mask`), its QuickGELU (:func:`is_quick_gelu`),
and what a run's backbone is (:func:`backbone_identity`, :func:`weights_file`, :func:`fetch_hint`).
"""
from __future__ import annotations

import contextlib
import io
import logging
import os
import os.path as osp
import re
import sys
import urllib.error
import warnings
from typing import Any, Iterator

import torch
import torch.nn as nn

from engine.seam import ConfigError, WeightsError, atomic_write_bytes, closest_names

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
    "OPEN_CLIP_PREFIX",
    "backbone_identity",
    "build_open_clip",
    "build_tiny_clip",
    "cast_clip_weights",
    "check_promptable",
    "clip_download_path",
    "fetch_hint",
    "freeze",
    "image_size",
    "is_quick_gelu",
    "load_clip",
    "load_clip_from_cfg",
    "normalization",
    "open_clip_model",
    "save_state_dict",
    "source_of",
    "text_attn_mask",
    "weights_file",
]

DEFAULT_DOWNLOAD_ROOT = osp.expanduser("~/.cache/clip")
#: ``MODEL.BACKBONE.NAME`` "open_clip:<model>" names a model of ``open_clip.list_models()``.
OPEN_CLIP_PREFIX = "open_clip:"
#: The normalisation OpenAI's CLIP models were trained with (``clip.clip._transform``), also
#: open_clip's default (``open_clip.constants.OPENAI_DATASET_MEAN`` / ``_STD``).
OPENAI_PIXEL_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_PIXEL_STD = (0.26862954, 0.26130258, 0.27577711)
#: Entries of OpenAI's TorchScript files that are not tensors of the model.
_TORCHSCRIPT_EXTRAS = ("input_resolution", "context_length", "vocab_size")


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


def official_sha256(name: str) -> str:
    """The sha256 of OpenAI's weights for model ``name`` (in their URL; ``clip.load`` checks the
    download against it), "" for other names."""
    return CLIP_URLS[name].split("/")[-2] if name in CLIP_URLS else ""


def open_clip_model(name: str) -> str:
    """The open_clip model a ``MODEL.BACKBONE.NAME`` names ("open_clip:ViT-B-32" -> "ViT-B-32"),
    "" for OpenAI's names."""
    return name[len(OPEN_CLIP_PREFIX) :] if name.startswith(OPEN_CLIP_PREFIX) else ""


def _read_weights_file(path: str, expected: str = EXPECTED_WEIGHTS) -> dict[str, torch.Tensor]:
    """State dict of a CLIP file: OpenAI TorchScript archive, ``torch.save``d state dict (possibly
    under "state_dict", with DataParallel's "module." prefixes, as open_clip's checkpoints) or
    ``.safetensors``. ``expected`` ends the errors (what the file should be)."""
    if os.path.getsize(path) == 0:
        raise CLIPLoadError(f'Cannot read CLIP weights from "{path}": the file is empty (an interrupted download or copy?). {expected}')
    if path.endswith(".safetensors"):
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            obj = load_file(path)
        except SafetensorError as e:
            raise CLIPLoadError(f'Cannot read CLIP weights from "{path}": not a valid safetensors file ({e}). {expected}') from None
    else:
        obj = _read_torch_file(path, expected)
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if isinstance(obj, dict) and obj and all(isinstance(k, str) and k.startswith("module.") for k in obj):
        obj = {k[len("module.") :]: v for k, v in obj.items()}  # saved from DataParallel
    if not isinstance(obj, dict) or "token_embedding.weight" not in obj:
        raise CLIPLoadError(f'"{path}" is not a CLIP checkpoint (no "token_embedding.weight" in it). {expected}')
    return obj


def _read_torch_file(path: str, expected: str) -> Any:
    """A TorchScript archive's state dict, else what ``torch.load`` (tensors only) reads."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load is deprecated in torch >= 2.9
        try:
            return torch.jit.load(path, map_location="cpu").state_dict()
        except RuntimeError:
            pass  # not TorchScript: a plain state dict
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # torch's own text suggests weights_only=False, i.e. running the file's code: not advice to relay.
        raise CLIPLoadError(
            f'Cannot read CLIP weights from "{path}": it is neither a TorchScript archive nor a file of tensors '
            f"saved with torch.save ({type(e).__name__}). {expected}"
        ) from e


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
            raise CLIPLoadError(
                f'"{path}" misses {len(missing)} tensors of the CLIP model it describes ({_some(missing)}; {len(state_dict)} '
                f"tensors in the file): a partial or truncated file? {EXPECTED_WEIGHTS}"
            ) from None
        raise CLIPLoadError(f'"{path}" does not fit a CLIP model ({text.splitlines()[-1].strip()}). {EXPECTED_WEIGHTS}') from None
    model.load_state_dict({k: v for k, v in state_dict.items() if k in model.state_dict()})
    return model


def _some(names: list[str], n: int = 5) -> str:
    return ", ".join(names[:n]) + (", ..." if len(names) > n else "")


def load_clip(name: str, path: str = "", download_root: str | None = None, pretrained: str = "") -> nn.Module:
    """The CLIP model ``name`` (e.g. "ViT-B/16", "open_clip:ViT-B-32"), fp32, CPU, eval mode.

    Args:
        name: a key of ``clip.available_models()`` (ignored when ``path`` is given), or
            "open_clip:<model>" with <model> a name of ``open_clip.list_models()``.
        path: local weights file (OpenAI TorchScript or a state dict; for open_clip models also
            open_clip's checkpoints and ``.safetensors``).
        download_root: where ``clip.load`` caches downloads (default ``~/.cache/clip``).
        pretrained: open_clip models: the weights tag (one of
            ``open_clip.list_pretrained_tags_by_model(<model>)``), downloaded by open_clip when
            ``path`` is not given (with ``path``, it only says where the file comes from).
    """
    model = open_clip_model(name)
    if model:
        return _load_open_clip(model, pretrained, osp.expanduser(path) if path else "")
    if pretrained:
        raise ConfigError(
            f"MODEL.BACKBONE.PRETRAINED {pretrained!r} is an open_clip weights tag, but MODEL.BACKBONE.NAME {name!r} is one of "
            f'OpenAI\'s models; set MODEL.BACKBONE.PRETRAINED "" or MODEL.BACKBONE.NAME open_clip:<model>.'
        )
    if path:
        path = osp.expanduser(path)
        if not osp.isfile(path):
            raise CLIPLoadError(f'MODEL.BACKBONE.PATH "{path}" does not exist. Point it (or CLIP_PATH) at a CLIP weights file.')
        model = _build_from_state_dict(path, _read_weights_file(path))
    else:
        if name not in clip.available_models():
            raise CLIPLoadError(
                f"Unknown CLIP backbone '{name}' (MODEL.BACKBONE.NAME). Available: {', '.join(clip.available_models())}; "
                f"{OPEN_CLIP_PREFIX}<model> for open_clip's models; or set MODEL.BACKBONE.PATH to a weights file."
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


def load_clip_from_cfg(cfg: Any) -> nn.Module:
    """``load_clip`` driven by ``cfg.MODEL.BACKBONE`` (NAME, PATH, PRETRAINED)."""
    return load_clip(cfg.MODEL.BACKBONE.NAME, cfg.MODEL.BACKBONE.PATH, pretrained=cfg.MODEL.BACKBONE.PRETRAINED)


# --- open_clip ------------------------------------------------------------------------------
def _import_open_clip():
    """The ``open_clip`` package (imported on first use: it takes seconds, and OpenAI's models do
    not need it)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import open_clip
    except ImportError as e:
        raise ConfigError(
            f"MODEL.BACKBONE.NAME {OPEN_CLIP_PREFIX}<model> needs the open_clip package ({e}); pip install open-clip-torch."
        ) from None
    return open_clip


@contextlib.contextmanager
def _quiet_open_clip() -> Iterator[None]:
    """Drop open_clip's own log lines below ERROR for the duration (it logs every build step, and
    "No pretrained weights loaded" for the random models this module then fills)."""
    marker = f"{os.sep}open_clip{os.sep}"

    def keep(record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or marker not in record.pathname

    root = logging.getLogger()
    root.addFilter(keep)
    try:
        yield
    finally:
        root.removeFilter(keep)


def _open_clip_name(open_clip, model: str) -> None:
    """An unknown model name: a ConfigError with the closest names open_clip knows."""
    known = open_clip.list_models()
    if model not in known:
        close = closest_names(model, known, n=5)
        raise ConfigError(
            f"Unknown open_clip model {model!r} (MODEL.BACKBONE.NAME {OPEN_CLIP_PREFIX}{model}); "
            f"closest: {', '.join(close) or '(none)'}; open_clip.list_models() lists all {len(known)}."
        )


def _check_tag(open_clip, model: str, pretrained: str) -> None:
    """``pretrained`` is a tag of ``model`` whose activation is the model's (open_clip only warns
    when OpenAI's QuickGELU weights go into a GELU model: different results)."""
    tags = open_clip.list_pretrained_tags_by_model(model)
    if pretrained not in tags:
        raise ConfigError(
            f"MODEL.BACKBONE.PRETRAINED {pretrained!r} is not a weights tag of {OPEN_CLIP_PREFIX}{model}; its tags: "
            f"{', '.join(tags) or '(none: give MODEL.BACKBONE.PATH)'}."
        )
    trained_quick = open_clip.get_pretrained_cfg(model, pretrained).get("quick_gelu", False)
    if trained_quick != open_clip.get_model_config(model).get("quick_gelu", False):
        fix = f"{OPEN_CLIP_PREFIX}{model}-quickgelu" if trained_quick else f"{OPEN_CLIP_PREFIX}{model.removesuffix('-quickgelu')}"
        raise ConfigError(
            f"The {pretrained!r} weights of {OPEN_CLIP_PREFIX}{model} were trained with {'QuickGELU' if trained_quick else 'GELU'}, "
            f"which {OPEN_CLIP_PREFIX}{model} does not use; set MODEL.BACKBONE.NAME {fix}."
        )


def build_open_clip(model: str, image_size: int | None = None, seed: int | None = 0) -> nn.Module:
    """open_clip's model ``model`` (a name of ``open_clip.list_models()``) with random weights, fp32,
    eval mode, refused if the substrate cannot prompt it (for the bench and the tests; a run
    loads weights, :func:`load_clip`). ``image_size``: another input size than the model's
    (fewer patches: a CPU gets through it quickly)."""
    open_clip = _import_open_clip()
    _open_clip_name(open_clip, model)
    gen_state = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        with _quiet_open_clip():
            built = open_clip.create_model(model, pretrained=None, force_image_size=image_size)
    finally:
        if seed is not None:
            torch.random.set_rng_state(gen_state)
    check_promptable(built, OPEN_CLIP_PREFIX + model)
    return built.float().eval()


def _load_open_clip(model: str, pretrained: str, path: str) -> nn.Module:
    """open_clip's ``model`` with the weights of ``path`` or, without it, of the tag ``pretrained``."""
    open_clip = _import_open_clip()
    _open_clip_name(open_clip, model)
    if pretrained:
        _check_tag(open_clip, model, pretrained)
    if path and not osp.isfile(path):
        raise CLIPLoadError(f'MODEL.BACKBONE.PATH "{path}" does not exist. Point it (or CLIP_PATH) at the weights of {OPEN_CLIP_PREFIX}{model}.')
    if not path and not pretrained:
        tags = open_clip.list_pretrained_tags_by_model(model)
        raise ConfigError(
            f"{OPEN_CLIP_PREFIX}{model} needs weights: set MODEL.BACKBONE.PRETRAINED to one of its tags "
            f"({', '.join(tags) or 'open_clip lists none'}) or MODEL.BACKBONE.PATH to a weights file."
        )
    built = build_open_clip(model)  # the architecture is checked before anything is downloaded
    if path:
        _load_state(built, _read_weights_file(path, _expected_open_clip(model)), path, model)
        return built
    try:
        with _quiet_open_clip():
            built = open_clip.create_model(model, pretrained=pretrained)
    except (RuntimeError, OSError) as e:  # open_clip raises these for every download failure
        raise CLIPLoadError(
            f"open_clip could not get the {pretrained!r} weights of {model} ({str(e).splitlines()[0][:300]}). Download them "
            f"on a machine with internet access (open_clip.create_model({model!r}, pretrained={pretrained!r}) caches them), "
            "or put the file anywhere and set MODEL.BACKBONE.PATH."
        ) from None
    return built.float().eval()


def _expected_open_clip(model: str) -> str:
    return (
        f"Expected the weights of open_clip's {model}: a state dict saved with torch.save (trainers.clip_loader.save_state_dict, "
        "open_clip's checkpoints), a .safetensors file, or OpenAI's file for a -quickgelu model."
    )


def _load_state(model: nn.Module, state_dict: dict[str, torch.Tensor], path: str, name: str) -> None:
    """Load every tensor of ``model`` from ``state_dict`` (read from ``path``), or say which ones
    are missing, extra or of another shape."""
    state_dict = {k: v for k, v in state_dict.items() if k not in _TORCHSCRIPT_EXTRAS}
    own = model.state_dict()
    if "logit_scale" in state_dict and state_dict["logit_scale"].shape != own["logit_scale"].shape:
        state_dict["logit_scale"] = state_dict["logit_scale"].reshape(own["logit_scale"].shape)  # scalar vs (1,), as open_clip
    missing = [k for k in own if k not in state_dict]
    extra = [k for k in state_dict if k not in own]
    shapes = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items() if k in state_dict and state_dict[k].shape != v.shape]
    expected = _expected_open_clip(name)
    if missing:
        raise CLIPLoadError(
            f'"{path}" misses {len(missing)} of the {len(own)} tensors of {OPEN_CLIP_PREFIX}{name} ({_some(missing)}): the weights '
            f"of another model, or a truncated file? {expected}"
        )
    if extra or shapes:
        what = f"{len(extra)} tensors it does not have ({_some(extra)})" if extra else f"tensors of other shapes (file vs model: {_some(shapes, 3)})"
        raise CLIPLoadError(f'"{path}" holds {what} for {OPEN_CLIP_PREFIX}{name}: the weights of another model? {expected}')
    model.load_state_dict(state_dict)


# --- what the substrate reads from a model of either source ----------------------------------
def source_of(clip_model: nn.Module) -> str:
    """The package that built ``clip_model``: "openai-clip" or "open_clip"."""
    return "open_clip" if type(clip_model).__module__.startswith("open_clip") else "openai-clip"


def image_size(clip_model: nn.Module) -> tuple[int, int]:
    """(height, width) the image tower takes: ``visual.input_resolution`` (openai-clip),
    ``visual.image_size`` (open_clip)."""
    visual = clip_model.visual
    size = visual.input_resolution if hasattr(visual, "input_resolution") else visual.image_size
    return tuple(size) if isinstance(size, (tuple, list)) else (size, size)


def normalization(clip_model: nn.Module) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) of the image normalisation the model was trained with: OpenAI's for
    openai-clip; for open_clip, what ``open_clip.create_model`` recorded for its weights tag
    (``visual.preprocess_cfg``; OpenAI's by default)."""
    preprocess = getattr(clip_model.visual, "preprocess_cfg", None) or {}
    return tuple(preprocess.get("mean", OPENAI_PIXEL_MEAN)), tuple(preprocess.get("std", OPENAI_PIXEL_STD))


def text_attn_mask(clip_model: nn.Module) -> torch.Tensor | None:
    """The causal mask the model's ``encode_text`` passes to each text block (open_clip's CLIP
    keeps it on the model), or None where the blocks hold it themselves (openai-clip)."""
    return clip_model.attn_mask if source_of(clip_model) == "open_clip" else None


def is_quick_gelu(module: nn.Module) -> bool:
    """``module`` is CLIP's QuickGELU, ``x * sigmoid(1.702 x)``: openai-clip's, or open_clip's
    (only a loaded open_clip can have built one)."""
    classes = [clip.model.QuickGELU]
    open_clip_blocks = sys.modules.get("open_clip.transformer")
    if open_clip_blocks is not None:
        classes.append(open_clip_blocks.QuickGELU)
    return isinstance(module, tuple(classes))


SUPPORTED = (
    "supported: CLIP models with a causal text transformer read at the EOT token (argmax) over CLIP's BPE vocabulary, "
    "softmax logits, and a ViT image tower pooled at the class token (or a ResNet one, for text prompts only), "
    f"e.g. {OPEN_CLIP_PREFIX}ViT-B-32, {OPEN_CLIP_PREFIX}ViT-L-14, {OPEN_CLIP_PREFIX}ViT-B-16-quickgelu, {OPEN_CLIP_PREFIX}RN50"
)


def check_promptable(clip_model: nn.Module, name: str) -> None:
    """Refuse, in one line that names what is supported, a model the substrate (the block walker
    of :mod:`trainers.clip_prompting`) cannot prompt. Checked on the architecture, not the name:
    the CLIP class (not CoCa or a custom text tower), a causal text transformer of plain
    residual blocks read at the EOT token (``argmax``) over CLIP's BPE vocabulary (the
    tokenizer the prompts are written with), a text projection, no SigLIP ``logit_bias``; an
    image tower that is a ViT of plain residual blocks pooled at its class token (no attentional
    pooler) or a ResNet (run whole: no visual prompts). OpenAI's models all qualify."""
    if source_of(clip_model) != "open_clip":
        return
    from open_clip.model import CLIP as OpenCLIP
    from open_clip.modified_resnet import ModifiedResNet
    from open_clip.transformer import ResidualAttentionBlock, VisionTransformer

    def plain_blocks(blocks) -> bool:
        return all(type(b) is ResidualAttentionBlock for b in blocks)

    problems = []
    if type(clip_model) is not OpenCLIP:
        kind = type(clip_model).__name__
        problems.append(f"it is open_clip's {kind}{' (a text tower of its own)' if kind == 'CustomTextCLIP' else ''}, not its CLIP")
    else:
        if clip_model.attn_mask is None:
            problems.append("its text transformer is not causal")
        if getattr(clip_model, "text_pool_type", "argmax") != "argmax":
            problems.append(f"its text feature is pooled by {clip_model.text_pool_type!r}, not at the EOT token (argmax)")
        if clip_model.token_embedding.num_embeddings != len(CLIP_TOKENIZER.encoder):
            problems.append(f"its vocabulary has {clip_model.token_embedding.num_embeddings} tokens, not CLIP's BPE ({len(CLIP_TOKENIZER.encoder)})")
        if not plain_blocks(clip_model.transformer.resblocks):
            problems.append(f"its text blocks are {type(clip_model.transformer.resblocks[0]).__name__}")
        if clip_model.text_projection is None:
            problems.append("it has no text projection")
        if getattr(clip_model, "logit_bias", None) is not None:
            problems.append("it has SigLIP's logit_bias (sigmoid logits)")
        visual = clip_model.visual
        if isinstance(visual, VisionTransformer):
            if visual.attn_pool is not None:
                problems.append("its image tower has an attentional pooler")
            elif visual.pool_type != "tok":
                problems.append(f"its image tower pools by {visual.pool_type!r}, not at the class token")
            if not plain_blocks(visual.transformer.resblocks):
                problems.append(f"its image blocks are {type(visual.transformer.resblocks[0]).__name__}")
        elif not isinstance(visual, ModifiedResNet):
            problems.append(f"its image tower is a {type(visual).__name__}")
    if problems:
        raise ConfigError(f"MODEL.BACKBONE.NAME {name} cannot be prompted here: {'; '.join(problems)} ({SUPPORTED}).")


# --- what a run's backbone is -----------------------------------------------------------------
def weights_file(cfg: Any) -> str:
    """The local file the weights of ``cfg.MODEL.BACKBONE`` are read from: ``MODEL.BACKBONE.PATH``;
    else the file ``clip.load`` caches for an OpenAI ``MODEL.BACKBONE.NAME``, or the one open_clip
    downloaded for ``MODEL.BACKBONE.PRETRAINED`` ("" when there is none: a name clip does not
    know, an open_clip tag not downloaded yet)."""
    backbone = cfg.MODEL.BACKBONE
    if backbone.PATH:
        return osp.expanduser(backbone.PATH)
    model = open_clip_model(backbone.NAME)
    if model:
        return _downloaded_tag_file(model, backbone.PRETRAINED) if backbone.PRETRAINED else ""
    return clip_download_path(backbone.NAME)[1] if backbone.NAME in CLIP_URLS else ""


def _downloaded_tag_file(model: str, pretrained: str) -> str:
    """The file open_clip downloaded for a weights tag (Hugging Face's cache, or ``~/.cache/clip``
    for a URL), without downloading anything; "" when it is not there (or the tag is unknown)."""
    open_clip = _import_open_clip()
    tag = open_clip.get_pretrained_cfg(model, pretrained)
    if tag.get("file"):
        return tag["file"] if osp.isfile(tag["file"]) else ""
    if tag.get("hf_hub"):
        from huggingface_hub import try_to_load_from_cache
        from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

        repo, filename = osp.split(tag["hf_hub"])  # "org/repo/" names the repository's default file
        filename = filename or HF_WEIGHTS_NAME
        stem, ext = osp.splitext(filename)
        # open_clip takes a .safetensors twin first when the repository has one.
        twins = [HF_SAFE_WEIGHTS_NAME] if filename == HF_WEIGHTS_NAME else [stem + ".safetensors"] if ext in (".bin", ".pth") else []
        for candidate in (*twins, filename):
            found = try_to_load_from_cache(repo, candidate)
            if isinstance(found, str) and osp.isfile(found):
                return found
        return ""
    if tag.get("url"):
        target = osp.join(DEFAULT_DOWNLOAD_ROOT, osp.basename(tag["url"]))
        return target if osp.isfile(target) else ""
    return ""


def backbone_identity(cfg: Any) -> dict[str, str]:
    """What a trained model's numbers depend on besides its own tensors: the CLIP it prompts.
    ``source`` (the package that builds it: "openai-clip" or "open_clip"), ``name``
    (``MODEL.BACKBONE.NAME``), ``pretrained`` (open_clip's weights tag, "" for OpenAI's models),
    ``file`` (the weights file's name) and ``sha256`` (of its bytes; "" when the file is not here)."""
    from engine.seam import sha256_file

    path = weights_file(cfg)
    present = bool(path) and osp.isfile(path)
    name = cfg.MODEL.BACKBONE.NAME
    return {
        "source": "open_clip" if open_clip_model(name) else "openai-clip",
        "name": name,
        "pretrained": cfg.MODEL.BACKBONE.PRETRAINED if open_clip_model(name) else "",
        "file": osp.basename(path) if path else "",
        "sha256": sha256_file(path) if present else "",
    }


def fetch_hint(identity: dict[str, str]) -> str:
    """How to get the weights an identity names (for an error that says which weights to fetch)."""
    name, sha, tag = identity.get("name", ""), identity.get("sha256", ""), identity.get("pretrained", "")
    digest = f" (sha256 {sha})" if sha else ""
    if identity.get("source") == "openai-clip" and name in CLIP_URLS and sha in ("", official_sha256(name)):
        url, target = clip_download_path(name)
        return f"OpenAI's {name} weights{digest}: {url}, at {target} or anywhere with MODEL.BACKBONE.PATH"
    if identity.get("source") == "open_clip" and tag:
        return (
            f"open_clip's {open_clip_model(name)} weights tagged {tag!r}{digest}: open_clip downloads them for "
            f"MODEL.BACKBONE.NAME {name} MODEL.BACKBONE.PRETRAINED {tag}, or put the file anywhere and set MODEL.BACKBONE.PATH"
        )
    return f"the weights file {identity.get('file') or name!r}{digest} of {name}, passed as MODEL.BACKBONE.PATH"


# --- precision, freezing, random models, files -------------------------------------------------
def cast_clip_weights(model: nn.Module, dtype: torch.dtype, projections: bool = True) -> nn.Module:
    """Store CLIP's matmul weights (Linear, Conv, attention projections; with ``projections`` also
    ``text_projection``, ``visual.proj`` and open_clip's layer scales, so that the residual stream
    runs in ``dtype``: CoOp's fp16 CLIP) in ``dtype``, in place; returns ``model``.

    LayerNorms, embeddings, the class/positional embeddings and ``logit_scale`` stay fp32, as in
    ``clip.model.convert_weights`` (CLIP's LayerNorm computes in fp32 and needs fp32 weights).
    Under autocast, weights stored in the autocast dtype give the same matmul results as fp32
    weights (autocast rounds them to that dtype anyway) at half the memory and without a per-step
    cast: frozen weights are not in autocast's cast cache.
    """
    # open_clip's text projection may be a Linear (with a bias): a projection all the same.
    text_projection = getattr(model, "text_projection", None)
    for module in model.modules():
        if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Linear)) and (projections or module is not text_projection):
            module.weight.data = module.weight.data.to(dtype)
            if module.bias is not None:
                module.bias.data = module.bias.data.to(dtype)
        if isinstance(module, nn.MultiheadAttention):
            for attr in ("in_proj_weight", "in_proj_bias", "q_proj_weight", "k_proj_weight", "v_proj_weight", "bias_k", "bias_v"):
                tensor = getattr(module, attr)
                if tensor is not None:
                    tensor.data = tensor.data.to(dtype)
        if projections:
            for attr in ("text_projection", "proj", "gamma"):
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
    vision_layers: int | tuple[int, int, int, int] = 2,
    vision_width: int = 64,
    vision_patch_size: int | None = 16,
    context_length: int = 77,
    vocab_size: int = 49408,
    transformer_width: int = 64,
    transformer_heads: int = 1,
    transformer_layers: int = 2,
    seed: int | None = 0,
) -> CLIP:
    """A randomly initialised ``clip.model.CLIP`` (fp32, eval) for tests, smoke runs and benches:
    tiny by default, or any OpenAI shape (``vision_layers`` a 4-tuple: a ResNet image tower).

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
    """Save a CLIP model (either source) as a plain state-dict file that :func:`load_clip`
    (``path=``) reads."""
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    atomic_write_bytes(path, buffer.getvalue())
