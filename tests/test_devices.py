"""The device layer without a GPU: xdist ownership, CUDA-event timing, graph capture, NVML clocks and peaks.

CUDA calls are replaced by fakes driven by a fake clock, so the numbers are exact: a call that
advances the clock by 3 ms must be timed at 3 ms, whatever the flush before it costs.
"""

from __future__ import annotations

import contextlib
import math
import sys
import types

import pytest
import torch

from bench.cell import Cell, CellRun
from bench.devices import cuda_timing, gpu_clocks
from bench.devices import metrics as device_metrics
from bench.devices import peaks as device_peaks
from bench.devices.cuda_timing import EventTimes, L2Flusher, capture_graph, flush_bytes_for, rounds_for, time_with_events
from bench.devices.gpu_clocks import ClockReader, ClockSample, reason_names, throttled
from bench.devices.metrics import DeviceMetrics
from bench.devices.xdist import assign_devices, default_devices, worker_index
from impls import Problem

MiB = 1 << 20


# --- xdist ownership ----------------------------------------------------------------------------------------
def test_eight_gpus_and_the_cpu_on_eight_workers():
    devices = ["cpu"] + [f"cuda:{i}" for i in range(8)]
    assignment = assign_devices(devices, 8)
    assert assignment["gw0"] == ["cuda:0", "cpu"]
    assert all(assignment[f"gw{k}"] == [f"cuda:{k}"] for k in range(1, 8))


@pytest.mark.parametrize("workers", [1, 2, 3, 8, 12])
def test_every_device_has_exactly_one_owner(workers):
    devices = ["cpu"] + [f"cuda:{i}" for i in range(8)]
    assignment = assign_devices(devices, workers)
    owned = [d for ds in assignment.values() for d in ds]
    assert sorted(owned) == sorted(devices)
    assert set(assignment) == {f"gw{i}" for i in range(workers)}
    if workers >= 8:  # one GPU per worker at most
        assert all(sum(d.startswith("cuda") for d in ds) <= 1 for ds in assignment.values())


def test_worker_ids_and_defaults():
    assert worker_index("gw11") == 11
    with pytest.raises(ValueError, match="expected gw<N>"):
        worker_index("master")
    with pytest.raises(ValueError, match="at least 1"):
        assign_devices(["cpu"], 0)
    assert default_devices(0) == ["cpu"]
    assert default_devices(2) == ["cuda:0", "cuda:1"]


# --- a fake CUDA ----------------------------------------------------------------------------------------------
class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.log: list[str] = []

    def __call__(self) -> float:
        return self.now


class FakeCuda:
    """Enough of torch.cuda for the timing code: events read the fake clock; graphs count captures."""

    def __init__(self, clock: FakeClock):
        self.clock = clock
        self.graphs: list = []
        self.synchronized = 0
        fake = self

        class Event:
            def __init__(self, enable_timing=False):
                assert enable_timing
                self.at = None

            def record(self, stream=None):
                self.at = fake.clock.now
                fake.clock.log.append("event")

            def synchronize(self):
                pass

            def elapsed_time(self, end):
                return (end.at - self.at) * 1e3

        class Stream:
            def __init__(self, device=None):
                self.name = "side"

            def wait_stream(self, other):
                fake.clock.log.append("wait_stream")

        class CUDAGraph:
            def __init__(self):
                self.replays = 0
                fake.graphs.append(self)

            def replay(self):
                self.replays += 1
                fake.clock.now += 0.5e-3

        @contextlib.contextmanager
        def graph(g):
            fake.clock.log.append("capture-begin")
            yield
            fake.clock.log.append("capture-end")

        @contextlib.contextmanager
        def on_stream(stream):
            fake.clock.log.append(f"stream-{stream.name}")
            yield
            fake.clock.log.append("stream-default")

        @contextlib.contextmanager
        def device(d):
            yield

        def synchronize(device=None):
            fake.synchronized += 1

        self.attributes = {"Event": Event, "Stream": Stream, "CUDAGraph": CUDAGraph, "graph": graph,
                           "stream": on_stream, "device": device, "synchronize": synchronize,
                           "current_stream": lambda device=None: types.SimpleNamespace(name="default", wait_stream=Stream().wait_stream)}


@pytest.fixture
def fake_cuda(monkeypatch):
    clock = FakeClock()
    cuda = FakeCuda(clock)
    for name, value in cuda.attributes.items():
        monkeypatch.setattr(torch.cuda, name, value)
    return cuda


def kernel(clock: FakeClock, seconds: float, label: str = "call"):
    def call():
        clock.log.append(label)
        clock.now += seconds
    return call


# --- event timing -----------------------------------------------------------------------------------------------
def test_events_time_the_call_alone_with_a_flush_before_each(fake_cuda):
    clock = fake_cuda.clock
    flush = kernel(clock, 1e-3, "flush")
    result = time_with_events(kernel(clock, 3e-3), "cuda:0", rounds=5, flush=flush, warmup_ms=10.0, clock=clock)
    assert result.times_s == pytest.approx([3e-3] * 5)
    assert result.median_s == pytest.approx(3e-3)
    # warm-up: flush + call (4 ms each) until 10 ms have passed → 3 calls, 12 ms.
    assert result.warmup_calls == 3 and result.warmup_ms == pytest.approx(12.0)
    assert clock.log == ["flush", "call"] * 3 + ["flush", "event", "call", "event"] * 5


def test_events_without_flush_and_with_a_zero_warmup(fake_cuda):
    clock = fake_cuda.clock
    result = time_with_events(kernel(clock, 2e-3), "cuda:0", rounds=4, flush=None, warmup_ms=0.0, clock=clock)
    assert result.warmup_calls == 1  # at least one warm-up call
    assert "flush" not in clock.log and result.median_s == pytest.approx(2e-3)
    with pytest.raises(ValueError, match="rounds=0"):
        time_with_events(kernel(clock, 1e-3), "cuda:0", rounds=0, clock=clock)


def test_between_rounds_runs_after_each_enqueued_round(fake_cuda):
    clock = fake_cuda.clock
    seen = []
    time_with_events(kernel(clock, 1e-3), "cuda:0", rounds=3, warmup_ms=0.0, clock=clock, between_rounds=seen.append)
    assert seen == [0, 1, 2]


def test_median_of_even_and_odd_counts():
    assert EventTimes([3.0, 1.0, 2.0], 0.0, 1).median_s == 2.0
    assert EventTimes([4.0, 1.0, 2.0, 3.0], 0.0, 1).median_s == 2.5


def test_flush_buffer_is_at_least_twice_the_l2():
    assert flush_bytes_for(None) == 256 * MiB
    assert flush_bytes_for(50 * MiB) == 100 * MiB  # H100
    assert flush_bytes_for(2 * MiB) == 64 * MiB  # a floor for small caches
    flusher = L2Flusher("cpu", 1024)
    flusher.buffer.fill_(7)
    flusher()
    assert flusher.nbytes == 1024 and int(flusher.buffer.sum()) == 0


def test_rounds_fit_the_target():
    assert rounds_for(0.01, 0.3) == 30
    assert rounds_for(1e-6, 0.3) == 200 and rounds_for(1.0, 0.3) == 10
    assert rounds_for(None, 0.3) == 10


def test_graph_capture_warms_up_on_a_side_stream_then_captures_once(fake_cuda):
    clock = fake_cuda.clock
    replay = capture_graph(kernel(clock, 1e-3), "cuda:0", warmup_calls=3)
    log = clock.log
    assert log.count("call") == 4
    side, capture = log.index("stream-side"), log.index("capture-begin")
    assert log[side + 1:side + 4] == ["call"] * 3 and log[capture + 1] == "call" and log[capture + 2] == "capture-end"
    assert replay == fake_cuda.graphs[0].replay
    replay()
    assert fake_cuda.graphs[0].replays == 1


# --- NVML clocks ----------------------------------------------------------------------------------------------
def test_throttle_verdict():
    busy = lambda mhz, *reasons: ClockSample(mhz, list(reasons))  # noqa: E731
    assert throttled([], 1980) is None
    assert throttled([busy(345, "gpu_idle")], 1980) is None  # an idle GPU's low clock says nothing
    assert throttled([busy(1900), busy(1950, "sw_power_cap")], 1980) is False
    assert throttled([busy(1700)], 1980) is True  # below 90% of the maximum
    assert throttled([busy(1980, "hw_thermal_slowdown")], 1980) is True
    assert throttled([busy(1500)], None) is None
    assert reason_names(0x1 | 0x4 | 0x40) == ["gpu_idle", "sw_power_cap", "hw_thermal_slowdown"]


def fake_pynvml(samples: list[tuple[int, int]], fail_uuid: bool = False):
    """NVML whose successive samples are (SM clock in MHz, clock-event reason bits)."""
    module = types.ModuleType("pynvml")
    state = {"samples": list(samples), "reasons": 0, "uuid": None}

    def clock(handle, kind):
        mhz, state["reasons"] = state["samples"].pop(0)
        return mhz

    def by_uuid(uuid):
        if fail_uuid:
            raise RuntimeError("NVML_ERROR_NOT_FOUND")
        state["uuid"] = uuid
        return "handle-by-uuid"

    module.nvmlInit = lambda: None
    module.nvmlDeviceGetHandleByUUID = by_uuid
    module.nvmlDeviceGetHandleByIndex = lambda index: f"handle-{index}"
    module.nvmlDeviceGetMaxClockInfo = lambda handle, kind: 1980
    module.nvmlDeviceGetClockInfo = clock
    module.nvmlDeviceGetCurrentClocksThrottleReasons = lambda handle: state["reasons"]
    module.state = state
    return module


@pytest.fixture
def fake_properties(monkeypatch):
    properties = types.SimpleNamespace(uuid="58f4a2c1-0000-1111-2222-333344445555", L2_cache_size=50 * MiB,
                                       total_memory=80 << 30, name="Fake H100")
    monkeypatch.setattr(torch.cuda, "get_device_properties", lambda device=None: properties)
    return properties


def test_clock_reader_finds_the_gpu_by_uuid_and_samples(monkeypatch, fake_properties):
    module = fake_pynvml([(1755, 0x4)])
    monkeypatch.setitem(sys.modules, "pynvml", module)
    reader = ClockReader("cuda:1")
    assert reader.unavailable is None and reader.max_sm_clock_mhz == 1980
    assert module.state["uuid"] == "GPU-58f4a2c1-0000-1111-2222-333344445555"
    assert reader.sample() == ClockSample(1755, ["sw_power_cap"])
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([(1000, 0)], fail_uuid=True))
    assert ClockReader("cuda:1").handle == "handle-1"  # falls back to the index


def test_clock_reader_without_pynvml_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    reader = ClockReader("cuda:0")
    assert reader.sample() is None
    assert reader.unavailable.startswith("missing-package") and "nvidia-ml-py" in reader.unavailable


# --- peaks --------------------------------------------------------------------------------------------------------
def test_cpu_copy_bandwidth_and_matmul_peak_are_measured():
    bandwidth = device_peaks.copy_bandwidth("cpu", nbytes=4 * MiB)
    assert math.isfinite(bandwidth) and bandwidth > 0
    assert device_peaks.matmul_peak("cpu", torch.float32) > 0
    peaks = device_peaks.DevicePeaks()
    assert peaks.bandwidth("cpu") == peaks.bandwidth("cpu")  # measured once, then cached


def test_cuda_peaks_take_the_best_event_time(fake_cuda, fake_properties):
    clock = fake_cuda.clock
    durations = iter([5e-3] * 3 + [4e-3, 2e-3, 3e-3] + [9e-3] * 7)

    def call():
        clock.now += next(durations)

    assert device_peaks._best_event_seconds(call, "cuda:0") == pytest.approx(2e-3)
    assert device_peaks.copy_bytes_for("cuda:0") == 1 << 30
    fake_properties.total_memory = 4 << 30
    assert device_peaks.copy_bytes_for("cuda:0") == 512 << 20  # an eighth of a small GPU


# --- the post-timing hook -------------------------------------------------------------------------------------------
class FakeSession:
    def __init__(self):
        self.peaks_asked = []

    def peak_flops(self, device, dtype):
        self.peaks_asked.append((device, dtype))
        return 1e15


class FakePeaks:
    def bandwidth(self, device):
        return 2e12


def cell_run(device: str, clock: FakeClock | None = None, median: float = 4e-3) -> CellRun:
    from impls import get

    problem = Problem(batch=1, seq_len=64, heads=2, head_dim=16, device=device)
    record = {"time": {"median": median}, "flops": 8e9, "bytes_per_s": 5e11}
    call = kernel(clock, 2e-3) if clock else (lambda: None)
    return CellRun(Cell("core", problem, get("naive")), (None, None, None), call, None, record, unsynchronized_call=call)


def test_cpu_cells_get_bandwidth_fractions_and_no_cuda_block():
    metrics = DeviceMetrics(FakeSession(), FakePeaks())
    result = metrics(cell_run("cpu"))
    assert result == {"device_peak_bandwidth": 2e12, "bandwidth_fraction": 0.25}


@pytest.fixture
def cuda_metrics(monkeypatch, fake_cuda, fake_properties):
    """DeviceMetrics on a fake cuda:0 with a CPU flush buffer and a fake NVML: idle, then busy at 1700 MHz."""
    clock = fake_cuda.clock
    flushes = []

    class Flusher:
        def __init__(self, device, nbytes):
            self.nbytes = nbytes

        def __call__(self):
            flushes.append(clock.now)
            clock.now += 1e-3

    monkeypatch.setattr(device_metrics, "L2Flusher", Flusher)
    monkeypatch.setattr(device_metrics, "time_with_events", _with_clock(clock))
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([(345, 0x1), (1700, 0), (1700, 0x4), (1710, 0)]))
    session = FakeSession()
    return DeviceMetrics(session, FakePeaks(), warmup_ms=5.0), clock, flushes, session


def test_cuda_cells_record_event_times_clocks_and_agreement(cuda_metrics, monkeypatch):
    metrics, clock, flushes, session = cuda_metrics
    result = metrics(cell_run("cuda:0", clock, median=4e-3))
    cuda = result["cuda"]
    assert result["bandwidth_fraction"] == 0.25
    assert cuda["event_median_s"] == pytest.approx(2e-3) and cuda["agreement"] == pytest.approx(0.5)
    assert cuda["event_flops_per_s"] == pytest.approx(8e9 / 2e-3)
    assert cuda["l2_flush_bytes"] == 100 * MiB and len(flushes) == cuda["warmup_calls"] + cuda["event_rounds"]
    assert cuda["event_rounds"] == 75 and len(cuda["event_times_s"]) == 75  # 0.3 s / 4 ms
    assert cuda["warmup_ms"] == pytest.approx(6.0) and cuda["warmup_calls"] == 2
    # NVML: 345 MHz before (idle: ignored), 1700 twice while busy, 1710 after: below 90% of 1980.
    assert cuda["sm_clock_mhz_before"] == 345 and cuda["sm_clock_mhz_during"] == [1700, 1700]
    assert cuda["sm_clock_mhz_after"] == 1710 and cuda["max_sm_clock_mhz"] == 1980 and cuda["sm_clock_mhz"] == 1700
    assert cuda["throttled"] is True
    assert session.peaks_asked == [("cuda:0", torch.bfloat16)]
    assert "graph_median_s" not in cuda and "error" not in cuda


def _with_clock(clock):
    real = time_with_events

    def timed(*args, **kwargs):
        return real(*args, clock=clock, **kwargs)
    return timed


def test_idle_samples_alone_give_no_verdict(cuda_metrics, monkeypatch):
    metrics, clock, _, _ = cuda_metrics
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([(300, 0x1)] * 4))
    assert metrics(cell_run("cuda:0", clock))["cuda"]["throttled"] is None


def test_busy_clocks_near_the_maximum_are_not_throttling(cuda_metrics, monkeypatch):
    metrics, clock, _, _ = cuda_metrics
    monkeypatch.setitem(sys.modules, "pynvml", fake_pynvml([(1980, 0), (1850, 0x4), (1900, 0x4), (1980, 0)]))
    cuda = metrics(cell_run("cuda:0", clock))["cuda"]
    assert cuda["throttled"] is False and cuda["clock_reasons"] == ["sw_power_cap"]


def test_cuda_graph_replay_is_timed_and_a_failed_capture_is_a_finding(cuda_metrics, monkeypatch):
    metrics, clock, _, _ = cuda_metrics
    metrics.cuda_graphs = True
    cuda = metrics(cell_run("cuda:0", clock))["cuda"]
    assert cuda["graph_median_s"] == pytest.approx(0.5e-3)  # the fake graph's replay
    monkeypatch.setattr(device_metrics, "capture_graph", lambda call, device: (_ for _ in ()).throw(
        RuntimeError("operation not permitted when stream is capturing")))
    cuda = metrics(cell_run("cuda:0", clock))["cuda"]
    assert cuda["graph_error"].startswith("RuntimeError: operation not permitted")
    assert cuda["event_median_s"] == pytest.approx(2e-3)


def test_long_cells_are_not_captured(cuda_metrics, monkeypatch):
    metrics, clock, _, _ = cuda_metrics
    metrics.cuda_graphs = True
    run = cell_run("cuda:0", clock)
    run.unsynchronized_call = kernel(clock, 20e-3)
    assert "exceeds 10 ms" in metrics(run)["cuda"]["graph_note"]


def test_a_failing_event_measurement_is_recorded_not_raised(cuda_metrics, monkeypatch):
    metrics, _, _, _ = cuda_metrics

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA error: an illegal memory access was encountered")

    monkeypatch.setattr(device_metrics, "time_with_events", broken)
    result = metrics(cell_run("cuda:0"))
    assert result["cuda"] == {"error": "RuntimeError: CUDA error: an illegal memory access was encountered"}
    assert result["device_peak_bandwidth"] == 2e12


def test_without_nvml_the_cell_says_why(cuda_metrics, monkeypatch):
    metrics, clock, _, _ = cuda_metrics
    monkeypatch.setitem(sys.modules, "pynvml", None)
    cuda = metrics(cell_run("cuda:0", clock))["cuda"]
    assert cuda["throttled"] is None and cuda["clock_note"].startswith("missing-package")


def test_module_constants_describe_the_issue():
    # The flush buffer must be at least twice the L2 of the largest current GPU caches (H100/H200: 50 MiB).
    assert cuda_timing.FLUSH_BYTES_UNKNOWN_L2 >= 2 * 60 * MiB
    assert gpu_clocks.THROTTLE_CLOCK_FRACTION == 0.9
