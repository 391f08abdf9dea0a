"""Small utilities with Dassl's names and behaviour, plus the project's I/O helpers.

Dassl-named: ``setup_logger``, ``set_random_seed``, ``collect_env_info``, ``mkdir_if_missing``,
``listdir_nohidden``, ``read_json``, ``write_json``, ``check_isfile``.
Project additions (work with either backend): ``atomic_write_text``, ``atomic_write_json``,
``get_logger``.
"""
from __future__ import annotations

import errno
import json
import logging
import os
import os.path as osp
import random
import sys
import tempfile
import time
import warnings
from typing import Any

import numpy as np
import torch

__all__ = [
    "atomic_write_json",
    "atomic_write_text",
    "check_isfile",
    "collect_env_info",
    "get_logger",
    "listdir_nohidden",
    "mkdir_if_missing",
    "read_json",
    "set_random_seed",
    "setup_logger",
    "write_json",
]


# ---------------------------------------------------------------------------------------------
# Logging. Dassl logs by printing to a tee of stdout; the parsers of this family read those exact
# lines. We log through `logging`, with a message-only handler that writes to *whatever
# sys.stdout is at emit time*, so our lines land in the tee of either backend unchanged.
# ---------------------------------------------------------------------------------------------
class _CurrentStdoutHandler(logging.Handler):
    """Writes each record to the current ``sys.stdout`` (so a tee installed later is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()  # a crash must not lose the lines that explain it
        except Exception:
            self.handleError(record)


_LOG_ROOT = "mudpt"


def get_logger(name: str) -> logging.Logger:
    """A logger under the project's root logger, which prints bare messages to stdout."""
    root = logging.getLogger(_LOG_ROOT)
    if not any(isinstance(h, _CurrentStdoutHandler) for h in root.handlers):
        handler = _CurrentStdoutHandler()
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        root.propagate = False
    return logging.getLogger(f"{_LOG_ROOT}.{name}")


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


def set_random_seed(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (all devices), as Dassl does."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.cuda.manual_seed_all(seed)


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


def atomic_write_text(fpath: str, text: str) -> None:
    """Write ``text`` to ``fpath`` via a temp file and ``os.replace``: readers never see half a file."""
    directory = osp.dirname(osp.abspath(fpath))
    mkdir_if_missing(directory)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{osp.basename(fpath)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, fpath)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_json(obj: Any, fpath: str) -> None:
    """Alias of :func:`write_json`, named for what it guarantees."""
    write_json(obj, fpath)
