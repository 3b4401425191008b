"""Measure one cell: an implementation on a problem.

Order of work for a cell, each step outside the timed rounds unless said otherwise:
capability check → budget check → inputs → build (compilation, masks) → first call (warm-up,
timed separately) → error against the float64 oracle → peak memory (one extra call) → timed
rounds under pytest-benchmark (synchronized on CUDA) → post-timing hooks (profiling, CUDA
events) → one record, appended to the run's JSONL and attached to pytest-benchmark's extra_info.
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
import torch

from impls import Impl, Problem, errors, reference, reference_grads, tolerance

# Above this many score elements the forward oracle checks a spread of query rows, not all of them.
ORACLE_FULL_ELEMENTS = 1 << 27
ORACLE_SAMPLE_ROWS = 256
# Above this many score elements gradients are not checked against the oracle in a sweep (its
# float64 autograd would hold several score-sized buffers); the unit tests check them instead.
ORACLE_GRAD_ELEMENTS = 1 << 25


@dataclass(frozen=True)
class Cell:
    suite: str
    problem: Problem
    impl: Impl

    @property
    def id(self) -> str:
        return f"{self.impl.full_name}-{self.problem.id()}"


@dataclass
class CellRun:
    """What a post-timing hook or an extra-metrics function gets to look at."""

    cell: Cell
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    call: Callable[[], object]  # the timed callable (forward, or forward + backward)
    output: torch.Tensor
    record: dict = field(default_factory=dict)
    unsynchronized_call: Callable[[], object] | None = None  # the same work without the sync (CUDA events, graphs)


class CellOutcome(Exception):
    """Internal: ends a cell early with a status and a one-line reason."""

    def __init__(self, status: str, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def synchronize(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed_callable(problem: Problem, fn: Callable[[], torch.Tensor], q, k, v, grad_out,
                   synchronized: bool = True) -> Callable[[], object]:
    """The callable the timer sees: forward, or forward then gradients; synchronized on CUDA."""
    device = problem.device
    sync = synchronized and torch.device(device).type == "cuda"
    if problem.needs_grad:
        def call():
            grads = torch.autograd.grad(fn(), (q, k, v), grad_out)
            if sync:
                torch.cuda.synchronize(device)
            return grads
    else:
        def call():
            with torch.no_grad():
                out = fn()
            if sync:
                torch.cuda.synchronize(device)
            return out
    return call


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text.lower() or "can't allocate memory" in text or isinstance(exc, MemoryError))


# --- measurements ---------------------------------------------------------------------------------------
def measure_matmul_peak(device: str, dtype: torch.dtype) -> float:
    """FLOP/s of a large square matmul on this device and dtype: the denominator of 'fraction of peak'."""
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


def measure_peak_bytes(call: Callable[[], object], device: str) -> tuple[int | None, str]:
    """Extra bytes held at the peak of one call, above what was allocated before it, and the method."""
    if torch.device(device).type == "cuda":
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        call()
        synchronize(device)
        return torch.cuda.max_memory_allocated(device) - base, "cuda-max-memory-allocated"
    try:
        return _profiler_peak(call), "cpu-profiler-memory-events"
    except Exception:  # the profiler can be unavailable or busy (e.g. nested); fall back to RSS
        return _rss_peak(call), "cpu-rss-high-water-mark"


def _profiler_peak(call) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        result = call()
        del result
    events = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    events.sort(key=lambda e: e.start_ns())
    current = peak = 0
    for event in events:
        current += event.nbytes()
        peak = max(peak, current)
    return peak


def _rss_peak(call) -> int | None:
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


def _sample_rows(problem: Problem) -> torch.Tensor | None:
    elements = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len
    if elements <= ORACLE_FULL_ELEMENTS:
        return None
    count = min(problem.seq_len, ORACLE_SAMPLE_ROWS)
    rows = torch.linspace(0, problem.seq_len - 1, count).round().long().unique()
    return rows


class OracleCache:
    """The oracle's answer for the last problem, reused by every implementation of that problem."""

    def __init__(self) -> None:
        self._key = None
        self._value: dict = {}

    def get(self, key, what: str, compute: Callable[[], object]):
        if key != self._key:
            self._key, self._value = key, {}
        if what not in self._value:
            self._value[what] = compute()
        return self._value[what]


def measure_error(problem: Problem, impl: Impl, q, k, v, grad_out, out, seed: int, cache: OracleCache) -> dict:
    rows = _sample_rows(problem)
    key = (problem.with_(dropout=0.0), seed)
    expected = cache.get(key, "out", lambda: reference(problem, q, k, v, rows=rows))
    actual = out if rows is None else out[:, :, rows.to(out.device)]
    result = {"output": errors(actual, expected.to(actual.device)),
              "rows_checked": problem.seq_len if rows is None else int(rows.numel())}
    if problem.needs_grad:
        elements = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len
        if elements > ORACLE_GRAD_ELEMENTS:
            result["grad_note"] = f"gradients not checked in the sweep: {elements} score elements exceed {ORACLE_GRAD_ELEMENTS}"
        else:
            expected_grads = cache.get(key, "grads", lambda: reference_grads(problem, q, k, v, grad_out))
            actual_grads = torch.autograd.grad(out, (q, k, v), grad_out, retain_graph=False)
            for name, a, e in zip(("dq", "dk", "dv"), actual_grads, expected_grads):
                result[name] = errors(a, e.to(a.device))
    return result


def error_verdict(problem: Problem, impl: Impl, error: dict) -> str | None:
    """None when acceptable; else why. Non-finite values always fail; exact impls must meet the tolerance."""
    parts = {k: v for k, v in error.items() if isinstance(v, dict)}
    for name, e in parts.items():
        if not e["finite"]:
            return f"{name} contains NaN or Inf"
    if not impl.exact:
        return None
    tol = tolerance(problem.dtype)
    out = parts["output"]
    if out["max_abs"] > tol.max_abs or out["rel_l2"] > tol.rel_l2:
        return (f"output error max_abs={out['max_abs']:.3g}, rel_l2={out['rel_l2']:.3g} exceeds the "
                f"{problem.dtype} tolerance (max_abs {tol.max_abs:g}, rel_l2 {tol.rel_l2:g})")
    for name in ("dq", "dk", "dv"):
        if name in parts and parts[name]["rel_l2"] > 4 * tol.rel_l2:
            return f"{name} rel_l2={parts[name]['rel_l2']:.3g} exceeds 4× the {problem.dtype} tolerance ({4 * tol.rel_l2:g})"
    return None


# --- one cell -------------------------------------------------------------------------------------------
def run_cell(benchmark, cell: Cell, session, extra: Callable[[CellRun], dict] | None = None) -> dict:
    """Measure one cell under pytest-benchmark and record it; skips or fails the test as the outcome says."""
    record = session.base_record(cell)
    try:
        run = _measure(benchmark, cell, session, record, extra)
        record["status"] = "ok"
        verdict = error_verdict(cell.problem, cell.impl, record["error"])
        if verdict:
            raise CellOutcome("failed", "error", verdict)
        del run
    except CellOutcome as outcome:
        record.update(status=outcome.status, reason_code=outcome.code, reason=outcome.message)
    except Exception as exc:  # noqa: BLE001 - a failing cell is recorded and the sweep goes on
        if is_oom(exc):
            record.update(status="oom", reason_code="oom", reason=_one_line(exc))
        else:
            record.update(status="failed", reason_code="raised", reason=f"{type(exc).__name__}: {_one_line(exc)}",
                          traceback=traceback.format_exc(limit=8))
    finally:
        if torch.device(cell.problem.device).type == "cuda":
            torch.cuda.empty_cache()
    session.finish(cell, record, benchmark)
    status = record["status"]
    if status in ("skipped", "oom"):
        pytest.skip(f"{record['reason_code']}: {record['reason']}")
    if status == "failed":
        pytest.fail(f"{cell.impl.full_name}: {record['reason']}", pytrace=False)
    return record


def _measure(benchmark, cell: Cell, session, record: dict, extra) -> CellRun:
    problem, impl = cell.problem, cell.impl
    reasons = impl.not_supported_reasons(problem)
    if reasons:
        raise CellOutcome("skipped", reasons[0].code, "; ".join(str(r) for r in reasons))
    budget = session.budget
    peak_flops = session.peak_flops(problem.device, problem.dtype)
    predicted_s = impl.time_estimate(problem, peak_flops)
    predicted_bytes = impl.memory_estimate(problem)
    record.update(predicted_call_seconds=predicted_s, memory_estimate_bytes=predicted_bytes)
    if predicted_s > budget.max_call_seconds and not session.ignore_budget:
        raise CellOutcome("skipped", "budget", f"predicted {predicted_s:.3g} s per call exceeds the preset's "
                                               f"{budget.max_call_seconds:g} s budget")
    if predicted_bytes > budget.max_bytes and not session.ignore_budget:
        raise CellOutcome("skipped", "budget", f"predicted peak {predicted_bytes / 2**30:.3g} GiB exceeds the preset's "
                                               f"{budget.max_bytes / 2**30:.3g} GiB budget")

    torch.manual_seed(session.seed)
    q, k, v = problem.make_inputs(session.seed)
    grad_out = problem.make_grad_output(session.seed) if problem.needs_grad else None
    start = time.perf_counter()
    fn = impl.build(problem, q, k, v)
    record["build_ms"] = 1e3 * (time.perf_counter() - start)

    # First call: warm-up (and compilation where the impl compiles lazily), timed on its own.
    start = time.perf_counter()
    with torch.enable_grad() if problem.needs_grad else torch.no_grad():
        out = fn()
    synchronize(problem.device)
    record["warmup_ms"] = 1e3 * (time.perf_counter() - start)
    if tuple(out.shape) != (problem.batch, problem.heads, problem.seq_len, problem.head_dim):
        raise CellOutcome("failed", "shape", f"output shape {tuple(out.shape)} != expected "
                                             f"{(problem.batch, problem.heads, problem.seq_len, problem.head_dim)}")
    checked_impl, checked_out = impl, out
    if problem.dropout:  # error is measured without dropout: rebuild the same impl at p=0
        no_drop = problem.with_(dropout=0.0)
        with torch.enable_grad() if problem.needs_grad else torch.no_grad():
            checked_out = impl.build(no_drop, q, k, v)()
    record["error"] = measure_error(problem, checked_impl, q, k, v, grad_out, checked_out, session.seed, session.oracle)
    record["tolerance"] = vars(tolerance(problem.dtype)) if impl.exact else None
    del checked_out

    call = timed_callable(problem, fn, q, k, v, grad_out)
    record["peak_bytes"], record["peak_method"] = measure_peak_bytes(call, problem.device)

    start = time.perf_counter()
    call()
    single = max(time.perf_counter() - start, 1e-7)
    iterations = max(1, math.ceil(session.min_round_seconds / single))
    rounds = int(min(budget.max_rounds, max(budget.min_rounds, budget.target_cell_seconds / (single * iterations))))
    benchmark.group = f"{cell.suite}:{problem.id()}"
    benchmark.pedantic(call, rounds=rounds, iterations=iterations, warmup_rounds=0)
    record["time"] = timing_stats(benchmark)
    median = record["time"].get("median")
    flops = impl.flops(problem)
    record.update(flops=flops, device_peak_flops=peak_flops)
    if median:
        record["flops_per_s"] = flops / median
        record["peak_fraction"] = flops / median / peak_flops
        record["bytes_per_s"] = problem.min_bytes() / median
    run = CellRun(cell, (q, k, v), call, out, record,
                  unsynchronized_call=timed_callable(problem, fn, q, k, v, grad_out, synchronized=False))
    for hook in session.post_timing_hooks:
        record.update(hook(run) or {})
    if extra is not None:
        record.setdefault("extra", {}).update(extra(run) or {})
    return run


def timing_stats(benchmark) -> dict:
    """pytest-benchmark's statistics (seconds per call) as plain data; empty when benchmarks are disabled."""
    stats = getattr(getattr(benchmark, "stats", None), "stats", None)
    if stats is None:
        return {}
    names = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "ops")
    result = {name: getattr(stats, name) for name in names}
    result["iterations"] = getattr(benchmark.stats, "iterations", None)
    result["data"] = list(stats.data)
    return result


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:500] if text else type(exc).__name__
