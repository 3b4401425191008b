"""The timed callable and pytest-benchmark's statistics as plain data."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch

from impls import Problem


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


def round_plan(single_call_seconds: float, budget, min_round_seconds: float) -> tuple[int, int]:
    """(rounds, iterations per round): calls shorter than ``min_round_seconds`` repeat within a round,
    and rounds are sized to fill the budget's target time per cell, within its limits."""
    single = max(single_call_seconds, 1e-7)
    iterations = max(1, math.ceil(min_round_seconds / single))
    rounds = int(min(budget.max_rounds, max(budget.min_rounds, budget.target_cell_seconds / (single * iterations))))
    return rounds, iterations


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


def timed_single_call(call: Callable[[], object]) -> float:
    """Seconds of one call by the host clock (at least 1e-7): what the rounds are sized from."""
    start = time.perf_counter()
    call()
    return max(time.perf_counter() - start, 1e-7)
