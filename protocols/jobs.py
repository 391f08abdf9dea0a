"""The jobs of a sweep (submitit's, local or SLURM): how a job finds the project's code, which job
runs which step, and what a job that ended says.

A job is ``<python> -u -m submitit.core._submit <folder>``, started by SLURM on a node (or by
submitit's local controller), which loads the submitted call (the unit's steps) before any of
the project's code runs. Whatever the node's environment holds (a cluster need not export the
sweep's variables, and the job starts in another folder), :func:`job_python` names the project's
own location in the command itself: ``env PYTHONPATH=<repository>[:<the sweep's PYTHONPATH>]
<python>``.

A launcher records the job of each step as it submits it, ``<output>/.sweep/<run folder>.job.json``
(:func:`record_job`); ``sweep.py status`` reads it back (:func:`job_of`) and, for a step whose
run folder has not moved since, says what its job did: submitted and not started yet, or dead
before the step's ``train.py`` started, with the job's own last words (:func:`job_failure`:
the traceback on the job's stderr, else the scheduler's error line there).
"""
from __future__ import annotations

import datetime
import json
import os
import os.path as osp
import shlex
import socket
from dataclasses import asdict, dataclass
from typing import Any

from engine.seam import atomic_write_text

__all__ = ["ENDED_WITHOUT_RESULT", "JobRecord", "job_failure", "job_of", "job_python", "record_job"]

LAUNCHER_NAMES = {"local": "local job", "slurm": "SLURM job"}
# A job killed by its scheduler writes no result; SLURM says why on the job's stderr.
SCHEDULER_ERRORS = ("slurmstepd: error:", "srun: error:")
# What submitit's job logs on its stderr before the traceback of an exception its call raised.
SUBMITIT_FAILED = "Submitted job triggered an exception"
# A local job whose controller is gone without a result or a reason: stopped with its sweep, or killed.
ENDED_WITHOUT_RESULT = "it ended without a result (killed, or its sweep was stopped)"


def job_python(repo: str, python: str) -> str:
    """The command that starts a job's Python (submitit's ``python`` parameter): ``python`` with
    the repository first on its path, set here rather than inherited from the job's environment,
    followed by the sweep's own ``PYTHONPATH`` (e.g. a Dassl checkout), as it is now."""
    own = [osp.abspath(p) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]  # a job starts elsewhere
    paths = list(dict.fromkeys([repo, *own]))
    return shlex.join(["env", f"PYTHONPATH={os.pathsep.join(paths)}", python])


@dataclass(frozen=True)
class JobRecord:
    """The job that runs (or ran) a step: its launcher, id and files (submitit's paths)."""

    launcher: str  # "local" | "slurm"
    job_id: str
    stdout: str
    stderr: str
    result: str
    submitted: str  # ISO time, for people
    host: str  # where it was submitted (a local job's id is its controller's pid there)
    path: str = ""  # the record's own file (not stored)

    @property
    def name(self) -> str:
        return f"{LAUNCHER_NAMES.get(self.launcher, self.launcher + ' job')} {self.job_id}"

    def newer_than(self, path: str) -> bool:
        """Submitted after ``path`` (a run's ``run.json``) last changed, or ``path`` is absent: what
        the run folder says predates this job."""
        return not osp.isfile(path) or osp.getmtime(self.path) >= osp.getmtime(path)

    def gone(self) -> bool:
        """A local job whose controller no longer runs (False where that cannot be told: SLURM's
        jobs, another machine's)."""
        if self.launcher != "local" or self.host != socket.gethostname():
            return False
        try:
            os.kill(int(self.job_id), 0)
        except ProcessLookupError:
            return True
        except (ValueError, OSError):  # not a pid, or another user's process
            return False
        return False


def record_job(path: str, launcher: str, job: Any) -> JobRecord:
    """Write the record of ``job`` (a submitit job) at ``path``; returns it."""
    paths = job.paths
    record = JobRecord(
        launcher, str(job.job_id), str(paths.stdout), str(paths.stderr), str(paths.result_pickle),
        datetime.datetime.now().isoformat(timespec="seconds"), socket.gethostname(),
    )  # fmt: skip
    fields = {k: v for k, v in asdict(record).items() if k != "path"}
    atomic_write_text(path, json.dumps(fields, indent=1) + "\n")
    return JobRecord(**fields, path=path)


def job_of(path: str) -> JobRecord | None:
    """The job recorded at ``path``, if any (a record that cannot be read is none)."""
    try:
        with open(path, encoding="utf-8") as f:
            fields = json.load(f)
        return JobRecord(**{k: str(fields[k]) for k in ("launcher", "job_id", "stdout", "stderr", "result", "submitted", "host")}, path=path)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _stderr_lines(job: JobRecord) -> list[str]:
    try:
        with open(job.stderr, encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in f]
    except OSError:
        return []


def job_failure(job: JobRecord) -> str | None:
    """Why ``job`` ended without finishing its call, in one line: the exception it raised (the
    last line of the traceback submitit's job prints on its stderr after "Submitted job triggered
    an exception"; its pickled result is never read), else the scheduler's error line in its
    stderr (killed: time limit, memory); None while it is queued or running, or when it finished
    its call."""
    lines = _stderr_lines(job)
    marks = [i for i, line in enumerate(lines) if SUBMITIT_FAILED in line]
    if marks:
        said = [line.strip() for line in lines[marks[-1] + 1 :]
                if line.strip() and not line[0].isspace() and not line.startswith(("Traceback", *SCHEDULER_ERRORS))]  # fmt: skip
        return said[-1] if said else "an error without a message"
    if osp.isfile(job.result):
        return None  # it finished its call (its steps say how they went)
    lines = [line.strip() for line in lines]
    for prefix in SCHEDULER_ERRORS:  # slurmstepd's says why; srun's only that a task ended
        found = [line for line in lines if line.startswith(prefix)]
        if found:
            return found[0]
    return ENDED_WITHOUT_RESULT if job.gone() else None
