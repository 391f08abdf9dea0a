"""CLIP loading: OpenAI-style TorchScript files, plain state-dict files, and the errors."""
from __future__ import annotations

import os
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


def test_incomplete_or_unreadable_weights_say_what_is_wrong(tmp_path):
    state = build_tiny_clip(**TINY_CLIP).state_dict()
    (tmp_path / "empty.pt").write_bytes(b"")
    with pytest.raises(CLIPLoadError, match=r'"[^"]*empty.pt": the file is empty \(an interrupted download or copy\?\)'):
        load_clip("", str(tmp_path / "empty.pt"))
    (tmp_path / "noise.pt").write_bytes(os.urandom(512))
    with pytest.raises(CLIPLoadError) as err:
        load_clip("", str(tmp_path / "noise.pt"))
    assert "neither a TorchScript archive nor a file of tensors saved with torch.save" in str(err.value)
    assert "weights_only" not in str(err.value)  # torch's advice to run the file's code is not relayed
    # A tensor the architecture is inferred from is missing.
    torch.save({k: v for k, v in state.items() if k != "visual.conv1.weight"}, tmp_path / "no_conv.pt")
    with pytest.raises(CLIPLoadError, match=r"is not a complete CLIP state dict: 'visual.conv1.weight' is missing"):
        load_clip("", str(tmp_path / "no_conv.pt"))
    # A truncated file: whole blocks missing, counted and named.
    partial = {k: v for k, v in state.items() if ".resblocks.1." not in k}
    torch.save(partial, tmp_path / "partial.pt")
    with pytest.raises(CLIPLoadError) as err:
        load_clip("", str(tmp_path / "partial.pt"))
    missing = len(state) - len(partial)
    assert f"misses {missing} tensors of the CLIP model it describes (" in str(err.value)
    assert "resblocks.1." in str(err.value) and f"{len(partial)} tensors in the file): a partial or truncated file?" in str(err.value)
