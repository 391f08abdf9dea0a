"""A run folder is bound to the run it holds: its config, its inputs and its state.

The output folder of a run (``OUTPUT_DIR``) holds::

    config.yaml                the effective config: the contract of the folder
    run.json                   the run record: kind (train / eval), state, command, attempts and the
                               sha256 of every input file (split and few-shot files, CLIP weights
                               file, evaluated checkpoint)
    log.txt, log.txt-<time>    one log per attempt, never overwritten
    <model name>/              checkpoints: model.pth.tar-<epoch> and the ``checkpoint`` pointer
    tensorboard/               only when tensorboard is installed
    .previous/<time>/          what ``--restart`` set aside (logs, config.yaml, run.json)

The rule (:meth:`RunFolder.bind`): pointed at a folder that holds a run, complete or partial,
``train.py`` goes on only if the run is the same: same kind, the same value for every config
key that can change results, the same input files by content. Otherwise it refuses and names
each difference with both values; ``--restart`` discards the folder's run and a new
``--output-dir`` starts elsewhere. A complete run is not run again; a partial one resumes from
its last checkpoint (exactly: see ``engine.trainer``). An attempt that ended before its first
checkpoint (an evaluation: before its result) has nothing to keep: the same command starts it
again, and a command with another config or other input files (the fix of what made it fail)
starts afresh, its log, config and record set aside in ``.previous/``. A folder whose run.json
was deleted resumes from its checkpoints when its config matches (the input files its epochs
read can then not be checked, and the console says so), and starts clean when it has none.
Which keys cannot change results is the caller's :class:`~engine.config_compare.ResultKeys`
(the project's: ``runconfig.result_keys()``).

One process per folder: the folder's lock is held by the process that runs it, never by the
processes it forks (DataLoader workers), so that a killed run's folder is free at once.

An evaluation reads the model of a training run (:meth:`RunFolder.check_evaluable`, shared by
``train.py --eval-only``, the analyses and ``mudpt.load``): the model it deploys when the
training completed; the last checkpoint of an unfinished training only when its epoch is asked
for explicitly, and then the evaluation records it.
"""
from __future__ import annotations

import datetime
import errno
import json
import os
import os.path as osp
import shutil
import socket
from dataclasses import dataclass, field
from typing import Any, Sequence

import yaml

from .checkpoint import checkpoint_epoch, latest_checkpoint
from .config_compare import DASSL_RESULT_KEYS, ResultKeys, config_differences, describe_differences, load_flat
from .errors import CheckpointError, ConfigError, RunFolderError
from .utils import atomic_write_json, atomic_write_text, get_logger, sha256_file

__all__ = ["Binding", "RunFolder", "file_input"]

_log = get_logger("engine.run_folder")

# Run states in run.json.
RUNNING, FAILED, INTERRUPTED, COMPLETE = "running", "failed", "interrupted", "complete"
# A run left in these states has no result, and this is why (a "running" run whose process no
# longer holds the folder's lock was killed; from outside the folder the two look the same).
UNFINISHED_REASONS = {INTERRUPTED: "interrupted", RUNNING: "running, or killed"}
KINDS = {"train": "a training run", "eval": "an evaluation (--eval-only)"}


# ---------------------------------------------------------------------------------------------
# Inputs: files identified by content
# ---------------------------------------------------------------------------------------------
def file_input(path: str, relative_to: str | None = None) -> dict[str, str]:
    """``{"path": ..., "sha256": ...}`` for an input file; the path is stored relative to
    ``relative_to`` (the data root) when given, so a moved data root is the same input."""
    shown = osp.relpath(path, relative_to) if relative_to else osp.abspath(path)
    return {"path": shown, "sha256": sha256_file(path)}


def _input_differences(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines naming each input whose file changed (by sha256) or that only one side has."""
    lines = []
    for name in sorted(set(old) | set(new)):
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None or b is None:
            have = "this run" if a is None else "the folder's run"
            lines.append(f"  {name}: only {have} has one ({(a or b)['path']})")
        elif a.get("sha256") != b.get("sha256"):
            lines.append(
                f"  {name}: {a['path']} (sha256 {a['sha256'][:12]}, the folder's run) vs "
                f"{b['path']} (sha256 {b['sha256'][:12]}, this run)"
            )
    return lines


# ---------------------------------------------------------------------------------------------
# The folder
# ---------------------------------------------------------------------------------------------
def _now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


@dataclass
class Binding:
    """What :meth:`RunFolder.bind` decided."""

    action: str  # "new" | "resume" | "restart" (previous attempt ended before a checkpoint) | "complete"
    message: str  # one line for the console (about "the folder", except for "complete")
    fresh: bool = False  # the run starts clean: the previous attempt's files are set aside (.previous/)
    record: dict[str, Any] = field(default_factory=dict)  # fields :meth:`RunFolder.start` adds to run.json


# A process holds the locks of the folders it runs; the processes it forks (DataLoader workers)
# must not: a lock taken with flock belongs to the open file, which a fork shares, so a run killed
# while its workers live on would leave its folder locked until they notice. The child closes its
# copies right after the fork (the parent's lock is untouched).
_HELD_LOCK_FDS: set[int] = set()


def _forget_locks_in_child() -> None:
    for fd in _HELD_LOCK_FDS:
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD_LOCK_FDS.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_locks_in_child)


@dataclass
class Unfinished:
    """The model of an unfinished training run, evaluated because its epoch was asked for."""

    run: str
    status: str  # run.json's: "interrupted", "failed", "running"
    state: str  # in words: "was interrupted", "failed (...)", "is still running (...)", "was killed"
    epoch: int  # the epoch evaluated
    max_epoch: int | None  # the epochs its config trains

    def note(self) -> str:
        """One line for the console and the log."""
        of = f" of {self.max_epoch}" if self.max_epoch else ""
        return (
            f"Note: the training of {self.run} {self.state}; evaluating its epoch {self.epoch}{of} as asked "
            "(--load-epoch), not the model a finished run deploys."
        )

    def record(self) -> dict[str, Any]:
        """The field of the evaluation's run.json that says what it evaluated."""
        return {"run": self.run, "status": self.status, "epoch": self.epoch, "max_epoch": self.max_epoch}


class RunFolder:
    """The files of one run folder and the rule that binds it to its run."""

    CONFIG = "config.yaml"
    RECORD = "run.json"
    PREVIOUS = ".previous"
    LOCK = ".lock"

    def __init__(self, path: str):
        self.path = path
        self._lock_fd: int | None = None

    def file(self, name: str) -> str:
        return osp.join(self.path, name)

    # --- reading ---------------------------------------------------------------------------------
    def config_text(self) -> str | None:
        path = self.file(self.CONFIG)
        if not osp.isfile(path):
            return None
        with open(path, encoding="utf-8") as f:
            return f.read()

    def record(self) -> dict[str, Any]:
        path = self.file(self.RECORD)
        if not osp.isfile(path):
            return {}
        try:
            with open(path, encoding="utf-8") as f:
                record = json.load(f)
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{path} is not readable JSON ({e}). Rerun with --restart to start this run afresh.") from e
        return record if isinstance(record, dict) else {}

    def model_dirs(self) -> list[str]:
        """The checkpoint folders (sub-folders holding a ``checkpoint`` pointer)."""
        if not osp.isdir(self.path):
            return []
        return sorted(e.path for e in os.scandir(self.path) if e.is_dir() and osp.isfile(osp.join(e.path, "checkpoint")))

    def last_epoch(self) -> int | None:
        """The epoch of the newest checkpoint (the one a training run resumes from), if any."""
        latest = [latest_checkpoint(folder) for folder in self.model_dirs()]
        if not latest or None in latest:  # a model without a checkpoint left: the run trains from scratch
            return None
        return min(checkpoint_epoch(path) for path in latest)  # each model resumes from its own pointer

    def logs(self) -> list[str]:
        if not osp.isdir(self.path):
            return []
        return sorted(e.name for e in os.scandir(self.path) if e.is_file() and e.name.startswith("log.txt"))

    def holds_run(self) -> bool:
        return bool(self.config_text() is not None or self.record() or self.model_dirs())

    def has_record(self) -> bool:
        return osp.isfile(self.file(self.RECORD))

    # --- the rule --------------------------------------------------------------------------------
    def bind(
        self,
        config: str,
        kind: str,
        inputs: dict[str, Any],
        defaults: str | None = None,
        restart: bool = False,
        data_root: str = "",
        keys: ResultKeys = DASSL_RESULT_KEYS,
    ) -> Binding:
        """Check that this folder may run ``config`` (see the module docstring) and say how;
        ``keys``: which config keys cannot change results.

        ``inputs`` are the input files known before anything is built (CLIP weights, the
        evaluated checkpoint); data files are checked by :meth:`check_data` once read, except for
        a complete run, which is not built again: its recorded data files are hashed as they are
        now under ``data_root``."""
        self.lock()
        if restart and self.holds_run():
            moved = self.discard()
            return Binding("new", f"new (--restart discarded the previous run; its logs and config are in {osp.relpath(moved, self.path)}/)")
        if not self.holds_run():
            return Binding("new", "new")

        record, has_record = self.record(), self.has_record()
        old_kind = record.get("kind")
        if old_kind and old_kind != kind:
            raise RunFolderError(
                f"{self.path} holds {KINDS.get(old_kind, old_kind)}; this command is {KINDS[kind]}. "
                "Give this one another --output-dir (evaluations of a trained model go to their own folder, "
                "with --model-dir pointing at the training run)."
            )
        complete = record.get("status") == COMPLETE
        problems, differing = [], []
        old_config = self.config_text()
        if old_config is not None:
            diffs = config_differences(old_config, config, defaults, keys)
            if diffs:
                problems.append("config keys that change results differ:\n" + describe_differences(diffs, "the folder's run", "this run"))
                differing.append(f"config ({', '.join(d[0] for d in diffs)})")
        if has_record:  # without run.json the inputs of the folder's run are unknown: nothing to compare
            recorded = record.get("inputs", {})
            current = dict(inputs)
            if complete:
                current.update(_data_inputs_now(recorded, data_root))
            changed = _input_differences({k: v for k, v in recorded.items() if k in current}, current)
            if changed:
                problems.append("its input files differ:\n" + "\n".join(changed))
                differing.append(f"input files ({', '.join(line.split(':')[0].strip() for line in changed)})")

        epoch = self.last_epoch() if kind == "train" else None
        ended = _how_it_ended(record)
        if problems and (complete or epoch is not None):
            raise RunFolderError(
                f"{self.path} holds another run: " + "\n".join(problems) + "\n"
                f"Either write this run elsewhere (--output-dir), or discard the folder's run with --restart "
                f"(its checkpoints are deleted; logs and config are kept in {osp.join(self.path, self.PREVIOUS)}/)."
            )
        set_aside = f"its log, config and run.json are set aside in {self.PREVIOUS}/"
        if problems:  # nothing to keep: the previous attempt ended before its first checkpoint (or result)
            before = " before its first checkpoint" if kind == "train" else ""
            return Binding(
                "restart",
                f"starting afresh with this command's {' and '.join(differing)}: the previous attempt {ended}{before} "
                f"({set_aside})",
                fresh=True,
            )

        if complete:
            return Binding(
                "complete",
                f"{self.path} already holds this run, complete (results in its log). Nothing to do; --restart runs it again.",
            )
        if not has_record:
            if epoch is None:
                return Binding(
                    "restart",
                    f"starting clean: its {self.RECORD} is missing (deleted?) and it holds no checkpoint to resume from ({set_aside})",
                    fresh=True,
                )
            return Binding(
                "resume",
                f"resuming from the checkpoint of epoch {epoch}, whose config matches this command's: its {self.RECORD} is "
                "missing (deleted?), so the input files its epochs read (CLIP weights, data files) cannot be checked; "
                "if they changed, rerun with --restart",
                record={"inputs_unchecked_until_epoch": epoch},
            )
        if epoch is not None:
            message = f"resuming from the checkpoint of epoch {epoch} (the previous attempt {ended})"
            if old_config is not None:
                workers = [load_flat(text).get("DATALOADER.NUM_WORKERS") for text in (old_config, config)]
                if workers[0] != workers[1]:
                    message += (
                        f". Note: DATALOADER.NUM_WORKERS changed from {workers[0]} to {workers[1]}: the augmentations "
                        "drawn from here on differ from those of an uninterrupted run (same distribution)"
                    )
            return Binding("resume", message)
        if kind == "train":
            message = f"starting again from scratch: the previous attempt {ended} before its first checkpoint"
        else:
            message = f"evaluating again: the previous attempt {ended}"
        return Binding("restart", message)

    def check_data(self, data_inputs: dict[str, Any]) -> str:
        """The data files read now must be the ones the folder's run read (if it recorded them),
        unless that run has nothing to keep (it ended before its first checkpoint; an evaluation):
        then they replace the recorded ones, and the returned line says so ("" otherwise)."""
        record = self.record()
        recorded = record.get("inputs", {})
        old = {k: v for k, v in recorded.items() if k.startswith("data.")}
        changed = _input_differences(old, data_inputs) if old else []
        if changed and (record.get("kind") == "eval" or self.last_epoch() is None):
            self.update(inputs={k: v for k, v in recorded.items() if not k.startswith("data.")} | data_inputs, replace_inputs=True)
            names = ", ".join(line.split(":")[0].strip() for line in changed)
            return (
                f"Note: the data files differ from those the previous attempt read ({names}); it ended with nothing to "
                "keep, so this run reads these."
            )
        if changed:
            raise RunFolderError(
                f"{self.path} holds a run on other data; its data files differ:\n" + "\n".join(changed) + "\n"
                "Either write this run elsewhere (--output-dir), or discard the folder's run with --restart."
            )
        return ""

    # --- writing ---------------------------------------------------------------------------------
    def start(self, config: str, kind: str, command: Sequence[str], inputs: dict[str, Any], binding: Binding | None = None) -> None:
        """Write config.yaml and open a new attempt in run.json (state "running"). A ``binding``
        that starts the run clean (:attr:`Binding.fresh`) first sets the previous attempt's files
        aside (``.previous/<time>/``; the count of attempts goes on); its record fields are added."""
        record = self.record()
        if binding is not None and binding.fresh:
            self.discard()
            record = {"attempts": record.get("attempts", 0)}
        atomic_write_text(self.file(self.CONFIG), config)
        attempts = int(record.get("attempts", 0)) + 1
        record.update(
            kind=kind,
            status=RUNNING,
            attempts=attempts,
            command=list(command),
            started=_now(),
            host=socket.gethostname(),
            pid=os.getpid(),
            inputs={**record.get("inputs", {}), **inputs},
            **(binding.record if binding is not None else {}),
        )
        for stale in ("finished", "error"):
            record.pop(stale, None)
        atomic_write_json(record, self.file(self.RECORD))

    def update(self, status: str | None = None, replace_inputs: bool = False, **fields: Any) -> None:
        """Change the state (and other fields) of the current attempt; ``inputs`` are added to the
        recorded ones (``replace_inputs``: replace them)."""
        record = self.record()
        if not record:
            return
        if status is not None:
            record["status"] = status
            if status != RUNNING:
                record["finished"] = _now()
        for key, value in fields.items():
            if key == "inputs":
                record["inputs"] = dict(value) if replace_inputs else {**record.get("inputs", {}), **value}
            else:
                record[key] = value
        atomic_write_json(record, self.file(self.RECORD))

    def discard(self) -> str:
        """``--restart``: delete the checkpoints; move logs, config and record to .previous/<time>/."""
        stamp = datetime.datetime.now().strftime("%Y-%m-%d-%H-%M-%S")
        target = osp.join(self.path, self.PREVIOUS, stamp)
        while osp.exists(target):
            target += "_"
        os.makedirs(target)
        for name in [*self.logs(), self.CONFIG, self.RECORD, "tensorboard"]:
            if osp.exists(self.file(name)):
                shutil.move(self.file(name), osp.join(target, name))
        for folder in self.model_dirs():
            shutil.rmtree(folder)
        return target

    # --- one process per folder ------------------------------------------------------------------
    def make(self) -> None:
        """Create the folder; one that cannot be written is a :class:`RunFolderError` naming it."""
        try:
            os.makedirs(self.path, exist_ok=True)
            probe = self.file(self.LOCK)
            os.close(os.open(probe, os.O_RDWR | os.O_CREAT, 0o666))
        except OSError as e:
            if e.errno not in (errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.ENOTDIR):
                raise
            why = "a file is in the way" if e.errno in (errno.EEXIST, errno.ENOTDIR) else e.strerror
            raise RunFolderError(
                f"Cannot write the output folder {self.path} ({why}: {e.filename}). Pass an --output-dir you can write to "
                "(OUTPUT_DIR; scripts: OUTPUT=...)."
            ) from None

    def lock(self) -> None:
        """Hold an exclusive lock on the folder for the life of this process (not of the processes
        it forks); a second process pointed at the same folder is refused. Skipped where the file
        system cannot lock."""
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # Windows
            return
        self.make()
        fd = os.open(self.file(self.LOCK), os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            record = self.record()
            who = f" (pid {record.get('pid')} on {record.get('host')})" if record.get("pid") else ""
            raise RunFolderError(
                f"Another process{who} is running in {self.path}. Wait for it to end, or use another --output-dir."
            ) from None
        except OSError:  # e.g. NFS without lock support
            os.close(fd)
            return
        self._lock_fd = fd
        _HELD_LOCK_FDS.add(fd)

    def unlock(self) -> None:
        if self._lock_fd is not None:
            if self._lock_fd in _HELD_LOCK_FDS:  # not in a forked child: there the number is no longer the lock's
                _HELD_LOCK_FDS.discard(self._lock_fd)
                os.close(self._lock_fd)
            self._lock_fd = None

    def held(self) -> bool | None:
        """Whether a process holds the folder's lock now (None where this cannot be told)."""
        if self._lock_fd is not None:
            return True
        try:
            import fcntl

            fd = os.open(self.file(self.LOCK), os.O_RDONLY)
        except (ImportError, OSError):
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return False
        except BlockingIOError:
            return True
        except OSError:
            return None
        finally:
            os.close(fd)  # releases the shared lock taken to look

    # --- the model a training run deploys -----------------------------------------------------------
    def check_evaluable(
        self, load_epoch: int | None = None, trainer: str = "", epoch_option: str = "--load-epoch N", verb: str = "evaluate"
    ) -> Unfinished | None:
        """The one rule for reading the model of this training run (``train.py --eval-only
        --model-dir``, the analyses, ``mudpt.load``): a run trained by another method than
        ``trainer`` (when given) is refused naming its method; so is a run whose training did not
        complete, unless ``load_epoch`` asks for one of its checkpoints explicitly: its last one is
        not the model it would deploy. Returns what such an explicit evaluation reads (to say and
        record), else None. ``epoch_option`` and ``verb``: how the caller's user asks for an epoch.
        A folder without run.json (older runs, the anchors' checkpoints) is not judged."""
        config = yaml.safe_load(self.config_text() or "") or {}
        trained_by = (config.get("TRAINER") or {}).get("NAME", "") if isinstance(config, dict) else ""
        if trainer and trained_by and trained_by != trainer:
            raise ConfigError(
                f"{self.path} holds a {trained_by} run, not a {trainer} one: evaluate it with --trainer {trained_by} and "
                f"the method config it was trained with (its --config-file; {self.file(self.CONFIG)} records every value)."
            )
        record = self.record()
        status = record.get("status")
        if not record or status == COMPLETE or record.get("kind") == "eval":
            return None
        max_epoch = ((config.get("OPTIM") or {}).get("MAX_EPOCH") if isinstance(config, dict) else None) or None
        last = self.last_epoch()
        held = self.held() if status == RUNNING else None
        state = _how_it_ended(record, held)
        go_on = "Wait for it to end" if held else "Finish it (rerun its train.py command: it resumes)"
        if last is None:
            raise CheckpointError(
                f"{self.path} holds a training run that {state}, before its first checkpoint: no model to {verb}. {go_on}."
            )
        if load_epoch is None:
            of = f" of {max_epoch}" if max_epoch else ""
            raise CheckpointError(
                f"{self.path} holds a training run that {state}: its last checkpoint (epoch {last}{of}) is not the model it "
                f"would deploy. {go_on}, or {verb} an epoch explicitly ({epoch_option})."
            )
        return Unfinished(self.path, str(status), state, load_epoch, max_epoch)


def _how_it_ended(record: dict[str, Any], held: bool | None = False) -> str:
    """How an unfinished attempt ended (or stands), for a console line; ``held``: whether a
    process holds the folder's lock (False where the caller holds it itself)."""
    status = record.get("status")
    if status == INTERRUPTED:
        return "was interrupted"
    if status == FAILED:
        first_sentence = str(record.get("error", "no message")).split(". ")[0].rstrip(".")
        return f"failed ({first_sentence})"
    if status == RUNNING:
        if held:
            return f"is still running (pid {record.get('pid')} on {record.get('host')})"
        if held is None:
            return "is marked running in its run.json (still running, or killed)"
        return "was killed"  # the lock is free: the process is gone without a word
    return "did not finish"


def _data_inputs_now(recorded: dict[str, Any], data_root: str) -> dict[str, Any]:
    """The recorded data files (``data.*``, paths relative to the data root) as they are now."""
    now = {}
    for name, entry in recorded.items():
        if not name.startswith("data."):
            continue
        path = osp.join(data_root, entry["path"])
        now[name] = file_input(path, data_root) if osp.isfile(path) else {"path": entry["path"], "sha256": "(missing)"}
    return now
