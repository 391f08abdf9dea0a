"""A method's facts live in its spec (``trainers/<method>.py``); every list of methods derives from them.

``trainers.METHODS`` is filled by the method files themselves (``trainers/__init__.py`` imports
every module that is not substrate), and the config's trainer nodes, the protocol runner's
``--methods``, recipes, protocol options and scripts, the bench's method list and the captions of
``parse_results.py`` are all derived from it. These tests check the three halves of that promise:

- no module outside ``trainers/`` writes a list of methods by hand (the twin of
  ``test_benchmark_facts.py::test_no_other_module_lists_benchmarks_by_hand``);
- adding a method is its file and its recipe files, nothing else: a copy of the repository gets
  ``trainers/toycoop.py`` (coop.py renamed) and ``configs/trainers/ToyCoOp/``, and the runner, the
  bench and ``parse_results.py`` of that copy know ToyCoOp (the issue's acceptance test);
- every method of ``METHODS`` reaches every list, and what its spec names (config keys, protocol
  options, bench recipe, caption keys, keys that cannot change results) exists where it is used.
"""
from __future__ import annotations

import inspect
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# ---------------------------------------------------------------------------------------------
# No other module lists the methods by hand
# ---------------------------------------------------------------------------------------------
# Folders whose files may name methods one by one: the method files (the facts themselves), the
# tests, the recipes and the generated wrappers (scripts/<method>/*.sh, written by `sweep.py
# write-scripts` from METHODS). Hidden folders (.git, .venv, .ci-venv, ...) and virtual
# environments are not the repository's code; /output and /data are git-ignored run and data roots.
FACT_FOLDERS = {"trainers", "tests", "configs", "scripts"}
IGNORED_ROOTS = {"output", "data"}
QUOTED_WORD = re.compile(r"""["']([\w-]+)["']""")
# Entry points that must be scanned (so that an exclusion above cannot silently skip everything).
MUST_SCAN = {"sweep.py", "parse_results.py", "train.py", "protocols/cli.py", "protocols/plan.py", "bench/bench.py", "results/settings.py"}


def _method_words() -> dict[str, set[str]]:
    """Method name -> the words that name it: its spec's name, its trainer's class name, its node."""
    from trainers import METHODS

    return {spec.name: {spec.name, spec.trainer_name, spec.node} for spec in METHODS.values()}


def _methods_named(text: str, words: dict[str, set[str]]) -> list[str]:
    quoted = set(QUOTED_WORD.findall(text))
    return sorted(name for name, forms in words.items() if forms & quoted)


def _scanned(rel: Path) -> bool:
    if rel.suffix not in (".py", ".sh") or rel.parts[0] in FACT_FOLDERS | IGNORED_ROOTS:
        return False
    return not any(part.startswith(".") or part.endswith("venv") or part.endswith(".egg-info") for part in rel.parts[:-1])


def test_no_other_module_lists_methods_by_hand():
    words = _method_words()
    # The scan sees a list written by hand in any of the three spellings (so this test can fail).
    assert _methods_named("""ORDER = ["coop", 'CoCoOp', "MAPLE"]  # not 'maple-x'""", words) == ["cocoop", "coop", "maple"]
    offenders, scanned = [], set()
    for path in sorted(REPO.rglob("*")):
        rel = path.relative_to(REPO)
        if not path.is_file() or not _scanned(rel):
            continue
        scanned.add(rel.as_posix())
        named = _methods_named(path.read_text(encoding="utf-8", errors="replace"), words)
        # Naming one or two methods is a reference (analysis/alignment.py's ZeroshotCLIP, the released
        # MuDPT layout's method in results/layouts.py); three or more is a list of methods.
        if len(named) > 2:
            offenders.append(f"{rel}: {', '.join(named)}")
    assert MUST_SCAN <= scanned, f"the scan skipped {sorted(MUST_SCAN - scanned)}: fix _scanned() in tests/test_method_specs.py"
    assert not offenders, (
        "method lists written by hand (derive them from trainers.METHODS, or move the method's facts into its spec "
        "in trainers/<method>.py):\n" + "\n".join(offenders)
    )


# ---------------------------------------------------------------------------------------------
# A new method is its file and its recipes (the acceptance test)
# ---------------------------------------------------------------------------------------------
COPY_IGNORE = shutil.ignore_patterns(".git", "__pycache__", ".ci-venv", ".venv", "*.egg-info", ".pytest_cache")


def _ignore_in_copy(folder: str, names: list[str]) -> set[str]:
    ignored = set(COPY_IGNORE(folder, names))
    if Path(folder).resolve() == REPO:  # the git-ignored run and data roots (/output, /data)
        ignored |= IGNORED_ROOTS & set(names)
    return ignored


def _toy(text: str) -> str:
    """coop -> toycoop as the issue says: plain text replacement, in this order."""
    return text.replace("CoOp", "ToyCoOp").replace("COOP", "TOYCOOP").replace("coop", "toycoop")


# Run in the copy (its folder comes first on sys.path): the entry points, each as ``python <script>``
# runs it (runpy, ``__main__``, its argv), and what the copy's own packages say about ToyCoOp. One
# process for all of them: each process spends ~4 s importing torch.
DRIVER = r"""
import contextlib, io, json, runpy, sys

RUNS = sys.argv[1]  # the run tree for parse_results.py (each run below sets sys.argv)

def run(argv, module=False):
    out, err, code = io.StringIO(), io.StringIO(), 0
    sys.argv = list(argv)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_module(argv[0], run_name="__main__", alter_sys=True) if module else runpy.run_path(argv[0], run_name="__main__")
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) or e.code is None else str(e.code)
    return {"argv": argv, "code": code or 0, "out": out.getvalue(), "err": err.getvalue()}

report = {
    "fewshot": run(["sweep.py", "fewshot", "--methods", "toycoop", "--datasets", "dtd", "--seeds", "1", "--shots", "16", "--dry-run"]),
    "parse": run(["parse_results.py", RUNS]),
    "bench_help": run(["bench.bench", "--help"], module=True),
}
import bench.bench, protocols, results.settings, runconfig, sweep, trainers
from bench.bench import available_methods, bench_methods
from protocols.cli import expected_scripts
from results.settings import method_info
report.update({
    "files": {m.__name__: m.__file__ for m in (trainers, protocols, bench.bench, results.settings, runconfig, sweep)},
    "methods": list(trainers.METHODS),
    "node": sorted(runconfig.default_config().TRAINER.TOYCOOP),
    "bench_methods": bench_methods(),
    "bench_trainer": available_methods()["ToyCoOp"].__module__,
    "method_info": method_info("ToyCoOp", {"TRAINER.NAME": "ToyCoOp"}),
    "scripts": sorted(k for k in expected_scripts() if k.startswith("scripts/toycoop/")),
})
print(json.dumps(report))
"""


def _copy_with_toycoop(copy: Path) -> None:
    shutil.copytree(REPO, copy, ignore=_ignore_in_copy)
    coop = (REPO / "trainers" / "coop.py").read_text(encoding="utf-8")
    (copy / "trainers" / "toycoop.py").write_text(_toy(coop), encoding="utf-8")
    recipes = copy / "configs" / "trainers" / "ToyCoOp"
    recipes.mkdir()
    for yaml_file in sorted((REPO / "configs" / "trainers" / "CoOp").glob("*.yaml")):
        (recipes / yaml_file.name).write_text(_toy(yaml_file.read_text(encoding="utf-8")), encoding="utf-8")


def _write_toycoop_runs(root: Path) -> None:
    """A base-to-new run of ToyCoOp on DTD (train_base and test_new, seed 1) in our layout."""
    from protocols.definitions import RunPath
    from result_runs import write_run

    for folder, subsample, accuracy, eval_only in (("train_base", "base", 80.0, False), ("test_new", "new", 70.0, True)):
        run = Path(str(RunPath(str(root), "base2new", folder, "dtd", 16, "ToyCoOp", "vit_b16_ctxv1", 1)))
        config = {"TRAINER.NAME": "ToyCoOp", "TRAINER.TOYCOOP.N_CTX": 4, "DATASET.NUM_SHOTS": 16,
                  "DATASET.SUBSAMPLE_CLASSES": subsample, "OPTIM.MAX_EPOCH": 2}  # fmt: skip
        write_run(run, accuracy, "ToyCoOp", eval_only=eval_only, config=config)


def _planned(out: str, label: str) -> list[str]:
    """The train.py command a dry run plans for ``label`` (``[dry-run] <label>: pending``, then the command)."""
    lines = out.splitlines()
    commands = {
        line[len("[dry-run] "):].rpartition(":")[0]: shlex.split(lines[i + 1])
        for i, line in enumerate(lines[:-1])
        if line.startswith("[dry-run] ") and lines[i + 1].startswith("    ")
    }
    assert label in commands, f"the dry run does not plan {label!r}; it printed:\n{out}"
    return commands[label]


def _option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


@pytest.mark.slow
def test_a_new_method_is_its_file_and_its_recipes(tmp_path):
    copy, data, output, runs = tmp_path / "repo", tmp_path / "data", tmp_path / "output", tmp_path / "runs"
    _copy_with_toycoop(copy)
    data.mkdir()
    _write_toycoop_runs(runs)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CLIP_PATH", "CFG", "DRY_RUN")}
    env.update(DATA=str(data), OUTPUT=str(output), COLUMNS="100")
    # `python sweep.py` itself, and the other entry points in one driver process, side by side.
    sweep = ["sweep.py", "base2new", "--methods", "toycoop", "--datasets", "dtd", "--seeds", "1", "--dry-run"]
    procs = {
        "base2new": subprocess.Popen([sys.executable, *sweep], cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
        "driver": subprocess.Popen([sys.executable, "-c", DRIVER, str(runs)], cwd=copy, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True),
    }  # fmt: skip
    done = {}
    try:
        for key, proc in procs.items():
            out, err = proc.communicate(timeout=180)
            done[key] = {"argv": proc.args[1:], "code": proc.returncode, "out": out, "err": err}
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert done["driver"]["code"] == 0, f"the driver failed in the copy:\n{done['driver']['out'][-3000:]}\n{done['driver']['err']}"
    check = json.loads(done["driver"]["out"].splitlines()[-1])
    done.update((key, check.pop(key)) for key in ("fewshot", "parse", "bench_help"))
    for key, result in done.items():
        if key != "driver":
            command = " ".join(result["argv"])
            assert result["code"] == 0, f"python {command} in the copy exited {result['code']}:\n{result['out']}\n{result['err']}"

    # The copy's packages were imported, not the editable install's (/work/main or wherever it is).
    for module, file in check["files"].items():
        assert Path(file).resolve().is_relative_to(copy.resolve()), f"{module} was imported from {file}, not from the copy {copy}"
    from protocols.cli import expected_scripts
    from runconfig import default_config

    assert "toycoop" in check["methods"], f"trainers/toycoop.py registered no method: {check['methods']}"
    assert check["node"] == sorted(default_config().TRAINER.COOP), "TRAINER.TOYCOOP is not CoOp's node renamed"

    # The runner plans it: its recipe, its trainer, its run folder.
    train = _planned(done["base2new"]["out"], "toycoop base2new train dtd seed 1")
    assert train[:2] == [sys.executable, "train.py"] and _option(train, "--trainer") == "ToyCoOp"
    assert _option(train, "--config-file") == "configs/trainers/ToyCoOp/vit_b16_ctxv1.yaml"
    assert _option(train, "--output-dir") == str(output / "base2new/train_base/dtd/shots_16/ToyCoOp/vit_b16_ctxv1/seed1")
    assert _option(_planned(done["base2new"]["out"], "toycoop base2new test dtd seed 1"), "--model-dir") == _option(train, "--output-dir")
    # Its protocol options, renamed with it (trainers/toycoop.py's protocol_opts).
    fewshot = _planned(done["fewshot"]["out"], "toycoop fewshot train dtd 16 shots seed 1")
    assert _option(fewshot, "--config-file") == "configs/trainers/ToyCoOp/vit_b16.yaml"
    assert fewshot[-2:] == ["TRAINER.TOYCOOP.N_CTX", "16"] and "TRAINER.COOP.N_CTX" not in fewshot
    # Its protocol scripts, CoOp's, are among those `sweep.py write-scripts` writes (run it to write them).
    coop_scripts = sorted(rel.replace("/coop/", "/toycoop/") for rel in expected_scripts() if rel.startswith("scripts/coop/"))
    assert check["scripts"] == coop_scripts and "scripts/toycoop/fewshot.sh" in coop_scripts

    # The bench knows it, with its bench recipe, and says so in its --help.
    assert check["bench_methods"].get("ToyCoOp") == "configs/trainers/ToyCoOp/vit_b16_ep50.yaml"
    assert (copy / check["bench_methods"]["ToyCoOp"]).is_file() and check["bench_trainer"] == "trainers.toycoop"
    assert "ToyCoOp" in _listed(done["bench_help"]["out"], "every method with a bench recipe:", ")")

    # parse_results.py captions it from its spec: its node and its caption keys (N_CTX only). The
    # caption alone cannot tell: a trainer that is not a method is captioned with every method's
    # keys (method_info's fallback), which also finds N_CTX 4. method_info says which one it was.
    from results.settings import caption_keys, method_info

    assert check["method_info"] == ["TOYCOOP", False, ["N_CTX"]], "results.settings.method_info does not find ToyCoOp's spec"
    here = method_info("ToyCoOp", {"TRAINER.NAME": "ToyCoOp"})  # here ToyCoOp is unknown: the fallback
    assert list(here[2]) == list(caption_keys()) != ["N_CTX"]
    first_line = done["parse"]["out"].splitlines()[0]
    assert first_line == "Base-to-new generalisation: ToyCoOp, vit_b16_ctxv1 (16 shots, 2 epochs, N_CTX 4; 1 seed, so no ± std)"


def _listed(help_text: str, start: str, end: str) -> list[str]:
    """The names an argparse help lists after ``start`` (up to ``end``), whatever its line wrapping."""
    flat = " ".join(help_text.split())
    assert start in flat, f"{start!r} is not in the help:\n{help_text}"
    return re.findall(r"[\w-]+", flat.split(start, 1)[1].split(end, 1)[0])


# ---------------------------------------------------------------------------------------------
# Every method reaches every list, and what its spec names exists
# ---------------------------------------------------------------------------------------------
# Caption keys that are no key of the method's node: the released MuDPT code's name of the prompt
# depth, read from that code's logs (trainers/mudpt.py, the comment above caption_keys).
FOREIGN_CAPTION_KEYS = {("mudpt", "DEEP_PROMPT_DEPTH")}
BENCH_OFFICIAL_FIELDS = {"precision", "label", "n_cls", "batch", "train_ms", "peak_mb", "eval_img_s"}


def test_every_method_reaches_every_list(capsys):
    from bench.bench import available_methods, bench_methods, build_parser
    from engine.seam import TRAINER_REGISTRY, flatten_config
    from protocols import PROTOCOLS
    from protocols.cli import main
    from runconfig import default_config, result_keys
    from trainers import METHODS

    cfg = default_config()
    flat = flatten_config(cfg)
    keys = result_keys()
    bench = bench_methods()
    assert len({spec.node for spec in METHODS.values()}) == len(METHODS), "two methods share a TRAINER node: give each trainer its own CFG_NODE"
    foreign = set()
    for spec in METHODS.values():
        where = f"trainers/{Path(inspect.getfile(spec.trainer)).name} ({spec.name})"
        assert TRAINER_REGISTRY.get(spec.trainer_name) is spec.trainer, f"{where}: register its trainer with @TRAINER_REGISTRY.register()"
        assert spec.node in cfg.TRAINER, f"{where}: its add_config does not add TRAINER.{spec.node} (its trainer's CFG_NODE)"
        node = cfg.TRAINER[spec.node]
        assert not spec.official_node or spec.official_node in cfg.TRAINER, f"{where}: official_node {spec.official_node} is no TRAINER node"

        # Recipes and protocol options: filed under registered protocols.
        unknown = set(spec.recipes) - set(PROTOCOLS)
        assert not unknown, f"{where}: recipes for {sorted(unknown)}, which are not protocols ({', '.join(PROTOCOLS)}): they never run"
        unused = set(spec.protocol_opts) - set(spec.recipes)
        assert not unused, f"{where}: protocol_opts for {sorted(unused)}, which it has no recipe for: they never apply"
        for protocol, opts in spec.protocol_opts.items():
            assert len(opts) % 2 == 0, f"{where}: protocol_opts[{protocol!r}] must be KEY VALUE pairs, got {opts}"
            for key in opts[::2]:
                assert key in flat, f"{where}: protocol_opts[{protocol!r}] sets {key}, which is no config key"
                assert not key.startswith("TRAINER.") or key.startswith(f"TRAINER.{spec.node}."), f"{where}: {key} is another method's key: it does not reach its runs"
        # A protocol that runs another protocol's recipes (its recipe_key) needs them for its own
        # datasets and shots (tests/test_protocols.py checks each protocol's own recipes).
        for protocol in PROTOCOLS.values():
            assert protocol.recipe_key in PROTOCOLS, f"protocol {protocol.name} uses the recipes of {protocol.recipe_key!r}, which is not a protocol"
            if protocol.recipe_key == protocol.name or protocol.recipe_key not in spec.recipes:
                continue
            for dataset in protocol.datasets():
                for shots in protocol.shots:
                    recipe = spec.recipe(protocol.recipe_key, dataset.config, shots)
                    assert (REPO / recipe).is_file(), f"{where}: {protocol.name} runs {recipe} for {dataset.config} ({shots} shots): no such file"

        # The bench.
        if spec.bench_recipe:
            assert (REPO / spec.bench_recipe).is_file(), f"{where}: bench_recipe {spec.bench_recipe} is no file"
            assert bench.get(spec.trainer_name) == spec.bench_recipe and available_methods()[spec.trainer_name] is spec.trainer, where
        else:
            assert spec.trainer_name not in bench, where
        for official in spec.bench_official:
            assert set(official) == BENCH_OFFICIAL_FIELDS, f"{where}: bench_official entries have the fields {sorted(BENCH_OFFICIAL_FIELDS)}, got {sorted(official)}"

        # Keys its spec names are keys of its node (captions, folders and grids read them there).
        foreign |= {(spec.name, key) for key in spec.caption_keys if key not in node}
        for key in spec.non_result_keys:
            assert key in node, f"{where}: non_result_keys names {key}, which is no key of TRAINER.{spec.node}"
            assert spec.own_key(key) in keys.ignored, f"{where}: runconfig.result_keys() does not ignore {spec.own_key(key)}"
        for key, rule in spec.effective_values.items():
            assert key in node, f"{where}: effective_values names {key}, which is no key of TRAINER.{spec.node}"
            assert keys.effective.get(spec.own_key(key)) is rule, f"{where}: runconfig.result_keys() does not compare {spec.own_key(key)} by its rule"
    assert foreign == FOREIGN_CAPTION_KEYS, (
        f"caption keys that are no key of their method's node: {sorted(foreign)} (expected only {sorted(FOREIGN_CAPTION_KEYS)}): "
        "add the key to the method's add_config, or explain it in its spec and in FOREIGN_CAPTION_KEYS here"
    )
    for name, key in FOREIGN_CAPTION_KEYS:  # the exception is explained where it is made
        assert re.search(rf"^\s*# {key}: ", inspect.getsource(sys.modules[METHODS[name].trainer.__module__]), re.M), f"trainers/{name}.py: explain {key} in a comment"

    # The command lines list every method: the bench's --methods and the runner's --methods.
    assert _listed(build_parser().format_help(), "every method with a bench recipe:", ")") == list(bench)
    try:
        main(["--help"])
    except SystemExit as e:
        assert e.code == 0
    assert _listed(capsys.readouterr().out, "methods to run (default: every one with a recipe):", "--datasets") == list(METHODS)
