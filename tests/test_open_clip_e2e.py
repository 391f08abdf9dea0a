"""MuDPT on an open_clip backbone end to end (issue 19): open_clip's ViT-S-32-alt with random weights
saved to a file, trained on the base classes by ``sweep.py`` (its ``train.py`` process), then that
model evaluated on the new classes by ``train.py --eval-only``. CPU, fp32."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.seam import sha256_file

pytest.importorskip("open_clip")

REPO = Path(__file__).resolve().parents[1]
BACKBONE = "open_clip:ViT-S-32-alt"  # 224 px, 10 text blocks: the MuDPT recipe's depth 9 fits
SMALL = ["DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "DATALOADER.TEST.BATCH_SIZE", "4", "OPTIM.MAX_EPOCH", "1"]


@pytest.mark.slow
def test_mudpt_on_open_clip_weights_from_a_file_through_sweep_and_train_py(sweep, run_train, tmp_path, monkeypatch):
    from datasets.synthetic import make_synthetic_dataset
    from trainers.clip_loader import build_open_clip, save_state_dict

    weights = tmp_path / "vit_s_32_alt.pt"
    save_state_dict(build_open_clip("ViT-S-32-alt", seed=7), str(weights))
    data = make_synthetic_dataset(str(tmp_path / "data"), "dtd", n_classes=4, n_train=2, n_val=1, n_test=2, image_size=32)
    monkeypatch.setenv("PYTHONPATH", str(REPO))

    code, out, _ = sweep("base2new", "--methods", "mudpt", "--datasets", "dtd", "--seeds", "1", "--steps", "train",
                         "--clip-path", str(weights), "MODEL.BACKBONE.NAME", BACKBONE, "DATASET.NUM_SHOTS", "1", *SMALL)  # fmt: skip
    assert code == 0, out
    assert out.rstrip().endswith("Summary: 1 done")
    (run,) = (tmp_path / "output" / "base2new" / "train_base" / "dtd" / "shots_1" / "MuDPT").glob("*/seed1")
    assert "-backbone.nameopen_clip_ViT_S_32_alt-" in run.parent.name  # the backbone names the run folder
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "complete" and record["inputs"]["clip"]["sha256"] == sha256_file(str(weights))
    log = (run / "log.txt").read_text()
    assert f"Loading CLIP (backbone: {weights})" in log and "Finish training" in log

    new = tmp_path / "new"
    argv = ["--root", data.root, "--seed", "1", "--trainer", "MuDPT", "--output-dir", str(new), "--eval-only", "--model-dir", str(run),
            "--config-file", str(run / "config.yaml"), "DATASET.SUBSAMPLE_CLASSES", "new"]  # fmt: skip
    assert run_train(argv) == 0
    log = (new / "log.txt").read_text()
    assert 'Loading weights to MultimodalDeepPromptTuning from "' in log and "* total: 4" in log  # 2 new classes x 2 images
