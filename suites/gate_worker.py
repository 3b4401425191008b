"""The regression gate's measuring process: one per tree, driven over stdin/stdout with JSON lines.

    python <head tree>/suites/gate_worker.py --tree <tree path>

The gate (reports/gate, which never imports torch) starts one worker for the base tree and one
for the head tree. A worker imports ``impls`` from ``--tree`` only, so the trees never share
imports, while the measuring instrument (this file and the head's suites/harness.py: timed
callable, error against the oracle, peak memory) is the head's for both sides; a pull request that
changes the harness is therefore measured with one method on both sides.

Requests, one JSON object a line; every answer has ``ok`` and, when false, a one-line ``error``:
- on start the worker says hello: tree, impls file, torch version, threads, machine.
- ``{"op": "select", "options": {...}}``: the head's expansion of ``--attn-*`` options into cells.
- ``{"op": "setup", "cells": [...], "seed": 0, "measure": true}``: build each cell once; status,
  the time of one call and (when measure) error against the oracle and peak memory.
  ``{"reference": n}`` as a cell is the fixed n×n matmul reference kernel (history mode).
- ``{"op": "block", "order": [ids], "calls": K, "iterations": {id: n}}``: for each cell in order,
  one untimed call, then K samples of n calls; the median seconds per call of each cell.
- ``{"op": "quit"}``.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import importlib.util
import json
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HEAD_SUITES = Path(__file__).resolve().parent
INSTRUMENT = "attnbench_gate_instrument"  # the head's suites package, loaded under its own name
REFERENCE_PREFIX = "@reference-matmul"


def isolate_imports(tree: Path) -> None:
    """Make ``tree`` the only source of ``impls``: drop this script's folder, put the tree first."""
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (HEAD_SUITES, tree)]
    sys.path.insert(0, str(tree))
    os.chdir(tree)


def load_instrument():
    """The head's suites/ as a package of its own, so its relative imports stay inside the head."""
    spec = importlib.util.spec_from_file_location(INSTRUMENT, HEAD_SUITES / "__init__.py",
                                                  submodule_search_locations=[str(HEAD_SUITES)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[INSTRUMENT] = module
    spec.loader.exec_module(module)
    return importlib.import_module(f"{INSTRUMENT}.harness")


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:400]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


# --- problems as plain data ------------------------------------------------------------------------------
def problem_spec(problem) -> dict:
    """Every field of the Problem, JSON-ready; ``problem_from_spec`` inverts it."""
    return {"batch": problem.batch, "seq_len": problem.seq_len, "kv_seq_len": problem.kv_seq_len,
            "heads": problem.heads, "kv_heads": problem.kv_heads, "head_dim": problem.head_dim,
            "dtype": str(problem.dtype).removeprefix("torch."), "device": problem.device,
            "mask": problem.mask.spec() if problem.mask is not None else None, "dropout": problem.dropout,
            "mode": problem.mode, "scale": problem.scale, "extra": [list(kv) for kv in problem.extra]}


def problem_from_spec(spec: dict):
    from impls import Problem

    fields = dict(spec)
    fields["extra"] = tuple(tuple(kv) for kv in fields.get("extra", ()))
    return Problem(**fields)


class Worker:
    def __init__(self, tree: Path) -> None:
        self.tree = tree
        self.harness = None
        self.calls: dict[str, Callable[[], object]] = {}
        self.keep: dict[str, tuple] = {}  # the inputs the timed callables close over

    # --- start --------------------------------------------------------------------------------------
    def hello(self) -> dict:
        import torch

        import impls

        impls_file = Path(impls.__file__).resolve()
        if self.tree not in impls_file.parents:
            raise ImportError(f"impls was imported from {impls_file.parent}, not from {self.tree}")
        self.harness = load_instrument()
        machine = importlib.import_module(f"{INSTRUMENT}.records").machine_info()
        return {"tree": str(self.tree), "impls_file": str(impls_file), "torch": torch.__version__,
                "threads": torch.get_num_threads(), "pid": os.getpid(), "machine": machine}

    # --- requests -------------------------------------------------------------------------------------
    def select(self, options: dict) -> dict:
        """Cells of the core grids for these --attn-* options, by the head's own option semantics."""
        import tempfile

        session_module = importlib.import_module(f"{INSTRUMENT}.session")
        with tempfile.TemporaryDirectory() as scratch:  # the session never writes; a run dir is still required
            session = session_module.SweepSession(options, Path(scratch), "gate", None, ignore_budget=True)
            cells = session.cells("core")
        return {"cells": [{"id": c.id, "impl": c.impl.full_name, "problem": problem_spec(c.problem)} for c in cells]}

    def setup(self, cells: list[dict], seed: int, measure: bool = True) -> dict:
        """Build every cell; ``measure=False`` (the extra timing workers of a side) skips error and memory."""
        return {"cells": [self._setup_one(cell, seed, measure) for cell in cells]}

    def _setup_one(self, cell: dict, seed: int, measure: bool) -> dict:
        if "reference" in cell:
            return self._setup_reference(cell)
        import torch

        from impls import get, tolerance

        result = {"id": cell["id"], "status": "ok", "reason": None}
        try:
            problem = problem_from_spec(cell["problem"])
            result["tolerance"] = vars(tolerance(problem.dtype))
            try:
                impl = get(cell["impl"])
            except ValueError as exc:
                return {**result, "status": "missing", "reason": one_line(exc)}
            result.update(exact=impl.exact, impl_version=impl.version)
            reasons = impl.not_supported_reasons(problem)
            if reasons:
                return {**result, "status": "unsupported", "reason": "; ".join(map(str, reasons))}
            torch.manual_seed(seed)
            q, k, v = problem.make_inputs(seed)
            grad_out = problem.make_grad_output(seed) if problem.needs_grad else None
            fn = impl.build(problem, q, k, v)
            with torch.enable_grad() if problem.needs_grad else torch.no_grad():
                out = fn()
            self.harness.synchronize(problem.device)
            expected = (problem.batch, problem.heads, problem.seq_len, problem.head_dim)
            if tuple(out.shape) != expected:
                return {**result, "status": "failed", "reason": f"output shape {tuple(out.shape)} != expected {expected}"}
            call = self.harness.timed_callable(problem, fn, q, k, v, grad_out)
            if measure:
                checked = out
                if problem.dropout:  # as the harness does: error without dropout
                    with torch.enable_grad() if problem.needs_grad else torch.no_grad():
                        checked = impl.build(problem.with_(dropout=0.0), q, k, v)()
                result["error"] = self.harness.measure_error(problem, impl, q, k, v, grad_out, checked, seed,
                                                             self.harness.OracleCache())
                result["peak_bytes"], result["peak_method"] = self.harness.measure_peak_bytes(call, problem.device)
            result["single_s"] = _single_call_seconds(call)
            self.calls[cell["id"]], self.keep[cell["id"]] = call, (q, k, v, grad_out)
        except Exception as exc:  # noqa: BLE001 - a failing cell is a result, not a crash
            status = "oom" if self.harness is not None and self.harness.is_oom(exc) else "failed"
            result.update(status=status, reason=one_line(exc), traceback=traceback.format_exc(limit=6))
        return result

    def _setup_reference(self, cell: dict) -> dict:
        """A fixed n×n float32 CPU matmul: the in-run yardstick that history mode divides times by."""
        import torch

        n = int(cell["reference"])
        generator = torch.Generator().manual_seed(0)
        a, b = torch.randn(n, n, generator=generator), torch.randn(n, n, generator=generator)
        call = lambda: torch.matmul(a, b)  # noqa: E731
        call()
        self.calls[cell["id"]] = call
        return {"id": cell["id"], "status": "ok", "reason": None, "single_s": _single_call_seconds(call)}

    def block(self, order: list[str], calls: int, iterations: dict[str, int]) -> dict:
        seconds = {}
        gc_was_enabled = gc.isenabled()
        gc.disable()  # as timeit does: a collection inside a sample is noise, not the kernel's cost
        try:
            for cell_id in order:
                call, n = self.calls[cell_id], int(iterations[cell_id])
                call()
                samples = []
                for _ in range(calls):
                    start = time.perf_counter()
                    for _ in range(n):
                        call()
                    samples.append((time.perf_counter() - start) / n)
                seconds[cell_id] = statistics.median(samples)
        finally:
            if gc_was_enabled:
                gc.enable()
        return {"seconds": seconds}


def _single_call_seconds(call) -> float:
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        call()
        best = min(best, time.perf_counter() - start)
    return max(best, 1e-7)


def serve(worker: Worker, replies) -> None:
    def reply(payload: dict) -> None:
        replies.write(json.dumps(payload) + "\n")
        replies.flush()

    try:
        reply({"ok": True, **worker.hello()})
    except Exception as exc:  # noqa: BLE001 - the gate turns this into exit code 3 with this line
        reply({"ok": False, "error": f"cannot import the implementations of {worker.tree}: {one_line(exc)}"})
        return
    handlers = {"select": worker.select, "setup": worker.setup, "block": worker.block}
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op", None)
        if op == "quit":
            return
        if op not in handlers:
            reply({"ok": False, "error": f"unknown request {op!r} (accepted: {', '.join(handlers)}, quit)"})
            continue
        try:
            reply({"ok": True, **handlers[op](**request)})
        except Exception as exc:  # noqa: BLE001 - reported to the gate, which decides what it means
            reply({"ok": False, "error": one_line(exc), "traceback": traceback.format_exc(limit=6)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", required=True, help="the source tree whose impls/ this worker measures")
    args = parser.parse_args()
    tree = Path(args.tree).resolve()
    # The protocol owns the real stdout; anything else printed (by torch or an implementation) goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    isolate_imports(tree)
    serve(Worker(tree), replies)


if __name__ == "__main__":
    main()
