"""A cell (an implementation on a problem) and its preparation, everything that happens before the timed rounds.

Order of work, none of it timed by pytest-benchmark: capability check → budget check → inputs →
build (compilation, masks) → first call (warm-up, timed on its own) → error against the float64
oracle → peak memory (one extra call). The sweep (``bench.run_cell``) then times the prepared
callable; the gate's worker times it its own way. No pytest here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from impls import Impl, Problem

from .memory import measure_peak_bytes
from .oracle_check import OracleCache, cell_tolerance, measure_error
from .outcomes import CellOutcome
from .presets import Budget
from .timing import synchronize, timed_callable


@dataclass(frozen=True)
class Cell:
    suite: str
    problem: Problem
    impl: Impl

    @property
    def id(self) -> str:
        return f"{self.impl.full_name}-{self.problem.id()}"


@dataclass
class PreparedCell:
    """A built, warmed-up, checked cell, ready to be timed; ``facts`` are record fields."""

    cell: Cell
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    grad_out: torch.Tensor | None
    output: torch.Tensor
    call: Callable[[], object]  # the timed callable (forward, or forward + backward), synchronized on CUDA
    unsynchronized_call: Callable[[], object]  # the same work without the sync (CUDA events, graphs)
    facts: dict = field(default_factory=dict)


@dataclass
class CellRun:
    """What a post-timing hook or an extra-metrics function gets to look at."""

    cell: Cell
    inputs: tuple[torch.Tensor, torch.Tensor, torch.Tensor]
    call: Callable[[], object]  # the timed callable (forward, or forward + backward)
    output: torch.Tensor
    record: dict = field(default_factory=dict)
    unsynchronized_call: Callable[[], object] | None = None


def prepare_cell(cell: Cell, *, seed: int = 0, budget: Budget | None = None, peak_flops: float | None = None,
                 oracle: OracleCache | None = None, measure: bool = True, facts: dict | None = None) -> PreparedCell:
    """Check, build, warm up and (when ``measure``) check the error and peak memory of one cell.

    With ``peak_flops`` the predicted time and memory are recorded, and checked against ``budget``
    when one is given. Record fields are written into ``facts`` as soon as they are known, so a
    caller that passes its record keeps them when a later step raises. Raises CellOutcome for an
    unsupported problem, a cell over budget or an output of the wrong shape; an implementation's
    own exception propagates (``bench.outcomes.is_oom`` tells an out-of-memory error).
    """
    problem, impl = cell.problem, cell.impl
    facts = {} if facts is None else facts
    check_capability(impl, problem)
    if peak_flops is not None:
        facts.update(estimate(impl, problem, peak_flops))
        if budget is not None:
            check_budget(facts, budget)
    torch.manual_seed(seed)
    q, k, v = problem.make_inputs(seed)
    grad_out = problem.make_grad_output(seed) if problem.needs_grad else None
    fn, out = build_and_warm_up(impl, problem, (q, k, v), facts)
    call = timed_callable(problem, fn, q, k, v, grad_out)
    prepared = PreparedCell(cell, (q, k, v), grad_out, out, call,
                            timed_callable(problem, fn, q, k, v, grad_out, synchronized=False), facts)
    if measure:
        facts.update(check_error(prepared, seed, oracle if oracle is not None else OracleCache()))
        facts["peak_bytes"], facts["peak_method"] = measure_peak_bytes(call, problem.device)
    return prepared


def check_capability(impl: Impl, problem: Problem) -> None:
    reasons = impl.not_supported_reasons(problem)
    if reasons:
        raise CellOutcome("skipped", reasons[0].code, "; ".join(str(r) for r in reasons))
    conflicts = problem.input_conflicts()  # a captured set fixes heads, head_dim and the longest length
    if conflicts:
        raise CellOutcome("skipped", "inputs", conflicts[0])


def estimate(impl: Impl, problem: Problem, peak_flops: float) -> dict:
    return {"predicted_call_seconds": impl.time_estimate(problem, peak_flops),
            "memory_estimate_bytes": impl.memory_estimate(problem)}


def check_budget(predicted: dict, budget: Budget) -> None:
    """CellOutcome('skipped', 'budget') when the predicted time per call or peak memory exceeds the budget."""
    seconds, nbytes = predicted["predicted_call_seconds"], predicted["memory_estimate_bytes"]
    if seconds > budget.max_call_seconds:
        raise CellOutcome("skipped", "budget", f"predicted {seconds:.3g} s per call exceeds the preset's "
                                               f"{budget.max_call_seconds:g} s budget")
    if nbytes > budget.max_bytes:
        raise CellOutcome("skipped", "budget", f"predicted peak {nbytes / 2**30:.3g} GiB exceeds the preset's "
                                               f"{budget.max_bytes / 2**30:.3g} GiB budget")


def build_and_warm_up(impl: Impl, problem: Problem, inputs, facts: dict) -> tuple[Callable[[], torch.Tensor], torch.Tensor]:
    """Build the callable, then call it once (warm-up, lazy compilation); each timed on its own into ``facts``."""
    start = time.perf_counter()
    fn = impl.build(problem, *inputs)
    facts["build_ms"] = 1e3 * (time.perf_counter() - start)
    start = time.perf_counter()
    with torch.enable_grad() if problem.needs_grad else torch.no_grad():
        out = fn()
    synchronize(problem.device)
    facts["warmup_ms"] = 1e3 * (time.perf_counter() - start)
    expected = (problem.batch, problem.heads, problem.seq_len, problem.head_dim)
    if tuple(out.shape) != expected:
        raise CellOutcome("failed", "shape", f"output shape {tuple(out.shape)} != expected {expected}")
    return fn, out


def check_error(prepared: PreparedCell, seed: int, oracle: OracleCache) -> dict:
    """Error against the oracle; with dropout, of the same implementation rebuilt at p=0."""
    problem, impl = prepared.cell.problem, prepared.cell.impl
    q, k, v = prepared.inputs
    checked_out = prepared.output
    if problem.dropout:
        with torch.enable_grad() if problem.needs_grad else torch.no_grad():
            checked_out = impl.build(problem.with_(dropout=0.0), q, k, v)()
    error = measure_error(problem, impl, q, k, v, prepared.grad_out, checked_out, seed, oracle)
    return {"error": error, "tolerance": vars(cell_tolerance(problem, error)) if impl.exact else None}
