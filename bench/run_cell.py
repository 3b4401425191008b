"""The pytest glue of one sweep cell: prepare it, time it under pytest-benchmark, record it, skip or fail the test.

After the timed rounds the session's post-timing hooks (profiling, CUDA events) and the suite's
extra metrics see the cell; then one record is appended to the run's JSONL and attached to
pytest-benchmark's ``extra_info``.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

import pytest
import torch

from .cell import Cell, CellRun, check_capability, prepare_cell
from .load import CellLoad
from .oracle_check import error_verdict
from .outcomes import CellOutcome, is_oom, one_line
from .reference_rates import reference_rate
from .timing import round_plan, timed_single_call, timing_stats
from .writer import ResultsWriteError


def run_cell(benchmark, cell: Cell, session, extra: Callable[[CellRun], dict] | None = None) -> dict:
    """Measure one cell under pytest-benchmark and record it; skips or fails the test as the outcome says."""
    record = session.base_record(cell)
    try:
        run = measure(benchmark, cell, session, record, extra)
        record["status"] = "ok"
        verdict = error_verdict(cell.problem, cell.impl, record["error"])
        if verdict:
            raise CellOutcome("failed", "error", verdict)
        del run
    except CellOutcome as outcome:
        record.update(status=outcome.status, reason_code=outcome.code, reason=outcome.message)
    except Exception as exc:  # noqa: BLE001 - a failing cell is recorded and the sweep goes on
        if is_oom(exc):
            record.update(status="oom", reason_code="oom", reason=one_line(exc))
        else:
            record.update(status="failed", reason_code="raised", reason=f"{type(exc).__name__}: {one_line(exc)}",
                          traceback=traceback.format_exc(limit=8))
    finally:
        if torch.device(cell.problem.device).type == "cuda":
            torch.cuda.empty_cache()
    try:
        session.finish(record, benchmark)
    except ResultsWriteError as exc:  # a cell that cannot be saved must not be measured: stop at once, say where things are
        pytest.exit(f"attnbench: {exc}; the sweep stopped", returncode=pytest.ExitCode.INTERRUPTED)
    status = record["status"]
    if status in ("skipped", "oom"):
        pytest.skip(f"{record['reason_code']}: {record['reason']}")
    if status == "failed":
        pytest.fail(f"{cell.impl.full_name}: {record['reason']}", pytrace=False)
    return record


def measure(benchmark, cell: Cell, session, record: dict, extra) -> CellRun:
    """Prepare the cell, time it, derive rates, then run the post-timing hooks and the suite's extra metrics."""
    problem, impl = cell.problem, cell.impl
    check_capability(impl, problem)  # before the matmul peak: an unsupported cell costs nothing
    peak_flops = session.peak_flops(problem.device, problem.dtype)
    # Budget skips are predicted from a fixed rate, not the measured peak: the same cells run on a loaded machine.
    budget_rate = reference_rate(problem.device, problem.dtype, session.budget.reference_flops)
    record["budget_reference_flops"] = budget_rate
    prepared = prepare_cell(cell, seed=session.seed, budget=None if session.ignore_budget else session.budget,
                            peak_flops=budget_rate, oracle=session.oracle, facts=record)
    rounds, iterations = round_plan(timed_single_call(prepared.call), session.budget, session.min_round_seconds)
    benchmark.group = f"{cell.suite}:{problem.id()}"
    with CellLoad(torch.get_num_threads()) as load:  # who else had the CPUs during the timed rounds
        benchmark.pedantic(prepared.call, rounds=rounds, iterations=iterations, warmup_rounds=0)
    record["load"] = load.result
    record["time"] = timing_stats(benchmark)
    record.update(rates(impl.flops(problem), problem.min_bytes(), record["time"].get("median"), peak_flops))
    run = CellRun(cell, prepared.inputs, prepared.call, prepared.output, record,
                  unsynchronized_call=prepared.unsynchronized_call)
    for fields in session.post_timing(run):
        record.update(fields or {})
    if extra is not None:
        record.setdefault("extra", {}).update(extra(run) or {})
    return run


def rates(flops: float, min_bytes: int, median: float | None, peak_flops: float) -> dict:
    """FLOPs, the device's peak, and (when timed) FLOP/s, fraction of peak and bytes moved per second."""
    result = {"flops": flops, "device_peak_flops": peak_flops}
    if median:
        result.update(flops_per_s=flops / median, peak_fraction=flops / median / peak_flops, bytes_per_s=min_bytes / median)
    return result
