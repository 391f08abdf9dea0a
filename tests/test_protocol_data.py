"""A protocol is data: a toy protocol declared in one ``register_protocol`` call is planned and tabled.

The issue's acceptance test: "a test declares a toy protocol that reuses an existing table kind in
one place and plans and tables it". The toy protocol (``toyshots``) is few-shot learning with 2
or 4 shots on all classes: it reuses the few-shot table kind (``SHOTS_CURVE``) and the methods'
few-shot recipes (``recipes="fewshot"``), and is declared nowhere but in the fixture below.
Nothing else is told about it, so each check shows that a part takes everything from the
protocol's data:

- the runner (``sweep.py``, :func:`protocols.cli.main`): a dry run plans one run per shots at
  ``<OUTPUT>/toyshots/<dataset>/shots_<K>/CoOp/<recipe>/seed<S>`` with CoOp's few-shot recipe and
  its few-shot options (``TRAINER.COOP.N_CTX 16``); shots the protocol does not have are refused;
  ``sweep.py status`` knows it; :meth:`RunPath.parse` reads its run folders back;
- the results (``parse_results.py``): fake complete runs in its layout (made-up, exact
  accuracies) get a table of the few-shot kind titled after it, whose cells are their seed means
  and whose Average is marked partial against the few-shot benchmarks it declares; its runs never
  average with real few-shot runs of the same method and recipe in the same output folder; the
  CSV names it, ``--plot`` draws ``toyshots.png`` next to ``fewshot.png``, and ``--grid`` titles
  its grids with its label.

A negative control shows the tables test can fail: without the registration, the same run
folders are "other" runs and no table is the toy protocol's. Nothing trains (under ~10 s).
"""
from __future__ import annotations

import csv
import io
import shlex
from pathlib import Path

import pytest

from result_runs import write_run

TOY = "toyshots"
TOY_TITLE = "Toy few-shot learning"
TOY_LABEL = "toy few-shot"
RECIPE = "vit_b16_ep100"  # CoOp's few-shot recipe for 2 and 4 shots (trainers/coop.py fewshot_recipe)
GRID_FOLDER = f"{RECIPE}+n_ctx8"  # the runner's folder of the grid point TRAINER.COOP.N_CTX=8 (checked below)
N_CTX = "TRAINER.COOP.N_CTX"

# (protocol, config folder, N_CTX, dataset, shots) -> accuracy of seed 1, seed 2: exact in binary.
RUNS = {
    (TOY, RECIPE, 16, "dtd", 2): (50.0, 52.0),  # mean 51.0, std 1.0
    (TOY, RECIPE, 16, "dtd", 4): (55.0, 57.0),  # mean 56.0
    (TOY, RECIPE, 16, "eurosat", 2): (70.0, 71.0),  # mean 70.5, std 0.5
    (TOY, RECIPE, 16, "eurosat", 4): (74.0, 76.0),  # mean 75.0
    (TOY, GRID_FOLDER, 8, "dtd", 2): (45.0, 47.0),  # mean 46.0: a second grid point of the toy runs
    ("fewshot", RECIPE, 16, "dtd", 2): (60.0, 62.0),  # mean 61.0: real few-shot runs, same method and recipe
    ("fewshot", RECIPE, 16, "dtd", 4): (64.0, 66.0),  # mean 65.0
}
SEEDS = (1, 2)


@pytest.fixture
def toy_protocol():
    """The toy protocol, registered as a protocol file would register it, removed afterwards."""
    from protocols import PROTOCOLS, Protocol, Step, TableSpec, register_protocol
    from protocols.definitions import SHOTS_CURVE
    from results.benchmarks import benchmarks

    benchmarks.cache_clear()  # the tables read the protocols once
    protocol = register_protocol(
        Protocol(
            name=TOY, title="toy: few-shot learning on all classes, 2 or 4 shots", label=TOY_LABEL, shots=(2, 4),
            steps=(Step("train", "", ("fewshot",), "all", "",
                        about="Toy few-shot: train on all classes of DATASET with SHOTS (2 or 4) images per class, then test."),),
            per_dataset=True, tables=(TableSpec(SHOTS_CURVE, TOY_TITLE),), shots_option=True, recipes="fewshot",
            about_all="Toy few-shot sweep: every few-shot dataset x shots 2 4 x SEEDS.",
        )
    )  # fmt: skip
    benchmarks.cache_clear()
    try:
        yield protocol
    finally:
        PROTOCOLS.pop(TOY, None)
        benchmarks.cache_clear()


@pytest.fixture(scope="module")
def runs_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Complete runs of :data:`RUNS` in the runner's layout (folders as ``RunPath`` formats them)."""
    from protocols.definitions import RunPath

    root = tmp_path_factory.mktemp("output")
    for (protocol, folder, n_ctx, dataset, shots), accuracies in RUNS.items():
        for seed, accuracy in zip(SEEDS, accuracies):
            path = Path(str(RunPath(str(root), protocol, "", dataset, shots, "CoOp", folder, seed)))
            config = {"TRAINER.NAME": "CoOp", "DATASET.NUM_SHOTS": shots, "DATASET.SUBSAMPLE_CLASSES": "all",
                      "OPTIM.MAX_EPOCH": 100, N_CTX: n_ctx, "SEED": seed}  # fmt: skip
            write_run(path, accuracy, "CoOp", eval_only=False, config=config, seed=seed)
    return root


def dry_runs(out: str) -> list[tuple[str, list[str]]]:
    """(state line, train.py command) of each run a dry run prints."""
    lines = out.splitlines()
    return [(line, shlex.split(lines[i + 1])) for i, line in enumerate(lines) if line.startswith("[dry-run] ")]


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def pairs(command: list[str]) -> list[tuple[str, str]]:
    """The ``KEY VALUE`` overrides at the end of a train.py command (after its last --option)."""
    last = max(i for i, word in enumerate(command) if word.startswith("--"))
    rest = command[last + 2 :]
    return list(zip(rest[::2], rest[1::2]))


def mean_of(key: tuple) -> float:
    return sum(RUNS[key]) / len(RUNS[key])


# ---------------------------------------------------------------------------------------------
# Plans it
# ---------------------------------------------------------------------------------------------
def test_the_runner_plans_a_toy_protocol(toy_protocol, sweep, tmp_path):
    from protocols.cli import protocol_scripts
    from trainers import METHODS

    code, out, err = sweep(TOY, "--methods", "coop", "--datasets", "dtd", "--shots", "2", "4", "--seeds", "1", "--dry-run")
    assert code == 0, err
    runs = dry_runs(out)
    assert [state for state, _ in runs] == [f"[dry-run] coop {TOY} train dtd 2 shots seed 1: pending", f"[dry-run] coop {TOY} train dtd 4 shots seed 1: pending"]
    for (_, command), shots in zip(runs, (2, 4)):
        # The few-shot recipe of CoOp for these shots (100 epochs for 2 and 4 shots), in the toy layout.
        assert METHODS["coop"].recipe("fewshot", "dtd", shots) == f"configs/trainers/CoOp/{RECIPE}.yaml"
        assert option(command, "--config-file") == f"configs/trainers/CoOp/{RECIPE}.yaml"
        assert option(command, "--output-dir") == str(tmp_path / "output" / TOY / "dtd" / f"shots_{shots}" / "CoOp" / RECIPE / "seed1")
        assert option(command, "--dataset-config-file") == "configs/datasets/dtd.yaml"
        assert option(command, "--trainer") == "CoOp" and "--eval-only" not in command
        # Its shots, all classes, and CoOp's few-shot options (filed under the protocol whose recipes it uses).
        opts = dict(pairs(command))
        assert (opts["DATASET.NUM_SHOTS"], opts["DATASET.SUBSAMPLE_CLASSES"], opts[N_CTX]) == (str(shots), "all", "16")

    # The same selection of the few-shot protocol: the same train.py runs, in the few-shot folders.
    code, out, err = sweep("fewshot", "--methods", "coop", "--datasets", "dtd", "--shots", "2", "4", "--seeds", "1", "--dry-run")
    assert code == 0, err
    toy_output = str(tmp_path / "output" / TOY) + "/"
    fewshot_output = str(tmp_path / "output" / "fewshot") + "/"
    assert [[w.replace(toy_output, fewshot_output) for w in command] for _, command in runs] == [command for _, command in dry_runs(out)]

    # Shots it does not have are refused, naming its own.
    code, out, err = sweep(TOY, "--methods", "coop", "--datasets", "dtd", "--shots", "3", "--seeds", "1", "--dry-run")
    assert (code, out, err) == (2, "", "error: --shots takes some of 2 4 (the protocol's), got 3.\n")

    # A grid point is named as for any protocol: the folder the tables test below writes.
    code, out, err = sweep(TOY, "--methods", "coop", "--datasets", "dtd", "--shots", "2", "--seeds", "1", "--dry-run", "--grid", f"{N_CTX}=8,16")
    assert code == 0, err
    assert [option(command, "--output-dir").split("/")[-2] for _, command in dry_runs(out)] == [GRID_FOLDER, RECIPE]

    # status knows it.
    code, out, err = sweep("status", TOY, "--methods", "coop", "--datasets", "dtd", "--shots", "2", "4", "--seeds", "1")
    assert code == 0, err
    assert out.splitlines()[0] == "Summary: 2 pending"
    assert [line.split()[:8] for line in out.splitlines()[3:]] == [
        ["pending", "coop", TOY, "train", "dtd", str(k), "shots", "seed"] for k in (2, 4)
    ]  # fmt: skip

    # Its scripts come from the same data: one step (DATASET SHOTS SEED) and the sweep.
    scripts = protocol_scripts()
    assert (scripts[TOY].positional, scripts[f"{TOY}_all"].positional) == (("DATASET", "SHOTS", "SEED"), ("SEEDS",))


def test_run_path_parses_a_toy_run_folder(toy_protocol, tmp_path):
    from protocols.definitions import RunPath

    run = RunPath(str(tmp_path / "output"), TOY, "", "eurosat", 4, "CoOp", GRID_FOLDER, 2)
    path = str(run)
    assert path == str(tmp_path / "output" / TOY / "eurosat" / "shots_4" / "CoOp" / GRID_FOLDER / "seed2")
    parsed = RunPath.parse(path)
    assert parsed == (run, len((tmp_path / "output").parts))
    parsed_run, _ = parsed
    assert (parsed_run.protocol, parsed_run.shots, parsed_run.trainer, parsed_run.config, parsed_run.seed) == (TOY, 4, "CoOp", GRID_FOLDER, 2)


# ---------------------------------------------------------------------------------------------
# Tables it
# ---------------------------------------------------------------------------------------------
def test_the_tables_table_a_toy_protocol(toy_protocol, runs_root):
    from protocols.definitions import SHOTS_CURVE
    from results.benchmarks import benchmarks
    from results.layouts import find_runs
    from results.tables import AVERAGE, build_tables, group_results

    # The toy protocol's datasets are those of its benchmark role: the 11 few-shot benchmarks.
    assert len(benchmarks().datasets[TOY]) == 11 and benchmarks().datasets[TOY] == benchmarks().datasets["fewshot"]
    tables = build_tables(group_results(find_runs(runs_root)))
    assert [t.title for t in tables] == [
        f"Few-shot learning: CoOp, {RECIPE}",
        f"{TOY_TITLE}: CoOp, {RECIPE}",
        f"{TOY_TITLE}: CoOp, {GRID_FOLDER}",
    ]
    fewshot, toy, toy_grid = tables
    assert (toy.kind, toy.name, toy.protocol, toy.heading, toy.method, toy.config) == (SHOTS_CURVE, TOY, TOY, TOY_TITLE, "CoOp", RECIPE)
    assert toy.headers == ["Dataset", "2 shots", "4 shots"]
    assert [row[0] for row in toy.rows] == ["DTD", "EuroSAT", "Average"]
    dtd_2 = toy.rows[0][1]
    assert (dtd_2.protocol, dtd_2.dataset, dtd_2.shots, dtd_2.config) == (TOY, "dtd", 2, RECIPE)
    assert (dtd_2.mean, dtd_2.spread, dtd_2.n) == (51.0, 1.0, 2)  # the toy seeds only: never the few-shot runs'
    assert [[cell.mean for cell in row[1:]] for row in toy.rows] == [
        [mean_of((TOY, RECIPE, 16, "dtd", 2)), mean_of((TOY, RECIPE, 16, "dtd", 4))],
        [mean_of((TOY, RECIPE, 16, "eurosat", 2)), mean_of((TOY, RECIPE, 16, "eurosat", 4))],
        [60.75, 65.5],  # (51.0 + 70.5) / 2, (56.0 + 75.0) / 2
    ]
    # 2 of the protocol's 11 datasets: the Average is partial, and says so.
    for cell in toy.rows[-1][1:]:
        assert (cell.dataset, cell.note, cell.covers, cell.spread, cell.n) == (AVERAGE, "(2 datasets)", "2/11", None, None)

    # The other toy recipe folder is its own table, with its own seed means.
    assert toy_grid.headers == ["Dataset", "2 shots"] and [row[0] for row in toy_grid.rows] == ["DTD", "Average"]
    assert (toy_grid.rows[0][1].mean, toy_grid.rows[0][1].n, toy_grid.rows[1][1].covers) == (46.0, 2, "1/11")

    # The real few-shot runs of the same method, recipe and dataset: a table of their own.
    assert (fewshot.protocol, fewshot.name) == ("fewshot", "fewshot")
    assert [[cell.mean for cell in row[1:]] for row in fewshot.rows] == [[61.0, 65.0], [61.0, 65.0]]
    assert all(cell.protocol == "fewshot" and cell.n in (2, None) for row in fewshot.rows for cell in row[1:])


def test_parse_results_names_plots_and_grids_a_toy_protocol(toy_protocol, runs_root, tmp_path, capsys):
    from results.cli import main
    from results.grids import grid_tables
    from results.layouts import find_runs
    from results.tables import group_results

    # CSV: the toy cells carry the protocol's name.
    assert main([str(runs_root), "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    toy = {(r["config"], r["dataset"], r["shots"]): (float(r["mean"]), r["n"], r["covers"]) for r in rows if r["protocol"] == TOY}
    assert toy == {
        (RECIPE, "dtd", "2"): (51.0, "2", ""), (RECIPE, "dtd", "4"): (56.0, "2", ""),
        (RECIPE, "eurosat", "2"): (70.5, "2", ""), (RECIPE, "eurosat", "4"): (75.0, "2", ""),
        (RECIPE, "average", "2"): (60.75, "", "2/11"), (RECIPE, "average", "4"): (65.5, "", "2/11"),
        (GRID_FOLDER, "dtd", "2"): (46.0, "2", ""), (GRID_FOLDER, "average", "2"): (46.0, "", "1/11"),
    }  # fmt: skip
    assert sorted({r["protocol"] for r in rows}) == ["fewshot", TOY]

    # Figures: the toy protocol's curve next to the few-shot one.
    figures = tmp_path / "figures"
    assert main([str(runs_root), "--plot", str(figures)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in figures.iterdir()) == ["fewshot.png", f"{TOY}.png"]
    for name in ("fewshot.png", f"{TOY}.png"):
        data = (figures / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 1000, name

    # Grids over N_CTX: the toy runs' tables are titled with its label and hold both points.
    grids = grid_tables(group_results(find_runs(runs_root)), N_CTX, "accuracy")
    assert [t.title for t in grids] == [
        f"Grid over {N_CTX}: DTD (few-shot, 2 shots)",
        f"Grid over {N_CTX}: DTD (few-shot, 4 shots)",
        f"Grid over {N_CTX}: DTD ({TOY_LABEL}, 2 shots)",
        f"Grid over {N_CTX}: EuroSAT ({TOY_LABEL}, 2 shots)",
        f"Grid over {N_CTX}: Average ({TOY_LABEL}, 2 shots)",
        f"Grid over {N_CTX}: DTD ({TOY_LABEL}, 4 shots)",
        f"Grid over {N_CTX}: EuroSAT ({TOY_LABEL}, 4 shots)",
        f"Grid over {N_CTX}: Average ({TOY_LABEL}, 4 shots)",
    ]
    dtd_2 = grids[2]
    assert (dtd_2.protocol, dtd_2.heading, dtd_2.shots) == (TOY, TOY_TITLE, 2)
    assert [[*row[:3], row[3].mean, row[3].n, row[3].config] for row in dtd_2.rows] == [
        ["CoOp", RECIPE, "8", 46.0, 2, GRID_FOLDER],
        ["CoOp", RECIPE, "16", 51.0, 2, RECIPE],
    ]
    # The average over the toy datasets: N_CTX 8 has DTD only (1 of the grid's 2 datasets).
    assert [(row[2], row[3].mean, row[3].covers) for row in grids[4].rows] == [("8", 46.0, "1/2"), ("16", 60.75, "")]

    # The command line says the same.
    assert main([str(runs_root), "--grid", N_CTX]) == 0
    assert f"Grid over {N_CTX}: DTD ({TOY_LABEL}, 2 shots)" in capsys.readouterr().out


def test_negative_control_an_unregistered_toy_protocol_is_other_runs(runs_root, sweep):
    """Without the registration (the same runs as above) nothing knows the toy protocol: its
    folders are "other" runs, no table is its, and the runner refuses its name."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath
    from results.benchmarks import benchmarks
    from results.layouts import OTHER, find_runs
    from results.tables import build_tables, group_results

    assert TOY not in PROTOCOLS
    benchmarks.cache_clear()
    runs = find_runs(runs_root)
    toy_runs = [run for run in runs if run.path.relative_to(runs_root).parts[0] == TOY]
    assert len(toy_runs) == 10 and {run.key.protocol for run in toy_runs} == {OTHER}
    assert RunPath.parse(toy_runs[0].path) is None
    tables = build_tables(group_results(runs))
    assert [t.title for t in tables] == [f"Few-shot learning: CoOp, {RECIPE}", "Other runs (grouped by path)"]
    assert all(t.protocol != TOY for t in tables)
    assert [row[0] for row in tables[1].rows] == [
        f"{TOY}/dtd/shots_2/CoOp/{RECIPE}", f"{TOY}/dtd/shots_2/CoOp/{GRID_FOLDER}", f"{TOY}/dtd/shots_4/CoOp/{RECIPE}",
        f"{TOY}/eurosat/shots_2/CoOp/{RECIPE}", f"{TOY}/eurosat/shots_4/CoOp/{RECIPE}",
    ]  # fmt: skip
    code, out, err = sweep(TOY, "--methods", "coop", "--dry-run")
    assert code == 2 and out == "" and err.splitlines()[-1] == "python sweep.py: error: name the protocol: base2new, xd, fewshot (e.g. python sweep.py base2new --dry-run)"
