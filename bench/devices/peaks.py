"""The device's measured peaks: matmul FLOP/s and device-to-device copy bandwidth, once per session.

Fractions of peak are against what this device measurably does, not its datasheet: a large
matmul (per dtype; bf16 is the tensor-core peak a report compares across GPUs) and a large copy
(bytes read plus bytes written per second, the same count as a cell's ``bytes_per_s``). On CUDA
both are timed with events, best of several calls; on the CPU with the host clock.
"""

from __future__ import annotations

import math
import time

import torch

from ..peaks import measure_matmul_peak as host_timed_matmul_peak

CUDA_MATMUL_SIZE = 8192
CUDA_COPY_BYTES = 1 << 30
CPU_COPY_BYTES = 64 << 20
REPEATS = 10


def _is_cuda(device: str) -> bool:
    return torch.device(device).type == "cuda"


def _best_event_seconds(fn, device: str, repeats: int = REPEATS, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize(device)
    stream = torch.cuda.current_stream(device)
    best = math.inf
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record(stream)
        fn()
        end.record(stream)
        end.synchronize()
        best = min(best, start.elapsed_time(end) / 1e3)
    return best


def _best_host_seconds(fn, repeats: int = 5, warmup: int = 1) -> float:
    for _ in range(warmup):
        fn()
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-9)


def matmul_peak(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul; CUDA: n=8192 timed with events, the CPU: bench.peaks' host-timed one."""
    if not _is_cuda(device):
        return host_timed_matmul_peak(device, dtype)
    n = CUDA_MATMUL_SIZE
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    out = torch.empty(n, n, device=device, dtype=dtype)
    seconds = _best_event_seconds(lambda: torch.matmul(a, b, out=out), device)
    return 2.0 * n ** 3 / seconds


def copy_bytes_for(device: str) -> int:
    if not _is_cuda(device):
        return CPU_COPY_BYTES
    total = torch.cuda.get_device_properties(torch.device(device)).total_memory
    return int(min(CUDA_COPY_BYTES, total // 8))


def copy_bandwidth(device: str, nbytes: int | None = None) -> float:
    """Bytes moved per second (read + written) by one large ``copy_`` within the device."""
    nbytes = nbytes or copy_bytes_for(device)
    src = torch.ones(nbytes, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    copy = lambda: dst.copy_(src)  # noqa: E731
    seconds = _best_event_seconds(copy, device) if _is_cuda(device) else _best_host_seconds(copy)
    return 2.0 * nbytes / seconds


class DevicePeaks:
    """Copy bandwidth measured once per device and reused by every cell of the session (the matmul
    peak is cached by the sweep session, which calls :func:`matmul_peak` through the device plugin)."""

    def __init__(self) -> None:
        self._bandwidth: dict = {}

    def bandwidth(self, device: str) -> float:
        if device not in self._bandwidth:
            self._bandwidth[device] = copy_bandwidth(device)
        return self._bandwidth[device]
