"""Reading one Dassl log: its final test result, or why it has none; its arguments and config.

A training run's result is the last ``* <metric>: X%`` after ``Finish training`` (Dassl >= 0.6.1;
``Finished training`` in older Dassl); an evaluation-only run's result is the last one after
``=> result``. Logs are never overwritten: a second run into a folder writes
``log.txt-YYYY-MM-DD-HH-MM-SS`` next to ``log.txt``; :func:`choose_log` takes the newest log that
holds a result.

The same pass reads the argument dump (``eval_only: True`` tells an evaluation from a training
run) and the kept keys of the config dump (:mod:`results.settings`), and the first
``error: ...`` line (this repository's train.py writes its fatal message into the log).
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

from .settings import parse_config_dump

__all__ = [
    "COMPLETE",
    "DEFAULT_KEYWORD",
    "EXTRA_METRIC",
    "INCOMPLETE",
    "MISSING",
    "STATUS_EXIT_CODES",
    "LogResult",
    "choose_log",
    "log_files",
    "parse_log",
    "run_status",
    "sorted_logs",
]

# Dassl's setup_logger never overwrites: a second run into the same directory writes
# log.txt-YYYY-MM-DD-HH-MM-SS next to the first log.txt.
LOG_NAME_RE = re.compile(r"^log\.txt(?:-(\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}))?$")
# "* accuracy: 71.2%"; the number pattern is the one of CoOp's parse_test_res.py.
METRIC_RE = re.compile(r"^\* (\w+): ([\d.eE+-]+)%$")
# Dassl >= 0.6.1 prints "Finish training"; older Dassl (CoOp/MaPLe paper runs) "Finished training".
END_SIGNALS = frozenset({"Finish training", "Finished training"})
RESULT_SIGNAL = "=> result"
# Lines that only a training run prints (resume messages, tensorboard, the per-batch line in
# both the current and the pre-0.6.1 layout).
TRAINING_PREFIXES = (
    "epoch [",
    "Initialize tensorboard",
    "No checkpoint found, train from scratch",
    "Found checkpoint at",
)
EPOCH_PREFIX = "epoch ["
# The banners of Dassl's (and train.py's) argument and config dumps.
ARGUMENTS_BANNER = "** Arguments **"
CONFIG_BANNER = "** Config **"
ARGUMENT_RE = re.compile(r"^(\w+): ?(.*)$")
EVAL_ONLY_ARG = "eval_only"
TRUE = "True"
# train.py's fatal message (engine/errors.py: "error: <what to fix>").
ERROR_PREFIX = "error: "
DEFAULT_KEYWORD = "accuracy"
EXTRA_METRIC = "macro_f1"  # also listed by --runs

# Reasons listed for runs without a result.
NO_LOG = "no log"
TRAINING_NOT_FINISHED = "training not finished"
NO_RESULT_AFTER_FINISH = "no result after Finish training"
EVALUATION_NOT_FINISHED = "evaluation not finished"
STOPPED_BEFORE_TRAINING = "stopped before training began"
NO_RESULT = "no result (the log does not say whether it trained or evaluated)"
FAILED = "failed"

# Run status, as printed by --status, and its exit code.
COMPLETE, INCOMPLETE, MISSING = "complete", "incomplete", "missing"
STATUS_EXIT_CODES: dict[str, int] = {COMPLETE: 0, INCOMPLETE: 1, MISSING: 2}


@dataclass(frozen=True)
class LogResult:
    """What one log file says.

    Args:
        path: the log file.
        metrics: the final metrics (empty when incomplete).
        reason: why there is no result; empty when the log holds one.
        eval_only: the ``eval_only`` argument (None when the log has no argument dump).
        config: the kept keys of the config dump (see :mod:`results.settings`); empty if none.
    """

    path: Path
    metrics: dict[str, float] = field(default_factory=dict)
    reason: str = ""
    eval_only: bool | None = None
    config: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.reason


def failed_reason(message: str) -> str:
    """``failed: <first line of message>`` (``failed`` when there is no message)."""
    first = message.strip().splitlines()[0].strip() if message.strip() else ""
    return f"{FAILED}: {first}" if first else FAILED


def _dump_lines(lines: Iterable[str]) -> Iterable[str]:
    """The lines of a dump, after the row of asterisks that closes its banner."""
    for line in lines:
        if line.strip().strip("*"):
            yield line


def parse_log(path: Path, keyword: str = DEFAULT_KEYWORD) -> LogResult:
    """Read the final test result of one Dassl log, or why it has none.

    A training log without the end signal is incomplete even if it holds a mid-training
    ``=> result`` (a validation pass). Reasons, in order: ``failed: <message>`` (an ``error:``
    line), ``stopped before training began`` (``eval_only: False`` and no epoch line),
    ``training not finished``, ``no result after Finish training``, ``evaluation not finished``
    (``eval_only: True`` without a result).
    """
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.read().splitlines()
    except OSError as e:  # a dangling link, no permission: the run is listed with the reason
        return LogResult(Path(path), reason=f"log not readable: {e.strerror or e}")
    is_training = finished = seen_result_block = seen_epoch = False
    after_finish: dict[str, float] = {}
    after_result: dict[str, float] = {}
    args: dict[str, str] = {}
    config: dict[str, str] = {}
    error = ""
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        index += 1
        if line == ARGUMENTS_BANNER and not args:
            index = _read_arguments(lines, index, args)
            continue
        if line == CONFIG_BANNER and not config:
            config = parse_config_dump(_dump_lines(_banner_tail(lines, index)))
            continue
        if line in END_SIGNALS:
            is_training = finished = True
            continue
        if line.startswith(TRAINING_PREFIXES):
            is_training = True
            seen_epoch = seen_epoch or line.startswith(EPOCH_PREFIX)
            continue
        if line == RESULT_SIGNAL:
            seen_result_block = True
            continue
        if line.startswith(ERROR_PREFIX) and not error:
            error = line[len(ERROR_PREFIX) :] or "(no message)"
            continue
        match = METRIC_RE.match(line)
        if match is None:
            continue
        try:
            value = float(match.group(2))
        except ValueError:  # e.g. "1.2.3": the pattern is permissive, as CoOp's is
            continue
        if finished:
            after_finish[match.group(1)] = value
        if seen_result_block:
            after_result[match.group(1)] = value

    eval_only = None if EVAL_ONLY_ARG not in args else args[EVAL_ONLY_ARG] == TRUE
    found = dict(path=path, eval_only=eval_only, config=config)
    metrics = after_finish if is_training else after_result
    if keyword in metrics and (finished or not is_training):
        return LogResult(metrics=metrics, **found)
    if error:
        return LogResult(reason=failed_reason(error), **found)
    if eval_only is False and not seen_epoch and not finished:
        return LogResult(reason=STOPPED_BEFORE_TRAINING, **found)
    if is_training and not finished:
        return LogResult(reason=TRAINING_NOT_FINISHED, **found)
    if finished:
        return LogResult(reason=_missing_metric(metrics, keyword, NO_RESULT_AFTER_FINISH), **found)
    if metrics:  # a result block without the metric, e.g. macro_f1 in logs of older Dassl
        return LogResult(reason=_missing_metric(metrics, keyword, ""), **found)
    if eval_only:
        return LogResult(reason=EVALUATION_NOT_FINISHED, **found)
    return LogResult(reason=NO_RESULT, **found)


def _missing_metric(metrics: dict[str, float], keyword: str, no_result: str) -> str:
    return f"the result has no {keyword}" if metrics else no_result


def _banner_tail(lines: Sequence[str], start: int) -> Iterable[str]:
    return (lines[i] for i in range(start, len(lines)))


def _read_arguments(lines: Sequence[str], start: int, args: dict[str, str]) -> int:
    """Read the ``key: value`` lines of an argument dump into ``args``; the index after it."""
    index = start
    while index < len(lines) and not lines[index].strip().strip("*") and lines[index].strip():
        index += 1  # the row of asterisks under the banner
    while index < len(lines):
        match = ARGUMENT_RE.match(lines[index].rstrip())
        if match is None:
            break
        args[match.group(1)] = match.group(2).strip()
        index += 1
    return index


def log_files(run_dir: Path) -> list[Path]:
    """The Dassl logs in ``run_dir``, oldest first (log.txt is always the first one written)."""
    return sorted_logs(run_dir, [entry.name for entry in os.scandir(run_dir) if entry.is_file()])


def sorted_logs(run_dir: Path, file_names: Iterable[str]) -> list[Path]:
    """The names among ``file_names`` that are Dassl logs, as paths in ``run_dir``, oldest first."""
    found: list[tuple[str, str]] = []
    for name in file_names:
        match = LOG_NAME_RE.match(name)
        if match:
            # "" sorts first: log.txt, then the timestamped logs in time order.
            found.append((match.group(1) or "", name))
    return [run_dir / name for _, name in sorted(found)]


def choose(results: Sequence[LogResult]) -> LogResult:
    """Of parsed logs given oldest first: the newest that holds a result, else the newest."""
    if not results:
        raise ValueError("choose needs at least one parsed log")
    newest_first = list(reversed(results))
    return next((r for r in newest_first if r.complete), newest_first[0])


def choose_log(logs: Sequence[Path], keyword: str = DEFAULT_KEYWORD) -> LogResult:
    """The newest log that holds a result, else the newest log with its reason."""
    if not logs:
        raise ValueError("choose_log needs at least one log file")
    return choose([parse_log(path, keyword) for path in logs])


def run_status(run_dir: Path, keyword: str = DEFAULT_KEYWORD) -> str:
    """``complete``, ``incomplete`` (logs but no result) or ``missing`` (no dir or no log)."""
    if not run_dir.is_dir():
        return MISSING
    logs = log_files(run_dir)
    if not logs:
        return MISSING
    return COMPLETE if choose_log(logs, keyword).complete else INCOMPLETE
