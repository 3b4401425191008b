"""pytest plugin: device options, CUDA-event timing and measured peaks for every cell, one device owner per xdist worker.

Registered by ``bench.plugin``. What it adds to a sweep:

- ``--attn-cuda-graphs``, ``--attn-no-l2-flush``, ``--attn-cuda-warmup-ms``: how CUDA cells are
  timed with events after pytest-benchmark's rounds (see bench/devices/cuda_timing.py).
- a post-timing hook (bench/devices/metrics.py) that records ``cuda{...}``,
  ``device_peak_bandwidth`` and ``bandwidth_fraction``, and an event-timed matmul peak on CUDA.
- pytest-xdist: ``pytest --benchmark-only -n 8`` runs with ``--dist each``; each worker owns the
  devices bench/devices/xdist.py deals it (gwK → the K-th GPU) and collects only their cells, so
  no GPU is shared. pytest-benchmark switches itself off under xdist (it assumes workers share a
  machine's cores); a worker that owns its device has the machine to itself for that device, so
  the plugin switches it back on there and saves its JSON beside the records, one file per worker.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from ..options import add_option
from ..stash import SESSION_KEY, XDIST_SWEEP, in_this_project
from .xdist import assign_devices, default_devices


def pytest_addoption(parser):
    group = parser.getgroup("attnbench")
    add_option(group, "--attn-cuda-graphs", action="store_true",
               help="also time CUDA-graph replay of CUDA cells shorter than 10 ms (no launch overhead)")
    add_option(group, "--attn-no-l2-flush", action="store_true",
               help="do not flush the L2 cache before each CUDA-event-timed call (warm-cache event times)")
    add_option(group, "--attn-cuda-warmup-ms", type=float, default=25.0,
               help="warm-up before the CUDA-event-timed calls, in milliseconds (default 25, as triton's do_bench)")


class DeviceHooks:
    """Registered per sweep session: the event-timed matmul peak on CUDA and the device metrics of every cell."""

    def __init__(self, metrics) -> None:
        self.metrics = metrics

    def pytest_attn_matmul_peak(self, device, dtype):
        from .peaks import matmul_peak

        return matmul_peak(device, dtype) if str(device).startswith("cuda") else None

    def pytest_attn_post_timing(self, run):
        return self.metrics(run)


# --- pytest-xdist ----------------------------------------------------------------------------------------
_ASKED_DISABLE = pytest.StashKey[bool]()
_COLLECTED = pytest.StashKey[dict]()


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _is_controller(config) -> bool:
    if _is_worker(config):
        return False
    return bool(config.getoption("numprocesses", None)) or (
        config.getoption("dist", "no") != "no" and bool(config.getoption("tx", None)))


def _sweep_under_xdist(config) -> bool:
    return config.stash.get(XDIST_SWEEP, False)


def _explicit_dist(config) -> str | None:
    args = list(config.invocation_params.args)
    for i, arg in enumerate(args):
        if arg.startswith("--dist="):
            return arg.split("=", 1)[1]
        if arg == "--dist" and i + 1 < len(args):
            return args[i + 1]
        if arg in ("-d", "--distload"):
            return "load"
    return None


def _gpu_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def device_assignment(session, workers: int) -> dict[str, list[str]]:
    return assign_devices(session.devices or default_devices(_gpu_count()), workers)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Before pytest-benchmark and xdist configure themselves: --dist each, and --benchmark-only held back."""
    under_xdist = (config.getoption("benchmark_only", False) and in_this_project(config)
                   and (_is_worker(config) or _is_controller(config)))
    config.stash[XDIST_SWEEP] = under_xdist
    if not under_xdist:
        return None
    if _is_controller(config):
        chosen = _explicit_dist(config)
        if chosen not in (None, "each"):
            raise pytest.UsageError(f"--dist {chosen}: a sweep under pytest-xdist runs with --dist each "
                                    "(each worker sweeps the devices it owns); omit --dist or pass --dist each")
        config.option.dist = "each"
    # pytest-benchmark refuses --benchmark-only under xdist and warns that it disables itself: it is
    # created disabled, quietly, and put back as asked at session start.
    config.stash[_ASKED_DISABLE] = config.option.benchmark_disable
    config.option.benchmark_only, config.option.benchmark_disable = False, True
    return None


def pytest_attn_session_created(session, config):
    import torch

    from .metrics import DeviceMetrics
    from .peaks import DevicePeaks

    if _sweep_under_xdist(config) and _is_worker(config):
        worker = config.workerinput["workerid"]
        session.device_assignment = device_assignment(session, int(config.workerinput["workercount"]))
        session.devices = session.device_assignment[worker]
        gpus = [d for d in session.devices if d.startswith("cuda")]
        if gpus:  # stray allocations (a default-device tensor, the caching allocator) stay on this worker's GPU
            torch.cuda.set_device(torch.device(gpus[0]))
            session.auto_device = gpus[0]
    metrics = DeviceMetrics(session, DevicePeaks(), cuda_graphs=config.getoption("attn_cuda_graphs"),
                            l2_flush=not config.getoption("attn_no_l2_flush"), warmup_ms=config.getoption("attn_cuda_warmup_ms"))
    config.pluginmanager.register(DeviceHooks(metrics), "attnbench-device-metrics")


def pytest_sessionstart(session):
    config = session.config
    if not _sweep_under_xdist(config):
        return
    config.option.benchmark_only, config.option.benchmark_disable = True, config.stash[_ASKED_DISABLE]
    benchmarks = getattr(config, "_benchmarksession", None)
    if benchmarks is not None:
        benchmarks.only = True
        if _is_worker(config):
            # This worker has its devices to itself, so its timings are as good as a lone process's.
            benchmarks.disabled = bool(config.stash[_ASKED_DISABLE])
            benchmarks.save = benchmarks.autosave = False  # numbered storage files would race; see sessionfinish


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_node_collection_finished(node, ids):
    node.config.stash.setdefault(_COLLECTED, {})[node.workerinput["workerid"]] = len(ids)


@pytest.hookimpl(wrapper=True)
def pytest_runtestloop(session):
    result = yield
    collected = session.config.stash.get(_COLLECTED, None)
    if collected and _sweep_under_xdist(session.config):
        # xdist reports the last worker's count as the session's; under --dist each a worker that owns
        # nothing would make that zero, and pytest would exit with "no tests collected".
        session.testscollected = sum(collected.values())
    return result


def pytest_report_header(config):
    session = config.stash.get(SESSION_KEY, None)
    if session is None or not _sweep_under_xdist(config) or not _is_controller(config):
        return None
    assignment = device_assignment(session, len(config.getoption("tx")))
    owned = ", ".join(f"{worker} → {' + '.join(devices) or 'nothing'}" for worker, devices in assignment.items())
    return f"attnbench devices per xdist worker (--dist each): {owned}"


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    config = session.config
    benchmarks = getattr(config, "_benchmarksession", None)
    attn = config.stash.get(SESSION_KEY, None)
    if _is_worker(config) and _sweep_under_xdist(config) and benchmarks is not None and attn is not None \
            and benchmarks.benchmarks and not benchmarks.json:
        # One pytest-benchmark JSON per worker, beside the run's records (pytest-benchmark saves on finish).
        attn.writer.run_dir.mkdir(parents=True, exist_ok=True)
        target = attn.writer.run_dir / f"pytest-benchmark-{config.workerinput['workerid']}.json"
        benchmarks.json = target  # a path since pytest-benchmark 5.3 (5.3.1 is the oldest release accepted)
        result = yield
        _check_saved_json(target)
        return result
    return (yield)


def _check_saved_json(path: Path) -> None:
    """A worker's benchmark JSON that is empty or unreadable is said at once, not found later."""
    try:
        json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"attnbench: {path} was not written correctly by pytest-benchmark ({type(exc).__name__}: {exc})\n")
