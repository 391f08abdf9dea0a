"""Every peer method end to end through ``train.py`` from its recipe config, on a generated dataset
and the tiny CLIP (CPU, fp32): train on the base classes, check what the checkpoint holds, then
evaluate that checkpoint on the new classes."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from conftest import TINY_INPUT_SIZE
from datasets.synthetic import make_synthetic_dataset

REPO = Path(__file__).resolve().parents[1]
TRAINERS = REPO / "configs" / "trainers"
# method -> (recipe, registered model folder, overrides that fit the 3-block tiny CLIP, trained tensors)
METHODS = {
    "MaPLe": ("MaPLe/vit_b16_c2_ep5_batch4_2ctx.yaml", "MultiModalPromptLearner", ["TRAINER.MAPLE.PROMPT_DEPTH", "3"],
              {"ctx", "proj.weight", "proj.bias", "compound_prompts_text.0", "compound_prompts_text.1",
               "compound_prompt_projections.0.weight", "compound_prompt_projections.0.bias",
               "compound_prompt_projections.1.weight", "compound_prompt_projections.1.bias"}),
    "IVLP": ("IVLP/vit_b16_c2_ep5_batch4_2+2ctx.yaml", "VLPromptLearner",
             ["TRAINER.IVLP.PROMPT_DEPTH_TEXT", "3", "TRAINER.IVLP.PROMPT_DEPTH_VISION", "2"],
             {"ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts"}),
    "VPT": ("VPT/vit_b16_c2_ep5_batch4_4.yaml", "prompt_learner", ["TRAINER.VPT.PROMPT_DEPTH_VISION", "3"],
            {"visual_ctx", "visual_deep_prompts"}),
    "PromptSRC": ("PromptSRC/vit_b16_c2_ep20_batch4_4+4ctx.yaml", "VLPromptLearner",
                  ["TRAINER.PROMPTSRC.PROMPT_DEPTH_TEXT", "3", "TRAINER.PROMPTSRC.PROMPT_DEPTH_VISION", "3",
                   "TRAINER.PROMPTSRC.GPA_MEAN", "1"],
                  {"ctx", "deep_prompts", "visual_ctx", "visual_deep_prompts"}),
    "KgCoOp": ("KgCoOp/vit_b16_ep100_ctxv1.yaml", "prompt_learner", [], {"ctx"}),
}  # fmt: skip


def _argv(root: str, clip_file: str, out: Path, method: str, flags: list[str], subsample: str) -> list[str]:
    config, _, fit, _ = METHODS[method]
    return [
        "--root", root, "--seed", "1", "--trainer", method, "--backend", "builtin",
        "--dataset-config-file", str(REPO / "configs" / "datasets" / "dtd.yaml"), "--config-file", str(TRAINERS / config),
        "--output-dir", str(out), *flags,
        "DATASET.SUBSAMPLE_CLASSES", subsample, "MODEL.BACKBONE.PATH", clip_file, "INPUT.SIZE", TINY_INPUT_SIZE,
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "DATALOADER.TEST.BATCH_SIZE", "4",
        "OPTIM.MAX_EPOCH", "2", "DATASET.NUM_SHOTS", "2", *fit,
    ]  # fmt: skip


def _result(log: str) -> float:
    assert "=> result" in log and "* accuracy: " in log, log[-2000:]
    return float(log.split("* accuracy: ")[-1].split("%")[0])


@pytest.mark.parametrize("method", list(METHODS))
def test_base_to_new_train_save_and_evaluate(tmp_path, tiny_clip_file, run_train, method):
    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    base_dir, new_dir = tmp_path / "base", tmp_path / "new"
    assert run_train(_argv(data.root, tiny_clip_file, base_dir, method, [], "base")) == 0
    base_log = (base_dir / "log.txt").read_text()
    assert "Finish training" in base_log and 0.0 <= _result(base_log) <= 100.0

    _, folder, _, trained = METHODS[method]
    raw = torch.load(base_dir / folder / "model.pth.tar-2", map_location="cpu", weights_only=True)
    assert set(raw["state_dict"]) == trained  # only what was trained: no CLIP weight, no class buffer
    if method == "PromptSRC":  # the aggregate of the prompts is the final model, and it is resumable
        assert set(raw["gpa"]) == trained
        for name, value in raw["state_dict"].items():
            torch.testing.assert_close(value, raw["gpa"][name])

    flags = ["--eval-only", "--model-dir", str(base_dir)]
    assert run_train(_argv(data.root, tiny_clip_file, new_dir, method, flags, "new")) == 0
    new_log = (new_dir / "log.txt").read_text()
    assert "model.pth.tar-2" in new_log and 0.0 <= _result(new_log) <= 100.0


# --- linear-probe CLIP ---------------------------------------------------------------------------
def _lpclip_reference(train_x, train_y, val_x, val_y, steps: int = 8):
    """lpclip's procedure as its linear_probe.py runs it, written out: the coarse grid (the first
    best), then per step fit both ends of [a, b] (log10 C) and move towards the better one."""
    from sklearn.linear_model import LogisticRegression

    def acc(c):
        clf = LogisticRegression(solver="lbfgs", max_iter=1000, C=c).fit(train_x, train_y)  # penalty l2 (default)
        return float((clf.predict(val_x) == val_y).mean()), clf

    grid = [1e6, 1e4, 1e2, 1, 1e-2, 1e-4, 1e-6]
    scores = [acc(c)[0] for c in grid]
    peak = grid[scores.index(max(scores))]
    a, b = torch.log10(torch.tensor(peak)).item() - 1, torch.log10(torch.tensor(peak)).item() + 1
    best = peak
    for _ in range(steps):
        if acc(10**a)[0] < acc(10**b)[0]:
            best, a = 10**b, (a + b) / 2
        else:
            best, b = 10**a, (a + b) / 2
    return best, acc(best)[1]


def test_search_of_c_is_lpclips():
    import numpy as np

    from trainers.linear_probe import search_c

    rng = np.random.default_rng(0)
    centres = rng.normal(size=(5, 16))
    def draw(n):  # noqa: E306
        y = np.repeat(np.arange(5), n)
        return centres[y] + 1.5 * rng.normal(size=(len(y), 16)), y
    (tx, ty), (vx, vy) = draw(4), draw(4)
    clf, c, acc, history = search_c(tx, ty, vx, vy)
    ref_c, ref_clf = _lpclip_reference(tx, ty, vx, vy)
    assert c == ref_c and np.array_equal(clf.coef_, ref_clf.coef_)
    assert acc == float((clf.predict(vx) == vy).mean()) and len(history) == len({h[0] for h in history})  # each C fitted once


def test_linear_probe_few_shot_through_train_py(tmp_path, tiny_clip_file, run_train):
    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    cache = tmp_path / "cache"

    def argv(out: Path, seed: int, *flags: str) -> list[str]:
        return [
            "--root", data.root, "--seed", str(seed), "--trainer", "LinearProbeCLIP", "--backend", "builtin",
            "--dataset-config-file", str(REPO / "configs" / "datasets" / "dtd.yaml"),
            "--config-file", str(TRAINERS / "LinearProbeCLIP" / "vit_b16.yaml"), "--output-dir", str(out), *flags,
            "MODEL.BACKBONE.PATH", tiny_clip_file, "INPUT.SIZE", TINY_INPUT_SIZE, "DATALOADER.NUM_WORKERS", "0",
            "DATASET.NUM_SHOTS", "2", "TRAINER.LINEARPROBECLIP.FEATURE_CACHE", str(cache),
        ]  # fmt: skip

    assert run_train(argv(tmp_path / "s1", 1)) == 0
    log = (tmp_path / "s1" / "log.txt").read_text()
    assert "Logistic regression: C = " in log and "Finish training" in log
    accuracy = _result(log)
    raw = torch.load(tmp_path / "s1" / "linear_probe" / "model.pth.tar-1", map_location="cpu", weights_only=True)
    assert set(raw["state_dict"]) == {"linear.weight", "linear.bias"} and raw["state_dict"]["linear.weight"].shape == (4, 32)
    cached = sorted(p.name.split("-")[0] for p in (cache / "DescribableTextures").iterdir())
    assert cached == ["test", "train", "val"]
    assert run_train(argv(tmp_path / "s2", 2)) == 0  # another seed: another training set, the same test set
    log2 = (tmp_path / "s2" / "log.txt").read_text()
    assert "test features: 8 images, from the cache" in log2 and "train features: 8 images, extracted" in log2
    assert run_train(argv(tmp_path / "e", 1, "--eval-only", "--model-dir", str(tmp_path / "s1"))) == 0
    assert _result((tmp_path / "e" / "log.txt").read_text()) == accuracy
