"""Synthetic run folders of every protocol (logs in this repository's format, made-up
accuracies) for the tests of the tables and figures of ``parse_results.py``."""
from __future__ import annotations

import random
from pathlib import Path
from typing import Sequence

from protocols.definitions import FEWSHOT_SHOTS, PROTOCOL_SHOTS

__all__ = ["GRID_RECIPE", "grid_accuracy", "make_example_runs", "make_grid_runs", "write_cost", "write_run"]

SEEDS = (1, 2, 3)
RANDOM_SEED = 0
SEED_NOISE = 0.8  # accuracy points of seed-to-seed noise
# (trainer, config folder, N_CTX, epochs, offset in accuracy points): made-up methods' levels.
METHODS = (
    ("ZeroshotCLIP", "vit_b16", None, None, -6.0),
    ("CoOp", "vit_b16_ctxv1", 4, 10, -2.0),
    ("CoCoOp", "vit_b16_c4_ep10_batch1_ctxv1", 4, 10, 0.0),
    ("MuDPT", "vit_b16_c2_ep10_batch4_depth9", 2, 10, 2.0),
)
FEWSHOT_METHODS = ("CoOp", "MuDPT")
NEW_GAP = 8.0  # new classes are harder than base classes
SHOT_GAIN = 3.0  # accuracy points per doubling of the shots
MAX_ACCURACY = 99.0


def nest(config: dict[str, object]) -> dict:
    """``{"OPTIM.LR": 0.002}`` as the nested config it names: ``{"OPTIM": {"LR": 0.002}}``."""
    nested: dict = {}
    for dotted, value in config.items():
        node = nested
        *parents, leaf = dotted.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return nested


def write_run(
    run_dir: Path, accuracy: float, trainer: str, *, eval_only: bool, config: dict[str, object], seed: int = 1
) -> None:
    """A complete run folder in this repository's format: ``config.yaml`` and ``log.txt``."""
    import yaml

    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "config.yaml").write_text(yaml.safe_dump(nest(config)), encoding="utf-8")
    lines = ["***************", "** Arguments **", "***************", f"eval_only: {eval_only}", f"seed: {seed}"]
    lines += [f"trainer: {trainer}", "************", "** Config **", "************"]
    lines += yaml.safe_dump(nest(config)).splitlines()
    lines += ["** System info **", f"Loading trainer: {trainer}"]
    if not eval_only:
        lines += ["No checkpoint found, train from scratch", "epoch [1/1] batch [1/1] loss 1.0 (1.0)", "Finish training"]
    lines += ["Evaluate on the *test* set", "=> result", f"* accuracy: {accuracy:.1f}%", f"* error: {100 - accuracy:.1f}%"]
    (run_dir / "log.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _config(trainer: str, n_ctx: int | None, epochs: int | None, shots: int, subsample: str) -> dict[str, object]:
    from trainers import method_for

    config: dict[str, object] = {"DATASET.NUM_SHOTS": shots, "DATASET.SUBSAMPLE_CLASSES": subsample, "TRAINER.NAME": trainer}
    if epochs is not None:
        config["OPTIM.MAX_EPOCH"] = epochs
    if n_ctx is not None:
        config[f"TRAINER.{method_for(trainer).node}.N_CTX"] = n_ctx
    return config


def _accuracy(rng: random.Random, level: float) -> float:
    return round(min(MAX_ACCURACY, level + rng.gauss(0.0, SEED_NOISE)), 1)


def make_example_runs(output: Path, datasets: Sequence[str] | None = None, seeds: Sequence[int] = SEEDS) -> Path:
    """Synthetic runs of every protocol in our layout (protocols.definitions.RunPath) under ``output``;
    ``datasets`` (config names) limits the datasets (default: all of each protocol)."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath

    from results.benchmarks import benchmarks

    bm = benchmarks()
    keep = set(bm.display if datasets is None else datasets) | {bm.xd_source}
    rng = random.Random(RANDOM_SEED)
    level = {ds: 60.0 + 30.0 * rng.random() for ds in bm.display}  # made-up difficulty per dataset
    b2n = PROTOCOLS["base2new"]
    train_b2n, test_b2n = b2n.steps
    for trainer, config, n_ctx, epochs, offset in METHODS:
        for dataset in [d for d in bm.datasets["base2new"] if d in keep]:
            for seed in seeds:
                for step, gap in ((train_b2n, 0.0), (test_b2n, NEW_GAP - offset)):
                    path = Path(str(RunPath(str(output), b2n.name, step.folder, dataset, PROTOCOL_SHOTS, trainer, config, seed)))
                    cfg = _config(trainer, n_ctx, epochs, PROTOCOL_SHOTS, step.subsample)
                    eval_only = step.evaluates is not None or epochs is None
                    write_run(path, _accuracy(rng, level[dataset] + offset - gap), trainer, eval_only=eval_only, config=cfg, seed=seed)
    xd = PROTOCOLS["xd"]
    train_xd, test_xd = xd.steps
    for trainer, config, n_ctx, epochs, offset in METHODS[1:]:
        for seed in seeds:
            for step in (train_xd, test_xd):
                for spec in [s for s in xd.datasets(step) if s.config in keep]:
                    path = Path(str(RunPath(str(output), xd.name, step.folder, spec.config, PROTOCOL_SHOTS, trainer, config, seed)))
                    cfg = _config(trainer, n_ctx, epochs, PROTOCOL_SHOTS, step.subsample)
                    acc = _accuracy(rng, level[spec.config] + offset / 2 - (0 if step is train_xd else NEW_GAP))
                    write_run(path, acc, trainer, eval_only=step is test_xd, config=cfg, seed=seed)
    fewshot = PROTOCOLS["fewshot"]
    (step,) = fewshot.steps
    for trainer, config, n_ctx, epochs, offset in METHODS:
        if trainer not in FEWSHOT_METHODS:
            continue
        for dataset in [d for d in bm.datasets["fewshot"] if d in keep]:
            for shots in FEWSHOT_SHOTS:
                gain = SHOT_GAIN * (shots.bit_length() - 1)
                for seed in seeds:
                    path = Path(str(RunPath(str(output), fewshot.name, step.folder, dataset, shots, trainer, config, seed)))
                    acc = _accuracy(rng, level[dataset] - 4 * SHOT_GAIN + gain + offset)
                    write_run(path, acc, trainer, eval_only=False, config=_config(trainer, n_ctx, epochs, shots, "all"), seed=seed)
    return output


# A made-up MuDPT grid (sweep.py --grid TRAINER.MUDPT.PROMPT_DEPTH=... TRAINER.MUDPT.N_CTX=...):
# depth 9 is the recipe's, so that point is the recipe's folder.
GRID_RECIPE = ("MuDPT", "vit_b16_c2_ep10_batch4_depth9", 9, 2)  # trainer, recipe, its depth, its N_CTX


def grid_accuracy(depth: int, n_ctx: int, seed: int, new: bool) -> float:
    """The made-up accuracy of a grid run: exact, so that tests can compute the means."""
    return 60.0 + depth + 2 * n_ctx + seed - (10.0 if new else 0.0)


def write_cost(run_dir: Path, params: int, ms: float, memory: float | None, kind: str = "cuda_max_allocated") -> None:
    """A ``run.json`` with the ``cost`` record a training run writes."""
    import json

    cost = {"trainable_params": params, "train_ms_per_iter": ms, "peak_memory_mb": memory, "memory_kind": kind}
    (run_dir / "run.json").write_text(json.dumps({"status": "complete", "kind": "train", "cost": cost}), encoding="utf-8")


def make_grid_runs(output: Path, depths: Sequence[int], n_ctxs: Sequence[int], datasets: Sequence[str], seeds: Sequence[int]) -> Path:
    """Base-to-new runs of a MuDPT grid in our layout, folders named as protocols.plan names them;
    training runs record a cost (params = 1000 * depth * N_CTX, ms/iter = 10 * depth + seed)."""
    from protocols import PROTOCOLS
    from protocols.definitions import RunPath

    trainer, recipe, recipe_depth, recipe_n_ctx = GRID_RECIPE
    b2n = PROTOCOLS["base2new"]
    for dataset in datasets:
        for depth in depths:
            for n_ctx in n_ctxs:
                tag = "-".join(t for t in (f"n_ctx{n_ctx}" * (n_ctx != recipe_n_ctx), f"prompt_depth{depth}" * (depth != recipe_depth)) if t)
                folder = recipe + (f"+{tag}" if tag else "")
                for seed in seeds:
                    for step in b2n.steps:
                        path = Path(str(RunPath(str(output), b2n.name, step.folder, dataset, PROTOCOL_SHOTS, trainer, folder, seed)))
                        config = _config(trainer, n_ctx, 10, PROTOCOL_SHOTS, step.subsample)
                        config.update({"TRAINER.MUDPT.PROMPT_DEPTH": depth, "SEED": seed, "OUTPUT_DIR": str(path)})
                        acc = grid_accuracy(depth, n_ctx, seed, step.evaluates is not None)
                        write_run(path, acc, trainer, eval_only=step.evaluates is not None, config=config, seed=seed)
                        if step.evaluates is None:
                            write_cost(path, 1000 * depth * n_ctx, 10.0 * depth + seed, 100.0 * depth)
    return output
