"""Running a plan: each step is a ``train.py`` process, a unit's steps run in order in one job, and
the jobs run one after another, several at once on this machine (one per GPU, through submitit's
local executor), or as one SLURM job array (through submitit).

Each step hands its config (built once, :class:`~protocols.plan.StepRun`) to its ``train.py``
process as a file, ``<output>/.sweep/<run folder>.yaml`` (a complete config, with the step's
``train.py`` command by hand in its first lines). Whether a step is skipped, resumed or refused is
the run folder's rule (``runconfig.folder_action`` asks it before a process starts, ``train.py``
applies it): the runner only reads the outcome back from each run's ``run.json``. A failed step
never stops the others; an evaluation whose training run failed stays pending. :func:`status_of`
answers the same questions without running anything.
"""
from __future__ import annotations

import os.path as osp
import queue
import shlex
import signal
import subprocess
import threading
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from engine.errors import ConfigError, RunFolderError, UserError
from engine.run_folder import COMPLETE, FAILED, UNFINISHED_REASONS, RunFolder
from engine.seam import atomic_write_text
from runconfig import folder_action

from .plan import Settings, StepRun, Unit, in_repo, mirror, resolve_trained

__all__ = [
    "DONE",
    "FAILED_STATE",
    "INCOMPLETE",
    "PENDING",
    "PLANNED",
    "SKIPPED",
    "StepResult",
    "planned_config",
    "run_local",
    "run_sequential",
    "run_unit",
    "sbatch_script",
    "slurm_executor",
    "status_of",
    "submit_slurm",
    "with_trained_run",
]

# Outcomes of a step.
DONE, SKIPPED, FAILED_STATE, PENDING, INCOMPLETE = "done", "skipped", "failed", "pending", "incomplete"
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local executor kills jobs after 2 minutes by default
PLANNED = ".sweep"  # <output>/.sweep/<run folder>.yaml: the config a step hands to its train.py


@dataclass
class StepResult:
    """The outcome of one step: its state, why (for failed and pending steps) and its log."""

    label: str
    run_dir: str
    state: str
    detail: str = ""
    log: str = ""


def newest_log(run_dir: str) -> str:
    folder = RunFolder(run_dir)
    logs = sorted(folder.logs(), key=lambda name: osp.getmtime(osp.join(run_dir, name)))
    return osp.join(run_dir, logs[-1]) if logs else ""


def _record(run_dir: str) -> dict[str, Any]:
    try:
        return RunFolder(run_dir).record()
    except RunFolderError:
        return {}


def with_trained_run(run: StepRun, settings: Settings) -> StepRun:
    """An evaluation run pointed at the training run it evaluates, found on disk when that run is
    not the planned one (see ``resolve_trained``); other runs unchanged. Raises a UserError when
    several training runs could be meant. An evaluation whose training step is in the plan
    evaluates the planned run, whatever else the disk holds."""
    if not run.find_trained or not run.model_dir:
        return run
    trained = resolve_trained(run, settings.output)
    return mirror(run, trained, settings.output) if trained is not None and trained != run.evaluates.run_dir else run


def status_of(run: StepRun, settings: Settings) -> StepResult:
    """What the folder of a run says, without running anything."""
    try:
        run = with_trained_run(run, settings)
    except UserError as e:
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e).splitlines()[0])
    record = _record(run.run_dir)
    status = record.get("status")
    if status == COMPLETE:
        return StepResult(run.label, run.run_dir, DONE, log=newest_log(run.run_dir))
    if status == FAILED:
        return StepResult(run.label, run.run_dir, FAILED_STATE, record.get("error", ""), newest_log(run.run_dir))
    if status in UNFINISHED_REASONS:
        return StepResult(run.label, run.run_dir, INCOMPLETE, UNFINISHED_REASONS[status], newest_log(run.run_dir))
    return StepResult(run.label, run.run_dir, PENDING, "not run yet")


def planned_config(run: StepRun, cfg, settings: Settings) -> str:
    """Write the config ``cfg`` of ``run`` where its ``train.py`` process reads it (see the
    module); returns the file's absolute path."""
    rel = osp.relpath(run.run_dir, settings.output)
    path = osp.join(settings.repo, settings.output, PLANNED, f"{rel}.yaml")
    header = f"# The config sweep.py built for {run.label}; the same run by hand:\n# {shlex.join(run.command(settings))}\n"
    atomic_write_text(path, header + cfg.dump())
    return path


def run_step(run: StepRun, settings: Settings, echo: bool = True) -> StepResult:
    """Run one step with ``train.py``, handing it the step's config, and read its outcome from its
    run folder."""
    try:
        run = with_trained_run(run, settings)
    except UserError as e:
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e).splitlines()[0])
    if run.model_dir:
        trained = run.model_dir
        if not osp.isfile(osp.join(trained, RunFolder.CONFIG)) or _record(trained).get("status") not in (COMPLETE, None):
            return StepResult(run.label, run.run_dir, PENDING, f"the run it evaluates is not complete: {trained}")
    before = _record(run.run_dir)
    try:  # a complete run is skipped without starting a process (the run folder's rule, asked here)
        cfg = run.config if run.config is not None else run.build(settings)  # an evaluation's: from the trained run's config.yaml
        with in_repo(settings.repo):
            action = folder_action(cfg, "eval" if run.eval_only else "train", run.model_dir, restart=run.restart)
    except UserError as e:  # e.g. the folder holds another run: say why, as the run would
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e).splitlines()[0], newest_log(run.run_dir))
    if action == "complete":
        return StepResult(run.label, run.run_dir, SKIPPED, log=newest_log(run.run_dir))
    if echo:
        print(f"== {run.label}: {run.run_dir}", flush=True)
    command = [settings.python, "train.py", "--config-file", planned_config(run, cfg, settings)]
    command += [*(["--eval-only"] if run.eval_only else []), *(["--model-dir", run.model_dir] if run.model_dir else [])]
    command += ["--restart"] if run.restart else []
    code = _run_train(command, settings.repo)
    after = _record(run.run_dir)
    log = newest_log(run.run_dir)
    if code == 0:  # complete (an older train.py, or a folder without a record: the exit status says so)
        return StepResult(run.label, run.run_dir, DONE, log=log)
    status = after.get("status")
    if status in UNFINISHED_REASONS:  # e.g. stopped by SIGINT/SIGTERM: the next sweep resumes it
        return StepResult(run.label, run.run_dir, INCOMPLETE, UNFINISHED_REASONS[status], log)
    detail = after.get("error") if after.get("attempts") != before.get("attempts") else ""
    return StepResult(run.label, run.run_dir, FAILED_STATE, detail or f"train.py exited with {code}: {shlex.join(command)}", log)


def _run_train(command: Sequence[str], cwd: str) -> int:
    """Run ``train.py``; when this process is interrupted (Ctrl-C, a cancelled job), so is
    train.py, which records the interruption in its run folder and exits (it ignores the second
    SIGINT of a Ctrl-C at a terminal, which reaches both)."""
    process = subprocess.Popen(command, cwd=cwd)
    try:
        return process.wait()
    except KeyboardInterrupt:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait()
        raise


def run_unit(unit: Unit, settings: Settings, echo: bool = True) -> list[StepResult]:
    """A unit's steps, in order; an evaluation waits for the training run of its unit."""
    results: list[StepResult] = []
    for run in unit.steps:
        trained = run.evaluates
        blocked = next((r for r in results if run.model_dir and r.run_dir == trained.run_dir and r.state not in (DONE, SKIPPED)), None)
        if blocked is not None:
            results.append(StepResult(run.label, run.run_dir, PENDING, f"its training run {blocked.state}: {blocked.run_dir}"))
            continue
        results.append(run_step(run, settings, echo))
    return results


# ---------------------------------------------------------------------------------------------
# Launchers
# ---------------------------------------------------------------------------------------------
def run_sequential(units: Sequence[Unit], settings: Settings) -> list[StepResult]:
    """One unit after another, in this process (train.py's output on this terminal)."""
    return [result for unit in units for result in run_unit(unit, settings)]


def run_local(
    units: Sequence[Unit],
    settings: Settings,
    jobs: int,
    gpus: Sequence[int],
    folder: str,
    report: Callable[[str], None] = print,
) -> list[StepResult]:
    """Up to ``jobs`` units at once on this machine, each a submitit local job; with GPUs, one
    per GPU (``CUDA_VISIBLE_DEVICES`` set by submitit to that GPU). The output of each job is in
    ``folder``. Ctrl-C starts nothing more, interrupts the running jobs (their runs resume on the
    next sweep) and raises KeyboardInterrupt."""
    import submitit

    free: "queue.Queue[int | None]" = queue.Queue()
    for gpu in list(gpus)[:jobs] or [None] * jobs:
        free.put(gpu)
    stopping = threading.Event()
    running: dict[int, Any] = {}  # unit index -> its submitit job

    def one(item: tuple[int, Unit]) -> list[StepResult]:
        index, unit = item
        gpu = free.get()
        try:
            if stopping.is_set():
                return []
            executor = submitit.LocalExecutor(folder=osp.join(folder, "%j"))
            executor.update_parameters(
                timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=0 if gpu is None else 1, visible_gpus=() if gpu is None else (gpu,)
            )
            job = running[index] = executor.submit(run_unit, unit, settings, False)
            where = f" on GPU {gpu}" if gpu is not None else ""
            report(f"[{index}/{len(units)}] started {unit.label}{where} (job {job.job_id}, output {job.paths.stdout})")
            try:
                results = job.result()
            except Exception as e:  # the job itself died (killed, out of memory, interrupted): its steps did not finish
                results = [
                    StepResult(r.label, r.run_dir, FAILED_STATE, f"job {job.job_id} failed: {str(e).splitlines()[0]}", str(job.paths.stderr))
                    for r in unit.steps
                ]
            states = ", ".join(f"{r.state}" for r in results)
            report(f"[{index}/{len(units)}] {unit.label}: {states}")
            return results
        finally:
            running.pop(index, None)
            free.put(gpu)

    pool = ThreadPoolExecutor(max_workers=jobs)
    futures = [pool.submit(one, item) for item in enumerate(units, start=1)]
    try:
        per_unit = [future.result() for future in futures]
    except KeyboardInterrupt:
        stopping.set()
        for job in list(running.values()):
            job.cancel(check=False)  # SIGINT to the job, which passes it on to its train.py
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return [result for results in per_unit for result in results]


def slurm_executor(folder: str, parameters: dict[str, Any]):
    """A submitit SLURM executor with the sweep's sbatch parameters (see ``sweep.py --help``)."""
    import submitit

    try:
        executor = submitit.SlurmExecutor(folder=osp.join(folder, "%j"))
    except RuntimeError as e:  # submitit looks for srun
        raise ConfigError(f"--launcher slurm needs SLURM ({e}); run the sweep on a login node, or use --launcher local.") from None
    executor.update_parameters(**parameters)
    return executor


def sbatch_script(folder: str, parameters: dict[str, Any], n_units: int) -> str:
    """The sbatch script submitit writes for an array of ``n_units`` jobs (for --dry-run; no SLURM
    needed): submitit's own template, filled as its array submission fills it."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([shlex.quote(sys.executable), "-u -m submitit.core._submit", shlex.quote(osp.join(folder, "%j"))])
    return _make_sbatch_string(command=command, folder=osp.join(folder, "%j"), map_count=n_units, **parameters)


def submit_slurm(units: Sequence[Unit], settings: Settings, executor, report: Callable[[str], None] = print) -> list[str]:
    """Submit the units as one SLURM job array; returns the job ids. Follow them with
    ``sweep.py status`` (the runs write their usual folders)."""
    jobs = executor.map_array(run_unit, list(units), [settings] * len(units), [False] * len(units))
    for job, unit in zip(jobs, units):
        report(f"submitted {unit.label} as SLURM job {job.job_id}")
    return [job.job_id for job in jobs]
