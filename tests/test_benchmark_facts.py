"""A benchmark's facts live in its reader module; every list of benchmarks is derived from them.

Adding a benchmark is one reader module (its DatasetSpec and reader) plus its dataset yaml: these
tests register one at run time and find it in every place that lists benchmarks, and check that no
other module writes such a list by hand.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def new_benchmark():
    """A benchmark registered as a reader module would register it, removed afterwards."""
    from datasets import SPECS
    from datasets.base import ClassFolderReader
    from datasets.specs import DatasetSpec, register_spec
    from engine.seam import DATASET_REGISTRY

    spec = register_spec(
        DatasetSpec(
            name="TinyBirds", config="tiny_birds", display_name="Tiny-Birds", template="a photo of a {}, a type of bird.",
            protocols=("base2new", "fewshot", "xd_target"), order=100, folder="tiny_birds", image_subdir="images",
            split_file="split_TinyBirds.json", num_classes=4, counts={"train": 8, "val": 4, "test": 4},
        )
    )  # fmt: skip

    class TinyBirds(ClassFolderReader):
        pass

    TinyBirds.spec, TinyBirds.dataset_dir = spec, spec.folder
    DATASET_REGISTRY.register(TinyBirds)
    config = REPO / "configs" / "datasets" / f"{spec.config}.yaml"  # the benchmark's other file
    config.write_text(f"DATASET:\n  NAME: {spec.name}\n")
    from results.benchmarks import benchmarks

    benchmarks.cache_clear()  # the tables read the facts once
    try:
        yield spec
    finally:
        del SPECS[spec.name]
        DATASET_REGISTRY._obj_map.pop(spec.name, None)
        config.unlink()
        benchmarks.cache_clear()


def test_a_new_benchmark_reaches_every_list(new_benchmark, tmp_path, capsys, monkeypatch):
    from datasets import dataset_names, spec_for
    from protocols import PROTOCOLS
    from protocols.cli import main

    assert dataset_names()[-1] == "TinyBirds" and spec_for("tiny_birds") is new_benchmark
    assert PROTOCOLS["base2new"].datasets()[-1] is new_benchmark
    assert PROTOCOLS["fewshot"].datasets()[-1] is new_benchmark
    xd_test = PROTOCOLS["xd"].step("test")
    assert new_benchmark in PROTOCOLS["xd"].datasets(xd_test) and new_benchmark not in PROTOCOLS["xd"].datasets(PROTOCOLS["xd"].step("train"))

    monkeypatch.setenv("OUTPUT", str(tmp_path / "output"))
    assert main(["base2new", "--methods", "coop", "--seeds", "1", "--steps", "train", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert out.rstrip().splitlines()[-2] == "[dry-run] coop base2new train tiny_birds seed 1: pending"
    assert "--dataset-config-file configs/datasets/tiny_birds.yaml" in out

    from results.benchmarks import benchmarks

    tables = benchmarks()
    assert tables.datasets["base2new"][-1] == "tiny_birds" and tables.display_name("tiny_birds") == "Tiny-Birds"
    assert tables.sort_key("tiny_birds") > tables.sort_key("ucf101") and "tiny_birds" in tables.roles["xd_target"]


# Modules that hold the facts of the benchmarks or act on them one by one: the readers, the synthetic
# data maker and the spec table itself.
FACT_MODULES = {"datasets"}


def _benchmark_words() -> dict[str, set[str]]:
    from datasets import SPECS

    return {spec.name: {spec.name, spec.config, spec.display_name} for spec in SPECS.values()}


# A method's recipe that differs by dataset names those datasets: allowed where listed here, and only
# those names (any other list in the file is still caught).
RECIPE_FACTS = {"trainers/promptsrc.py": {"ImageNet", "Caltech101", "OxfordPets", "Food101", "UCF101", "SUN397"}}


def test_no_other_module_lists_benchmarks_by_hand():
    words = _benchmark_words()
    offenders = []
    for path in sorted(REPO.rglob("*")):
        rel = path.relative_to(REPO)
        if path.suffix not in (".py", ".sh") or rel.parts[0] in FACT_MODULES | {"tests", ".venv", ".ci-venv"} or ".git" in rel.parts:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        quoted = set(re.findall(r"""["']([\w-]+)["']""", text))
        named = sorted(name for name, forms in words.items() if forms & quoted)
        named = [name for name in named if name not in RECIPE_FACTS.get(str(rel), set())]
        if len(named) > 2:  # a method may name ImageNet for its recipe; three or more is a list
            offenders.append(f"{rel}: {', '.join(named)}")
    assert not offenders, "benchmark lists written by hand (derive them from datasets.SPECS):\n" + "\n".join(offenders)
