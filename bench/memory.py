"""Peak memory of one call, three ways: CUDA's allocator, the CPU profiler's memory events, the CPU RSS high-water mark."""

from __future__ import annotations

from collections.abc import Callable

import torch

from .timing import synchronize


def measure_peak_bytes(call: Callable[[], object], device: str) -> tuple[int | None, str]:
    """Extra bytes held at the peak of one call, above what was allocated before it, and the method."""
    if torch.device(device).type == "cuda":
        return cuda_peak(call, device), "cuda-max-memory-allocated"
    try:
        return profiler_peak(call), "cpu-profiler-memory-events"
    except Exception:  # the profiler can be unavailable or busy (e.g. nested); fall back to RSS
        return rss_peak(call), "cpu-rss-high-water-mark"


def cuda_peak(call: Callable[[], object], device: str) -> int:
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    base = torch.cuda.memory_allocated(device)
    call()
    synchronize(device)
    return torch.cuda.max_memory_allocated(device) - base


def profiler_peak(call: Callable[[], object]) -> int:
    """Highest net bytes allocated during the call, from the profiler's memory events (exact for tensors)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = call()
        del result
    return peak_of_memory_events(e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")


def peak_of_memory_events(events) -> int:
    """Highest running total of the profiler's memory events (allocations +, frees -), in time order."""
    current = peak = 0
    for event in sorted(events, key=lambda e: e.start_ns()):
        current += event.nbytes()
        peak = max(peak, current)
    return peak


def rss_peak(call: Callable[[], object]) -> int | None:
    """Growth of the resident set's high-water mark over the call (Linux; None elsewhere)."""
    def read(field_name: str) -> int:
        for line in open("/proc/self/status"):
            if line.startswith(field_name):
                return int(line.split()[1]) * 1024
        raise OSError(field_name)

    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # resets the high-water mark to the current RSS
        base = read("VmRSS:")
        result = call()
        del result
        return max(0, read("VmHWM:") - base)
    except OSError:
        return None
