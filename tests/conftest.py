"""Shared fixtures: a tiny random CLIP, its weights file, the path of ../shared (if any), and sweep.py in-process.

Nothing here downloads anything: CLIP weights and datasets are generated.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The tests always use the built-in engine, whatever is installed (real Dassl is checked by hand).
os.environ.setdefault("MUDPT_BACKEND", "builtin")
# One torch thread in every test process and every process a test starts (train.py, sweeps; the
# variable is read when torch is imported): the tiny models gain nothing from more, and on 2 cores
# two xdist workers (or two sweep jobs) with a thread per core each spin against each other
# (measured: in-process tests 3x slower under `-n 2`). OMP_NUM_THREADS set by the caller wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

# Sizes of the tiny CLIP used throughout the tests. Widths are multiples of 64 so that
# clip.model.build_model (heads = width // 64) rebuilds the same model from a weights file.
TINY_CLIP = dict(
    embed_dim=32,
    image_resolution=32,
    vision_layers=3,
    vision_width=128,
    vision_patch_size=16,
    transformer_width=128,
    transformer_heads=2,
    transformer_layers=3,
)
TINY_INPUT_SIZE = "(32, 32)"


def clip_twins(**shape):
    """The same random CLIP twice: ``build_tiny_clip(**shape)`` (openai-clip) and open_clip's CLIP
    with QuickGELU built to the same shape, holding the same tensors under the same names (a strict
    ``load_state_dict``)."""
    from open_clip.model import CLIP, CLIPTextCfg, CLIPVisionCfg

    from trainers.clip_loader import build_tiny_clip

    openai = build_tiny_clip(**shape)
    vision = CLIPVisionCfg(layers=shape["vision_layers"], width=shape["vision_width"], patch_size=shape["vision_patch_size"] or 16,
                           image_size=shape["image_resolution"])  # fmt: skip
    text = CLIPTextCfg(width=shape["transformer_width"], heads=shape["transformer_heads"], layers=shape["transformer_layers"])
    twin = CLIP(shape["embed_dim"], vision, text, quick_gelu=True)
    twin.load_state_dict(openai.state_dict())
    return openai, twin.eval()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test when that folder is absent (user machines)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not found: ../shared exists only in the project's CI environment")
    return path


@pytest.fixture
def tiny_clip():
    """A fresh tiny random ``clip.model.CLIP`` in fp32, eval mode (same weights every time)."""
    from trainers.clip_loader import build_tiny_clip

    return build_tiny_clip(**TINY_CLIP)


@pytest.fixture(scope="session")
def tiny_clip_file(tmp_path_factory) -> str:
    """The tiny CLIP saved as a state-dict file (what MODEL.BACKBONE.PATH / CLIP_PATH point to)."""
    from trainers.clip_loader import build_tiny_clip, save_state_dict

    path = tmp_path_factory.mktemp("clip") / "tiny_clip.pt"
    save_state_dict(build_tiny_clip(**TINY_CLIP), str(path))
    return str(path)


@pytest.fixture
def run_train(monkeypatch):
    """``train.main(argv)`` in-process; stdout restored afterwards, no slow environment report."""
    import engine.seam
    import train

    monkeypatch.setattr(sys, "stdout", sys.stdout)  # setup_logger tees stdout into log.txt
    monkeypatch.setattr(engine.seam, "collect_env_info", lambda: "(skipped in tests)")

    def run(argv: list[str]) -> int:
        try:
            return train.main(argv)
        finally:
            sys.stdout.flush()

    return run


@pytest.fixture
def interrupted_run(run_train, monkeypatch):
    """``interrupted_run(argv, epoch=0, batch=0)``: ``train.py`` in-process, stopped by a Ctrl-C at
    that batch of that epoch (0-based; ``epoch=None``: at its first batch, whatever the epoch),
    which must exit 130; the training step is restored afterwards."""
    from trainers.base import ClipPromptTrainer

    original = ClipPromptTrainer.forward_backward

    def run(argv: list[str], epoch: int | None = 0, batch: int = 0) -> None:
        def ctrl_c(self, data):
            if epoch is None or (self.epoch == epoch and self.batch_idx == batch):
                raise KeyboardInterrupt
            return original(self, data)

        monkeypatch.setattr(ClipPromptTrainer, "forward_backward", ctrl_c)
        try:
            assert run_train(argv) == 130
        finally:
            monkeypatch.setattr(ClipPromptTrainer, "forward_backward", original)

    return run


@pytest.fixture
def dtd_data(tmp_path_factory):
    """A generated DescribableTextures tree (4 classes, 4 train / 2 val / 2 test images each)."""
    from datasets.synthetic import make_synthetic_dataset

    root = tmp_path_factory.mktemp("data")
    return make_synthetic_dataset(str(root), "dtd", n_classes=4, n_train=4, n_val=2, n_test=2)


def tiny_run_opts(clip_file: str) -> list[str]:
    """Overrides that make any recipe config run on the tiny CLIP on CPU in seconds."""
    return [
        "MODEL.BACKBONE.PATH", clip_file, "INPUT.SIZE", TINY_INPUT_SIZE,
        "DATALOADER.NUM_WORKERS", "0", "DATALOADER.TRAIN_X.BATCH_SIZE", "2", "DATALOADER.TEST.BATCH_SIZE", "4",
        "OPTIM.MAX_EPOCH", "1",
    ]  # fmt: skip


@pytest.fixture
def sweep(tmp_path, capsys, monkeypatch):
    """``sweep.py ARGS`` in-process, with DATA/OUTPUT under tmp_path; returns (exit code, stdout, stderr)."""
    from protocols.cli import main

    (tmp_path / "data").mkdir(exist_ok=True)
    for var in ("DATA", "OUTPUT", "CLIP_PATH", "CFG", "DRY_RUN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DATA", str(tmp_path / "data"))
    monkeypatch.setenv("OUTPUT", str(tmp_path / "output"))

    def run(*argv: str) -> tuple[int, str, str]:
        try:
            code = main(list(argv))
        except SystemExit as e:  # argparse errors
            code = e.code
        out, err = capsys.readouterr()
        return code, out, err

    return run
