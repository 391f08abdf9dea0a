"""The benchmark (bench/bench.py, issue 7) runs end to end on the CPU in tiny mode.

A smoke test with exact checks of what it reports (no timing assertions): one JSON line per row
with the expected keys, the batch sizes of the real configs, trainable-parameter counts equal to
the learner's, logits of the right shape, and the official numbers attached only where they apply.
"""
from __future__ import annotations

import json
import math

import pytest

from bench import bench, common
from bench.bench import main

N_CLS = 10
EVAL_BATCH = 3
# One thread: with two on a busy 2-core machine, OpenMP waits make the run many times slower.
TINY_ARGS = ["--size", "tiny", "--device", "cpu", "--n-cls", str(N_CLS), "--warmup", "1", "--iters", "2",
             "--eval-batches", "1", "--eval-batch", str(EVAL_BATCH), "--threads", "1"]
# Training batch of each method's benchmark config (issue 7's table), and its trainable tensors on
# the tiny CLIP (text width 64, image feature width 32): CoOp 16 context vectors; CoCoOp 4 context
# vectors ("a photo of a") + Meta-Net 32 -> 2 -> 64.
CONFIG_BATCH = {"MuDPT": 4, "CoOp": 32, "CoCoOp": 1, "KgCoOp": 128, "MaPLe": 4, "IVLP": 4, "VPT": 4, "PromptSRC": 4,
                "ZeroshotCLIP": None, "LinearProbeCLIP": None}  # fmt: skip
TINY_TRAINABLE = {
    "CoOp": 16 * 64, "CoCoOp": 4 * 64 + (32 * 2 + 2) + (2 * 64 + 64), "KgCoOp": 4 * 64, "ZeroshotCLIP": 0,
    "LinearProbeCLIP": 32 * N_CLS + N_CLS,  # the head on the 32-d image features
    "IVLP": 12 * 2 * 64 + 12 * 2 * 64, "VPT": 12 * 8 * 64, "PromptSRC": 9 * 4 * 64 + 9 * 4 * 64,
    "MaPLe": 9 * (2 * 64 + 64 * 64 + 64),  # per layer: P_i (2 x 64) and F_i (64 -> 64)
}  # fmt: skip
EVAL_ONLY = {"ZeroshotCLIP", "LinearProbeCLIP"}
KEYS = {
    "method", "config", "precision", "precision_run", "fused", "n_cls", "batch", "eval_batch", "size", "device",
    "train_ms", "train_ms_mean", "peak_mb", "peak_kind", "eval_img_s", "eval_batch_ms", "eval_first_batch_ms",
    "trainable_params", "classnames", "error", "loss", "logits_shape", "activation_mb", "train_host_ms",
    "predict_img_s", "predict_batch_ms", "predict_first_batch_ms",
}


@pytest.fixture(autouse=True)
def _restore_threads():
    """--threads sets torch's process-wide thread count; give the other tests theirs back."""
    import torch

    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def _methods() -> list[str]:
    return list(bench.available_methods())


def _read(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _learner_numel(method: str) -> int:
    """Parameters of the learner built independently of the bench, from the same config."""
    from runconfig import build_config
    from trainers.clip_loader import build_tiny_clip, freeze
    from trainers.factory import create_model

    cfg = build_config(trainer=method, config_file=str(bench.REPO / bench.bench_methods()[method]),
                       dataset_config_file=str(bench.REPO / common.DATASET_CONFIG), opts=["INPUT.SIZE", "(32, 32)"])  # fmt: skip
    names = bench.load_classnames(N_CLS)[0]
    model = create_model(cfg, names, freeze(build_tiny_clip(**common.SIZES["tiny"])))
    return sum(p.numel() for p in model.learner.parameters())


@pytest.mark.slow
def test_bench_tiny_cpu_every_method_fused_on_and_off(tmp_path, capsys):
    methods = _methods()
    assert set(CONFIG_BATCH) == set(methods)
    out = tmp_path / "bench.jsonl"
    assert main([*TINY_ARGS, "--fused", "both", "--iters", "1", "--json", str(out)]) == 0
    records = _read(out)
    assert [(r["method"], r["fused"]) for r in records] == [(m, f) for m in methods for f in (True, False)]
    for r in records:
        assert KEYS <= set(r), KEYS - set(r)
        assert r["error"] is None
        assert (r["n_cls"], r["size"], r["device"], r["precision"], r["precision_run"]) == (N_CLS, "tiny", "cpu", "fp32", "fp32")
        assert r["batch"] == CONFIG_BATCH[r["method"]]
        assert r["eval_batch"] == EVAL_BATCH and r["logits_shape"] == [EVAL_BATCH, N_CLS]
        assert r["eval_img_s"] > 0 and r["eval_batch_ms"] > 0 and r["eval_first_batch_ms"] > 0
        assert r["predict_img_s"] > 0 and r["predict_batch_ms"] > 0 and r["predict_first_batch_ms"] > 0
        assert r["peak_kind"] == "cpu_rss_growth"
        assert "official" not in r  # tiny CLIP: nothing to compare with
        expected = TINY_TRAINABLE.get(r["method"])
        if expected is None:
            expected = _learner_numel(r["method"])
        assert r["trainable_params"] == expected
        if r["method"] in EVAL_ONLY:
            assert r["train_ms"] is None and r["loss"] is None and r["activation_mb"] is None
        else:
            assert r["train_ms"] > 0 and r["train_ms_mean"] > 0 and r["train_host_ms"] > 0 and r["activation_mb"] > 0
            assert math.isfinite(r["loss"]) and r["loss"] > 0
    table = capsys.readouterr().out
    assert "| method" in table and "trainable params" in table and "predict img/s" in table
    assert table.count("| CoCoOp ") == 2


def test_the_paths_of_a_row_pair_are_timed_interleaved():
    """Each call's first batch untimed, then rounds in alternating order (neither path always
    first); the rows of a pair are those that differ only in their path."""
    import torch

    order = []

    def call(name: str):
        return lambda: order.append(name) or torch.ones(2)

    timed = bench.time_interleaved([call("on"), call("off")], batches=3, device=torch.device("cpu"), n_images=2)
    assert order == ["on", "off", "on", "off", "off", "on", "on", "off"]
    assert [sorted(t) for t in timed] == [["batch_ms", "first_batch_ms", "img_s", "output", "peak_mb"]] * 2
    assert all(t["img_s"] == 2 / (t["batch_ms"] / 1000) for t in timed)
    spec = common.RowSpec("CoOp", "x.yaml", "fp32", True, 10)
    other = common.RowSpec("CoOp", "x.yaml", "fp32", True, 50)
    pairs = bench._path_pairs([spec, common.RowSpec("CoOp", "x.yaml", "fp32", False, 10), other])
    assert pairs == [[spec, common.RowSpec("CoOp", "x.yaml", "fp32", False, 10)], [other]]


def test_the_cpu_peak_of_a_row_does_not_depend_on_the_rows_before_it(tmp_path, monkeypatch):
    """CoOp's step (batch 32) needs about four times VPT's (batch 4): measured after CoOp in the same
    process, VPT's peak was hidden by the pages CoOp freed (0.0). Each row's peak, in either order,
    is now its own step's; a step whose growth cannot be seen is reported as unknown, not 0."""
    peaks: dict[str, list[float]] = {"VPT": [], "CoOp": []}
    for order in (["VPT", "CoOp"], ["CoOp", "VPT"]):
        out = tmp_path / f"{'-'.join(order)}.jsonl"
        argv = [*TINY_ARGS, "--methods", *order, "--fused", "on", "--iters", "1", "--eval-batches", "0", "--json", str(out)]
        assert main(argv) == 0
        for r in _read(out):
            assert r["peak_kind"] == "cpu_rss_growth" and r["peak_mb"] is not None and r["peak_mb"] > 0, r
            peaks[r["method"]].append(r["peak_mb"])
    for method, (first, after) in peaks.items():
        assert 2 / 3 < after / first < 3 / 2, (method, first, after)
    assert min(peaks["CoOp"]) > 2 * max(peaks["VPT"])

    monkeypatch.setattr(bench.PeakMemory, "growth_mb", lambda self: 0.0)
    out = tmp_path / "hidden.jsonl"
    assert main([*TINY_ARGS, "--methods", "VPT", "--fused", "on", "--iters", "1", "--eval-batches", "0", "--json", str(out)]) == 0
    (r,) = _read(out)
    assert r["peak_mb"] is None and r["activation_mb"] > 0


def test_fused_off_alone_and_batch_override(tmp_path):
    out = tmp_path / "b.jsonl"
    assert main([*TINY_ARGS, "--methods", "CoCoOp", "--fused", "off", "--batch", "2", "--json", str(out)]) == 0
    (r,) = _read(out)
    assert (r["method"], r["fused"], r["batch"]) == ("CoCoOp", False, 2)
    assert r["train_ms"] > 0 and r["eval_img_s"] > 0


def test_generated_class_names_when_the_imagenet_list_is_absent(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "IMAGENET_CLASSNAMES", tmp_path / "missing.txt")
    names, source = bench.load_classnames(3)
    assert names == ["class 0", "class 1", "class 2"] and source.startswith("generated")
    listing = tmp_path / "classnames.txt"
    listing.write_text("n01440764 tench\nn01443537 goldfish\nhammerhead shark\n")
    assert bench.load_classnames(3, str(listing))[0] == ["tench", "goldfish", "hammerhead shark"]
    with pytest.raises(ValueError, match="--n-cls 4 exceeds the 3 class names"):
        bench.load_classnames(4, str(listing))


def test_bad_arguments_are_reported(capsys):
    assert main([*TINY_ARGS, "--methods", "CoOP"]) == 2
    err = capsys.readouterr().err
    assert "Unknown or unavailable method 'CoOP'" in err and "CoOp" in err
    assert main([*TINY_ARGS, "--prec", "bf16"]) == 2
    assert "--prec 'bf16' is not valid" in capsys.readouterr().err
    assert main([*TINY_ARGS, "--config", "CoOp"]) == 2
    assert "--config takes METHOD=FILE" in capsys.readouterr().err


def test_official_rows_match_method_precision_and_shape():
    assert bench.official_for("CoOp", "fp16", 500, "vitb16")["train_ms"] == 58
    assert bench.official_for("CoOp", "amp", 500, "vitb16")["precision"] == "fp16"  # the method's only official row
    assert bench.official_for("MuDPT", "fp32", 500, "vitb16")["train_ms"] == 208
    assert bench.official_for("MuDPT", "fp16", 500, "vitb16")["precision"] == "amp"  # its fastest official setting
    assert bench.official_for("MuDPT", "amp", 50, "vitb16") is None
    assert bench.official_for("MuDPT", "amp", 500, "tiny") is None
    assert bench.official_for("ZeroshotCLIP", "amp", 500, "vitb16") is None


def test_precision_check_runs_and_compares_every_variant(tmp_path):
    from bench import precision_check

    out = tmp_path / "precision.jsonl"
    argv = ["--size", "tiny", "--device", "cpu", "--methods", "CoOp", "--n-cls", "3", "--images", "2", "--json", str(out)]
    assert precision_check.main(argv) == 0
    records = _read(out)
    assert [(r["precision"], r["fused"]) for r in records] == list(precision_check.VARIANTS)
    for r in records:
        assert r["ok"] and r["precision_run"] == "fp32"  # CPU: every precision runs as fp32
        assert r["logits_rel_err"] < 1e-4 and r["top1_agree"] == 1.0 and r["grad_cos"] > 0.9999
    assert records[-1]["logits_rel_err"] == 0.0  # amp on the plain path is the reference itself on a CPU
