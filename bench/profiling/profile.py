"""Profile one cell after its timed rounds: a torch.profiler trace per cell, its top operators,
kernel count and memory peak, a memory timeline and, on CUDA, an allocator snapshot.

Nothing here runs inside pytest-benchmark's timed rounds: the hook gets the cell's timed callable
after its statistics are taken (bench/run_cell.py, post-timing hooks) and calls it again under
the profiler. Traces are written with ``tensorboard_trace_handler`` into one directory per cell,
``<results>/traces/<run_id>/<suite>/<cell-id>/<worker>.<timestamp>.pt.trace.json``, so that
``tensorboard --logdir <results>/traces/<run_id>`` (torch-tb-profiler) lists every cell as a run,
and Perfetto opens the same files. Paths in the record are relative to the results directory.
"""

from __future__ import annotations

import json
import re
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.autograd import DeviceType
from torch.profiler import ProfilerActivity, profile, schedule, supported_activities, tensorboard_trace_handler

from ..cell import CellRun
from ..memory import peak_of_memory_events
from ..timing import synchronize

TRACE_SUFFIX = ".pt.trace.json"  # what tensorboard_trace_handler writes and torch-tb-profiler looks for
MEMORY_TIMELINE_HTML = "memory_timeline.html"
MEMORY_TIMELINE_JSON = "memory_timeline.json"
MEMORY_EVENTS_JSON = "memory_events.json"  # fallback when export_memory_timeline fails
MEMORY_SNAPSHOT = "memory_snapshot.pickle"
TOP_OPS = 10
SNAPSHOT_MAX_ENTRIES = 100_000


@dataclass(frozen=True)
class ProfileSchedule:
    """torch.profiler's step schedule: skip ``wait`` calls, warm the profiler up for ``warmup``, record ``active``."""

    wait: int = 1
    warmup: int = 1
    active: int = 3

    @classmethod
    def parse(cls, text: str) -> ProfileSchedule:
        """``"3"`` (active steps, default wait and warm-up) or ``"wait,warmup,active"`` such as ``"1,1,3"``."""
        parts = [p.strip() for p in str(text).split(",")]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            numbers = []
        if len(numbers) not in (1, 3) or any(n < 0 for n in numbers) or numbers[-1] < 1:
            raise ValueError(f"--attn-profile-steps: {text!r} is not valid (expected ACTIVE or WAIT,WARMUP,ACTIVE with "
                             "non-negative integers and ACTIVE >= 1, e.g. 3 or 1,1,3)")
        return cls(active=numbers[0]) if len(numbers) == 1 else cls(*numbers)

    @property
    def calls(self) -> int:
        return self.wait + self.warmup + self.active


@dataclass(frozen=True)
class ProfileOptions:
    results_dir: Path  # record paths are relative to it
    run_id: str
    trace: bool = True  # --attn-profile
    memory_snapshot: bool = False  # --attn-memory-snapshot
    steps: ProfileSchedule = ProfileSchedule()
    top: int = TOP_OPS

    @property
    def trace_root(self) -> Path:
        return self.results_dir / "traces" / self.run_id


def safe_name(text: str) -> str:
    """A file-name-safe form of a suite or cell id (brackets, slashes, spaces become '_')."""
    return re.sub(r"[^A-Za-z0-9._=+-]+", "_", text).strip("_") or "cell"


def cell_trace_dir(options: ProfileOptions, run: CellRun) -> Path:
    # The suite is a level of its own: two suites can sweep the same cell id in one run.
    return options.trace_root / safe_name(run.cell.suite) / safe_name(run.cell.id)


class ProfilingHook:
    """A post-timing hook (see bench/hookspecs.py, pytest_attn_post_timing): ``hook(run) -> {"profile": {...}}``."""

    def __init__(self, options: ProfileOptions) -> None:
        self.options = options

    def __call__(self, run: CellRun) -> dict:
        return {"profile": profile_cell(run, self.options)}


def profile_cell(run: CellRun, options: ProfileOptions) -> dict:
    """Profile ``run.call`` and write its artifacts; a profiler failure is recorded here, never fails the cell."""
    device = run.cell.problem.device
    out_dir = cell_trace_dir(options, run)
    out_dir.mkdir(parents=True, exist_ok=True)
    result: dict = {"status": "ok", "trace_dir": _relative(out_dir, options.results_dir)}
    start = time.perf_counter()
    if options.trace:
        try:
            result.update(_trace(run.call, device, options, out_dir))
        except Exception as exc:  # noqa: BLE001 - the timing is already taken; keep it and say why there is no trace
            result.update(status="failed", reason=f"profiler trace failed: {type(exc).__name__}: {_one_line(exc)}")
        result.update(_memory_timeline(run.call, device, options, out_dir))
    if options.memory_snapshot:
        result.update(_memory_snapshot(run.call, device, options, out_dir))
    result["profile_seconds"] = time.perf_counter() - start
    return result


# --- the trace -------------------------------------------------------------------------------------------
def activities_for(device: str) -> list[ProfilerActivity]:
    wanted = [ProfilerActivity.CPU]
    if torch.device(device).type == "cuda":
        wanted.append(ProfilerActivity.CUDA)
    available = supported_activities()
    return [a for a in wanted if a in available]


def _trace(call: Callable[[], object], device: str, options: ProfileOptions, out_dir: Path) -> dict:
    steps = options.steps
    activities = activities_for(device)
    before = set(out_dir.glob(f"*{TRACE_SUFFIX}"))
    # No with_stack here: Python frames would swamp the operator table and slow every call down;
    # the separate memory-timeline pass turns it on because export_memory_timeline needs it.
    with profile(activities=activities, schedule=schedule(wait=steps.wait, warmup=steps.warmup, active=steps.active, repeat=1),
                 on_trace_ready=tensorboard_trace_handler(str(out_dir)), record_shapes=True, profile_memory=True) as prof:
        for _ in range(steps.calls):
            result = call()
            del result
            synchronize(device)
            prof.step()
    trace_files = sorted(set(out_dir.glob(f"*{TRACE_SUFFIX}")) - before)
    if not trace_files:
        raise RuntimeError(f"tensorboard_trace_handler wrote no *{TRACE_SUFFIX} file into {out_dir}")
    return {
        "trace_files": [p.name for p in trace_files],
        "steps": {"wait": steps.wait, "warmup": steps.warmup, "active": steps.active},
        "activities": [a.name.lower() for a in activities],
        **top_ops(prof, options.top, has_device=ProfilerActivity.CUDA in activities),
        "kernels": count_kernels(trace_files[-1]),
        "profiler_peak_bytes": profiler_peak_bytes(prof, device),
    }


def top_ops(prof, top: int, has_device: bool) -> dict:
    """Operators (not kernels, not the ProfilerStep markers) of the active steps, by self time.

    With a device the list is ordered by self device time (the work), else by self CPU time.
    """
    ops = []
    for avg in prof.key_averages():
        if avg.device_type != DeviceType.CPU or avg.key.startswith("ProfilerStep"):
            continue  # device rows are kernels (counted separately); ProfilerStep#N only brackets a step
        ops.append({"name": avg.key, "self_cpu_us": float(avg.self_cpu_time_total),
                    "self_device_us": float(getattr(avg, "self_device_time_total", 0.0) or 0.0), "calls": int(avg.count)})
    sort_by = "self_device_us" if has_device else "self_cpu_us"
    ops.sort(key=lambda op: (op[sort_by], op["self_cpu_us"]), reverse=True)
    return {"top_ops": ops[:top], "top_ops_sort": sort_by, "ops_total": len(ops),
            "self_cpu_us_total": sum(op["self_cpu_us"] for op in ops),
            "self_device_us_total": sum(op["self_device_us"] for op in ops)}


def count_kernels(trace_file: Path) -> int:
    """Device kernels in the written trace (Chrome trace category ``kernel``; none on CPU)."""
    events = json.loads(trace_file.read_text()).get("traceEvents", [])
    return sum(1 for e in events if e.get("cat") == "kernel")


def profiler_peak_bytes(prof, device: str) -> int:
    """Highest net bytes allocated on the cell's device during the active steps, from the profiler's memory events."""
    dev = torch.device(device)
    kind = DeviceType.CUDA if dev.type == "cuda" else DeviceType.CPU
    return peak_of_memory_events(e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"
                                 and e.device_type() == kind
                                 and (kind == DeviceType.CPU or dev.index is None or e.device_index() == dev.index))


# --- memory timeline (one extra call) ---------------------------------------------------------------------
def _memory_timeline(call: Callable[[], object], device: str, options: ProfileOptions, out_dir: Path) -> dict:
    try:
        with profile(activities=activities_for(device), record_shapes=True, profile_memory=True, with_stack=True) as prof:
            result = call()
            del result
            synchronize(device)
    except Exception as exc:  # noqa: BLE001
        return {"memory_timeline": None, "memory_timeline_reason": f"profiler failed: {type(exc).__name__}: {_one_line(exc)}"}
    target = "cpu" if torch.device(device).type == "cpu" else str(torch.device(device))
    if target == "cuda":
        target = "cuda:0"
    html, data = out_dir / MEMORY_TIMELINE_HTML, out_dir / MEMORY_TIMELINE_JSON
    try:
        with warnings.catch_warnings():
            # Deprecated in favour of the CUDA allocator snapshot, which has no CPU counterpart; still the CPU's only timeline.
            warnings.simplefilter("ignore", FutureWarning)
            prof.export_memory_timeline(str(data), device=target)
            prof.export_memory_timeline(str(html), device=target)
        return {"memory_timeline": _relative(html, options.results_dir),
                "memory_timeline_data": _relative(data, options.results_dir)}
    except Exception as exc:  # noqa: BLE001 - keep the raw memory events, which need no analysis
        events = out_dir / MEMORY_EVENTS_JSON
        raw = [{"ts_ns": e.start_ns(), "bytes": e.nbytes(), "device": str(e.device_type()), "index": e.device_index()}
               for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
        events.write_text(json.dumps(raw))
        return {"memory_timeline": None, "memory_events": _relative(events, options.results_dir),
                "memory_timeline_reason": f"export_memory_timeline(device={target!r}) failed: {type(exc).__name__}: "
                                          f"{_one_line(exc)}; saved the profiler's raw memory events instead"}


# --- CUDA allocator snapshot (one extra call) -------------------------------------------------------------
def _memory_snapshot(call: Callable[[], object], device: str, options: ProfileOptions, out_dir: Path) -> dict:
    dev = torch.device(device)
    if dev.type != "cuda":
        return {"memory_snapshot": None, "memory_snapshot_reason_code": "not-cuda",
                "memory_snapshot_reason": f"--attn-memory-snapshot records the CUDA caching allocator; this cell runs on "
                                          f"{device} (its CPU memory timeline is {MEMORY_TIMELINE_HTML} when --attn-profile is on)"}
    path = out_dir / MEMORY_SNAPSHOT
    try:
        torch.cuda.memory._record_memory_history(max_entries=SNAPSHOT_MAX_ENTRIES, device=dev)
        try:
            result = call()
            del result
            synchronize(device)
            torch.cuda.memory._dump_snapshot(str(path))
        finally:
            torch.cuda.memory._record_memory_history(enabled=None, device=dev)
    except Exception as exc:  # noqa: BLE001
        return {"memory_snapshot": None, "memory_snapshot_reason_code": "snapshot-failed",
                "memory_snapshot_reason": f"{type(exc).__name__}: {_one_line(exc)}"}
    return {"memory_snapshot": _relative(path, options.results_dir)}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.as_posix()


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] if text else type(exc).__name__
