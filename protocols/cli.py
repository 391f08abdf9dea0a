"""python sweep.py: run the runs of a protocol, or say where they stand (status).

    python sweep.py base2new --methods mudpt,coop --datasets dtd,eurosat --seeds 1 2 3
    python sweep.py base2new --launcher local --gpus 0,1,2,3            # one run per GPU
    python sweep.py fewshot --launcher slurm --partition gpu --time 240  # a SLURM job array
    python sweep.py base2new --dry-run OPTIM.MAX_EPOCH 5                # the train.py commands
    python sweep.py status base2new --methods mudpt                     # what is done; nothing runs
    python sweep.py base2new --methods mudpt --grid TRAINER.MUDPT.PROMPT_DEPTH=1,3,9 TRAINER.MUDPT.N_CTX=2,4

The protocol scripts scripts/<method>/<name>.sh call "sweep.py script <path> ARGS", which reads
the method and the step from the script's path and its arguments as before
(bash scripts/mudpt/base2new_train.sh imagenet 1); "sweep.py write-scripts" writes them.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tabulate import tabulate

from engine.errors import ConfigError, UserError
from trainers import METHODS, MethodSpec, method_for

from .definitions import DEFAULT_SEEDS, PROTOCOLS, Protocol, protocol_for
from .execute import (
    DONE,
    FAILED_STATE,
    INCOMPLETE,
    PENDING,
    SKIPPED,
    StepResult,
    run_local,
    run_sequential,
    sbatch_script,
    slurm_executor,
    status_of,
    submit_slurm,
    with_trained_run,
)
from .plan import REPO, Settings, Unit, make_plan

__all__ = ["main", "protocol_scripts", "script_text", "write_scripts"]

EXIT_USAGE, EXIT_FAILED = 2, 1
LAUNCHERS = ("sequential", "local", "slurm")


# ---------------------------------------------------------------------------------------------
# The protocol scripts
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ScriptSpec:
    """A protocol script: its protocol, the steps it runs (None: all), its positional arguments."""

    protocol: str
    steps: tuple[str, ...] | None
    positional: tuple[str, ...]
    about: str


def protocol_scripts() -> dict[str, ScriptSpec]:
    """The scripts of every protocol, from its data: one per step (``<protocol>_<step>``; a
    protocol of one step: ``<protocol>``) and a sweep (``<protocol>_all``). A step script takes
    DATASET (except the training step of a protocol that trains once for every dataset), SHOTS
    (a protocol whose shots come from ``--shots``) and SEED; the sweep takes SEEDS."""
    scripts: dict[str, ScriptSpec] = {}
    for protocol in PROTOCOLS.values():
        one_step = len(protocol.steps) == 1
        for step in protocol.steps:
            dataset = ("DATASET",) if protocol.per_dataset or step.evaluates is not None else ()
            shots = ("SHOTS",) if protocol.shots_option else ()
            name = protocol.name if one_step else f"{protocol.name}_{step.name}"
            scripts[name] = ScriptSpec(protocol.name, None if one_step else (step.name,), (*dataset, *shots, "SEED"), step.about)
        scripts[f"{protocol.name}_all"] = ScriptSpec(protocol.name, None, ("SEEDS",), protocol.about_all)
    return scripts


WRAPPER = """#!/usr/bin/env bash
# {about}
# {paper}. Run with --help for the arguments; the logic is in protocols/ (sweep.py).
exec "${{PYTHON:-python}}" "$(dirname "$0")/../../sweep.py" script "$0" "$@"
"""


def script_text(method: MethodSpec, name: str) -> str:
    return WRAPPER.format(about=protocol_scripts()[name].about, paper=method.paper)


def expected_scripts() -> dict[str, str]:
    """``scripts/<method>/<name>.sh`` -> its text, for every method and protocol it has."""
    return {
        f"scripts/{method.name}/{name}.sh": script_text(method, name)
        for method in METHODS.values()
        for name, spec in protocol_scripts().items()
        if PROTOCOLS[spec.protocol].recipe_key in method.protocols
    }


def write_scripts(repo: str = REPO) -> list[str]:
    """Write every protocol script (executable); returns those that changed."""
    changed = []
    for rel, text in expected_scripts().items():
        path = osp.join(repo, rel)
        old = open(path, encoding="utf-8").read() if osp.isfile(path) else None
        if old != text:
            os.makedirs(osp.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            changed.append(rel)
        os.chmod(path, 0o755)
    return changed


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------
def _list(value: str) -> list[str]:
    return [v for v in value.replace(",", " ").split() if v]


def _int_list(value: str) -> list[int]:
    try:
        numbers = [int(v) for v in _list(value)]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected integers, got {value!r}") from None
    if not numbers:
        raise argparse.ArgumentTypeError("expected at least one integer, e.g. 1 2 3")
    return numbers


INT_LISTS = ("--seeds", "--shots")
GRID = "--grid"


def _join_int_lists(argv: Sequence[str]) -> list[str]:
    """``--seeds 1 2 3 KEY VALUE`` (or ``--seeds=1 2 3``) -> ``--seeds=1,2,3 KEY VALUE``: the
    integers after the flag are its values, the first other word starts the overrides (argparse
    would take them all). ``--grid A=1,2 B=3 KEY VALUE`` -> ``--grid=A=1,2 --grid=B=3 KEY VALUE``:
    the words with ``=`` after the flag are its entries (the first word after it always is one, so
    that a malformed entry is reported as such)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        flag, equals, first = argv[i].partition("=")
        if flag == GRID:
            entries = [first] if equals else []
            while i + 1 < len(argv) and not argv[i + 1].startswith("-") and ("=" in argv[i + 1] or not entries):
                entries.append(argv[i + 1])
                i += 1
            out += [f"{GRID}={entry}" for entry in entries or [""]]
        elif flag in INT_LISTS:
            values = [first] if equals else []
            while i + 1 < len(argv) and argv[i + 1].replace(",", "").isdigit():
                values.append(argv[i + 1])
                i += 1
            out.append(f"{flag}={','.join(values)}")
        else:
            out.append(argv[i])
        i += 1
    return out


def _add_selection(p: argparse.ArgumentParser, one_run: bool = False, script: bool = False, status: bool = False) -> None:
    """The options of a sweep (``script``: a sweep script, whose method and seeds are given;
    ``one_run``: a per-run script; ``status``: nothing runs)."""
    env = p.add_argument_group("where (defaults from the environment variables DATA, OUTPUT, CLIP_PATH, CFG)")
    env.add_argument("--data", default=os.environ.get("DATA", "data"), help="the dataset root (default: $DATA, else ./data)")
    env.add_argument("--output", default=os.environ.get("OUTPUT", "output"), help="the output root (default: $OUTPUT, else ./output)")
    env.add_argument("--clip-path", default=os.environ.get("CLIP_PATH", ""), help="CLIP weights file, passed as MODEL.BACKBONE.PATH (default: $CLIP_PATH, else clip's cache)")
    env.add_argument("--config", default=os.environ.get("CFG", ""), help="a config file to use instead of the method's recipe (default: $CFG)")
    if not status:
        p.add_argument("--dry-run", action="store_true", default=os.environ.get("DRY_RUN") == "1", help="print the runs and their train.py commands; run nothing")
    if one_run:
        p.add_argument("--restart", action="store_true", help="discard what the run's folder holds and run it again (train.py --restart)")
        return
    sel = p.add_argument_group("what")
    if not script:
        sel.add_argument("--methods", type=_list, help=f"methods to run (default: every one with a recipe): {', '.join(METHODS)}")
    sel.add_argument("--datasets", type=_list, help="datasets (config names, e.g. dtd,eurosat; default: the protocol's; for xd: the targets)")
    if not script:
        sel.add_argument("--seeds", type=_int_list, help=f"seeds, e.g. --seeds 1 2 3 (default: {' '.join(map(str, DEFAULT_SEEDS))})")
    swept = "; ".join(f"{p.name}: {' '.join(map(str, p.shots))}" for p in PROTOCOLS.values() if p.shots_option)
    sel.add_argument("--shots", type=_int_list, help=f"shots per class of the protocols whose shots are swept, e.g. --shots 1 2 4 (default: {swept})")
    sel.add_argument("--steps", type=_list, help="steps to run (default: all): train, test")
    if not script:
        sel.add_argument(
            GRID, action="append", default=[], metavar="KEY=V1,V2",
            help="sweep config keys: every point of the product of the entries runs, e.g. "
            "--grid TRAINER.MUDPT.PROMPT_DEPTH=1,3,9 TRAINER.MUDPT.N_CTX=2,4 (a TRAINER.<METHOD>.* key sweeps that method only)",
        )  # fmt: skip
    if status:
        return
    run = p.add_argument_group("how")
    run.add_argument("--launcher", choices=LAUNCHERS, default="sequential", help="sequential (default), local (several runs at once on this machine) or slurm")
    run.add_argument("--jobs", type=int, help="local: runs at once (default: one per GPU, else 1); at most one per GPU")
    run.add_argument(
        "--gpus", type=_list,
        help="local: the GPUs to use, one run per GPU, numbered as nvidia-smi numbers them (default: those of CUDA_VISIBLE_DEVICES, else all)",
    )  # fmt: skip
    run.add_argument("--partition", help="slurm: the partition")
    run.add_argument("--time", type=int, default=24 * 60, help="slurm: minutes per job (default 1440)")
    run.add_argument("--gpus-per-task", type=int, default=1, help="slurm: GPUs per job (default 1)")
    run.add_argument("--cpus-per-task", type=int, help="slurm: CPUs per job")
    run.add_argument("--mem", help="slurm: memory per job, e.g. 32G")
    run.add_argument("--array-parallelism", type=int, default=64, help="slurm: jobs of the array running at once (default 64)")
    run.add_argument("--sbatch", action="append", default=[], metavar="KEY=VALUE", help="slurm: any other sbatch option, e.g. --sbatch account=abc --sbatch qos=high")


def _settings(args: argparse.Namespace) -> Settings:
    def resolve(path: str) -> str:
        return osp.abspath(osp.expanduser(path)) if path else ""

    config = args.config
    if config and not osp.isfile(config) and osp.isfile(osp.join(REPO, config)):
        config = osp.join(REPO, config)  # CFG may be given relative to the repository root
    if config and not osp.isfile(config):
        raise ConfigError(f"config file not found: {config} (set CFG / --config to a config file, or leave it unset for the recipes)")
    return Settings(data=resolve(args.data), output=resolve(args.output), clip_path=resolve(args.clip_path), config_file=resolve(config), python=sys.executable)


def _check_environment(settings: Settings) -> None:
    if not osp.isdir(settings.data):
        raise ConfigError(f"dataset root not found: {settings.data} (set DATA or --data to the folder of your datasets; see DATASETS.md)")
    if settings.clip_path and not osp.isfile(settings.clip_path):
        raise ConfigError(f"CLIP_PATH is not a file: {settings.clip_path}")


def _specs(protocol: Protocol, names: Sequence[str] | None) -> list | None:
    """The datasets a selection names, checked against the protocol's."""
    if not names or names == ["all"]:
        return None
    from datasets import OWN_DATA, spec_for
    from datasets.own_data import own_data_kind

    step = protocol.steps[-1] if not protocol.per_dataset else protocol.steps[0]
    # Your own data (imagefolder, csvdataset) takes part only when named, with DATASET.FOLDER.
    valid = protocol.datasets(step) + [kind for kind in OWN_DATA.values() if set(step.datasets) & set(kind.protocols)]
    sources = [] if protocol.per_dataset else protocol.datasets(protocol.steps[0])
    chosen = []
    for name in names:
        try:
            spec = own_data_kind(name) or spec_for(name)
        except KeyError as e:
            raise ConfigError(str(e.args[0])) from None
        if spec not in valid:
            why = f"{spec.display_name} is the training set: xd_train.sh / the train step" if spec in sources else "not one of its datasets"
            raise ConfigError(f"'{spec.config}' cannot be used in {protocol.name} ({why}). Valid: {' '.join(s.config for s in valid)}")
        chosen.append(spec)
    unique = {spec.name: spec for spec in chosen}.values()
    return sorted(unique, key=lambda s: s.order)  # table order, whatever the order asked


def _own_data_overrides(datasets: list | None, overrides: Sequence[str], grid: Sequence[str]) -> tuple[list[str], list[str]]:
    """The overrides and ``--grid`` entries with ``DATASET.FOLDER`` in one spelling
    (:func:`datasets.own_data.normalise_folder`: it names run folders), after checking that your
    own data has its folder (among the overrides or in ``--grid``) and is not swept with benchmarks
    (``DATASET.FOLDER`` applies to your own data only)."""
    from datasets import OWN_DATA
    from datasets.own_data import normalise_folder

    key = "DATASET.FOLDER"
    overrides = [normalise_folder(v) if i % 2 and overrides[i - 1] == key else v for i, v in enumerate(overrides)]
    grid = [
        f"{key}={','.join(normalise_folder(v.strip()) for v in entry.partition('=')[2].split(','))}"
        if entry.partition("=")[0].strip() == key else entry
        for entry in grid
    ]
    given = key in overrides[::2] or any(entry.partition("=")[0] == key for entry in grid)
    own = [spec.config for spec in datasets or () if spec.name in OWN_DATA]
    benchmarks = [spec.config for spec in datasets or () if spec.name not in OWN_DATA]
    if own and benchmarks:
        raise ConfigError(
            f"--datasets {','.join(own + benchmarks)} mixes your own data ({','.join(own)}, read from DATASET.FOLDER) with "
            f"benchmarks ({','.join(benchmarks)}, which take no folder): run them as two sweeps, "
            f"`--datasets {','.join(benchmarks)}` and `--datasets {','.join(own)} DATASET.FOLDER my_data`."
        )
    if own and not given:
        raise ConfigError(
            f"--datasets {','.join(own)} reads your own data: name its folder with the overrides, e.g. "
            f"`DATASET.FOLDER my_data` (relative to --data, or absolute; see DATASETS.md, 'Your own data'), or "
            f"sweep several with `--grid DATASET.FOLDER=pets,birds`."
        )
    if given and not own:
        raise ConfigError(
            f"{key} applies to your own data ({', '.join(k.config for k in OWN_DATA.values())}), not to the benchmarks: "
            f"leave it out, or name your data with --datasets."
        )
    return overrides, grid


def _jobs_folder(settings: Settings) -> str:
    """Where submitit keeps each job's output."""
    return osp.join(settings.output, ".submitit")


# ---------------------------------------------------------------------------------------------
# Output
# ---------------------------------------------------------------------------------------------
def summary(results: Sequence[StepResult], every_row: bool = False) -> str:
    counts = {state: sum(r.state == state for r in results) for state in (DONE, SKIPPED, FAILED_STATE, INCOMPLETE, PENDING)}
    head = "Summary: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)
    rows = [[r.state, r.label, r.detail, _shown(r.log or r.run_dir)] for r in results if every_row or r.state not in (DONE, SKIPPED)]
    if not rows:
        return head
    return head + "\n" + tabulate(rows, headers=["state", "run", "why", "log (or folder)"], tablefmt="simple")


def _shown(path: str) -> str:
    rel = os.path.relpath(path) if path else ""
    return rel if rel and not rel.startswith("..") else path


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------
def execute(
    protocol: Protocol,
    methods: Sequence[MethodSpec],
    args: argparse.Namespace,
    datasets: list | None,
    seeds: Sequence[int],
    shots: Sequence[int] | None,
    steps: Sequence[str] | None,
    overrides: list[str],
    status_only: bool = False,
) -> int:
    settings = _settings(args)
    overrides, grid = _own_data_overrides(datasets, overrides, getattr(args, "grid", None) or ())
    units = make_plan(protocol, methods, datasets, seeds, shots, steps, overrides, settings, grid, getattr(args, "restart", False))
    runs = [run for unit in units for run in unit.steps]
    if status_only:
        print(summary([status_of(run, settings) for run in runs], every_row=True))
        return 0
    launcher = getattr(args, "launcher", "sequential")
    if launcher == "local":
        gpus = _gpus(args.gpus)
        jobs = _jobs(args.jobs, gpus)
    elif getattr(args, "gpus", None) or getattr(args, "jobs", None) is not None:
        given = "--gpus" if args.gpus else "--jobs"
        raise ConfigError(f"{given} is the local launcher's; add --launcher local (the {launcher} launcher would not use it).")
    if args.dry_run:
        return _dry_run(units, settings, args)
    _check_environment(settings)
    folder = _jobs_folder(settings)
    if launcher == "slurm":
        submit_slurm(units, settings, slurm_executor(folder, _slurm_parameters(args), settings))
        print(f"Follow them with: python sweep.py status {protocol.name} (same selection); job output in {folder}")
        return 0
    if launcher == "local":
        on = f" on GPUs {','.join(map(str, gpus))}" if gpus else ""
        print(f"Running {len(units)} jobs, {min(jobs, len(units))} at a time{on}; their output is in {folder}")
        results = run_local(units, settings, jobs, gpus, folder)
    else:
        results = run_sequential(units, settings)
    print(summary(results))
    # A step left pending could not run (its training run is missing, failed or unfinished): for
    # a script, that is no success either.
    return EXIT_FAILED if any(r.state in (FAILED_STATE, INCOMPLETE, PENDING) for r in results) else 0


def _gpus(given: Sequence[str] | None) -> list[int]:
    """The GPUs of a local sweep, numbered as nvidia-smi numbers them (submitit sets each job's
    CUDA_VISIBLE_DEVICES to one of them): ``--gpus``, else those of CUDA_VISIBLE_DEVICES (a
    scheduler's allocation), else every GPU torch sees. GPUs that are not there are refused (a
    job given one would run on the CPU)."""
    import torch

    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if given:
        names, source = list(given), "--gpus"
    elif visible is not None:
        names, source = [v for v in visible.split(",") if v.strip()], "CUDA_VISIBLE_DEVICES"
    else:
        return list(range(torch.cuda.device_count()))
    try:
        gpus = [int(name) for name in names]
    except ValueError:
        raise ConfigError(
            f"{source}={','.join(names)}: the local launcher needs GPU numbers (e.g. --gpus 0,1), not names or UUIDs."
        ) from None
    count = torch.cuda.device_count()  # those of CUDA_VISIBLE_DEVICES, when it is set
    if gpus and not count:
        fix = "leave out --gpus to run on the CPU" if source == "--gpus" else "unset CUDA_VISIBLE_DEVICES to run on the CPU"
        raise ConfigError(f"{source}={','.join(names)}: this machine has no CUDA device (torch sees none); {fix}, or run the sweep where the GPUs are.")
    there, which = list(range(count)), f"this machine has {count}"
    if visible is not None and source == "--gpus":
        allocated = [v.strip() for v in visible.split(",") if v.strip()]
        if all(v.isdigit() for v in allocated):  # a scheduler's allocation, by number
            there, which = [int(v) for v in allocated[:count]], f"CUDA_VISIBLE_DEVICES={visible} allows"
    missing = [g for g in gpus if g not in there]
    if missing and source == "--gpus":
        raise ConfigError(
            f"--gpus={','.join(names)}: no GPU {','.join(map(str, missing))} here ({which}: {','.join(map(str, there))}); "
            "give some of those."
        )
    return gpus


def _jobs(jobs: int | None, gpus: Sequence[int]) -> int:
    """Runs at once: ``--jobs``, else one per GPU (else 1); never more than one per GPU."""
    if jobs is None:
        return max(len(gpus), 1)
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}.")
    if gpus and jobs > len(gpus):
        raise ConfigError(f"--jobs {jobs} is more than the GPUs ({','.join(map(str, gpus))}): one run per GPU. Give more --gpus, or --jobs {len(gpus)}.")
    return jobs


def _slurm_parameters(args: argparse.Namespace) -> dict:
    extra = {}
    for item in args.sbatch:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--sbatch takes KEY=VALUE (an sbatch option without its dashes), got {item!r}")
        extra[key.strip().lstrip("-").replace("-", "_")] = value
    parameters = {
        "time": args.time,
        "gpus_per_node": args.gpus_per_task,
        "array_parallelism": args.array_parallelism,
        "job_name": "sweep",
        "additional_parameters": extra,
    }
    for key in ("partition", "cpus_per_task", "mem"):
        if getattr(args, key):
            parameters[key] = getattr(args, key)
    return parameters


def _dry_run(units: Sequence[Unit], settings: Settings, args: argparse.Namespace) -> int:
    import shlex

    for unit in units:
        for run in unit.steps:
            state = status_of(run, settings)
            print(f"[dry-run] {run.label}: {state.state}{f' ({state.detail})' if state.detail and state.state != PENDING else ''}")
            try:
                print(f"    {shlex.join(with_trained_run(run, settings).command(settings))}")
            except UserError:
                pass  # the state line above says why
    if getattr(args, "launcher", "sequential") == "slurm":
        script = sbatch_script(_jobs_folder(settings), _slurm_parameters(args), len(units), settings)
        print(f"[dry-run] the sbatch script of the job array ({len(units)} jobs):\n{script}")
    return 0


def _methods(names: Sequence[str] | None, protocol: Protocol) -> list[MethodSpec]:
    if not names:
        return [m for m in METHODS.values() if protocol.recipe_key in m.protocols]
    return [method_for(n) for n in names]


def sweep_main(argv: Sequence[str]) -> int:
    status_only = bool(argv) and argv[0] == "status"
    if status_only:
        argv = argv[1:]
    p = argparse.ArgumentParser(
        prog="python sweep.py" + (" status" if status_only else ""),
        description=__doc__ if not status_only else "What the runs of a selection have done so far; nothing runs.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="protocols:\n" + "\n".join(f"  {name}: {p.title}" for name, p in PROTOCOLS.items()),
    )
    p.add_argument("protocol", choices=list(PROTOCOLS), help="the protocol")
    _add_selection(p, status=status_only)
    p.add_argument("overrides", nargs="*", metavar="KEY VALUE", help="config overrides for every run")
    if not {"-h", "--help"} & set(argv) and not set(PROTOCOLS) & set(argv):
        p.error(f"name the protocol: {', '.join(PROTOCOLS)} (e.g. python sweep.py base2new --dry-run)")
    args = p.parse_intermixed_args(_join_int_lists(argv))
    protocol = protocol_for(args.protocol)
    methods = _methods(args.methods, protocol)
    datasets = _specs(protocol, args.datasets)
    return execute(protocol, methods, args, datasets, args.seeds or DEFAULT_SEEDS, args.shots, args.steps, args.overrides, status_only)


def script_main(path: str, argv: Sequence[str]) -> int:
    """What ``scripts/<method>/<name>.sh ARGS`` runs."""
    name = Path(path).stem
    try:
        method = method_for(Path(path).resolve().parent.name)
        spec = protocol_scripts()[name]
    except (KeyError, ConfigError):
        raise ConfigError(
            f"{path} is not a protocol script: they are scripts/<method>/<name>.sh with a method of {', '.join(METHODS)} "
            f"and a name of {', '.join(protocol_scripts())}."
        ) from None
    protocol = protocol_for(spec.protocol)
    one_run = spec.positional != ("SEEDS",)
    p = argparse.ArgumentParser(
        prog=f"scripts/{method.name}/{name}.sh",
        usage=f"scripts/{method.name}/{name}.sh [options] {' '.join(spec.positional).replace('SEEDS', '[SEEDS ...]')} [KEY VALUE ...]",
        description=f"{spec.about}\n{method.paper}{'; zero-shot: every step evaluates' if method.zero_shot else ''}.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Runs go to $OUTPUT/<protocol>/... (see README); a complete run is skipped, an interrupted one resumes.",
    )
    _add_selection(p, one_run=one_run, script=True)
    p.add_argument("args", nargs="*", metavar="ARG", help=f"{' '.join(spec.positional)}, then KEY VALUE config overrides")
    args = p.parse_intermixed_args(_join_int_lists(argv))
    values = list(args.args)
    if one_run:
        if len(values) < len(spec.positional):
            p.error(f"expected {' '.join(spec.positional)}, got {len(values)} argument(s)")
        given = dict(zip(spec.positional, values))
        overrides = values[len(spec.positional) :]
        seeds = [_positive(p, given["SEED"], "SEED")]
        shots = [_positive(p, given["SHOTS"], "SHOTS")] if "SHOTS" in given else None
        try:
            datasets = _specs(protocol, [given["DATASET"]]) if "DATASET" in given else None
        except ConfigError as e:
            p.error(str(e))
    else:
        seeds = []
        while values and values[0].isdigit():
            seeds.append(_positive(p, values.pop(0), "SEED"))
        overrides = values
        datasets = _specs(protocol, args.datasets)
        shots = args.shots
    steps = spec.steps if one_run else (args.steps or None)
    return execute(protocol, [method], args, datasets, seeds or DEFAULT_SEEDS, shots, steps, overrides)


def _positive(p: argparse.ArgumentParser, value: str, what: str) -> int:
    if not value.isdigit() or int(value) < 1:
        p.error(f"{what} must be a positive integer, got {value!r}")
    return int(value)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] == "script":
            if len(argv) < 2:
                print("usage: sweep.py script scripts/<method>/<name>.sh [ARGS ...]", file=sys.stderr)
                return EXIT_USAGE
            return script_main(argv[1], argv[2:])
        if argv and argv[0] == "write-scripts":
            for rel in write_scripts():
                print(f"wrote {rel}")
            return 0
        return sweep_main(argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE if isinstance(e, ConfigError) else EXIT_FAILED
    except KeyboardInterrupt:
        print("Interrupted. Rerun the same command: complete runs are skipped, interrupted ones resume.", file=sys.stderr)
        return 130
