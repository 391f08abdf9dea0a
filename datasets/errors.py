"""The error of every data problem, and how its messages list offending paths or lines."""
from __future__ import annotations

from typing import Sequence

from engine.seam import DataError

__all__ = ["DatasetError", "MAX_LISTED", "indent", "listing", "not_utf8"]

# How many offending paths or lines an error message lists before "... and N more".
MAX_LISTED = 5


class DatasetError(DataError):
    """Missing or malformed data. The message says what is wrong and how to fix it."""


def indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def listing(paths: Sequence[str], prefix: str = "  ") -> str:
    """The first :data:`MAX_LISTED` lines, indented by ``prefix``, then "... and N more"."""
    shown = "\n".join(f"{prefix}{p}" for p in paths[:MAX_LISTED])
    more = len(paths) - MAX_LISTED
    return shown + (f"\n{prefix}... and {more:,} more" if more > 0 else "")


def not_utf8(path: str, error: UnicodeDecodeError) -> DatasetError:
    """The error for a text file (CSV, class names, JSON) that is not UTF-8."""
    return DatasetError(
        f"{path} is not UTF-8 text ({error.reason} at byte {error.start}). Fix: save {path} as UTF-8 "
        "(e.g. in a spreadsheet: 'CSV UTF-8'; with iconv: `iconv -f latin1 -t utf-8`)."
    )
