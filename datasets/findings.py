"""What the data checks report, shared by the check of the benchmarks (``datasets.check``) and of
your own data (``datasets.own_data_check``): the severities, a finding with its fix
(:class:`Finding`), what a report of findings has (:class:`Findings`) and the check that images
decode (:func:`verify_images`, in a worker pool for many images)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

__all__ = ["FAIL", "Finding", "Findings", "INFO", "WARN", "verify_images"]

FAIL, WARN, INFO = "FAIL", "WARN", "INFO"
# Below this many images, decoding runs in-process (a worker pool costs more than it saves).
MIN_IMAGES_FOR_POOL = 2000


@dataclass
class Finding:
    """One problem (or note) with its fix."""

    severity: str
    message: str
    fix: str = ""


class Findings:
    """What a report of found problems has (its dataclass declares ``findings``)."""

    findings: list[Finding]

    def add(self, severity: str, message: str, fix: str = "") -> None:
        self.findings.append(Finding(severity, message, fix))

    def worst(self) -> str:
        """FAIL, WARN or OK: the most severe finding."""
        severities = {f.severity for f in self.findings}
        return FAIL if FAIL in severities else WARN if WARN in severities else "OK"


# ---------------------------------------------------------------------------------------------
# Image decoding
# ---------------------------------------------------------------------------------------------
def _decode_error(path: str) -> str | None:
    """None if ``path`` decodes as an image, else the error."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as img:
                if img.format == "JPEG":
                    # Decode at 1/8 scale: the whole stream is still read (so truncation is
                    # caught) at a fraction of the cost.
                    img.draft("RGB", (1, 1))
                img.load()
        return None
    except Exception as e:  # noqa: BLE001 - any failure means the trainer could not read it
        return f"{type(e).__name__}: {e}"


def verify_images(paths: Sequence[str], workers: int = 1) -> list[tuple[str, str]]:
    """(path, error) for every path that cannot be decoded as an image."""
    if workers > 1 and len(paths) >= MIN_IMAGES_FOR_POOL:
        from multiprocessing import Pool

        with Pool(workers) as pool:
            errors = list(pool.imap(_decode_error, paths, chunksize=256))
    else:
        errors = [_decode_error(p) for p in paths]
    return [(p, e) for p, e in zip(paths, errors) if e is not None]
