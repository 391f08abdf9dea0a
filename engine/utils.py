"""Small utilities with Dassl's names and behaviour, plus the project's I/O helpers.

Dassl-named: ``setup_logger``, ``set_random_seed``, ``collect_env_info``, ``mkdir_if_missing``,
``listdir_nohidden``, ``read_json``, ``write_json``, ``check_isfile``.
Project additions (work with either backend): ``atomic_write_text``, ``atomic_write_json``,
``get_logger`` (with the console/log-file split: ``CONSOLE``, ``PROGRESS``, ``set_verbose``,
``write_log_file``), ``get_rng_state`` / ``set_rng_state``, ``sha256_file``, ``apply_umask``.
"""
from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import os.path as osp
import random
import sys
import tempfile
import time
import warnings
from typing import Any, Iterator, Sequence

import numpy as np
import torch

__all__ = [
    "CONSOLE",
    "PROGRESS",
    "apply_umask",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "check_isfile",
    "error_under",
    "close_logger",
    "collect_env_info",
    "file_digests",
    "get_logger",
    "get_rng_state",
    "listdir_nohidden",
    "log_file_path",
    "mkdir_if_missing",
    "quiet_logs",
    "read_json",
    "set_random_seed",
    "set_rng_state",
    "set_verbose",
    "unwritable_reason",
    "setup_logger",
    "sha256_file",
    "write_json",
    "write_log_file",
]


# ---------------------------------------------------------------------------------------------
# Logging. Dassl logs by printing to a tee of stdout (console + log.txt); the parsers of this
# family read those exact lines. We log through `logging`, with a message-only handler that looks
# at *whatever sys.stdout is at emit time*:
# - no tee (library use, the dataset tools, tests): every line goes to stdout;
# - a tee (train.py, either backend's setup_logger): every line goes to the log file, and only
#   lines meant for a person go to the console as well: records logged with ``extra=CONSOLE``,
#   warnings, and ``extra=PROGRESS`` lines when the console is not a terminal (on a terminal
#   tqdm shows progress). ``set_verbose(True)`` (train.py --verbose) sends every line to both.
# ---------------------------------------------------------------------------------------------
CONSOLE = {"console": True}  # ``_log.info(msg, extra=CONSOLE)``: also on the terminal
PROGRESS = {"progress": True}  # periodic training lines: on the terminal unless tqdm runs there

_verbose = False


def set_verbose(verbose: bool) -> None:
    """Show every log line on the console too (default: only CONSOLE lines and warnings)."""
    global _verbose
    _verbose = verbose


def _tee_parts(stream: Any) -> tuple[Any, Any] | None:
    """(console, log file) of a tee installed by either backend's ``setup_logger``, else None."""
    console, file = getattr(stream, "console", None), getattr(stream, "file", None)
    if console is None or file is None or getattr(file, "closed", True):
        return None
    return console, file


def _write(stream: Any, text: str) -> None:
    stream.write(text)
    stream.flush()  # a crash must not lose the lines that explain it


def log_file_path() -> str | None:
    """The path of the open run log (either backend's tee), if any."""
    parts = _tee_parts(sys.stdout)
    return getattr(parts[1], "name", None) if parts is not None else None


def write_log_file(text: str) -> None:
    """Append ``text`` (plus a newline) to the run's log file only, if one is open."""
    parts = _tee_parts(sys.stdout)
    if parts is not None:
        _write(parts[1], text + "\n")


class _RunLogHandler(logging.Handler):
    """Routes each record between the console and the log file (see above)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record) + "\n"
            parts = _tee_parts(sys.stdout)
            if parts is None:
                _write(sys.stdout, text)
                return
            console, file = parts
            _write(file, text)
            if self._on_console(record, console):
                _write(console, text)
        except Exception:
            self.handleError(record)

    @staticmethod
    def _on_console(record: logging.LogRecord, console: Any) -> bool:
        if _verbose or record.levelno >= logging.WARNING or getattr(record, "console", False):
            return True
        if getattr(record, "progress", False):
            isatty = getattr(console, "isatty", None)
            return not (isatty is not None and isatty())
        return False


_LOG_ROOT = "mudpt"


def get_logger(name: str) -> logging.Logger:
    """A logger under the project's root logger (bare messages, routed as described above)."""
    root = logging.getLogger(_LOG_ROOT)
    if not any(isinstance(h, _RunLogHandler) for h in root.handlers):
        handler = _RunLogHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logging.getLogger(f"{_LOG_ROOT}.{name}")


@contextlib.contextmanager
def quiet_logs(*names: str, quiet: bool = True) -> Iterator[None]:
    """Only warnings from the project's loggers ``names`` (default: all of them) for the duration:
    a library caller (the Python API, the bench) does not want every build line."""
    loggers = [get_logger(name) for name in names] or [get_logger("x").parent]
    levels = [log.level for log in loggers]
    if quiet:
        for log in loggers:
            log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for log, level in zip(loggers, levels):
            log.setLevel(level)


class _Tee:
    """Write console output to a text file as well (what Dassl's ``setup_logger`` installs)."""

    def __init__(self, console: Any, fpath: str):
        self.console = console
        self.file = open(fpath, "w", encoding="utf-8")

    def write(self, msg: str) -> int:
        self.console.write(msg)
        self.file.write(msg)
        return len(msg)

    def flush(self) -> None:
        self.console.flush()
        if not self.file.closed:
            self.file.flush()
            os.fsync(self.file.fileno())

    def isatty(self) -> bool:
        return False

    def close(self) -> None:
        if not self.file.closed:
            self.file.close()

    def __getattr__(self, name: str) -> Any:  # encoding, fileno, ... of the console
        return getattr(self.console, name)


def setup_logger(output: str | None = None) -> str | None:
    """Tee stdout into ``<output>/log.txt`` (or ``output`` itself if it ends in .txt/.log).

    An existing log is never overwritten: the new file gets a ``-%Y-%m-%d-%H-%M-%S`` suffix, as
    in Dassl. Returns the path written to.
    """
    if output is None:
        return None
    if output.endswith(".txt") or output.endswith(".log"):
        fpath = output
    else:
        fpath = osp.join(output, "log.txt")
    if osp.exists(fpath):
        fpath += time.strftime("-%Y-%m-%d-%H-%M-%S")
        while osp.exists(fpath):  # two runs within one second
            fpath += "_"
    mkdir_if_missing(osp.dirname(fpath) or ".")
    console = sys.stdout.console if isinstance(sys.stdout, _Tee) else sys.stdout
    if isinstance(sys.stdout, _Tee):
        sys.stdout.close()
    sys.stdout = _Tee(console, fpath)
    return fpath


def close_logger() -> None:
    """Undo :func:`setup_logger` (either backend's): close the log file, stdout is the console again."""
    parts = _tee_parts(sys.stdout)
    if parts is not None:
        console, file = parts
        file.close()
        sys.stdout = console


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices), as Dassl does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


def get_rng_state() -> dict[str, Any]:
    """Every random-number state a run depends on (Python, NumPy, torch CPU and CUDA), as plain
    values that ``torch.load(weights_only=True)`` reads back. Data order, augmentation and the
    seeds of DataLoader workers are all drawn from these states."""
    version, mt_state, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python": (version, tuple(mt_state), gauss),
        "numpy": (np_kind, np_keys.tolist(), int(np_pos), int(np_has_gauss), float(np_gauss)),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the states saved by :func:`get_rng_state`."""
    version, mt_state, gauss = state["python"]
    random.setstate((version, tuple(mt_state), gauss))
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = state["numpy"]
    np.random.set_state((np_kind, np.asarray(np_keys, dtype=np.uint32), np_pos, np_has_gauss, np_gauss))
    torch.set_rng_state(state["torch"].cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def file_digests(path: str, algorithms: Sequence[str] = ("sha256",), chunk: int = 1 << 20) -> dict[str, str]:
    """Hex digests of a file's bytes for each ``hashlib`` algorithm, in one read of the file."""
    digests = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            for digest in digests.values():
                digest.update(block)
    return {name: digest.hexdigest() for name, digest in digests.items()}


def sha256_file(path: str) -> str:
    """Hex SHA-256 of a file's bytes."""
    return file_digests(path)["sha256"]


def apply_umask(path: str) -> None:
    """Give ``path`` the permissions a plain ``open()`` would (0666 minus the umask): files made
    with ``tempfile.mkstemp`` are private (0600) otherwise."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


def collect_env_info() -> str:
    """torch's environment report plus the Pillow version."""
    from torch.utils.collect_env import get_pretty_env_info
    import PIL

    return get_pretty_env_info() + f"\n        Pillow ({PIL.__version__})"


def mkdir_if_missing(dirname: str) -> None:
    """``os.makedirs`` that tolerates an existing directory."""
    if not osp.exists(dirname):
        try:
            os.makedirs(dirname)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise


def unwritable_reason(path: str) -> str | None:
    """Why ``path`` (a file or a folder to write, created with its missing parents) cannot be
    written: the nearest existing path at or above it is a file where a folder is needed, or a
    folder without write permission; None when it can be, as far as the file system says before
    trying (the caller still turns an ``OSError`` of the write itself into its one-line error)."""
    path = osp.abspath(path)
    folder = path if osp.isdir(path) else osp.dirname(path)
    while not osp.exists(folder):
        folder = osp.dirname(folder)
    if not osp.isdir(folder):
        return f"{folder} is a file, not a folder"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{folder} is not writable"
    return None


def error_under(error: OSError, folder: str) -> bool:
    """Whether an ``OSError`` is about writing into ``folder``: the folder itself, a file below it
    or a folder above it that had to be created (not some other file, which would be a bug)."""
    if not getattr(error, "filename", None):
        return False
    target, failed = osp.abspath(folder), osp.abspath(os.fsdecode(error.filename))
    return failed == target or failed.startswith(target + os.sep) or target.startswith(failed + os.sep)


def listdir_nohidden(path: str, sort: bool = False) -> list[str]:
    """Entries of ``path`` whose name does not start with a dot."""
    items = [f for f in os.listdir(path) if not f.startswith(".")]
    if sort:
        items.sort()
    return items


def check_isfile(fpath: str) -> bool:
    """True if ``fpath`` is a file; warns otherwise (Dassl's wording)."""
    isfile = osp.isfile(fpath)
    if not isfile:
        warnings.warn(f'No file found at "{fpath}"')
    return isfile


def read_json(fpath: str) -> Any:
    """Read a JSON file; a malformed file raises with its path."""
    with open(fpath, "r", encoding="utf-8") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{fpath} is not valid JSON ({e}). Delete or repair the file.") from e


def write_json(obj: Any, fpath: str) -> None:
    """Write JSON with indent 4 and ``", "``/``": "`` separators (Dassl's format), atomically."""
    atomic_write_text(fpath, json.dumps(obj, indent=4, separators=(",", ": ")))


def atomic_write_bytes(fpath: str, data: bytes) -> None:
    """Write ``data`` to ``fpath`` via a temp file and ``os.replace``: readers never see half a
    file, a crash leaves the old one; the new file gets the permissions ``open()`` would give."""
    directory = osp.dirname(osp.abspath(fpath))
    mkdir_if_missing(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{osp.basename(fpath)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        apply_umask(tmp)
        os.replace(tmp, fpath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(fpath: str, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(fpath, text.encode("utf-8"))


def atomic_write_json(obj: Any, fpath: str) -> None:
    """Alias of :func:`write_json`, named for what it guarantees."""
    write_json(obj, fpath)
