"""Time and peak memory, measured one way for the engine's training runs and for the bench.

* :class:`StepTimer`: marks between steps, as recorded CUDA events on a GPU (the loop itself has
  no host synchronisation; one sync when the intervals are read) and wall clock on a CPU.
* :class:`PeakMemory`: the peak memory of a phase. On a GPU ``torch.cuda.max_memory_allocated``
  since :meth:`~PeakMemory.reset`; on a CPU the process's peak resident set since the reset
  (Linux's ``VmHWM``, reset through ``/proc/self/clear_refs``), else its lifetime peak
  (``ru_maxrss``) where /proc is missing. On a CPU the reset first hands the memory that the C
  allocator keeps freed back to the system (glibc's ``malloc_trim``): otherwise a phase that
  reuses the pages an earlier, larger phase freed would show no growth at all.

The engine times every training epoch and reads the peak after it (``TrainerX.run_epoch``); a
run's ``training_cost()`` is built from those (its ``run.json`` records it). The bench
(``python -m bench.bench``) times steps and phases with the same two classes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

__all__ = ["CPU_PEAK_RSS", "CUDA_MAX_ALLOCATED", "MB", "PeakMemory", "StepTimer", "release_free_memory"]

MB = 2**20
# What a peak is (run.json's "memory_kind", the bench's "peak_kind").
CUDA_MAX_ALLOCATED, CPU_PEAK_RSS = "cuda_max_allocated", "cpu_peak_rss"


class StepTimer:
    """Marks between steps; on CUDA as recorded events (read after one final sync)."""

    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.marks: list[Any] = []

    def mark(self) -> None:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            self.marks.append(event)
        else:
            self.marks.append(time.perf_counter())

    def intervals_ms(self) -> list[float]:
        """Milliseconds between consecutive marks (synchronises on CUDA)."""
        if self.cuda:
            torch.cuda.synchronize()
            return [a.elapsed_time(b) for a, b in zip(self.marks, self.marks[1:])]
        return [1000.0 * (b - a) for a, b in zip(self.marks, self.marks[1:])]


def _status_kb(field: str) -> int | None:
    """A ``/proc/self/status`` field in kB (VmRSS, VmHWM), or None off Linux."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@lru_cache(maxsize=1)
def _malloc_trim():
    """glibc's ``malloc_trim``, or None (another C library, another system)."""
    name = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(name), "malloc_trim", None) if name else None
    except OSError:
        return None


def release_free_memory() -> bool:
    """Hand the memory the C allocator keeps freed back to the system, so that the resident set is
    what is in use; False where that cannot be done (not glibc)."""
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


class PeakMemory:
    """Peak memory of a phase, from :meth:`reset` to :meth:`peak_mb` (see the module)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.kind = CUDA_MAX_ALLOCATED if device.type == "cuda" else CPU_PEAK_RSS
        self.base_mb: float | None = None  # CPU: the resident set at the reset

    def reset(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return
        release_free_memory()
        try:  # "5" resets VmHWM (the peak RSS) to the current RSS (Linux >= 4.0)
            Path("/proc/self/clear_refs").write_text("5")
            rss = _status_kb("VmRSS")
        except OSError:
            rss = None
        self.base_mb = None if rss is None else rss / 1024

    def peak_mb(self) -> float | None:
        """The peak since the reset (CPU: of the whole process's resident set); None if unknown."""
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            return torch.cuda.max_memory_allocated(self.device) / MB
        if self.base_mb is not None:
            peak = _status_kb("VmHWM")
            return None if peak is None else peak / 1024
        try:
            import resource  # POSIX only
        except ImportError:
            return None
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux: the lifetime peak

    def growth_mb(self) -> float | None:
        """CPU: how far the peak rose above the resident set at the reset; GPU: :meth:`peak_mb`."""
        peak = self.peak_mb()
        if self.device.type == "cuda" or peak is None:
            return peak
        return None if self.base_mb is None else max(peak - self.base_mb, 0.0)
