"""Running a plan: each step is a ``train.py`` process, a unit's steps run in order in one job, and
the jobs run one after another, several at once on this machine (one per GPU, through submitit's
local executor), or as one SLURM job array (through submitit).

Each step hands its config (built once, :class:`~protocols.plan.StepRun`) to its ``train.py``
process as a file, ``<output>/.sweep/<run folder>.yaml`` (a complete config, with the step's
``train.py`` command by hand in its first lines). Whether a step is skipped, resumed or refused is
the run folder's rule (``runconfig.folder_action`` asks it before a process starts, ``train.py``
applies it): the runner only reads the outcome back from each run's ``run.json``. A failed step
never stops the others; an evaluation whose training run is missing, failed or unfinished does not
run and stays pending, saying why (:func:`untrained`). :func:`status_of` answers the same questions
without running anything, and for a step launched as a job (local or SLURM) also what its job did
(``protocols.jobs``).
"""
from __future__ import annotations

import os
import os.path as osp
import queue
import shlex
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from engine.errors import ConfigError, RunFolderError, UserError
from engine.run_folder import COMPLETE, FAILED, UNFINISHED_REASONS, RunFolder
from engine.seam import atomic_write_text
from runconfig import folder_action

from .jobs import ENDED_WITHOUT_RESULT, job_failure, job_of, job_python, record_job
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
    "untrained",
    "with_trained_run",
]

# Outcomes of a step.
DONE, SKIPPED, FAILED_STATE, PENDING, INCOMPLETE = "done", "skipped", "failed", "pending", "incomplete"
LOCAL_TIMEOUT_MIN = 7 * 24 * 60  # submitit's local executor kills jobs after 2 minutes by default
LOCAL_POLL_S = 0.2  # how often the local launcher looks whether a job ended
PLANNED = ".sweep"  # <output>/.sweep/<run folder>.yaml: the config a step hands to its train.py
JOB = ".job.json"  # <output>/.sweep/<run folder>.job.json: the job that runs the step (protocols.jobs)
ERROR_TAIL = 64 * 1024  # how much of a failed attempt's log is read for its whole error message


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


def recorded_error(record: dict[str, Any], log: str) -> str:
    """The error of a failed attempt, whole: ``run.json`` keeps its first line, the attempt's log
    the whole message (``error: ...`` to the end: e.g. every data file that differs)."""
    error = str(record.get("error", ""))
    if not error or not log:
        return error
    try:
        with open(log, "rb") as f:
            f.seek(max(0, osp.getsize(log) - ERROR_TAIL))
            tail = f.read().decode("utf-8", errors="replace")
    except OSError:
        return error
    start = tail.rfind(f"error: {error}")
    return tail[start + len("error: ") :].strip() if start >= 0 else error


def untrained(trained_dir: str) -> tuple[str, str] | None:
    """Why an evaluation of the training run in ``trained_dir`` cannot run yet, with the log to
    read (its failed or unfinished attempt's); None when that run is complete (or a folder of an
    older ``train.py``, with a ``config.yaml`` and no record: ``train.py`` decides)."""
    record = _record(trained_dir)
    status = record.get("status")
    if status == COMPLETE or (status is None and osp.isfile(osp.join(trained_dir, RunFolder.CONFIG))):
        return None
    log = newest_log(trained_dir)
    if status == FAILED:
        return f"its training run failed ({record.get('error') or 'no message'}): {trained_dir}; fix that and rerun its train step", log
    if status in UNFINISHED_REASONS:
        return f"its training run is unfinished ({UNFINISHED_REASONS[status]}): {trained_dir}; rerun its train step to resume it", log
    return f"not trained yet: {trained_dir} holds no training run; run the train step first", ""


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
    """What the folder of a run says, without running anything; for a step launched as a job
    whose run folder has not changed since, what the job says (queued or running, or dead before
    the step's ``train.py`` started, in the job's own words)."""
    try:
        run = with_trained_run(run, settings)
    except UserError as e:
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e))
    record = _record(run.run_dir)
    status = record.get("status")
    log = newest_log(run.run_dir)
    if status == COMPLETE:
        return StepResult(run.label, run.run_dir, DONE, log=log)
    job = job_of(_planned_path(run, settings, JOB))
    failure = job_failure(job) if job is not None else None
    if job is not None and job.newer_than(RunFolder(run.run_dir).file(RunFolder.RECORD)):
        if failure == ENDED_WITHOUT_RESULT:  # stopped (Ctrl-C, killed) before it came to this step: the step did not run
            return StepResult(run.label, run.run_dir, PENDING, f"not run: {job.name} {failure.removeprefix('it ')}", job.stderr)
        if failure is not None:
            return StepResult(run.label, run.run_dir, FAILED_STATE, f"{job.name} failed before this step's train.py started: {failure}", job.stderr)
        if not osp.isfile(job.result):
            return StepResult(run.label, run.run_dir, PENDING, f"submitted as {job.name}: queued, or running the steps before it", job.stdout)
    if status == FAILED:
        return StepResult(run.label, run.run_dir, FAILED_STATE, recorded_error(record, log), log)
    if status in UNFINISHED_REASONS:
        killed = f"; {job.name}: {failure}" if failure is not None else ""
        return StepResult(run.label, run.run_dir, INCOMPLETE, UNFINISHED_REASONS[status] + killed, log)
    why = untrained(run.model_dir) if run.model_dir else None
    if why is not None:
        return StepResult(run.label, run.run_dir, PENDING, *why)
    return StepResult(run.label, run.run_dir, PENDING, "not run yet")


def _planned_path(run: StepRun, settings: Settings, suffix: str) -> str:
    """``<output>/.sweep/<run folder><suffix>``: the sweep's own files about a step."""
    rel = osp.relpath(run.run_dir, settings.output)
    return osp.join(settings.repo, settings.output, PLANNED, f"{rel}{suffix}")


def planned_config(run: StepRun, cfg, settings: Settings) -> str:
    """Write the config ``cfg`` of ``run`` where its ``train.py`` process reads it (see the
    module); returns the file's absolute path."""
    path = _planned_path(run, settings, ".yaml")
    header = f"# The config sweep.py built for {run.label}; the same run by hand:\n# {shlex.join(run.command(settings))}\n"
    atomic_write_text(path, header + cfg.dump())
    return path


def run_step(run: StepRun, settings: Settings, echo: bool = True) -> StepResult:
    """Run one step with ``train.py``, handing it the step's config, and read its outcome from its
    run folder."""
    try:
        run = with_trained_run(run, settings)
    except UserError as e:
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e))
    why = untrained(run.model_dir) if run.model_dir else None
    if why is not None:
        return StepResult(run.label, run.run_dir, PENDING, *why)
    before = _record(run.run_dir)
    try:  # a complete run is skipped without starting a process (the run folder's rule, asked here)
        cfg = run.config if run.config is not None else run.build(settings)  # an evaluation's: from the trained run's config.yaml
        with in_repo(settings.repo):
            action = folder_action(cfg, "eval" if run.eval_only else "train", run.model_dir, restart=run.restart)
    except UserError as e:  # e.g. the folder holds another run: say why, whole, as the run would (its log: that run's)
        return StepResult(run.label, run.run_dir, FAILED_STATE, str(e), newest_log(run.run_dir))
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
    if after.get("attempts") != before.get("attempts"):  # the attempt it opened failed: its error and its log
        return StepResult(run.label, run.run_dir, FAILED_STATE, recorded_error(after, log) or f"train.py exited with {code}", log)
    # It stopped before opening an attempt (the folder's logs are older runs'): its error is on its
    # stderr, the console's or the job's.
    job = job_of(_planned_path(run, settings, JOB)) if os.environ.get("SUBMITIT_EXECUTOR") else None
    where = f"in {job.stderr}" if job is not None else "above"
    detail = f"train.py exited with {code} before starting the run (its error is {where}): {shlex.join(command)}"
    return StepResult(run.label, run.run_dir, FAILED_STATE, detail, job.stderr if job is not None else "")


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
            why = f"its training run {blocked.state}{f' ({blocked.detail.splitlines()[0]})' if blocked.detail else ''}: {blocked.run_dir}"
            results.append(StepResult(run.label, run.run_dir, PENDING, why, blocked.log))
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
            executor = submitit.LocalExecutor(folder=osp.join(folder, "%j"), python=job_python(settings.repo, settings.python))
            executor.update_parameters(
                timeout_min=LOCAL_TIMEOUT_MIN, gpus_per_node=0 if gpu is None else 1, visible_gpus=() if gpu is None else (gpu,)
            )
            job = running[index] = executor.submit(run_unit, unit, settings, False)
            record_jobs(unit, settings, "local", job)
            where = f" on GPU {gpu}" if gpu is not None else ""
            report(f"[{index}/{len(units)}] started {unit.label}{where} (job {job.job_id}, output {job.paths.stdout})")
            while not job.done():  # submitit's own wait polls once a second
                time.sleep(LOCAL_POLL_S)
            try:
                if stopping.is_set() or not osp.isfile(job.paths.result_pickle):
                    raise RuntimeError("no result")  # (submitit would wait 15 s for the file of a killed job)
                results = job.result()
            except Exception:  # the job itself died (before train.py, killed, out of memory): its steps say what it left
                results = [status_of(run, settings) for run in unit.steps]
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


def record_jobs(unit: Unit, settings: Settings, launcher: str, job: Any) -> None:
    """Record ``job`` (submitit's) as the job of each step of ``unit``, for ``sweep.py status``."""
    for run in unit.steps:
        try:
            run = with_trained_run(run, settings)  # the folder it will write
        except UserError:
            pass  # the step fails at once, saying why
        record_job(_planned_path(run, settings, JOB), launcher, job)


def slurm_executor(folder: str, parameters: dict[str, Any], settings: Settings):
    """A submitit SLURM executor with the sweep's sbatch parameters (see ``sweep.py --help``),
    whose jobs find the project's code at ``settings.repo`` (``protocols.jobs.job_python``)."""
    import submitit

    try:
        executor = submitit.SlurmExecutor(folder=osp.join(folder, "%j"), python=job_python(settings.repo, settings.python))
    except RuntimeError as e:  # submitit looks for srun
        raise ConfigError(f"--launcher slurm needs SLURM ({e}); run the sweep on a login node, or use --launcher local.") from None
    executor.update_parameters(**parameters)
    return executor


def sbatch_script(folder: str, parameters: dict[str, Any], n_units: int, settings: Settings) -> str:
    """The sbatch script submitit writes for an array of ``n_units`` jobs (for --dry-run; no SLURM
    needed): submitit's own template, filled as its array submission fills it."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([job_python(settings.repo, settings.python), "-u -m submitit.core._submit", shlex.quote(osp.join(folder, "%j"))])
    return _make_sbatch_string(command=command, folder=osp.join(folder, "%j"), map_count=n_units, **parameters)


def submit_slurm(units: Sequence[Unit], settings: Settings, executor, report: Callable[[str], None] = print) -> list[str]:
    """Submit the units as one SLURM job array; returns the job ids. Follow them with
    ``sweep.py status`` (the runs write their usual folders)."""
    jobs = executor.map_array(run_unit, list(units), [settings] * len(units), [False] * len(units))
    for job, unit in zip(jobs, units):
        record_jobs(unit, settings, "slurm", job)
        report(f"submitted {unit.label} as SLURM job {job.job_id}")
    return [job.job_id for job in jobs]
