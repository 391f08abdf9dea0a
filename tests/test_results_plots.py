"""Tests for the figures of parse_results.py (``--plot DIR``) and the synthetic example.

The figures are checked for what can break: that each kind is written, is a real image of a
sensible size with something drawn on it, and that files are named after their setting; not
pixel by pixel.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from results.cli import main
from result_runs import make_example_runs

# A figure smaller than this (pixels) has lost its panels; a blank one has one colour.
MIN_HEIGHT, MIN_WIDTH = 300, 600
DATASETS = ("dtd", "imagenet_a")
SEEDS = (1, 2)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_example_runs(tmp_path_factory.mktemp("runs"), datasets=DATASETS, seeds=SEEDS)


def check_image(path: Path) -> tuple[int, int]:
    import matplotlib.image

    image = matplotlib.image.imread(path)
    height, width = image.shape[:2]
    assert height >= MIN_HEIGHT and width >= MIN_WIDTH, f"{path.name} is {width}x{height}"
    assert image[..., :3].std() > 0, f"{path.name} is blank"
    return height, width


def test_plot_writes_one_figure_per_kind(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "figures"
    assert main([str(runs), "--plot", str(out), "--format", "md"]) == 0
    captured = capsys.readouterr()
    names = sorted(p.name for p in out.iterdir())
    assert names == ["base2new_16shots.png", "dg.png", "fewshot.png", "xd.png"]
    assert f"Figures: {out / 'base2new_16shots.png'}" in captured.err
    assert "### Base-to-new generalisation" in captured.out  # the tables are still printed
    sizes = {name: check_image(out / name) for name in names}
    # Three stacked panels (Base / New / HM) are taller than the one-panel transfer figures.
    assert sizes["base2new_16shots.png"][0] > sizes["xd.png"][0]


def test_runs_under_a_prefix_get_their_own_figure(runs: Path, tmp_path: Path) -> None:
    root = tmp_path / "out"
    shutil.copytree(runs / "base2new", root / "main" / "base2new")
    shutil.copytree(runs / "base2new", root / "eval" / "base2new")
    figures = tmp_path / "figures"
    assert main([str(root), "--plot", str(figures), "--format", "csv"]) == 0
    assert sorted(p.name for p in figures.iterdir()) == ["base2new_16shots_eval.png", "base2new_16shots_main.png"]


def test_plot_and_runs_listing_exclude_each_other(runs: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main([str(runs), "--runs", "--plot", str(tmp_path)])
    assert "--plot draws the tables" in capsys.readouterr().err


def test_docs_example_is_an_image() -> None:
    docs = Path(__file__).resolve().parents[1] / "docs" / "results_example.png"
    check_image(docs)


def test_legends_colours_axes_and_partial_averages(runs: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every series is in the legend in its bars' colour, even one missing from the first panel;
    bars start at 0; an average over fewer datasets is hatched / hollow and says how many."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import to_rgba

    from results import plots

    root = tmp_path / "runs"
    shutil.copytree(runs, root)
    # MuDPT misses few-shot ImageNet (the first panel) and its cross-dataset / DG targets.
    for gone in (root / "fewshot" / "imagenet", root / "xd" / "test" / "dtd", root / "xd" / "test" / "imagenet_a"):
        for path in gone.glob("shots_*/MuDPT"):
            shutil.rmtree(path)
    figures = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    assert main([str(root), "--plot", str(tmp_path / "figures"), "--format", "csv"]) == 0
    try:
        fewshot, xd = figures["fewshot.png"], figures["xd.png"]
        first_panel = fewshot.axes[0]
        assert first_panel.get_title() == "ImageNet" and len(first_panel.get_lines()) == 1  # CoOp only
        (legend,) = fewshot.legends
        assert [t.get_text().split(",")[0] for t in legend.get_texts()] == ["CoOp", "MuDPT"]
        assert len({to_rgba(h.get_color()) for h in legend.legend_handles}) == 2

        (legend,) = xd.legends
        assert [t.get_text().split(",")[0] for t in legend.get_texts()] == ["CoCoOp", "CoOp", "MuDPT"]
        legend_colours = [to_rgba(h.get_facecolor()) for h in legend.legend_handles]
        (ax,) = xd.axes
        assert ax.get_ylim()[0] == 0.0
        bar_colours = list(dict.fromkeys(to_rgba(p.get_facecolor()) for p in ax.patches))
        assert bar_colours == legend_colours  # MuDPT's bars (the source only) in MuDPT's legend colour
        # ImageNet and DTD are the groups; the averages cover 1 of the cross-dataset targets.
        assert [t.get_text() for t in ax.get_xticklabels()] == ["ImageNet", "DTD", "Average"]
        covers = [t.get_text() for t in ax.texts]
        assert covers and set(covers) == {f"1/{len(plots.benchmarks().roles['xd_target'])}"}
        assert sum(p.get_hatch() == plots.PARTIAL_HATCH for p in ax.patches) == len(covers) == 2  # CoCoOp, CoOp
        average = [p for p in fewshot.axes if p.get_title() == "Average"][0]
        n = len(plots.benchmarks().datasets['fewshot'])
        assert [t.get_text() for t in average.texts] == [f"2/{n}"] * 5 + [f"1/{n}"] * 5  # CoOp, MuDPT; each shot
    finally:
        for fig in figures.values():
            plt.close(fig)


def _full_run(output: Path, trainer: str, recipe: str, folder: str, step: str, dataset: str, seed: int, accuracy: float,
              overrides: list) -> Path:  # fmt: skip
    """(``recipe``: the config file, relative to configs/trainers/.)"""
    """A run as train.py writes it: its whole config (the recipe, the dataset and step keys, the
    overrides) in config.yaml, and a log with its result."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath
    from result_runs import write_run
    from runconfig.defaults import recipe_config

    b2n = PROTOCOLS["base2new"]
    subsample = {s.folder: s.subsample for s in b2n.steps}[step]
    cfg = recipe_config(f"configs/trainers/{recipe}.yaml").clone()
    cfg.defrost()
    cfg.merge_from_list(["TRAINER.NAME", trainer, "DATASET.NAME", dataset, "DATASET.NUM_SHOTS", 16, "SEED", seed,
                         "DATASET.SUBSAMPLE_CLASSES", subsample, *overrides])  # fmt: skip
    path = Path(str(RunPath(str(output), b2n.name, step, dataset, 16, trainer, folder, seed)))
    write_run(path, accuracy, trainer, eval_only=step != "train_base", config={}, seed=seed)
    (path / "config.yaml").write_text(cfg.dump(), encoding="utf-8")
    return path


def test_legends_name_the_recipe_and_the_overrides_in_words_and_the_runs_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A legend entry names the recipe and what the runs changed (from their config.yaml), not the
    folder's tag (cut and hashed when long); a zero-shot entry leaves out the training settings,
    which cannot change it; an average that misses a seed's run says so, in the legend and the table."""
    import matplotlib.pyplot as plt

    from results import plots

    tiny = ["INPUT.SIZE", "(32, 32)", "DATALOADER.TRAIN_X.BATCH_SIZE", 2, "OPTIM.MAX_EPOCH", 2]
    coop = "vit_b16_ctxv1+train_x.batch_size2-size32_32-lr0.5-max_epoch2-n_ctx4-prec_fp32-csc_true-a60487"  # a tag cut and hashed
    for seed in (1, 2, 3):
        for step, dataset in (("train_base", "dtd"), ("test_new", "dtd")):
            if (step, seed) != ("test_new", 3):  # the evaluation of seed 3 never ran
                _full_run(tmp_path / "out", "CoOp", "CoOp/vit_b16_ctxv1", coop, step, dataset, seed, 70.0 + seed,
                          [*tiny, "OPTIM.LR", 0.5, "TRAINER.COOP.PREC", "fp32", "TRAINER.COOP.CSC", True])  # fmt: skip
            _full_run(tmp_path / "out", "ZeroshotCLIP", "CoOp/vit_b16", "vit_b16+train_x.batch_size2-size32_32-max_epoch2", step, dataset,
                      seed, 60.0, tiny)  # fmt: skip
    figures = {}
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.setdefault(path.name, fig) and path)
    assert main([str(tmp_path / "out"), "--plot", str(tmp_path / "figures"), "--format", "md"]) == 0
    try:
        (legend,) = figures["base2new_16shots.png"].legends
        labels = [" ".join(t.get_text().split()) for t in legend.get_texts()]  # the legend wraps long lines
    finally:
        for fig in figures.values():
            plt.close(fig)
    assert labels[0] == (
        "CoOp, vit_b16_ctxv1 16 shots, 2 epochs, N_CTX 16 "
        "+ DATALOADER.TRAIN_X.BATCH_SIZE 2, INPUT.SIZE (32, 32), OPTIM.LR 0.5, CSC True, PREC fp32 "
        "runs missing: DTD New 2 of 3 seeds"
    )
    assert labels[1] == "ZeroshotCLIP, vit_b16 zero-shot + INPUT.SIZE (32, 32)"  # no batch size, no epochs
    table = capsys.readouterr().out
    assert f"### Base-to-new generalisation: CoOp, {coop} (" in table  # the table names the run folder
    dtd = next(line for line in table.splitlines() if line.startswith("| DTD ") and "71.50" in line)
    assert [c.strip() for c in dtd.strip("|").split("|")][1:3] == ["72.00 ± 0.82", "71.50 ± 0.50 (2 of 3 seeds)"]
