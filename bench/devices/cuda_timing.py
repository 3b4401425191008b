"""CUDA-event timing of one callable: L2 flushed before every call, a time-based warm-up, CUDA-graph replay.

pytest-benchmark times synchronized calls with the host clock, so its numbers include launch and
synchronization latency and run with a warm L2. Events recorded on the device's stream around
each call time the GPU work alone. A flush kernel (a write over a buffer at least twice the L2)
runs just before each call, as in ``triton.testing.do_bench``: the call starts cold, and the GPU
is still busy flushing while the host launches, so launch latency is hidden. Graph replay removes
launch overhead altogether, which matters for short kernels.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch

MiB = 1 << 20
# When the L2 size is unknown, flush this much: more than twice the L2 of every current GPU.
FLUSH_BYTES_UNKNOWN_L2 = 256 * MiB
FLUSH_MIN_BYTES = 64 * MiB


def l2_cache_bytes(device: str) -> int | None:
    size = getattr(torch.cuda.get_device_properties(torch.device(device)), "L2_cache_size", None)
    return int(size) if size else None


def flush_bytes_for(l2_bytes: int | None) -> int:
    """At least twice the L2, so nothing a call reads can still be cached from the call before."""
    return FLUSH_BYTES_UNKNOWN_L2 if not l2_bytes else max(2 * l2_bytes, FLUSH_MIN_BYTES)


class L2Flusher:
    """A buffer larger than the L2; ``flush()`` overwrites it, evicting whatever the L2 held."""

    def __init__(self, device: str, nbytes: int) -> None:
        self.nbytes = nbytes
        self.buffer = torch.empty(nbytes, dtype=torch.uint8, device=device)

    def __call__(self) -> None:
        self.buffer.zero_()


@dataclass
class EventTimes:
    times_s: list[float]  # one per timed call, GPU time between the events around it
    warmup_ms: float  # host time spent in warm-up calls before the first timed call
    warmup_calls: int

    @property
    def median_s(self) -> float:
        ordered = sorted(self.times_s)
        middle = len(ordered) // 2
        return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def time_with_events(call: Callable[[], object], device: str, rounds: int, flush: Callable[[], None] | None = None,
                     warmup_ms: float = 25.0, clock: Callable[[], float] = time.perf_counter,
                     between_rounds: Callable[[int], None] | None = None) -> EventTimes:
    """Time ``rounds`` calls with CUDA events on ``device``'s current stream; ``call`` must not synchronize.

    Warm-up repeats flush + call (synchronized) until ``warmup_ms`` of host time has passed, at
    least once. ``between_rounds(i)`` runs on the host after round i is enqueued (clock sampling
    while the GPU is busy).
    """
    if rounds < 1:
        raise ValueError(f"rounds={rounds} must be at least 1")
    stream = torch.cuda.current_stream(device)
    start, calls = clock(), 0
    while calls == 0 or (clock() - start) * 1e3 < warmup_ms:
        if flush is not None:
            flush()
        call()
        torch.cuda.synchronize(device)
        calls += 1
    warmup_spent_ms = (clock() - start) * 1e3
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(rounds)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(rounds)]
    for i in range(rounds):
        if flush is not None:
            flush()
        starts[i].record(stream)
        call()
        ends[i].record(stream)
        if between_rounds is not None:
            between_rounds(i)
    torch.cuda.synchronize(device)
    times = [s.elapsed_time(e) / 1e3 for s, e in zip(starts, ends)]  # elapsed_time is in milliseconds
    return EventTimes(times, warmup_spent_ms, calls)


def capture_graph(call: Callable[[], object], device: str, warmup_calls: int = 3) -> Callable[[], None]:
    """Capture ``call`` into a CUDA graph and return its replay.

    The warm-up runs on a side stream, as capture requires (autograd and cuBLAS set up their
    workspaces there); the captured call's tensors live in the graph's private memory pool until
    the returned replay is dropped.
    """
    with torch.cuda.device(torch.device(device)):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup_calls):
                call()
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            call()
        torch.cuda.synchronize()
    return graph.replay


def rounds_for(median_s: float, target_seconds: float, minimum: int = 10, maximum: int = 200) -> int:
    """How many event-timed calls fit in ``target_seconds`` (within [minimum, maximum])."""
    if not median_s or median_s <= 0:
        return minimum
    return int(min(maximum, max(minimum, target_seconds / median_s)))
