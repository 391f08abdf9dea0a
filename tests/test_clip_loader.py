"""CLIP loading: OpenAI-style TorchScript files, plain state-dict files, and the errors."""
from __future__ import annotations

import warnings

import pytest
import torch

from conftest import TINY_CLIP
from trainers.clip_loader import CLIPLoadError, build_tiny_clip, cast_clip_weights, clip, load_clip, save_state_dict


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_torchscript_file_like_openai_releases(tmp_path):
    model = build_tiny_clip(**TINY_CLIP)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(model, (torch.randn(1, 3, 32, 32), clip.tokenize(["a dog"])), check_trace=False)
    path = tmp_path / "ViT-tiny.pt"
    traced.save(str(path))
    loaded = load_clip("ViT-B/16", str(path))  # the path wins over the name
    assert _same_weights(loaded, model) and not loaded.training
    assert next(loaded.parameters()).dtype == torch.float32


def test_state_dict_files_stay_exact_in_fp32(tmp_path):
    """clip.model.build_model casts to fp16; the loader reloads fp32 values unchanged."""
    model = build_tiny_clip(**TINY_CLIP)
    save_state_dict(model, str(tmp_path / "sd.pt"))
    assert _same_weights(load_clip("", str(tmp_path / "sd.pt")), model)
    torch.save({"state_dict": model.state_dict(), "epoch": 3}, tmp_path / "wrapped.pt")
    assert _same_weights(load_clip("", str(tmp_path / "wrapped.pt")), model)
    half = cast_clip_weights(build_tiny_clip(**TINY_CLIP), torch.float16)
    save_state_dict(half, str(tmp_path / "half.pt"))  # like OpenAI's fp16 weights
    assert next(load_clip("", str(tmp_path / "half.pt")).visual.conv1.parameters()).dtype == torch.float32


def test_loader_errors_name_the_problem(tmp_path):
    with pytest.raises(CLIPLoadError, match=r'MODEL.BACKBONE.PATH ".*nope.pt" does not exist'):
        load_clip("ViT-B/16", str(tmp_path / "nope.pt"))
    torch.save({"ctx": torch.zeros(2)}, tmp_path / "prompts.pt")
    with pytest.raises(CLIPLoadError, match='is not a CLIP checkpoint \\(no "token_embedding.weight"'):
        load_clip("", str(tmp_path / "prompts.pt"))
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CLIPLoadError, match="Cannot read CLIP weights from"):
        load_clip("", str(tmp_path / "garbage.pt"))
    with pytest.raises(CLIPLoadError, match=r"Unknown CLIP backbone 'ViT-B/17' \(MODEL.BACKBONE.NAME\). Available: RN50"):
        load_clip("ViT-B/17")
