"""Tests for the results package beyond the classic tables (tests/test_parse_results.py): why a run
is incomplete, the settings in captions, the layouts of the released MuDPT code and of CoOp's
zero-shot CLIP, prefixes and repeated runs, and the dataset facts taken from ``datasets.SPECS``.

Logs are reduced to the lines the parser reads, in the format of Dassl and of train.py.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import yaml

from result_runs import nest
from results import benchmarks as benchmarks_module
from results.cli import main
from results.layouts import find_runs
from results.logs import parse_log
from results.settings import parse_config_dump
from results.tables import Cell, Table, build_tables, group_results

CFG = "vit_b16_c2_ep10_batch4_depth9"


def config_lines(config: dict[str, object]) -> list[str]:
    """A yacs dump of dotted keys: nodes sorted, two spaces per level."""
    tree = nest(config)

    def dump(node: dict, indent: int) -> list[str]:
        lines = []
        for key in sorted(node):
            value = node[key]
            if isinstance(value, dict):
                lines += [f"{' ' * indent}{key}:", *dump(value, indent + 2)]
            else:
                lines.append(f"{' ' * indent}{key}: {value}")
        return lines

    return dump(tree, 0)


def dassl_log(
    acc: float | None,
    *,
    eval_only: bool,
    config: dict[str, object] | None = None,
    epochs_run: int = 1,
    finished: bool = True,
    error: str = "",
) -> str:
    """A log: arguments, config dump, training lines (unless ``eval_only``), the result.

    ``acc=None``: no result; ``finished=False``: training stopped after ``epochs_run`` epoch
    lines; ``error``: train.py's fatal line.
    """
    lines = ["***************", "** Arguments **", "***************", f"eval_only: {eval_only}", "seed: 1"]
    lines += ["************", "** Config **", "************", *config_lines(config or {})]
    lines += ["Collecting env info ...", "** System info **", "Loading trainer: X", "Loading dataset: Y"]
    if not eval_only:
        lines.append("No checkpoint found, train from scratch")
        lines += [f"epoch [{e}/{epochs_run}] batch [1/1] loss 1.0 (1.0) lr 1e-3" for e in range(1, epochs_run + 1)]
        if finished:
            lines.append("Finish training")
    if error:
        lines.append(f"error: {error}")
    if acc is not None and (eval_only or finished):
        lines += ["Evaluate on the *test* set", "=> result", f"* accuracy: {acc:.1f}%", f"* error: {100 - acc:.1f}%"]
    return "\n".join(lines) + "\n"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def mudpt_config(shots: int = 16, epochs: int = 10, n_ctx: int = 2, subsample: str = "base") -> dict[str, object]:
    return {
        "DATASET.NUM_SHOTS": shots,
        "DATASET.SUBSAMPLE_CLASSES": subsample,
        "OPTIM.MAX_EPOCH": epochs,
        "OPTIM.LR": 0.0025,
        "TRAINER.NAME": "MuDPT",
        "TRAINER.MUDPT.N_CTX": n_ctx,
        "TRAINER.MUDPT.PROMPT_DEPTH": 9,
        "TRAINER.COOP.N_CTX": 16,  # another method's node: not this run's setting
    }


def ours(root: Path, step: str, dataset: str, seed: int, shots: int = 16, cfg: str = CFG, trainer: str = "MuDPT") -> Path:
    """protocols.definitions.RunPath for base-to-new."""
    return root / "base2new" / step / dataset / f"shots_{shots}" / trainer / cfg / f"seed{seed}"


def tables_by_title(root: Path) -> dict[str, Table]:
    return {table.title: table for table in build_tables(group_results(find_runs(root)))}


def cells(table: Table) -> dict[tuple[str, str], Cell]:
    """(row label, column header) -> cell."""
    return {
        (str(row[0]), header): cell
        for row in table.rows
        for header, cell in zip(table.headers, row)
        if isinstance(cell, Cell)
    }


# ---------------------------------------------------------------------------------------------
# Why a run has no result
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("log", "reason"),
    [
        (
            dassl_log(None, eval_only=False, error="DATASET.ROOT /x: no such folder. Set --root."),
            "failed: DATASET.ROOT /x: no such folder. Set --root.",
        ),
        (dassl_log(None, eval_only=True), "evaluation not finished"),
        (dassl_log(None, eval_only=False, epochs_run=0, finished=False), "stopped before training began"),
        (dassl_log(None, eval_only=False, epochs_run=2, finished=False), "training not finished"),
        (dassl_log(None, eval_only=False, epochs_run=2), "no result after Finish training"),
        (dassl_log(71.0, eval_only=False, error="never mind"), ""),  # a result wins
    ],
)
def test_reason_from_the_log(tmp_path: Path, log: str, reason: str) -> None:
    assert parse_log(write(tmp_path / "log.txt", log)).reason == reason


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"status": "failed", "error": "CLIP weights /w.pt are not CLIP's\nsecond line"}, "failed: CLIP weights /w.pt are not CLIP's"),
        ({"status": "interrupted", "error": "interrupted"}, "interrupted"),
        ({"status": "running"}, "running, or killed"),
        ({"status": "complete"}, "training not finished"),  # the record does not explain it: the log does
    ],
)
def test_reason_from_run_json(tmp_path: Path, record: dict, reason: str) -> None:
    run = ours(tmp_path, "train_base", "dtd", 1)
    write(run / "log.txt", dassl_log(None, eval_only=False, epochs_run=2, finished=False))
    write(run / "run.json", json.dumps({"kind": "train", **record}))
    (found,) = find_runs(tmp_path)
    assert (found.complete, found.reason) == (False, reason)


def test_reason_of_a_seed_folder_without_log_comes_from_run_json(tmp_path: Path) -> None:
    run = ours(tmp_path, "test_new", "dtd", 2)
    write(run / "run.json", json.dumps({"kind": "eval", "status": "failed", "error": "no checkpoint in /m"}))
    (other,) = [r for r in find_runs(tmp_path)]
    assert other.reason == "failed: no checkpoint in /m" and other.result is None


def test_reasons_reach_the_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(ours(tmp_path, "train_base", "dtd", 1) / "log.txt", dassl_log(80.0, eval_only=False, config=mudpt_config()))
    write(ours(tmp_path, "test_new", "dtd", 1) / "log.txt", dassl_log(None, eval_only=True))
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Incomplete runs (1)") :]
    assert f"base2new/test_new/dtd/shots_16/MuDPT/{CFG}/seed1 | evaluation not finished" in section


# ---------------------------------------------------------------------------------------------
# Settings in captions
# ---------------------------------------------------------------------------------------------
def test_config_dump_keeps_the_caption_keys_and_stops_at_its_end() -> None:
    lines = [*config_lines(mudpt_config()), "  INIT_WEIGHTS: ", "Collecting env info ...", "TRAINER:", "  NAME: Other"]
    assert parse_config_dump(lines) == {
        "DATASET.NUM_SHOTS": "16",
        "DATASET.SUBSAMPLE_CLASSES": "base",
        "OPTIM.MAX_EPOCH": "10",
        "TRAINER.NAME": "MuDPT",
        "TRAINER.MUDPT.N_CTX": "2",
        "TRAINER.MUDPT.PROMPT_DEPTH": "9",
        "TRAINER.COOP.N_CTX": "16",
    }


def test_caption_names_what_ran_not_the_recipe(tmp_path: Path) -> None:
    """A smoke run of 2 shots and 2 epochs in a 16-shot recipe's folder is captioned 2 shots, 2 epochs."""
    for seed, n_ctx in ((1, 2), (2, 4)):
        config = mudpt_config(shots=2, epochs=2, n_ctx=n_ctx)
        write(ours(tmp_path, "train_base", "dtd", seed) / "log.txt", dassl_log(80.0, eval_only=False, config=config))
        config = mudpt_config(shots=2, epochs=2, n_ctx=n_ctx, subsample="new")
        write(ours(tmp_path, "test_new", "dtd", seed) / "log.txt", dassl_log(60.0, eval_only=True, config=config))
    (table,) = build_tables(group_results(find_runs(tmp_path)))
    assert table.settings == "2 shots, 2 epochs, N_CTX 2/4, PROMPT_DEPTH 9"


def test_config_yaml_is_read_before_the_log_dump(tmp_path: Path) -> None:
    run = ours(tmp_path, "train_base", "dtd", 1)
    write(run / "log.txt", dassl_log(80.0, eval_only=False, config=mudpt_config(n_ctx=2)))
    write(run / "config.yaml", "DATASET:\n  NUM_SHOTS: 4\nOPTIM:\n  MAX_EPOCH: 3\nTRAINER:\n  MUDPT:\n    N_CTX: 8\n  NAME: MuDPT\n")
    (found,) = find_runs(tmp_path)
    assert found.config == {"DATASET.NUM_SHOTS": "4", "OPTIM.MAX_EPOCH": "3", "TRAINER.MUDPT.N_CTX": "8", "TRAINER.NAME": "MuDPT"}


def test_without_a_readable_config_the_caption_says_the_folder_shots(tmp_path: Path) -> None:
    write(ours(tmp_path, "train_base", "dtd", 1) / "log.txt", "Finish training\n=> result\n* accuracy: 80.0%\n")
    (table,) = build_tables(group_results(find_runs(tmp_path)))
    assert table.settings == "16 shots (folder name), settings of 1 run unread"


# ---------------------------------------------------------------------------------------------
# Layouts of other repositories
# ---------------------------------------------------------------------------------------------
def test_released_mudpt_layout_gives_base_new_and_hm(tmp_path: Path) -> None:
    cfg = "vit_b16_bz4_ep10_nctx4_depth9"
    config = {
        "DATASET.NUM_SHOTS": 16,
        "OPTIM.MAX_EPOCH": 10,
        "TRAINER.NAME": "MuDPT",
        "TRAINER.MUDPT.N_CTX": 4,
        "TRAINER.MUDPT.DEEP_PROMPT_DEPTH": 9,
    }
    for seed, (base, new) in enumerate([(80.0, 60.0), (82.0, 62.0)], start=1):
        for role, acc in (("base", base), ("new", new)):
            run = tmp_path / "base2new" / role / "dtd" / "shots_16" / cfg / f"seed{seed}"
            write(run / "log.txt", dassl_log(acc, eval_only=role == "new", config=config))
    table = tables_by_title(tmp_path)[f"Base-to-new generalisation: MuDPT, {cfg}"]
    got = cells(table)
    assert (got[("DTD", "Base")].mean, got[("DTD", "New")].mean, got[("DTD", "Base")].n) == (81.0, 61.0, 2)
    assert got[("DTD", "HM")].mean == pytest.approx(2 * 81 * 61 / 142)
    assert table.settings == "16 shots, 10 epochs, N_CTX 4, DEEP_PROMPT_DEPTH 9"


def test_zero_shot_folder_goes_to_the_table_its_class_subset_says(tmp_path: Path) -> None:
    """CoOp's ZeroshotCLIP/<cfg>/<dataset>: base and new logs in one folder give Base/New/HM; all classes
    (or no subset in the config) go to the zero-shot table."""
    zs = tmp_path / "ZeroshotCLIP" / "vit_b16"
    config = {"DATASET.NUM_SHOTS": -1, "OPTIM.MAX_EPOCH": 200, "TRAINER.NAME": "ZeroshotCLIP"}
    for log, acc, subsample in (
        (zs / "dtd" / "log.txt", 70.0, "base"),
        (zs / "dtd" / "log.txt-2024-01-02-03-04-05", 60.0, "new"),  # a second evaluation into the same folder
        (zs / "eurosat" / "log.txt", 50.0, "all"),
    ):
        write(log, dassl_log(acc, eval_only=True, config={**config, "DATASET.SUBSAMPLE_CLASSES": subsample}))
    write(zs / "caltech101" / "log.txt", "=> result\n* accuracy: 90.0%\n")  # no config dump: all classes
    # train.py leaves the config of the folder's last run, which is not the first log's
    write(zs / "dtd" / "config.yaml", yaml.safe_dump(nest({**config, "DATASET.SUBSAMPLE_CLASSES": "new"})))
    tables = tables_by_title(tmp_path)
    b2n = tables["Base-to-new generalisation: ZeroshotCLIP, vit_b16"]
    got = cells(b2n)
    assert (got[("DTD", "Base")].mean, got[("DTD", "New")].mean) == (70.0, 60.0)
    assert b2n.settings == "zero-shot"  # not "all training images, 200 epochs"
    zero_shot = tables["Zero-shot, all classes: ZeroshotCLIP, vit_b16"]
    assert [row[0] for row in zero_shot.rows] == ["Caltech101", "EuroSAT", "Average (2 datasets)"]
    assert cells(zero_shot)[("Average (2 datasets)", "accuracy")].mean == 70.0


# ---------------------------------------------------------------------------------------------
# Each (method, config, dataset, shots, seed) once; prefixes are groups of their own
# ---------------------------------------------------------------------------------------------
def test_a_prefix_never_averages_with_the_main_runs(tmp_path: Path) -> None:
    for seed, acc in ((1, 60.0), (2, 62.0)):
        write(ours(tmp_path, "test_new", "dtd", seed) / "log.txt", dassl_log(acc, eval_only=True, config=mudpt_config()))
    write(ours(tmp_path / "eval", "test_new", "dtd", 1) / "log.txt", dassl_log(10.0, eval_only=True, config=mudpt_config()))
    tables = tables_by_title(tmp_path)
    main_new = cells(tables[f"Base-to-new generalisation: MuDPT, {CFG}"])[("DTD", "New")]
    assert (main_new.mean, main_new.n, main_new.prefix) == (61.0, 2, "")
    eval_new = cells(tables[f"Base-to-new generalisation: MuDPT, {CFG} (under eval/)"])[("DTD", "New")]
    assert (eval_new.mean, eval_new.n, eval_new.prefix) == (10.0, 1, "eval")


def test_repeated_runs_count_once_and_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Our layout and the released MuDPT layout with the same config name measure the same key."""
    released = tmp_path / "base2new" / "new" / "dtd" / "shots_16" / CFG / "seed1"
    write(released / "log.txt", dassl_log(50.0, eval_only=True, config=mudpt_config()))
    write(ours(tmp_path, "test_new", "dtd", 1) / "log.txt", dassl_log(70.0, eval_only=True, config=mudpt_config()))
    write(ours(tmp_path, "test_new", "dtd", 2) / "log.txt", dassl_log(72.0, eval_only=True, config=mudpt_config()))
    results = group_results(find_runs(tmp_path))
    (repeat,) = results.repeats
    assert (repeat.run.path, repeat.used.path) == (ours(tmp_path, "test_new", "dtd", 1), released)  # the first by path
    (stat,) = results.stats.values()
    assert (stat.mean, stat.n) == (61.0, 2)
    assert main([str(tmp_path)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("Repeated runs (not averaged) (1)") :]
    assert "the first run by path is used" in section
    assert f"base2new/test_new/dtd/shots_16/MuDPT/{CFG}/seed1 | base2new/new/dtd/shots_16/{CFG}/seed1" in section


def test_linked_run_folders_are_found_once_and_unreadable_logs_are_listed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    elsewhere = tmp_path / "elsewhere"
    write(ours(elsewhere, "train_base", "dtd", 1) / "log.txt", dassl_log(80.0, eval_only=False, config=mudpt_config()))
    root = tmp_path / "output"
    root.mkdir()
    (root / "base2new").symlink_to(elsewhere / "base2new", target_is_directory=True)
    (root / "again").symlink_to(root, target_is_directory=True)  # a loop: each folder is read once
    (stat,) = group_results(find_runs(root)).stats.values()
    assert (stat.mean, stat.n) == (80.0, 1)
    broken = ours(root, "train_base", "eurosat", 1)
    broken.mkdir(parents=True)
    (broken / "log.txt").symlink_to(tmp_path / "gone.txt")
    assert main([str(root)]) == 0
    listing = capsys.readouterr().out.split("Incomplete runs (1)")[1]
    assert "base2new/train_base/eurosat/shots_16/MuDPT" in listing and "log not readable: No such file or directory" in listing


def test_latex_output_escapes_every_special_character(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write(ours(tmp_path, "train_base", "dtd", 1) / "log.txt", dassl_log(None, eval_only=False, error="C:\\data_1 ~x^2 & 5% {a} #$"))
    write(ours(tmp_path, "train_base", "dtd", 2) / "log.txt", dassl_log(80.0, eval_only=False, config=mudpt_config()))
    assert main([str(tmp_path), "--format", "latex"]) == 0
    out = capsys.readouterr().out
    assert "C:\\textbackslash{}data\\_1 \\textasciitilde{}x\\textasciicircum{}2 \\& 5\\% \\{a\\} \\#\\$" in out
    assert "vit\\_b16\\_c2" in out and "\\\\data" not in out  # "\\\\" would be a LaTeX line break


def test_unknown_dataset_gets_a_row_after_the_known_ones(tmp_path: Path) -> None:
    for dataset, acc in (("zz_mine", 50.0), ("dtd", 80.0), ("eurosat", 70.0), ("aa_mine", 40.0)):
        write(ours(tmp_path, "train_base", dataset, 1) / "log.txt", dassl_log(acc, eval_only=False, config=mudpt_config()))
    (table,) = build_tables(group_results(find_runs(tmp_path)))
    assert [row[0] for row in table.rows] == ["DTD", "EuroSAT", "aa_mine", "zz_mine"]


# ---------------------------------------------------------------------------------------------
# One source of truth: the benchmarks' own facts
# ---------------------------------------------------------------------------------------------
@pytest.fixture
def fresh_facts():
    benchmarks_module.benchmarks.cache_clear()
    yield
    benchmarks_module.benchmarks.cache_clear()


def test_facts_are_those_of_the_specs(fresh_facts) -> None:
    from datasets import SPECS
    from protocols import PROTOCOLS

    bm = benchmarks_module.benchmarks()
    assert bm.display == {spec.config: spec.display_name for spec in SPECS.values()}
    assert bm.datasets["base2new"] == tuple(spec.config for spec in PROTOCOLS["base2new"].datasets())
    assert bm.xd_source == "imagenet" and "imagenet" not in bm.roles["xd_target"]
    assert [bm.target_header(ds, bm.xd_source) for ds in bm.roles["dg_target"]] == ["-V2", "-Sketch", "-A", "-R"]


def test_a_new_benchmark_needs_no_change_here(tmp_path: Path, fresh_facts, monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered spec with a DG role is a DG target: its run is recognised, its column named."""
    from datasets import SPECS

    variant = dataclasses.replace(
        SPECS["ImageNetA"], name="ImageNetC", config="imagenet_c", display_name="ImageNet-C", order=99, folder="imagenet-c"
    )
    monkeypatch.setitem(SPECS, variant.name, variant)
    for dataset, acc in (("imagenet", 70.0), ("imagenet_c", 40.0)):
        step = "train" if dataset == "imagenet" else "test"
        path = tmp_path / "xd" / step / dataset / "shots_16" / "MuDPT" / "xd_cfg" / "seed1"
        write(path / "log.txt", dassl_log(acc, eval_only=step == "test", config=mudpt_config(subsample="all")))
    (dg,) = [t for t in build_tables(group_results(find_runs(tmp_path))) if t.name == "dg"]
    assert dg.headers[-3:] == ["ImageNet", "-C", "Average"]
    assert dg.rows[0][-1].note == "(1/5)"  # of the four registered variants and the new one


def test_every_step_of_our_protocols_is_read_back_from_its_run_dir(tmp_path: Path) -> None:
    """protocols.definitions.RunPath writes the path; classify reads the same facts back."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath
    from results.layouts import classify

    checked = 0
    for protocol in PROTOCOLS.values():
        for step in protocol.steps:
            for spec in protocol.datasets(step):
                for shots in protocol.shots:
                    path = Path(str(RunPath(str(tmp_path / "out"), protocol.name, step.folder, spec.config, shots, "MuDPT", "cfg", 3)))
                    expected = (protocol.name, "MuDPT", "cfg", shots, spec.config, step.table_role, "out")
                    key, seed = classify(path, tmp_path)
                    assert (key.protocol, key.method, key.config, key.shots, key.dataset, key.role, key.prefix) == expected
                    assert seed == 3
                    checked += 1
    assert checked > len(PROTOCOLS)
