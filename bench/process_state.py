"""The process state a sweep measures in: intra-op threads fixed and, on request, glibc's malloc thresholds pinned.

Both are set once, when the plugin configures the session, and recorded in run.json (``process_state``):

- **Threads** (``--attn-threads``, default: every CPU this process may use). torch's intra-op pool
  is fixed for the whole run so that every cell is measured with the same parallelism, and the
  count is on the record: a result with 1 thread is not comparable with one with 2.
- **Allocator** (glibc only; ``--attn-allocator pinned``, off by default). glibc moves its mmap threshold up as large blocks are
  freed and trims the heap top above a moving threshold, so whether a kernel's score-sized
  buffers come from the heap or from fresh, zero-filled pages depends on what the process
  allocated before: the same call took 1.9 or 3.6 ms in two processes. The gate's workers pin the
  thresholds through the environment (read when a process starts); a sweep is already running when
  the plugin loads, so it calls ``mallopt``, which also turns the moving threshold off. Sweeps' A/A
  runs on a heavily loaded machine did not show it helping (docs/reproducibility.md), so it is opt-in.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

from .load import available_cpus

# mallopt parameters from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 << 20  # blocks below this come from the heap (glibc's largest dynamic value is 32 MiB)
TRIM_THRESHOLD_BYTES = (1 << 31) - 1  # mallopt takes an int: never give the heap top back while measuring
ALLOCATOR_ENV = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")


def parse_threads(text: str | None) -> int | None:
    """``--attn-threads``: a positive integer, or ``all`` / unset (every CPU this process may use)."""
    if text is None or text.strip().lower() in ("", "all"):
        return None
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"--attn-threads: {text!r} is not a thread count (expected a positive integer or 'all')") from None
    if value <= 0:
        raise ValueError(f"--attn-threads: {value} must be a positive integer (or 'all')")
    return value


def pin_allocator() -> str:
    """Pin glibc's mmap and trim thresholds; returns what was done, for the record."""
    if any(name in os.environ for name in ALLOCATOR_ENV):
        return "environment (" + ", ".join(f"{n}={os.environ[n]}" for n in ALLOCATOR_ENV if n in os.environ) + ")"
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return "not pinned (no glibc mallopt)"
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) != 1:
        return "not pinned (mallopt refused)"
    return f"mallopt mmap_threshold={MMAP_THRESHOLD_BYTES} trim_threshold={TRIM_THRESHOLD_BYTES}"


def apply_process_state(threads: int | None, allocator: bool = True) -> dict:
    """Fix torch's intra-op threads (None: every available CPU) and pin the allocator; returns the record."""
    import torch

    wanted = threads or available_cpus()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return {"threads": torch.get_num_threads(), "threads_requested": threads or "all",
            "cpus_available": available_cpus(), "allocator": pin_allocator() if allocator else "glibc defaults"}
