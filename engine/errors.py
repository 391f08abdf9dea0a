"""The project's user errors: bad input that the person running the command can fix.

One policy for every entry point (``train.py``, the dataset tools): an exception of a class
below prints as one line, ``error: <message>``, whose message names the file, key or value at
fault and says what to do; nothing else is printed and the exit status is 1. Every other
exception is a bug or an environment fault and keeps its full traceback.

The classes also derive from the built-in type that code outside the project would catch
(``ConfigError`` is a ``ValueError``, ``ImageReadError`` an ``OSError``, ...), so the change from
plain built-in errors keeps existing ``except`` clauses working.

An error raised inside a ``DataLoader`` worker reaches the main process re-created by torch from
a single string that holds the worker's whole traceback; :class:`UserError` takes its own
message back out of that string, so a corrupt image read by a worker still prints one line.
"""
from __future__ import annotations

import re

__all__ = [
    "BackendError",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ImageReadError",
    "NonFiniteLossError",
    "RunFolderError",
    "UserError",
    "WeightsError",
]

# torch.utils.data._utils.ExceptionWrapper.reraise: "Caught <Type> in DataLoader worker process N.\n
# Original Traceback (most recent call last): ... <module>.<Type>: <message>"
_WORKER_PREFIX = re.compile(r"^Caught (\w+) in DataLoader worker process \d+\.\nOriginal Traceback")


def _message_from_worker(type_name: str, text: str) -> str:
    """The original message of a ``type_name`` error re-raised from a DataLoader worker."""
    match = _WORKER_PREFIX.match(text)
    if match is None or match.group(1) != type_name:
        return text
    # The traceback ends with "<qualified name>: <message>" (the message may span lines); when
    # the error was chained, its causes come first, so the last occurrence is the one we want.
    starts = [m.end() for m in re.finditer(rf"^(?:[\w.]+\.)?{type_name}: ", text, re.M)]
    return text[starts[-1] :].rstrip("\n") if starts else text


class UserError(Exception):
    """Bad input; the message says what is wrong and how to fix it."""

    def __init__(self, message: str = "") -> None:
        super().__init__(_message_from_worker(type(self).__name__, str(message)))

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ConfigError(UserError, ValueError):
    """A config file, key or value, or a command-line argument."""


class BackendError(UserError, ImportError):
    """The requested engine backend (``--backend`` / ``MUDPT_BACKEND``) cannot be used."""


class DataError(UserError):
    """Missing, malformed or inconsistent data (images, split files, caches)."""


class ImageReadError(DataError, OSError):
    """An image file that cannot be read or decoded."""


class WeightsError(UserError):
    """CLIP weights that cannot be found, downloaded or read."""


class CheckpointError(UserError):
    """A checkpoint that cannot be read, or that does not fit the model built from the config."""


class RunFolderError(UserError):
    """The output folder holds another run (another config, other data, another kind of run)."""


class NonFiniteLossError(UserError, FloatingPointError):
    """The training diverged: its loss, or a trained tensor, became NaN or infinite."""

    @classmethod
    def diverged(cls, what: str, where: str) -> "NonFiniteLossError":
        """The error for ``what`` ("Loss", "Trained tensor prompt_learner.ctx") at ``where``."""
        return cls(
            f"{what} is infinite or NaN! ({where}) Lower OPTIM.LR, use PREC fp32/amp instead of fp16, or check the input "
            "data; then rerun with --restart (this folder's checkpoints hold the diverged run) or into a new --output-dir."
        )
