"""The host-timed matmul peak: the denominator of a cell's 'fraction of peak' when no device plugin gives one."""

from __future__ import annotations

import math
import time

import torch

from .timing import synchronize


def measure_matmul_peak(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul on this device and dtype."""
    # Large enough to reach the BLAS's steady state (a 1024² fp32 matmul under-reports a 2-core CPU).
    n = 8192 if torch.device(device).type == "cuda" else 2048
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    for _ in range(2):
        torch.matmul(a, b)
    synchronize(device)
    best = math.inf
    for _ in range(5):
        start = time.perf_counter()
        torch.matmul(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return 2.0 * n ** 3 / best
