"""One side's measurements in a gate worker: build the side's implementations on the yardstick's inputs, time them.

Runs inside a worker (imports torch). The inputs come from the files the yardstick wrote (so both
sides compute on bit-identical tensors, checked by hash); the outputs go back to files for the
yardstick to judge. The steps are bench's (capability check, build and warm-up, timed callable,
peak memory), so the gate measures a cell exactly as the sweep does up to its timing loop.
"""

from __future__ import annotations

import gc
import statistics
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from gate.tensors import input_hash, load_inputs, save_outputs


def problem_from_spec(fields: dict):
    """The measured tree's Problem for a cell's problem (as the yardstick's ``Problem.to_dict`` wrote it)."""
    from impls import Problem

    return Problem.from_dict(fields)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:400]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def clock_for(device: str) -> Callable[[], float]:
    """The clock a cell is timed with: the process's CPU time (user + system) on a CPU device with one intra-op
    thread, else wall time (CUDA calls are synchronized by the timed callable).

    With one thread the two agree on an idle machine; on a shared one CPU time leaves out the time the
    process waits for a core. Measured on a 2-core machine at load 20: block medians of the same cell
    spread max/min 5-6× in wall time, 1.3× in CPU time."""
    import torch

    return time.process_time if device.startswith("cpu") and torch.get_num_threads() == 1 else time.perf_counter


def clock_name(clock: Callable[[], float]) -> str:
    return "process-cpu-time" if clock is time.process_time else "wall-time"


class Side:
    def __init__(self) -> None:
        self.calls: dict[str, Callable[[], object]] = {}
        self.clocks: dict[str, Callable[[], float]] = {}
        self.keep: dict[str, tuple] = {}  # the inputs the timed callables close over

    def setup(self, cells: list[dict], data: str, side: str, measure: bool = True) -> dict:
        """Build every cell on the yardstick's inputs; ``measure`` also writes outputs and measures peak memory."""
        return {"cells": [self.setup_one(cell, Path(data), side, measure) for cell in cells]}

    def setup_one(self, cell: dict, data: Path, side: str, measure: bool) -> dict:
        if "reference" in cell:
            return self.setup_reference(cell)
        from bench.cell import build_and_warm_up, check_capability
        from bench.memory import measure_peak_bytes
        from bench.outcomes import CellOutcome, is_oom
        from bench.timing import timed_callable
        from impls import get

        result = {"id": cell["id"], "status": "ok", "reason": None}
        try:
            problem = problem_from_spec(cell["problem"])
            try:
                impl = get(cell["impl"])
            except ValueError as exc:
                return {**result, "status": "missing", "reason": one_line(exc)}
            result.update(exact=impl.exact, impl_version=impl.version)
            check_capability(impl, problem)
            q, k, v, grad_out = load_inputs(data, cell["index"], problem)
            result["input_hash"] = input_hash(q, k, v, grad_out)
            fn, out = build_and_warm_up(impl, problem, (q, k, v), {})
            call = timed_callable(problem, fn, q, k, v, grad_out)
            if measure:
                save_outputs(data, cell["index"], side, checked_outputs(impl, problem, (q, k, v), grad_out, out))
                result["peak_bytes"], result["peak_method"] = measure_peak_bytes(call, problem.device)
            clock = clock_for(problem.device)
            result.update(single_s=single_call_seconds(call, clock), clock=clock_name(clock))
            self.calls[cell["id"]], self.clocks[cell["id"]], self.keep[cell["id"]] = call, clock, (q, k, v, grad_out)
        except CellOutcome as outcome:
            result.update(status="unsupported" if outcome.status == "skipped" else outcome.status, reason=outcome.message)
        except Exception as exc:  # noqa: BLE001 - a failing cell is a result, not a crash
            result.update(status="oom" if is_oom(exc) else "failed", reason=one_line(exc), traceback=traceback.format_exc(limit=6))
        return result

    def setup_reference(self, cell: dict) -> dict:
        """A fixed n×n float32 CPU matmul: the in-run yardstick that history mode divides times by."""
        import torch

        n = int(cell["reference"])
        generator = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
        call = lambda: torch.matmul(a, b)  # noqa: E731
        call()
        clock = clock_for("cpu")
        self.calls[cell["id"]], self.clocks[cell["id"]] = call, clock
        return {"id": cell["id"], "status": "ok", "reason": None, "single_s": single_call_seconds(call, clock),
                "clock": clock_name(clock)}

    def probe(self, cells: list[dict], seed: int, data: str) -> dict:
        """This tree's own yardstick on each cell: its input hash, tolerance and oracle answer on the yardstick's inputs."""
        from gate.yardstick import oracle_answer, tolerance_of

        found = {}
        for cell in cells:
            try:
                problem = problem_from_spec(cell["problem"])
                own = problem.make_inputs(seed)
                own_grad = problem.make_grad_output(seed) if problem.needs_grad else None
                q, k, v, grad_out = load_inputs(Path(data), cell["index"], problem)
                answer = oracle_answer(problem, q, k, v, grad_out)
                found[cell["id"]] = {"input_hash": input_hash(*own, own_grad), "tolerance": tolerance_of(problem, answer),
                                     "oracle_hash": input_hash(*answer.values())}
            except Exception as exc:  # noqa: BLE001 - a tree whose yardstick cannot even run this cell differs from the base's
                found[cell["id"]] = {"error": one_line(exc)}
        return {"cells": found}

    def block(self, order: list[str], calls: int, iterations: dict[str, int]) -> dict:
        """For each cell in order: one untimed call, then ``calls`` samples of n calls; the median seconds per call
        (by the cell's clock)."""
        seconds = {}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # as timeit does: a collection inside a sample is noise, not the kernel's cost
        try:
            for cell_id in order:
                call, clock, n = self.calls[cell_id], self.clocks[cell_id], int(iterations[cell_id])
                call()
                samples = []
                for _ in range(calls):
                    start = clock()
                    for _ in range(n):
                        call()
                    samples.append((clock() - start) / n)
                seconds[cell_id] = statistics.median(samples)
        finally:
            if gc_was_enabled:
                gc.enable()
        return {"seconds": seconds}


def checked_outputs(impl, problem, inputs, grad_out, out) -> dict:
    """What the yardstick judges: the output (of the same implementation at p=0 when the problem has dropout),
    and in fwd+bwd the gradients of q, k and v."""
    import torch

    if problem.dropout:
        with torch.enable_grad() if problem.needs_grad else torch.no_grad():
            out = impl.build(problem.with_(dropout=0.0), *inputs)()
    outputs = {"output": out.detach()}
    if problem.needs_grad:
        grads = torch.autograd.grad(out, inputs, grad_out)
        outputs.update({name: g.detach() for name, g in zip(("dq", "dk", "dv"), grads)})
    return outputs


def single_call_seconds(call, clock: Callable[[], float]) -> float:
    best = float("inf")
    for _ in range(3):
        start = clock()
        call()
        best = min(best, clock() - start)
    return max(best, 1e-7)
