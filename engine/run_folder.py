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

The rule (:meth:`RunFolder.bind`): pointed at a folder that holds a run, complete, partial or
failed, ``train.py`` goes on only if the run is the same: same kind, the same value for every
config key that can change results, the same input files by content. Otherwise it refuses and
names each difference with both values; ``--restart`` discards the folder's run and a new
``--output-dir`` starts elsewhere. A complete run is not run again; a partial one resumes from
its last checkpoint (exactly: see ``engine.trainer``); one that failed before its first
checkpoint starts again from scratch. Which keys cannot change results is the caller's
:class:`~engine.config_compare.ResultKeys` (the project's: ``runconfig.result_keys()``).
"""
from __future__ import annotations

import datetime
import json
import os
import os.path as osp
import shutil
import socket
from dataclasses import dataclass
from typing import Any, Sequence

from .checkpoint import checkpoint_epoch, latest_checkpoint
from .config_compare import DASSL_RESULT_KEYS, ResultKeys, config_differences, describe_differences, load_flat
from .errors import RunFolderError
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
        epochs = [checkpoint_epoch(latest_checkpoint(folder)) for folder in self.model_dirs()]
        return min(epochs) if epochs else None  # each model resumes from its own pointer

    def logs(self) -> list[str]:
        if not osp.isdir(self.path):
            return []
        return sorted(e.name for e in os.scandir(self.path) if e.is_file() and e.name.startswith("log.txt"))

    def holds_run(self) -> bool:
        return bool(self.config_text() is not None or self.record() or self.model_dirs())

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

        record = self.record()
        old_kind = record.get("kind")
        if old_kind and old_kind != kind:
            raise RunFolderError(
                f"{self.path} holds {KINDS.get(old_kind, old_kind)}; this command is {KINDS[kind]}. "
                "Give this one another --output-dir (evaluations of a trained model go to their own folder, "
                "with --model-dir pointing at the training run)."
            )
        problems = []
        old_config = self.config_text()
        if old_config is not None:
            diffs = config_differences(old_config, config, defaults, keys)
            if diffs:
                problems.append("config keys that change results differ:\n" + describe_differences(diffs, "the folder's run", "this run"))
        recorded = record.get("inputs", {})
        current = dict(inputs)
        if record.get("status") == COMPLETE:
            current.update(_data_inputs_now(recorded, data_root))
        changed = _input_differences({k: v for k, v in recorded.items() if k in current}, current)
        if changed:
            problems.append("its input files differ:\n" + "\n".join(changed))
        if problems:
            raise RunFolderError(
                f"{self.path} holds another run: " + "\n".join(problems) + "\n"
                f"Either write this run elsewhere (--output-dir), or discard the folder's run with --restart "
                f"(its checkpoints are deleted; logs and config are kept in {osp.join(self.path, self.PREVIOUS)}/)."
            )

        if record.get("status") == COMPLETE:
            return Binding(
                "complete",
                f"{self.path} already holds this run, complete (results in its log). Nothing to do; --restart runs it again.",
            )
        ended = _how_it_ended(record)
        epoch = self.last_epoch() if kind == "train" else None
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

    def check_data(self, data_inputs: dict[str, Any]) -> None:
        """The data files read now must be the ones the folder's run read (if it recorded them)."""
        recorded = self.record().get("inputs", {})
        old = {k: v for k, v in recorded.items() if k.startswith("data.")}
        changed = _input_differences(old, data_inputs) if old else []
        if changed:
            raise RunFolderError(
                f"{self.path} holds a run on other data; its data files differ:\n" + "\n".join(changed) + "\n"
                "Either write this run elsewhere (--output-dir), or discard the folder's run with --restart."
            )

    # --- writing ---------------------------------------------------------------------------------
    def start(self, config: str, kind: str, command: Sequence[str], inputs: dict[str, Any]) -> None:
        """Write config.yaml and open a new attempt in run.json (state "running")."""
        atomic_write_text(self.file(self.CONFIG), config)
        record = self.record()
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
        )
        for stale in ("finished", "error"):
            record.pop(stale, None)
        atomic_write_json(record, self.file(self.RECORD))

    def update(self, status: str | None = None, **fields: Any) -> None:
        """Change the state (and other fields) of the current attempt."""
        record = self.record()
        if not record:
            return
        if status is not None:
            record["status"] = status
            if status != RUNNING:
                record["finished"] = _now()
        for key, value in fields.items():
            if key == "inputs":
                record["inputs"] = {**record.get("inputs", {}), **value}
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
    def lock(self) -> None:
        """Hold an exclusive lock on the folder for the life of this process; a second process
        pointed at the same folder is refused. Skipped where the file system cannot lock."""
        if self._lock_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # Windows
            return
        os.makedirs(self.path, exist_ok=True)
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

    def unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


def _how_it_ended(record: dict[str, Any]) -> str:
    """How the previous, unfinished attempt ended, for the console line."""
    status = record.get("status")
    if status == INTERRUPTED:
        return "was interrupted"
    if status == FAILED:
        first_sentence = str(record.get("error", "no message")).split(". ")[0].rstrip(".")
        return f"failed ({first_sentence})"
    if status == RUNNING:  # the lock was free: the process is gone without a word
        return "was killed"
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
