"""parse_results.py --grid KEY (the runs of a sweep.py --grid as tables and line plots against
one swept key) and --cost (params / ms per iteration / peak memory from each run's run.json),
on synthetic run folders (tests/result_runs.py) whose accuracies are exact."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest

from result_runs import GRID_RECIPE, grid_accuracy, make_example_runs, make_grid_runs, write_cost
from results.cli import main

DEPTH = "TRAINER.MUDPT.PROMPT_DEPTH"
DEPTHS, N_CTXS, DATASETS, SEEDS = (1, 9), (2, 4), ("dtd", "eurosat"), (1, 2, 3)


@pytest.fixture(scope="module")
def grid_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_grid_runs(tmp_path_factory.mktemp("grid"), DEPTHS, N_CTXS, DATASETS, SEEDS)


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def population_std(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def test_a_grid_table_averages_each_point_over_seeds(grid_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(grid_runs), "--grid", DEPTH, "--format", "csv", "--cost"]) == 0
    rows = csv_rows(capsys.readouterr().out)
    cells = {(r["dataset"], r["settings"], r["column"]): r for r in rows}
    # 2 datasets and their average x 2 x 2 points x (Base, New, HM, params, ms/iter, peak MB)
    assert len(rows) == 3 * 4 * 6
    _, recipe, recipe_depth, _ = GRID_RECIPE
    for depth in DEPTHS:
        for n_ctx in N_CTXS:
            point = f"N_CTX={n_ctx}, PROMPT_DEPTH={depth}"
            base = [grid_accuracy(depth, n_ctx, seed, new=False) for seed in SEEDS]
            new = [grid_accuracy(depth, n_ctx, seed, new=True) for seed in SEEDS]
            cell = cells[("dtd", point, "Base")]
            assert float(cell["mean"]) == pytest.approx(sum(base) / 3) and float(cell["spread"]) == pytest.approx(population_std(base))
            assert cell["n"] == "3" and cell["protocol"] == "base2new" and cell["method"] == "MuDPT"
            assert float(cells[("dtd", point, "New")]["mean"]) == pytest.approx(sum(new) / 3)
            hm = 2 * (sum(base) / 3) * (sum(new) / 3) / (sum(base) / 3 + sum(new) / 3)
            assert float(cells[("dtd", point, "HM")]["mean"]) == pytest.approx(hm)
            assert float(cells[("average", point, "HM")]["mean"]) == pytest.approx(hm)  # both datasets alike
            # The recipe's own point is the recipe's folder; its depth comes from its config.yaml.
            assert (cell["config"] == recipe) == (depth == recipe_depth and n_ctx == 2)
            # Cost: the mean over the seeds of the training runs' records.
            assert float(cells[("dtd", point, "params")]["mean"]) == 1000 * depth * n_ctx
            assert float(cells[("dtd", point, "ms/iter")]["mean"]) == pytest.approx(10 * depth + 2)
            assert float(cells[("average", point, "peak MB")]["mean"]) == 100 * depth


def test_a_grid_as_text_and_with_the_other_key_on_the_x_axis(grid_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(grid_runs), "--grid", "TRAINER.MUDPT.N_CTX", "--cost"]) == 0
    out = capsys.readouterr().out
    assert "Grid over TRAINER.MUDPT.N_CTX: DTD (base-to-new, 16 shots) (mean ± std over 3 seeds)" in out
    assert "Grid over TRAINER.MUDPT.N_CTX: Average (base-to-new, 16 shots) (mean over the datasets of the means over seeds" in out
    header = next(line for line in out.splitlines() if line.startswith("| Method"))
    assert [h.strip() for h in header.strip("|").split("|")] == [
        "Method", "Config", "Other swept keys", "N_CTX", "Base", "New", "HM", "params", "ms/iter", "peak MB",
    ]  # fmt: skip
    row = next(line for line in out.splitlines() if "| PROMPT_DEPTH=1 " in line and "| 4 " in line)
    assert [c.strip() for c in row.strip("|").split("|")][4:] == ["71.00 ± 0.82", "61.00 ± 0.82", "65.62", "4000", "12.0", "100"]  # 60 + 1 + 2 * 4 + seed 2


def test_a_grid_figure_has_a_line_per_combination(grid_runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import results.plots as plots

    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), save(fig, path))[1])
    assert main([str(grid_runs), "--grid", DEPTH, "--plot", str(tmp_path), "--format", "md", "--cost"]) == 0  # cost is not drawn
    (path,) = tmp_path.iterdir()
    assert path.name == f"grid_base2new_16shots_{DEPTH}.png"
    (fig,) = figures
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == [f"{d}: {c}" for d in ("DTD", "EuroSAT", "Average") for c in ("Base", "New", "HM")]
    for ax in panels:
        assert len(ax.get_lines()) == len(N_CTXS)  # one per N_CTX
        assert [list(line.get_xdata()) for line in ax.get_lines()] == [[1.0, 9.0]] * 2
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == [f"MuDPT, {GRID_RECIPE[1]}, N_CTX={n}" for n in N_CTXS]


def test_a_grid_over_a_key_no_run_has(grid_runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(grid_runs), "--grid", "TRAINER.COOP.N_CTX"]) == 1
    assert "No grid over TRAINER.COOP.N_CTX: no complete run" in capsys.readouterr().out


def test_cost_columns_show_a_dash_without_a_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = make_example_runs(tmp_path / "runs", datasets=("dtd",), seeds=(1, 2))
    b2n = root / "base2new/train_base/dtd/shots_16/MuDPT/vit_b16_c2_ep10_batch4_depth9"
    write_cost(b2n / "seed1", 8192, 20.0, 512.0, kind="cpu_peak_rss")  # seed 2 has no cost record
    assert main([str(root / "base2new"), "--cost"]) == 0
    out = capsys.readouterr().out
    mudpt = out[out.index("Base-to-new generalisation: MuDPT"):].split("\n\n")[0]
    dtd = next(line for line in mudpt.splitlines() if line.startswith("| DTD"))
    assert [c.strip() for c in dtd.strip("|").split("|")][4:] == ["8192", "20.0", "512 (CPU RSS)"]
    coop = out[out.index("Base-to-new generalisation: CoOp"):].split("\n\n")[0]
    dtd = next(line for line in coop.splitlines() if line.startswith("| DTD"))
    assert [c.strip() for c in dtd.strip("|").split("|")][4:] == ["-", "-", "-"]
    assert "params" not in main_output(root / "base2new", capsys)  # only with --cost


def main_output(root: Path, capsys: pytest.CaptureFixture[str]) -> str:
    assert main([str(root)]) == 0
    return capsys.readouterr().out


def test_figures_never_draw_the_cost_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import results.plots as plots

    root = make_example_runs(tmp_path / "runs", datasets=("dtd",), seeds=(1,))
    for run in root.glob("*/**/seed1"):  # every run of every protocol: 8192 params would be off the accuracy axis
        write_cost(run, 8192, 20.0, 512.0)
    figures = []
    save = plots._save
    monkeypatch.setattr(plots, "_save", lambda fig, path: (figures.append(fig), save(fig, path))[1])
    assert main([str(root), "--cost", "--plot", str(tmp_path / "figures"), "--format", "csv"]) == 0
    assert len(figures) == 3  # base-to-new, few-shot, cross-dataset (no DG target here)
    for fig in figures:
        for ax in fig.axes:
            heights = [p.get_height() for p in ax.patches] + [y for line in ax.get_lines() for y in line.get_ydata()]
            assert heights and max(heights) <= 100, fig.texts


def test_a_grid_over_a_methods_key_leaves_out_the_other_methods(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config.yaml holds every trainer's node: CoOp's and zero-shot CLIP's have
    TRAINER.MUDPT.PROMPT_DEPTH too, which they never read. They are not on a MuDPT grid."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath
    from result_runs import PROTOCOL_SHOTS, _config, write_run

    output = make_grid_runs(tmp_path, DEPTHS, (2,), ("dtd",), (1,))
    b2n = PROTOCOLS["base2new"]
    for trainer, recipe, n_ctx in (("CoOp", "vit_b16_ctxv1", 4), ("ZeroshotCLIP", "vit_b16", None)):
        for step in b2n.steps:
            path = Path(str(RunPath(str(output), b2n.name, step.folder, "dtd", PROTOCOL_SHOTS, trainer, recipe, 1)))
            config = {**_config(trainer, n_ctx, 10, PROTOCOL_SHOTS, step.subsample), DEPTH: 9, "SEED": 1, "OUTPUT_DIR": str(path)}
            write_run(path, 50.0, trainer, eval_only=step.evaluates is not None or trainer == "ZeroshotCLIP", config=config)
    assert main([str(output), "--grid", DEPTH, "--format", "csv"]) == 0
    rows = csv_rows(capsys.readouterr().out)
    assert {r["method"] for r in rows} == {"MuDPT"} and len(rows) == len(DEPTHS) * 3  # Base, New, HM per depth
    assert main([str(output), "--grid", "OPTIM.MAX_EPOCH", "--format", "csv"]) == 0  # a key every method reads
    assert "CoOp" in {r["method"] for r in csv_rows(capsys.readouterr().out)}
