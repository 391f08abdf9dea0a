"""Tests for parse_results.py and the ``results`` package behind it:
log parsing, run discovery, seed averaging, the tables and the command line.

The fixture tree mixes our layout (base-to-new, cross-dataset, DG), CoOp's few-shot layout and
MaPLe's cross-dataset layout, with logs in the exact text of current Dassl and of older Dassl
("Finished training", two-decimal results, tab-separated training lines), with Dassl's argument
and config dumps (``eval_only``, shots, epochs, context tokens), plus the broken cases:
a crash mid-training, a crash in the final test, a rerun log next to an older one, a seed dir
without a log and a stray folder.
"""

from __future__ import annotations

import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import pytest

from results.cli import main
from results.layouts import RunKey, classify, find_runs
from results.logs import log_files, parse_log
from results.render import CSV_FIELDS
from results.tables import Cell, Stat, Table, aggregate, build_tables, group_results, harmonic_mean

REPO_ROOT = Path(__file__).resolve().parents[1]

B2N_CFG = "vit_b16_c2_ep10_batch4_depth9"
XD_CFG = "vit_b16_c2_ep5_batch4_depth9_xd"
MAPLE_CFG = "vit_b16_c2_ep5_batch4_2ctx_cross_datasets"
COOP_CFG = "vit_b16_ep50"
COOP_VARIANT = "nctx16_cscFalse_ctpend"


# ---------------------------------------------------------------------------------------------
# Log texts
# ---------------------------------------------------------------------------------------------
def config_dump(trainer: str, shots: int, epochs: int, n_ctx: int, subsample: str) -> list[str]:
    """Dassl's config dump (yacs text, keys sorted, two spaces per level), the kept keys and a few others."""
    node = trainer.upper()
    return [
        "************",
        "** Config **",
        "************",
        "DATASET:",
        "  NAME: DescribableTextures",
        f"  NUM_SHOTS: {shots}",
        "  ROOT: /data",
        f"  SUBSAMPLE_CLASSES: {subsample}",
        "MODEL:",
        "  BACKBONE:",
        "    NAME: ViT-B/16",
        "  INIT_WEIGHTS: ",
        "OPTIM:",
        "  LR: 0.0025",
        f"  MAX_EPOCH: {epochs}",
        "TRAINER:",
        *(["  COCOOP:", "    N_CTX: 16"] if node != "COCOOP" else []),  # another method's node
        f"  {node}:",
        "    CTX_INIT: a photo of a",
        f"    N_CTX: {n_ctx}",
        f"  NAME: {trainer}",
        "USE_CUDA: True",
    ]


def _header(
    trainer: str, dataset: str, *, eval_only: bool, shots: int = 16, epochs: int = 2, n_ctx: int = 2, subsample: str = "all"
) -> list[str]:
    return [
        "***************",
        "** Arguments **",
        "***************",
        f"eval_only: {eval_only}",
        "opts: ['DATASET.NUM_SHOTS', '16']",
        f"trainer: {trainer}",
        *config_dump(trainer, shots, epochs, n_ctx, subsample),
        "Collecting env info ...",
        "** System info **",
        f"Loading trainer: {trainer}",
        f"Loading dataset: {dataset}",
        "Reading split from /data/dtd/split_zhou_DescribableTextures.json",
        "Building transform_train",
        "+ random resized crop (size=(224, 224), scale=(0.08, 1.0))",
        "+ random flip",
        "+ to torch tensor of range [0, 1]",
        "+ normalization (mean=[0.48145466, 0.4578275, 0.40821073], std=[0.26862954, 0.26130258, 0.27577711])",
        "---------  -------------------",
        f"Dataset    {dataset}",
        "# classes  24",
        "# train_x  384",
        "# test     864",
        "---------  -------------------",
        "Loading evaluator: Classification",
    ]


def _result_block(acc: float, f1: float | None, decimals: int) -> list[str]:
    lines = [
        "=> result",
        "* total: 1,692",
        "* correct: 1,354",
        f"* accuracy: {acc:.{decimals}f}%",
        f"* error: {100 - acc:.{decimals}f}%",
    ]
    if f1 is not None:
        lines.append(f"* macro_f1: {f1:.{decimals}f}%")
    return lines


def train_log(
    acc: float | None,
    f1: float | None = None,
    *,
    trainer: str = "MuDPT",
    epochs: int = 2,
    crash_at_epoch: int | None = None,
    old_dassl: bool = False,
    val_acc: float | None = None,
    shots: int = 16,
    n_ctx: int = 2,
    subsample: str = "all",
) -> str:
    """A training log. ``acc=None`` with ``crash_at_epoch=None``: crashed in the final test."""
    lines = _header(trainer, "DescribableTextures", eval_only=False, shots=shots, epochs=epochs, n_ctx=n_ctx, subsample=subsample)
    lines += ["No checkpoint found, train from scratch", "Initialize tensorboard (log_dir=out/tensorboard)"]
    decimals = 2 if old_dassl else 1
    for epoch in range(1, epochs + 1):
        if epoch == crash_at_epoch:
            lines.append("Traceback (most recent call last):")  # stderr would not be here; harmless
            break
        if old_dassl:
            lines.append(
                f"epoch [{epoch}/{epochs}][20/24]\ttime 0.127 (0.156)\tdata 0.000 (0.004)\teta 0:06:41\t"
                "loss 0.4590 (0.7394)\tlr 3.500000e-03"
            )
        else:
            lines.append(
                f"epoch [{epoch}/{epochs}] batch [24/24] time 0.028 (0.030) data 0.002 (0.003) "
                "loss 1.2480 (1.5549) lr 2.0000e-03 eta 0:00:00"
            )
        if val_acc is not None:  # a mid-training evaluation on the val split
            lines += ["Evaluate on the *val* set", *_result_block(val_acc, None, decimals)]
        lines.append(f"Checkpoint saved to out/prompt_learner/model.pth.tar-{epoch}")
    else:
        lines.append("Finished training" if old_dassl else "Finish training")
        lines += ["Deploy the last-epoch model", "Evaluate on the *test* set"]
        if acc is not None:
            lines += _result_block(acc, f1, decimals)
            lines.append("Elapsed: 0:00:02")
    return "\n".join(lines) + "\n"


def eval_log(
    acc: float | None,
    f1: float | None = None,
    *,
    old_dassl: bool = False,
    trainer: str = "MuDPT",
    shots: int = 16,
    epochs: int = 2,
    n_ctx: int = 2,
    subsample: str = "all",
) -> str:
    """An evaluation-only log (``--eval-only``); ``acc=None``: crashed before the result."""
    lines = _header(trainer, "DescribableTextures", eval_only=True, shots=shots, epochs=epochs, n_ctx=n_ctx, subsample=subsample)
    lines += [
        'Loading weights to mudpt_prompt_learner from "out/prompt_learner/model.pth.tar-2" (epoch = 2)',
        "Evaluate on the *test* set",
    ]
    if acc is not None:
        lines += _result_block(acc, f1, 2 if old_dassl else 1)
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ---------------------------------------------------------------------------------------------
# The fixture tree
# ---------------------------------------------------------------------------------------------
B2N = {  # dataset -> (base accuracy per seed, new accuracy per seed); None = no complete result
    "dtd": ([80.0, 82.0, 84.0], [60.0, 62.0, 61.0]),
    "eurosat": ([90.0, 94.0, 92.0], [70.0, 74.0, None]),
}


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("output")
    b2n = root / "base2new"
    for dataset, (bases, news) in B2N.items():
        for seed, (base, new) in enumerate(zip(bases, news), start=1):
            tail = Path(dataset, "shots_16", "MuDPT", B2N_CFG, f"seed{seed}")
            write(b2n / "train_base" / tail / "log.txt", train_log(base, f1=base - 10, subsample="base"))
            write(b2n / "test_new" / tail / "log.txt", eval_log(new, f1=None if new is None else new - 10, subsample="new"))
    caltech = b2n / "train_base" / "caltech101" / "shots_16" / "MuDPT" / B2N_CFG
    # seed1: crashed at epoch 2, then resumed into the same dir (timestamped log) and finished.
    write(caltech / "seed1" / "log.txt", train_log(None, crash_at_epoch=2))
    write(caltech / "seed1" / "log.txt-2024-05-01-10-00-00", train_log(95.0))
    # seed2: finished; a later rerun crashed, so the older complete log still counts.
    write(caltech / "seed2" / "log.txt", train_log(93.0))
    write(caltech / "seed2" / "log.txt-2024-06-01-09-30-00", train_log(None, crash_at_epoch=1))
    # seed3: crashed mid-training after a val evaluation ("=> result" but no "Finish training").
    write(caltech / "seed3" / "log.txt", train_log(None, crash_at_epoch=2, val_acc=97.0))
    # The new-class evaluation of caltech101 seed1 never started: a seed dir without a log.
    (b2n / "test_new" / "caltech101" / "shots_16" / "MuDPT" / B2N_CFG / "seed1").mkdir(parents=True)

    xd = root / "xd"
    for seed, (src, dtd, eurosat, ina) in enumerate([(71.0, 45.0, 50.0, 50.1), (72.0, 47.0, 52.0, 50.3)], start=1):
        write(xd / "train" / "imagenet" / "shots_16" / "MuDPT" / XD_CFG / f"seed{seed}" / "log.txt", train_log(src))
        for dataset, acc in (("dtd", dtd), ("eurosat", eurosat), ("imagenet_a", ina)):
            write(xd / "test" / dataset / "shots_16" / "MuDPT" / XD_CFG / f"seed{seed}" / "log.txt", eval_log(acc))

    # MaPLe's cross-dataset layout, logs of older Dassl.
    maple_log = train_log(70.72, old_dassl=True, trainer="MaPLe", epochs=5)
    write(root / "imagenet" / "MaPLe" / f"{MAPLE_CFG}_16shots" / "seed1" / "log.txt", maple_log)
    write(
        root / "evaluation" / "MaPLe" / f"{MAPLE_CFG}_16shots" / "dtd" / "seed1" / "log.txt",
        eval_log(46.49, old_dassl=True, trainer="MaPLe", shots=-1, epochs=5),  # an evaluation samples no shots
    )

    # CoOp's few-shot layout.
    coop = root / "caltech101" / "CoOp"
    coop_log = dict(trainer="CoOp", n_ctx=16, epochs=50)
    write(coop / f"{COOP_CFG}_16shots" / COOP_VARIANT / "seed1" / "log.txt", train_log(91.5, **coop_log))
    write(coop / f"{COOP_CFG}_16shots" / COOP_VARIANT / "seed2" / "log.txt", train_log(92.5, **coop_log))
    write(coop / f"{COOP_CFG}_4shots" / COOP_VARIANT / "seed1" / "log.txt", train_log(88.0, shots=4, **coop_log))
    # Crashed in the final test: "Finish training" without a result after it.
    crashed = root / "dtd" / "CoOp" / f"{COOP_CFG}_16shots" / COOP_VARIANT / "seed1"
    write(crashed / "log.txt", train_log(None, trainer="CoOp"))

    # A stray folder (no log anywhere below, not a seed dir) and a run in no known layout.
    write(root / "notes" / "todo" / "readme.md", "not a run\n")
    write(root / "my_ablation" / "seed1" / "log.txt", train_log(55.0))
    write(root / "my_ablation" / "seed2" / "log.txt", train_log(57.0))
    return root


def b2n_dir(root: Path, role: str, dataset: str, seed: int) -> Path:
    return root / "base2new" / role / dataset / "shots_16" / "MuDPT" / B2N_CFG / f"seed{seed}"


# ---------------------------------------------------------------------------------------------
# parse_log
# ---------------------------------------------------------------------------------------------
def test_parse_log_training_run_takes_last_result_after_finish(tmp_path: Path) -> None:
    log = write(tmp_path / "log.txt", train_log(71.3, f1=65.4, val_acc=10.0))
    result = parse_log(log)
    assert result.complete
    assert result.metrics == {"accuracy": 71.3, "error": pytest.approx(28.7), "macro_f1": 65.4}


def test_parse_log_old_dassl_finished_training_two_decimals(tmp_path: Path) -> None:
    result = parse_log(write(tmp_path / "log.txt", train_log(70.72, old_dassl=True)))
    assert result.complete and result.metrics["accuracy"] == 70.72
    assert "macro_f1" not in result.metrics


def test_parse_log_eval_only_run(tmp_path: Path) -> None:
    result = parse_log(write(tmp_path / "log.txt", eval_log(46.49, f1=40.0, old_dassl=True)))
    assert result.complete and result.metrics["accuracy"] == 46.49 and result.metrics["macro_f1"] == 40.0


def test_parse_log_val_result_without_finish_is_incomplete(tmp_path: Path) -> None:
    result = parse_log(write(tmp_path / "log.txt", train_log(None, crash_at_epoch=2, val_acc=97.0)))
    assert not result.complete
    assert result.reason == "training not finished"
    assert result.metrics == {}


def test_parse_log_finish_without_result_is_incomplete(tmp_path: Path) -> None:
    result = parse_log(write(tmp_path / "log.txt", train_log(None)))
    assert result.reason == "no result after Finish training"


def test_parse_log_eval_only_without_result_is_incomplete(tmp_path: Path) -> None:
    assert parse_log(write(tmp_path / "log.txt", eval_log(None))).reason == "evaluation not finished"


def test_parse_log_missing_keyword_names_it(tmp_path: Path) -> None:
    result = parse_log(write(tmp_path / "log.txt", train_log(70.72, old_dassl=True)), keyword="macro_f1")
    assert result.reason == "the result has no macro_f1"


def test_log_files_sorted_oldest_first(tmp_path: Path) -> None:
    for name in ("log.txt-2024-06-01-09-30-00", "log.txt", "log.txt-2024-05-01-10-00-00", "log.txt.bak", "xlog.txt"):
        write(tmp_path / name, "")
    assert [p.name for p in log_files(tmp_path)] == [
        "log.txt",
        "log.txt-2024-05-01-10-00-00",
        "log.txt-2024-06-01-09-30-00",
    ]


# ---------------------------------------------------------------------------------------------
# find_runs and classify
# ---------------------------------------------------------------------------------------------
def test_find_runs_statuses_and_reasons(tree: Path) -> None:
    runs = {str(run.path.relative_to(tree)): run for run in find_runs(tree)}
    # base2new 6 + 6 + 4, xd 2 + 6, MaPLe 2, CoOp 4, my_ablation 2
    assert len(runs) == 32
    incomplete = {path: run.reason for path, run in runs.items() if not run.complete}
    assert incomplete == {
        f"base2new/test_new/caltech101/shots_16/MuDPT/{B2N_CFG}/seed1": "no log",
        f"base2new/test_new/eurosat/shots_16/MuDPT/{B2N_CFG}/seed3": "evaluation not finished",
        f"base2new/train_base/caltech101/shots_16/MuDPT/{B2N_CFG}/seed3": "training not finished",
        f"dtd/CoOp/{COOP_CFG}_16shots/{COOP_VARIANT}/seed1": "no result after Finish training",
    }
    assert not any(path.startswith("notes") for path in runs)
    # The rerun log wins over the older partial one; an older complete log beats a newer crash.
    seed1 = runs[f"base2new/train_base/caltech101/shots_16/MuDPT/{B2N_CFG}/seed1"]
    assert seed1.result.path.name == "log.txt-2024-05-01-10-00-00" and seed1.result.metrics["accuracy"] == 95.0
    seed2 = runs[f"base2new/train_base/caltech101/shots_16/MuDPT/{B2N_CFG}/seed2"]
    assert seed2.result.path.name == "log.txt" and seed2.result.metrics["accuracy"] == 93.0


@pytest.mark.parametrize(
    ("path", "key", "seed"),
    [
        (
            "pre/fix/base2new/test_new/dtd/shots_16/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1/seed2",
            RunKey("base2new", "CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1", 16, "dtd", "new", prefix="pre/fix"),
            2,
        ),
        (
            f"xd/test/imagenet_r/shots_16/MuDPT/{XD_CFG}/seed1",
            RunKey("xd", "MuDPT", XD_CFG, 16, "imagenet_r", "target"),
            1,
        ),
        (f"fewshot/ucf101/shots_4/CoOp/{COOP_CFG}/seed3", RunKey("fewshot", "CoOp", COOP_CFG, 4, "ucf101"), 3),
        (
            f"sun397/CoOp/{COOP_CFG}_8shots/{COOP_VARIANT}/seed1",
            RunKey("fewshot", "CoOp", f"{COOP_CFG}/{COOP_VARIANT}", 8, "sun397"),
            1,
        ),
        (
            "imagenet/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1_16shots/nctx4_cscFalse_ctpend/seed1",
            RunKey("xd", "CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1/nctx4_cscFalse_ctpend", 16, "imagenet", "source"),
            1,
        ),
        (
            "evaluation/CoCoOp/vit_b16_c4_ep10_batch1_ctxv1_16shots/food101/nctx4_cscFalse_ctpend/seed1",
            RunKey("xd", "CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1/nctx4_cscFalse_ctpend", 16, "food101", "target"),
            1,
        ),
        # ImageNet in xd/test is no target, and a source other than ImageNet is no xd source.
        ("xd/test/imagenet/shots_16/MuDPT/c/seed1", RunKey("other", config="xd/test/imagenet/shots_16/MuDPT/c"), 1),
        ("xd/train/dtd/shots_16/MuDPT/c/seed1", RunKey("other", config="xd/train/dtd/shots_16/MuDPT/c"), 1),
        # CoOp's zero-shot layout: no seed folder; all classes unless its config says otherwise.
        ("ZeroshotCLIP/vit_b16/dtd", RunKey("zeroshot", "ZeroshotCLIP", "vit_b16", None, "dtd"), None),
        # The released MuDPT code: no trainer folder.
        (
            "base2new/new/dtd/shots_16/vit_b16_bz4_ep10/seed3",
            RunKey("base2new", "MuDPT", "vit_b16_bz4_ep10", 16, "dtd", "new"),
            3,
        ),
        # Few-shot of a dataset that no reader registers: still a run of the protocol.
        ("fewshot/my_data/shots_2/CoOp/c/seed1", RunKey("fewshot", "CoOp", "c", 2, "my_data"), 1),
        # A dataset that does not take part in the protocol is no run of it.
        ("fewshot/imagenet_a/shots_2/CoOp/c/seed1", RunKey("other", config="fewshot/imagenet_a/shots_2/CoOp/c"), 1),
    ],
)
def test_classify_layouts(tmp_path: Path, path: str, key: RunKey, seed: int | None) -> None:
    assert classify(tmp_path / path, tmp_path) == (key, seed)


def test_classify_uses_path_above_the_parsed_dir(tmp_path: Path) -> None:
    """DIR may be a single config dir: the protocol is still read from the full path."""
    run = tmp_path / "base2new" / "train_base" / "dtd" / "shots_16" / "MuDPT" / B2N_CFG / "seed1"
    key, seed = classify(run, run.parent)
    assert key == RunKey("base2new", "MuDPT", B2N_CFG, 16, "dtd", "base") and seed == 1


# ---------------------------------------------------------------------------------------------
# Aggregation and tables
# ---------------------------------------------------------------------------------------------
def test_aggregate_population_std_and_ci95() -> None:
    stat = aggregate([80.0, 82.0, 84.0])
    assert stat == Stat(82.0, pytest.approx(math.sqrt(8 / 3)), 3)
    # Student's t: t(0.975, 2 dof) = 4.3027, sample std 2 -> 4.97 (CoOp's 1.96*std/sqrt(n) would say 1.85)
    ci = aggregate([80.0, 82.0, 84.0], ci95=True)
    assert ci.spread == pytest.approx(4.302652729911275 * 2.0 / math.sqrt(3))
    assert aggregate([80.0, 84.0], ci95=True).spread == pytest.approx(12.706204736174707 * math.sqrt(8) / math.sqrt(2))
    assert aggregate([5.0]) == Stat(5.0, None, 1) == aggregate([5.0], ci95=True)  # one seed has no spread


def test_harmonic_mean() -> None:
    assert harmonic_mean(82.0, 61.0) == pytest.approx(2 * 82 * 61 / 143)
    assert harmonic_mean(0.0, 0.0) == 0.0


def _cells(table: Table) -> dict[tuple[str, str], Cell]:
    """(row label, column header) -> cell."""
    out = {}
    for row in table.rows:
        for header, cell in zip(table.headers, row):
            if isinstance(cell, Cell):
                out[(str(row[0]) if table.headers[0] != "Method" else f"{row[0]}/{row[1]}", header)] = cell
    return out


@pytest.fixture(scope="module")
def tables(tree: Path) -> dict[str, Table]:
    stats = group_results(find_runs(tree))
    return {table.title.split(":")[0]: table for table in build_tables(stats)}


def test_base2new_table_numbers(tables: dict[str, Table]) -> None:
    table = tables["Base-to-new generalisation"]
    assert table.title == f"Base-to-new generalisation: MuDPT, {B2N_CFG}"
    # The settings the runs' configs say (evaluation runs sample no shots: the training runs say them).
    assert table.settings == "16 shots, 2 epochs, N_CTX 2"
    assert [row[0] for row in table.rows] == ["Caltech101", "DTD", "EuroSAT", "Average (2 datasets)"]
    cells = _cells(table)
    assert (cells[("DTD", "Base")].mean, cells[("DTD", "Base")].n) == (82.0, 3)
    assert cells[("DTD", "Base")].spread == pytest.approx(math.sqrt(8 / 3))
    assert (cells[("DTD", "New")].mean, cells[("DTD", "New")].spread) == (61.0, pytest.approx(math.sqrt(2 / 3)))
    assert cells[("DTD", "HM")].mean == pytest.approx(2 * 82 * 61 / (82 + 61))
    euro_new = cells[("EuroSAT", "New")]
    assert (euro_new.mean, euro_new.spread, euro_new.n) == (72.0, 2.0, 2)
    assert cells[("EuroSAT", "HM")].mean == pytest.approx(2 * 92 * 72 / (92 + 72))
    # Caltech101: two complete seeds (95, 93) and no new-class result, so no HM and not averaged.
    assert (cells[("Caltech101", "Base")].mean, cells[("Caltech101", "Base")].n) == (94.0, 2)
    assert ("Caltech101", "New") not in cells and ("Caltech101", "HM") not in cells
    avg_base, avg_new = (82 + 92) / 2, (61 + 72) / 2
    assert cells[("Average (2 datasets)", "Base")].mean == avg_base
    assert cells[("Average (2 datasets)", "New")].mean == avg_new
    assert cells[("Average (2 datasets)", "HM")].mean == pytest.approx(2 * avg_base * avg_new / (avg_base + avg_new))


def test_cross_dataset_and_dg_tables(tables: dict[str, Table]) -> None:
    xd = tables["Cross-dataset transfer from ImageNet"]
    assert xd.headers == ["Method", "Config", "Settings", "ImageNet", "DTD", "EuroSAT", "Average"]
    assert [row[2] for row in xd.rows] == ["16 shots, 5 epochs, N_CTX 2", "16 shots, 2 epochs, N_CTX 2"]  # MaPLe, MuDPT
    cells = _cells(xd)
    mudpt, maple = f"MuDPT/{XD_CFG}", f"MaPLe/{MAPLE_CFG}"
    assert (cells[(mudpt, "ImageNet")].mean, cells[(mudpt, "ImageNet")].spread) == (71.5, 0.5)
    assert (cells[(mudpt, "DTD")].mean, cells[(mudpt, "EuroSAT")].mean) == (46.0, 51.0)
    assert (cells[(mudpt, "Average")].mean, cells[(mudpt, "Average")].note) == (48.5, "(2/10)")
    assert (cells[(maple, "ImageNet")].mean, cells[(maple, "ImageNet")].n) == (70.72, 1)
    assert cells[(maple, "DTD")].mean == 46.49 and (maple, "EuroSAT") not in cells
    dg = tables["Domain generalisation from ImageNet"]
    assert dg.headers == ["Method", "Config", "Settings", "ImageNet", "-A", "Average"]
    assert [row[:2] for row in dg.rows] == [["MuDPT", XD_CFG]]
    cells = _cells(dg)
    assert cells[(mudpt, "-A")].mean == pytest.approx(50.2) and cells[(mudpt, "-A")].spread == pytest.approx(0.1)
    assert (cells[(mudpt, "Average")].mean, cells[(mudpt, "Average")].note) == (pytest.approx(50.2), "(1/4)")


def test_fewshot_table_from_coop_layout(tables: dict[str, Table]) -> None:
    table = tables["Few-shot learning"]
    assert table.title == f"Few-shot learning: CoOp, {COOP_CFG}/{COOP_VARIANT}"
    assert table.headers == ["Dataset", "4 shots", "16 shots"]
    assert [row[0] for row in table.rows] == ["Caltech101", "Average"]  # dtd has no complete run
    cells = _cells(table)
    assert (cells[("Caltech101", "16 shots")].mean, cells[("Caltech101", "16 shots")].spread) == (92.0, 0.5)
    assert (cells[("Caltech101", "4 shots")].mean, cells[("Caltech101", "4 shots")].n) == (88.0, 1)
    assert (cells[("Average", "16 shots")].mean, cells[("Average", "16 shots")].note) == (92.0, "(1 dataset)")


def test_other_table_groups_by_path(tables: dict[str, Table]) -> None:
    table = tables["Other runs (grouped by path)"]
    assert len(table.rows) == 1 and table.rows[0][0] == "my_ablation"
    assert (table.rows[0][1].mean, table.rows[0][1].spread, table.rows[0][1].n) == (56.0, 1.0, 2)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------
def test_main_text_output(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tree)]) == 0
    out = capsys.readouterr().out
    caption = f"Base-to-new generalisation: MuDPT, {B2N_CFG} (16 shots, 2 epochs, N_CTX 2; mean ± std over 3 seeds, k of n seeds where runs are missing)"
    assert caption in out
    dtd_row = next(line for line in out.splitlines() if line.startswith("| DTD "))
    assert [c.strip() for c in dtd_row.strip("|").split("|")] == ["DTD", "82.00 ± 1.63", "61.00 ± 0.82", "69.96"]
    # A run missing from an average (seed 3 failed or not evaluated) says so; other seeds counts say n=k.
    euro_row = next(line for line in out.splitlines() if line.startswith("| EuroSAT "))
    assert "72.00 ± 2.00 (2 of 3 seeds)" in euro_row and "80.78" in euro_row
    caltech_row = next(line for line in out.splitlines() if line.startswith("| Caltech101 ") and "94.00" in line)
    assert "94.00 ± 1.00 (2 of 3 seeds)" in caltech_row
    avg_row = next(line for line in out.splitlines() if line.startswith("| Average (2 datasets)"))
    assert [c.strip() for c in avg_row.strip("|").split("|")][1:] == ["87.00", "66.50", "75.38"]
    assert " 70.72 (n=1) " in out and "70.72 ±" not in out and "48.50 (2/10)" in out  # one seed: no spread
    # Incomplete runs come last, with their reasons.
    section = out[out.index("Incomplete runs (4)") :]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in section.splitlines() if "/seed" in line]
    assert [f"base2new/test_new/caltech101/shots_16/MuDPT/{B2N_CFG}/seed1", "no log"] in rows
    assert "training not finished" in section and "no result after Finish training" in section


def test_main_csv_is_parseable(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tree), "--format", "csv"]) == 0
    captured = capsys.readouterr()
    rows = list(csv.DictReader(io.StringIO(captured.out)))
    assert tuple(rows[0]) == CSV_FIELDS
    hm = next(r for r in rows if r["protocol"] == "base2new" and r["dataset"] == "dtd" and r["column"] == "HM")
    assert float(hm["mean"]) == pytest.approx(2 * 82 * 61 / 143) and hm["spread"] == "" and hm["n"] == ""
    new = next(r for r in rows if r["dataset"] == "eurosat" and r["column"] == "New")
    assert (float(new["mean"]), float(new["spread"]), int(new["n"]), new["shots"]) == (72.0, 2.0, 2, "16")
    assert {r["protocol"] for r in rows} == {"base2new", "xd", "dg", "fewshot", "other"}
    assert "Incomplete runs (4)" in captured.err  # stdout stays pure CSV


def test_main_out_file_and_formats(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "reports" / "results.md"
    assert main([str(tree), "--format", "md", "--out", str(out)]) == 0
    text = out.read_text()
    assert f"### Base-to-new generalisation: MuDPT, {B2N_CFG}" in text and "| DTD " in text
    assert capsys.readouterr().out == ""
    assert [p.name for p in out.parent.iterdir()] == ["results.md"]  # no temp file left behind
    assert main([str(tree), "--format", "latex"]) == 0
    latex = capsys.readouterr().out
    assert "\\begin{tabular}" in latex and "82.00 $\\pm$ 1.63" in latex and "vit\\_b16" in latex


@pytest.mark.parametrize("case", ["out under a file", "plot under a file", "out read-only", "plot read-only", "plot fails when written", "out fails when written"])
def test_out_and_plot_paths_that_cannot_be_created_are_one_line(tree: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, case: str) -> None:
    """A path that cannot be written stops before any table is printed (or, found only when written,
    ends in the same line): what, why and the fix; exit 2."""
    import os

    from results import plots

    (tmp_path / "afile").write_text("")
    (tmp_path / "ro").mkdir()
    option = case.split()[0]
    path = tmp_path / ("afile" if "under a file" in case else "ro") / ("x.txt" if option == "out" else "figs")
    reason = f"{tmp_path / 'afile'} is a file, not a folder" if "under a file" in case else f"{tmp_path / 'ro'} is not writable"
    if "read-only" in case:  # as a user without write permission sees it (the tests may run as root)
        access = os.access
        monkeypatch.setattr(os, "access", lambda p, mode: access(p, mode) and os.path.abspath(p) != str(tmp_path / "ro"))
    if "fails when written" in case:
        failed = path if option == "plot" else tmp_path / "ro" / ".x.txt.tmp"
        reason = f"Permission denied ({failed if option == 'out' else failed / 'base2new_16shots.png'})"

        def denied(*args, **kwargs):
            raise PermissionError(13, "Permission denied", str(failed if option == "out" else failed / "base2new_16shots.png"))

        monkeypatch.setattr(plots, "_save", denied)
        monkeypatch.setattr("engine.utils.atomic_write_bytes", denied)
    assert main([str(tree), f"--{option}", str(path)]) == 2
    out, err = capsys.readouterr()
    if option == "out":
        fix = "Give a file in a folder you can write to, e.g. --out results.txt"
        assert err == f"error: --out {path} cannot be written: {reason}. {fix}\n"
    else:
        fix = "Give a folder you can write to, e.g. --plot figures/ (it is created if needed)"
        assert err.endswith(f"error: --plot {path} cannot be created: {reason}. {fix}\n") and err.count("\n") == 1
    if "fails when written" not in case:
        assert out == ""  # before any table
    assert not path.exists()


def test_main_ci95_and_keyword(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(b2n_dir(tree, "train_base", "dtd", 1).parent), "--ci95"]) == 0
    out = capsys.readouterr().out
    assert "82.00 ± 4.97" in out and "mean ± 95% CI over 3 seeds" in out  # Student's t, see test_aggregate
    # macro_f1 of the train_base runs is accuracy - 10 in the fixture.
    assert main([str(b2n_dir(tree, "train_base", "dtd", 1).parent), "--keyword", "macro_f1"]) == 0
    assert "72.00 ± 1.63" in capsys.readouterr().out


def test_main_runs_listing(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tree / "base2new" / "train_base" / "dtd"), "--runs", "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["status"], float(r["accuracy"]), float(r["macro_f1"])) for r in rows] == [
        ("complete", 80.0, 70.0),
        ("complete", 82.0, 72.0),
        ("complete", 84.0, 74.0),
    ]


@pytest.mark.parametrize(
    ("rel", "word", "code"),
    [
        (("train_base", "dtd", 1), "complete", 0),
        (("train_base", "caltech101", 1), "complete", 0),
        (("train_base", "caltech101", 3), "incomplete", 1),
        (("test_new", "eurosat", 3), "incomplete", 1),
        (("test_new", "caltech101", 1), "missing", 2),
        (("test_new", "caltech101", 9), "missing", 2),
    ],
)
def test_status(tree: Path, rel: tuple, word: str, code: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--status", str(b2n_dir(tree, *rel))]) == code
    assert capsys.readouterr().out == f"{word}\n"


def test_missing_dir_and_empty_dir(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope")]) == 2
    assert f"directory not found: {tmp_path / 'nope'}" in capsys.readouterr().err
    (tmp_path / "stray" / "sub").mkdir(parents=True)
    assert main([str(tmp_path)]) == 1
    assert "No runs found" in capsys.readouterr().err
    a_file = tmp_path / "a.txt"
    a_file.write_text("x")
    assert main([str(a_file)]) == 2
    assert capsys.readouterr().err == f"error: {a_file} is a file; give the directory that holds the runs (e.g. output/)\n"
    assert main([str(tmp_path), "--out", str(tmp_path)]) == 2
    assert f"error: --out {tmp_path} is a directory; give a file name" in capsys.readouterr().err
    assert main([str(tmp_path), "--plot", str(a_file)]) == 2
    assert f"error: --plot {a_file} is a file; give a directory" in capsys.readouterr().err


def test_only_incomplete_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(b2n_dir(tmp_path, "train_base", "dtd", 1) / "log.txt", train_log(None, crash_at_epoch=1))
    assert main([str(tmp_path)]) == 1  # no table: a script that waits for results sees it
    out = capsys.readouterr().out
    assert "No complete results for 'accuracy'." in out and "Incomplete runs (1)" in out


def test_cli_entry_point(tree: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(REPO_ROOT / "parse_results.py"), "--status", str(b2n_dir(tree, "train_base", "dtd", 2))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (proc.returncode, proc.stdout) == (0, "complete\n")
