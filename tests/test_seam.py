"""The Dassl seam: backend selection, its error messages, and (when real Dassl is installed) the
torch >= 2.7 repairs it applies to Dassl. Each case runs in a subprocess: the backend is chosen once
per interpreter, at first import."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
HAS_DASSL = importlib.util.find_spec("dassl") is not None


def _run(code: str, backend: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, MUDPT_BACKEND=backend, PYTHONPATH=str(REPO))
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def test_builtin_backend_is_selected_and_described():
    r = _run("import engine.seam as s; print(s.BACKEND, '|', s.BACKEND_DESCRIPTION, '|', s.TrainerX.__module__)", "builtin")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split(" | ")[0] == "builtin" and "engine.trainer" in r.stdout


def test_unknown_backend_value_names_the_choices():
    r = _run("import engine.seam", "dasl")
    assert r.returncode != 0 and "MUDPT_BACKEND='dasl' is not a backend; use one of auto, dassl, builtin" in r.stderr


@pytest.mark.skipif(HAS_DASSL, reason="Dassl is installed here: the 'missing Dassl' message cannot be shown")
def test_requesting_dassl_without_it_says_how_to_install():
    r = _run("import engine.seam", "dassl")
    assert r.returncode != 0
    assert "Dassl cannot be imported" in r.stderr and "pip install --no-build-isolation -e Dassl.pytorch" in r.stderr
    assert _run("import engine.seam as s; print(s.BACKEND)", "auto").stdout.strip() == "builtin"


@pytest.mark.skipif(not HAS_DASSL, reason="real Dassl is not installed (optional; see README)")
def test_real_dassl_is_repaired_for_modern_torch(tmp_path):
    code = f"""
    import math, torch, torch.nn as nn
    import engine.seam as s
    assert s.BACKEND == "dassl", s.BACKEND
    cfg = s.get_cfg_default()
    cfg.OPTIM.NAME = "sgd"; cfg.OPTIM.LR = 0.002; cfg.OPTIM.MAX_EPOCH = 5
    cfg.OPTIM.LR_SCHEDULER = "cosine"; cfg.OPTIM.WARMUP_EPOCH = 1
    cfg.OPTIM.WARMUP_TYPE = "constant"; cfg.OPTIM.WARMUP_CONS_LR = 1e-5
    p = nn.Parameter(torch.zeros(1))
    opt = s.build_optimizer([p], cfg.OPTIM)
    sched = s.build_lr_scheduler(opt, cfg.OPTIM)  # TypeError on torch >= 2.7 without the repair
    lrs = []
    for _ in range(2):
        lrs.append(opt.param_groups[0]["lr"]); opt.step(); sched.step()
    from dassl.utils import save_checkpoint
    save_checkpoint({{"state_dict": {{"ctx": p.detach()}}, "epoch": 2, "optimizer": opt.state_dict(),
                      "scheduler": sched.state_dict(), "val_result": None}}, r"{tmp_path}")
    ck = torch.load(r"{tmp_path}/model.pth.tar-2", weights_only=True)  # plain state now
    opt2 = s.build_optimizer([nn.Parameter(torch.zeros(1))], cfg.OPTIM)
    sched2 = s.build_lr_scheduler(opt2, cfg.OPTIM)
    opt2.load_state_dict(ck["optimizer"]); sched2.load_state_dict(ck["scheduler"])
    for _ in range(3):
        lrs.append(opt2.param_groups[0]["lr"]); opt2.step(); sched2.step()
    print(" ".join(f"{{x:.4e}}" for x in lrs))
    """
    r = _run(code, "dassl")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].split() == ["1.0000e-05", "2.0000e-03", "1.8090e-03", "1.3090e-03", "6.9098e-04"]
