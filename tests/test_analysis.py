"""The alignment analysis (``python -m analysis alignment``) on real runs of the tiny CLIP and a
generated dataset, trained for one epoch through ``train.py``: its numbers against independent
computations (CLIP's own ``encode_text`` / ``encode_image``, hand-made features), what a method
that leaves a tower frozen must give, the files it writes, and its error messages."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from conftest import TINY_CLIP, TINY_INPUT_SIZE

REPO = Path(__file__).resolve().parents[1]
TRAINERS = REPO / "configs" / "trainers"
DEPTH = 3  # the tiny CLIP's blocks per tower
# method -> (recipe, overrides that fit the tiny CLIP, flags)
RUNS = {
    "MuDPT": ("MuDPT/vit_b16_c2_ep10_batch4_depth9.yaml",
              ["TRAINER.MUDPT.PROMPT_DEPTH", str(DEPTH), "TRAINER.MUDPT.INJ_WIDTH", "64", "TRAINER.MUDPT.INJ_HEADS", "2"], []),
    "CoOp": ("CoOp/vit_b16_ep50.yaml", ["TRAINER.COOP.N_CTX", "4"], []),
    "VPT": ("VPT/vit_b16_c2_ep5_batch4_4.yaml", ["TRAINER.VPT.PROMPT_DEPTH_VISION", str(DEPTH)], []),
    "ZeroshotCLIP": ("CoOp/vit_b16_ep50.yaml", [], ["--eval-only"]),
}  # fmt: skip


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, str]:
    """One run folder per method of RUNS (1 epoch, 2 shots, 4 classes, 8 test images)."""
    import engine.seam
    import train
    from datasets.synthetic import make_synthetic_dataset
    from trainers.clip_loader import build_tiny_clip, save_state_dict

    work = tmp_path_factory.mktemp("alignment")
    data = make_synthetic_dataset(str(work / "data"), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)
    clip_file = str(work / "tiny_clip.pt")
    save_state_dict(build_tiny_clip(**TINY_CLIP), clip_file)
    folders = {}
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sys, "stdout", sys.stdout)  # train.py tees stdout into log.txt
        mp.setattr(engine.seam, "collect_env_info", lambda: "(skipped in tests)")
        for method, (config, fit, flags) in RUNS.items():
            out = work / method
            argv = [
                "--root", data.root, "--seed", "1", "--trainer", method, "--backend", "builtin",
                "--dataset-config-file", str(REPO / "configs" / "datasets" / "dtd.yaml"),
                "--config-file", str(TRAINERS / config), "--output-dir", str(out), *flags,
                "MODEL.BACKBONE.PATH", clip_file, "INPUT.SIZE", TINY_INPUT_SIZE, "DATALOADER.NUM_WORKERS", "0",
                "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "DATALOADER.TEST.BATCH_SIZE", "3", "OPTIM.MAX_EPOCH", "1",
                "DATASET.NUM_SHOTS", "2", "OPTIM.LR", "0.5", *fit,
            ]  # fmt: skip
            assert train.main(argv) == 0
            sys.stdout.flush()
            folders[method] = str(out)
    return folders


@pytest.fixture(scope="module")
def measured(runs) -> dict[str, tuple]:
    """(run, its measures, frozen CLIP's measures) per method, on the test split."""
    from analysis.alignment import alignment_measures, load_run

    out = {}
    for method, folder in runs.items():
        run = load_run(folder)
        out[method] = (run, *alignment_measures(run, "test"))
    return out


def _split_images(run) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = zip(*((b["img"], b["label"]) for b in run.loader("test")))
    return torch.cat(images), torch.cat(labels)


# --- numbers against independent computations --------------------------------------------------------
def test_zero_shot_numbers_recomputed_with_clips_own_encoders(measured):
    from trainers.clip_loader import clip, load_clip_from_cfg

    run, mine, ref = measured["ZeroshotCLIP"]
    clip_model = load_clip_from_cfg(run.cfg).eval()
    images, labels = _split_images(run)
    with torch.no_grad():
        f = F.normalize(clip_model.encode_image(images), dim=-1)  # (N, E)
        tokens = clip.tokenize([run.template.format(c.replace("_", " ")) for c in run.classnames])
        t = F.normalize(clip_model.encode_text(tokens), dim=-1)  # (C, E)
    cos = f @ t.t()
    rows = torch.arange(len(labels))
    true = cos[rows, labels]
    wrong = torch.stack([torch.cat([cos[i, :y], cos[i, y + 1 :]]).max() for i, y in enumerate(labels.tolist())])
    assert mine.images == len(labels) == 8 and mine.classes == 4
    assert mine.modality_gap == pytest.approx(float((f.mean(0) - t.mean(0)).norm()), rel=1e-5)
    assert mine.true_cosine == pytest.approx(float(true.mean()), abs=1e-6)
    assert mine.margin == pytest.approx(float((true - wrong).mean()), abs=1e-6)
    assert mine.accuracy == pytest.approx(100.0 * float((cos.argmax(1) == labels).float().mean()))
    assert mine.image_movement == pytest.approx(1.0, abs=1e-6) and mine.text_movement == pytest.approx(1.0, abs=1e-6)
    assert mine.prompt_cosine is None and mine.modality_gap == ref.modality_gap  # the run is its own reference


def test_coop_leaves_the_image_tower_frozen_and_moves_the_text_tower(measured):
    _, coop, ref = measured["CoOp"]
    assert coop.image_movement == pytest.approx(1.0, abs=1e-6)
    assert len(coop.image_state_movement) == DEPTH and all(c == pytest.approx(1.0, abs=1e-6) for c in coop.image_state_movement)
    assert coop.text_movement < 0.999 and len(coop.text_state_movement) == DEPTH
    assert coop.prompt_cosine is None and coop.injection_attention is None
    assert ref.identity["method"] == "ZeroshotCLIP" and ref.identity["reference_of"] == coop.identity["path"]


def test_vpt_moves_the_image_tower_only_by_its_prompts(measured):
    _, vpt, _ = measured["VPT"]
    assert vpt.image_movement < 0.9999 and vpt.prompt_cosine is None
    assert len(vpt.image_state_movement) == len(vpt.text_state_movement) == DEPTH


def test_mudpt_prompt_cosines_per_layer_in_clips_joint_space(measured):
    run, mudpt, _ = measured["MuDPT"]
    model = run.model
    assert len(mudpt.prompt_cosine) == len(mudpt.prompt_cosine_matched) == DEPTH
    assert len(mudpt.image_state_movement) == len(mudpt.text_state_movement) == DEPTH
    with torch.no_grad():  # layer 1 written out: deep prompts through ln_final + text_projection / ln_post + proj
        _, text_deep, _, vision_deep = model.learner()
        t = F.normalize(model.text_encoder.ln_final(text_deep[0]) @ model.text_encoder.text_projection, dim=-1)
        v = F.normalize(model.image_encoder.visual.ln_post(vision_deep[0]) @ model.image_encoder.visual.proj, dim=-1)
    assert mudpt.prompt_cosine[1] == pytest.approx(float((t @ v.t()).mean()), abs=1e-6)
    assert mudpt.prompt_cosine_matched[1] == pytest.approx(float(torch.diagonal(t @ v.t()).mean()), abs=1e-6)
    assert mudpt.image_movement < 1.0 and mudpt.text_movement < 1.0


def test_margin_and_gap_by_hand():
    from analysis.alignment import modality_gap, true_class_scores

    image = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 3.0]])  # normalised: e1, e2, (e1+e2)/sqrt2
    text = torch.tensor([[2.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])  # e1, e2, -e1
    true, margin = true_class_scores(image, text, torch.tensor([0, 0, 1]))
    s = 2**-0.5
    torch.testing.assert_close(true, torch.tensor([1.0, 0.0, s]))
    torch.testing.assert_close(margin, torch.tensor([1.0 - 0.0, 0.0 - 1.0, s - s]))
    centre_i = torch.tensor([1 + s, 1 + s]) / 3
    centre_t = torch.tensor([0.0, 1.0]) / 3
    assert modality_gap(image, text) == pytest.approx(float((centre_i - centre_t).norm()), rel=1e-6)


def test_injection_attention_of_mudpt_recomputed_from_its_weights(measured):
    import math

    from analysis.alignment import injection_attention

    run, mudpt, _ = measured["MuDPT"]
    learner = run.model.learner
    report = mudpt.injection_attention
    assert report["layers"] == list(range(1, DEPTH)) and report["directions"] == ["text->vision", "vision->text"]
    with torch.no_grad():
        weights = learner.injection.attention(*learner.raw_prompts())["weights"]  # (1, 2, L, n, n)
    torch.testing.assert_close(torch.tensor(report["weights"]), weights)
    n = weights.shape[-1]
    for d, name in enumerate(report["directions"]):
        for j in range(DEPTH - 1):
            rows = weights[0, d, j]  # (n queries, n keys)
            by_hand = sum(-sum(a * math.log(a) for a in row.tolist()) / math.log(n) for row in rows) / len(rows)
            assert report["entropy"][name][j] == pytest.approx(by_hand, abs=1e-5) and 0 <= by_hand <= 1 + 1e-6
    assert "same_layer_share" not in report  # INJ_SPAN layer: every key is of the query's own layer
    assert injection_attention(measured["CoOp"][0].model.learner) is None


def test_injection_attention_same_layer_share_with_span_all():
    from analysis.alignment import injection_attention

    class Learner:  # what injection_attention reads: the learner's own report
        def __init__(self, weights):
            self.weights = weights

        def injection_attention(self):
            return {"layers": [1, 2], "weights": self.weights}

    w = torch.zeros(1, 2, 2, 1, 2)  # one query per layer, keys: layer 1 then layer 2 (n = 1)
    w[0, 0, 0, 0] = torch.tensor([0.75, 0.25])  # text layer 1 looks mostly at vision layer 1
    w[0, 0, 1, 0] = torch.tensor([0.5, 0.5])
    w[0, 1, :, 0] = torch.tensor([1.0, 0.0])  # vision queries all look at text layer 1
    report = injection_attention(Learner(w))
    assert report["same_layer_share"] == {"text->vision": [0.75, 0.5], "vision->text": [1.0, 0.0]}
    assert report["entropy"]["vision->text"] == [pytest.approx(0.0), pytest.approx(0.0)]
    assert report["entropy"]["text->vision"][1] == pytest.approx(1.0)
    one_key = injection_attention(Learner(torch.ones(1, 2, 1, 1, 1)))  # N_CTX 1, INJ_SPAN layer
    assert one_key["entropy"] == {"text->vision": [None], "vision->text": [None]} and "same_layer_share" not in one_key


# --- the command line -------------------------------------------------------------------------------
def test_cli_writes_json_markdown_and_figures(runs, tmp_path):
    from analysis.__main__ import main

    out = tmp_path / "out"
    assert main(["alignment", runs["MuDPT"], runs["CoOp"], "--out", str(out), "--zero-shot", "--max-images", "5"]) == 0
    record = json.loads((out / "alignment.json").read_text())
    labels = [r["label"] for r in record["runs"]]
    assert labels == ["ZeroshotCLIP", "MuDPT", "CoOp"]  # one reference row for both runs (same data and backbone)
    assert all(r["images"] == 5 for r in record["runs"]) and record["split"] == "test"
    mudpt = record["runs"][1]
    assert mudpt["identity"]["method"] == "MuDPT" and mudpt["identity"]["settings"]["PROMPT_DEPTH"] == str(DEPTH)
    assert mudpt["identity"]["checkpoint"].endswith("model.pth.tar-1") and len(mudpt["prompt_cosine"]) == DEPTH
    md = (out / "alignment.md").read_text()
    assert "| MuDPT | DescribableTextures |" in md and "## Image tower" in md and "## Text vs visual prompts" in md
    assert "## Injection Model attention (MuDPT)" in md and "| 1 | " in md.split("## Injection Model attention")[1]
    for png in ("alignment_layers.png", "alignment_gap_margin.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_above_runs_stands_for_its_trained_runs(runs):
    from analysis.alignment import find_runs

    parent = str(Path(runs["CoOp"]).parent)  # also holds data/ and the zero-shot (evaluation) folder
    assert find_runs(parent) == sorted(runs[m] for m in ("CoOp", "MuDPT", "VPT"))
    assert find_runs(runs["ZeroshotCLIP"]) == [runs["ZeroshotCLIP"]]  # a run folder is itself


def test_a_folder_of_evaluations_only_says_where_the_checkpoints_are(runs, tmp_path):
    import shutil

    from analysis.alignment import find_runs
    from engine.errors import CheckpointError

    shutil.copytree(runs["ZeroshotCLIP"], tmp_path / "test_new" / "seed1")  # an evaluation-only run
    with pytest.raises(CheckpointError, match=r"holds only evaluation runs .* Pass the training runs they evaluated"):
        find_runs(str(tmp_path / "test_new"))


def test_cli_errors_name_the_path_and_the_fix(runs, tmp_path, capsys):
    from analysis.__main__ import main

    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["alignment", str(empty), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"error: {empty} is not a run folder and holds no trained run" in err and "a folder above such runs" in err

    no_checkpoint = tmp_path / "no_checkpoint"
    no_checkpoint.mkdir()
    (no_checkpoint / "config.yaml").write_text((Path(runs["CoOp"]) / "config.yaml").read_text())
    assert main(["alignment", str(no_checkpoint), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"{no_checkpoint} holds no checkpoint" in err and "rerun its train.py command" in err

    (no_checkpoint / "run.json").write_text(json.dumps({"kind": "eval"}))  # a train.py --eval-only folder
    assert main(["alignment", str(no_checkpoint), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert f"{no_checkpoint} is an evaluation run" in err and "--classes new" in err

    assert main(["alignment", runs["CoOp"], "--out", str(tmp_path / "o"), "--root", str(tmp_path / "nowhere")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "nowhere") in err and "DATASETS.md" in err

    assert main(["alignment", runs["CoOp"], "--out", str(tmp_path / "o2"), "--max-images", "0"]) == 1
    assert "--max-images 0" in capsys.readouterr().err
    assert not (tmp_path / "o2").exists()  # refused before anything is written


def test_an_unfinished_training_is_measured_only_when_its_epoch_is_asked_for(runs, tmp_path, capsys):
    """train.py --eval-only's rule (one check, in the run folder): a run whose training failed is
    refused naming its state; with --load-epoch it is measured, and the output says so."""
    import shutil

    from analysis.__main__ import main

    run = tmp_path / "coop"
    shutil.copytree(runs["CoOp"], run)
    record = json.loads((run / "run.json").read_text())
    (run / "run.json").write_text(json.dumps({**record, "status": "failed", "error": "Out of memory. Lower the batch size."}))
    assert main(["alignment", str(run), "--out", str(tmp_path / "o"), "--no-plots"]) == 1
    assert capsys.readouterr().err == (
        f"error: {run} holds a training run that failed (Out of memory): its last checkpoint (epoch 1 of 1) is not the "
        "model it would deploy. Finish it (rerun its train.py command: it resumes), or evaluate an epoch explicitly "
        "(--load-epoch N).\n"
    )
    assert main(["alignment", str(run), "--out", str(tmp_path / "o"), "--no-plots", "--load-epoch", "1", "--max-images", "2"]) == 0
    assert (
        f"Note: the training of {run} failed (Out of memory); evaluating its epoch 1 of 1 as asked (--load-epoch), not "
        "the model a finished run deploys.\n"
    ) in capsys.readouterr().out
    (row,) = json.loads((tmp_path / "o" / "alignment.json").read_text())["runs"]
    assert row["identity"]["unfinished_training"] == {"run": str(run), "status": "failed", "epoch": 1, "max_epoch": 1}
    assert "; epoch 1 of a training that did not complete (failed))" in (tmp_path / "o" / "alignment.md").read_text()


@pytest.mark.parametrize("case", ["under a file", "a file", "read-only", "fails when written"])
def test_an_out_folder_that_cannot_be_created_is_one_line(tmp_path, capsys, monkeypatch, case):
    """--out is checked before any run is measured (the run named here need not exist), and a write
    into it that fails anyway is the same one-line error; exit 1."""
    import os

    import engine.seam
    from analysis.__main__ import main

    (tmp_path / "afile").write_text("")
    (tmp_path / "ro").mkdir()
    out = {"under a file": tmp_path / "afile" / "x", "a file": tmp_path / "afile"}.get(case, tmp_path / "ro" / "x")
    reason = {"under a file": f"{tmp_path / 'afile'} is a file, not a folder", "a file": "it is a file",
              "read-only": f"{tmp_path / 'ro'} is not writable", "fails when written": f"Permission denied ({out})"}[case]  # fmt: skip
    if case == "read-only":  # as a user without write permission sees it (the tests may run as root)
        access = os.access
        monkeypatch.setattr(os, "access", lambda path, mode: access(path, mode) and os.path.abspath(path) != str(tmp_path / "ro"))
    if case == "fails when written":

        def denied(path):
            raise PermissionError(13, "Permission denied", str(out))

        monkeypatch.setattr(engine.seam, "setup_logger", denied)
    assert main(["alignment", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    assert capsys.readouterr().err == (
        f"error: --out {out} cannot be created: {reason}. Give a folder you can write to, e.g. --out alignment/ "
        "(it is created if needed)\n"
    )
    assert not (tmp_path / "ro" / "x").exists()
