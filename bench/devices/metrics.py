"""The device plugin's post-timing hook: measured-peak fractions for every cell, CUDA-event timing on GPUs.

Every cell gets ``device_peak_bandwidth`` (a measured copy) and ``bandwidth_fraction``. A CUDA
cell also gets ``record['cuda']``: event times with the L2 flushed before each call, the warm-up
spent, SM clocks sampled before, during and after, whether it ran throttled, the event median's
agreement with pytest-benchmark's median, and with ``--attn-cuda-graphs`` graph-replay times.
A failure here is recorded under ``cuda.error`` and never fails a cell that measured fine.
"""

from __future__ import annotations

import torch

from .cuda_timing import L2Flusher, capture_graph, flush_bytes_for, l2_cache_bytes, rounds_for, time_with_events
from .gpu_clocks import ClockReader, throttled
from .peaks import DevicePeaks

# Graph replay is for short kernels: past this, launch overhead is noise and a capture only
# costs a second set of buffers.
GRAPH_MAX_SECONDS = 0.01
# Event-timed calls are sized to take about this long (flushes excluded), within rounds_for's limits.
EVENT_TARGET_SECONDS = 0.3


def _one_line(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


class DeviceMetrics:
    """One per session; caches flush buffers and NVML readers per device."""

    def __init__(self, session, peaks: DevicePeaks, cuda_graphs: bool = False, l2_flush: bool = True,
                 warmup_ms: float = 25.0) -> None:
        self.session = session
        self.peaks = peaks
        self.cuda_graphs = cuda_graphs
        self.l2_flush = l2_flush
        self.warmup_ms = warmup_ms
        self._flushers: dict[str, L2Flusher] = {}
        self._clocks: dict[str, ClockReader] = {}

    def __call__(self, run) -> dict:
        problem, record = run.cell.problem, run.record
        result: dict = {}
        try:
            bandwidth = self.peaks.bandwidth(problem.device)
            result["device_peak_bandwidth"] = bandwidth
            if record.get("bytes_per_s"):
                result["bandwidth_fraction"] = record["bytes_per_s"] / bandwidth
        except Exception as exc:  # noqa: BLE001 - a missing peak must not fail a measured cell
            result["device_peak_bandwidth_error"] = _one_line(exc)
        if torch.device(problem.device).type == "cuda":
            try:
                result["cuda"] = self.cuda_metrics(run)
            except Exception as exc:  # noqa: BLE001
                result["cuda"] = {"error": _one_line(exc)}
        return result

    # --- CUDA ---------------------------------------------------------------------------------------
    def flusher(self, device: str) -> L2Flusher:
        if device not in self._flushers:
            self._flushers[device] = L2Flusher(device, flush_bytes_for(l2_cache_bytes(device)))
        return self._flushers[device]

    def clocks(self, device: str) -> ClockReader:
        if device not in self._clocks:
            self._clocks[device] = ClockReader(device)
        return self._clocks[device]

    def cuda_metrics(self, run) -> dict:
        problem, record = run.cell.problem, run.record
        device = problem.device
        call = getattr(run, "unsynchronized_call", None)
        cuda: dict = {}
        if call is None:  # a run without one: its call synchronizes, so the end event waits for the host
            call = run.call
            cuda["note"] = "the timed call synchronizes: event times include the host's synchronization latency"
        bench_median = (record.get("time") or {}).get("median")
        rounds = rounds_for(bench_median, EVENT_TARGET_SECONDS)
        flush = self.flusher(device) if self.l2_flush else None
        reader = self.clocks(device)
        samples = {}

        def sample_while_busy(i: int) -> None:
            if i in (rounds // 2, rounds - 1):
                samples.setdefault("during", []).append(reader.sample())

        samples["before"] = reader.sample()
        events = time_with_events(call, device, rounds, flush, self.warmup_ms, between_rounds=sample_while_busy)
        samples["after"] = reader.sample()
        median = events.median_s
        cuda.update(event_median_s=median, event_times_s=events.times_s, event_rounds=rounds,
                    l2_flush_bytes=flush.nbytes if flush else 0, warmup_ms=events.warmup_ms, warmup_calls=events.warmup_calls,
                    agreement=median / bench_median if bench_median else None)
        flops = record.get("flops")
        if flops and median:
            cuda["event_flops_per_s"] = flops / median
        cuda["device_peak_flops_bf16"] = self.session.peak_flops(device, torch.bfloat16)
        cuda.update(self._clock_fields(reader, samples))
        if self.cuda_graphs and run.cell.problem.needs_grad:
            # Capturing autograd's backward registers the CUDA generator with the graph; the next cell's
            # fused backward then fails with "Offset increment outside graph capture" (seen on an H200).
            cuda["graph_note"] = "not captured: graphs are replayed for forward cells only"
        elif self.cuda_graphs:
            cuda.update(self._graph_fields(call, device, rounds, flush, median))
        return cuda

    @staticmethod
    def _clock_fields(reader: ClockReader, samples: dict) -> dict:
        if reader.unavailable:
            return {"clock_note": reader.unavailable, "throttled": None}
        during = [s for s in samples.get("during", []) if s is not None]
        every = [s for s in (samples["before"], *during, samples["after"]) if s is not None]
        mhz = lambda s: s.sm_clock_mhz if s is not None else None  # noqa: E731
        busy = [s.sm_clock_mhz for s in every if not s.idle]
        return {"sm_clock_mhz": min(busy) if busy else None,  # the lowest clock seen while busy: what throttling is judged by
                "sm_clock_mhz_before": mhz(samples["before"]), "sm_clock_mhz_during": [s.sm_clock_mhz for s in during],
                "sm_clock_mhz_after": mhz(samples["after"]), "max_sm_clock_mhz": reader.max_sm_clock_mhz,
                "clock_reasons": sorted({r for s in every for r in s.reasons}),
                "throttled": throttled(every, reader.max_sm_clock_mhz)}

    def _graph_fields(self, call, device: str, rounds: int, flush, event_median: float) -> dict:
        if event_median > GRAPH_MAX_SECONDS:
            return {"graph_note": f"not captured: event median {event_median * 1e3:.3g} ms exceeds "
                                  f"{GRAPH_MAX_SECONDS * 1e3:g} ms (graphs only matter for short kernels)"}
        try:
            replay = capture_graph(call, device)
            events = time_with_events(replay, device, rounds, flush, warmup_ms=0.0)
            del replay  # frees the graph's memory pool before the next cell
        except Exception as exc:  # noqa: BLE001 - many kernels cannot be captured; that is a finding, not a failure
            try:
                torch.cuda.synchronize(device)
            except Exception:  # noqa: BLE001
                pass
            return {"graph_error": _one_line(exc)}
        return {"graph_median_s": events.median_s, "graph_times_s": events.times_s}
