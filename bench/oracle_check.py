"""Error of a cell against the float64 oracle, the oracle's answer cached per problem, and the verdict."""

from __future__ import annotations

from collections.abc import Callable

import torch

import impls
from impls import Impl, Problem, errors, reference, reference_grads, tolerance

# Above this many score elements the forward oracle checks a spread of query rows, not all of them.
ORACLE_FULL_ELEMENTS = 1 << 27
ORACLE_SAMPLE_ROWS = 256
# Above this many score elements gradients are not checked against the oracle in a sweep (its
# float64 autograd would hold several score-sized buffers); the unit tests check them instead.
ORACLE_GRAD_ELEMENTS = 1 << 25


def score_elements(problem: Problem) -> int:
    return problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len


def sample_rows(problem: Problem) -> torch.Tensor | None:
    """The query rows the oracle checks: None (all) for small problems, else an even spread."""
    if score_elements(problem) <= ORACLE_FULL_ELEMENTS:
        return None
    count = min(problem.seq_len, ORACLE_SAMPLE_ROWS)
    return torch.linspace(0, problem.seq_len - 1, count).round().long().unique()


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
    """max-abs and relative-L2 of the output (and dq, dk, dv in fwd+bwd) against the float64 oracle."""
    rows, expected, logit_max = cached_oracle(cache, problem, q, k, v, seed)
    actual = out if rows is None else out[:, :, rows.to(out.device)]
    result = {"output": errors(actual, expected.to(actual.device)),
              "rows_checked": problem.seq_len if rows is None else int(rows.numel()), "logit_max": logit_max}
    if problem.needs_grad:
        elements = score_elements(problem)
        if elements > ORACLE_GRAD_ELEMENTS:
            result["grad_note"] = f"gradients not checked in the sweep: {elements} score elements exceed {ORACLE_GRAD_ELEMENTS}"
        else:
            expected_grads = cache.get(oracle_key(problem, seed), "grads", lambda: reference_grads(problem, q, k, v, grad_out))
            actual_grads = torch.autograd.grad(out, (q, k, v), grad_out, retain_graph=False)
            for name, a, e in zip(("dq", "dk", "dv"), actual_grads, expected_grads):
                result[name] = errors(a, e.to(a.device))
    return result


def oracle_output(problem: Problem, q, k, v, rows) -> tuple[torch.Tensor, float | None]:
    """The oracle's output and its largest |logit| (None from an impls/ that predates it: a gate's older head)."""
    if not hasattr(impls, "oracle"):
        return reference(problem, q, k, v, rows=rows), None
    answer = impls.oracle(problem, q, k, v, rows=rows)
    return answer.output, answer.logit_max


def oracle_key(problem: Problem, seed: int) -> tuple:
    """What the oracle's answer depends on: the problem (dropout aside: the oracle ignores it) and the inputs' seed."""
    return (problem.with_(dropout=0.0), seed)


def cached_oracle(cache: OracleCache, problem: Problem, q, k, v, seed: int) -> tuple[torch.Tensor | None, torch.Tensor, float | None]:
    """(the rows checked, the oracle's output on them, its largest |logit|), computed once per problem and seed."""
    rows = sample_rows(problem)
    expected, logit_max = cache.get(oracle_key(problem, seed), "out", lambda: oracle_output(problem, q, k, v, rows))
    return rows, expected, logit_max


def cell_tolerance(problem: Problem, error: dict):
    """The dtype's tolerance, its max-abs scaled by the largest logit the oracle saw on this cell's inputs."""
    logit_max = error.get("logit_max")
    return tolerance(problem.dtype) if logit_max is None else tolerance(problem.dtype, logit_max)


def error_verdict(problem: Problem, impl: Impl, error: dict) -> str | None:
    """None when acceptable; else why. Non-finite values always fail; exact impls must meet the tolerance."""
    parts = {k: v for k, v in error.items() if isinstance(v, dict)}
    for name, e in parts.items():
        if not e["finite"]:
            return f"{name} contains NaN or Inf"
    if not impl.exact:
        return None
    tol = cell_tolerance(problem, error)
    out = parts["output"]
    if out["max_abs"] > tol.max_abs or out["rel_l2"] > tol.rel_l2:
        return (f"output error max_abs={out['max_abs']:.3g}, rel_l2={out['rel_l2']:.3g} exceeds the "
                f"{problem.dtype} tolerance (max_abs {tol.max_abs:g}, rel_l2 {tol.rel_l2:g})")
    for name in ("dq", "dk", "dv"):
        if name in parts and parts[name]["rel_l2"] > 4 * tol.rel_l2:
            return f"{name} rel_l2={parts[name]['rel_l2']:.3g} exceeds 4× the {problem.dtype} tolerance ({4 * tol.rel_l2:g})"
    return None
