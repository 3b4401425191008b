"""Every exact implementation against the float64 oracle, on awkward problems, outputs and gradients."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, errors, reference, reference_grads, registry, tolerance

AWKWARD = {
    "gqa-causal-d80": dict(batch=2, seq_len=300, heads=8, kv_heads=2, head_dim=80, mask="causal"),
    "cross-lengths": dict(batch=3, seq_len=77, kv_seq_len=131, heads=4, head_dim=24),
    "cross-causal": dict(batch=1, seq_len=131, kv_seq_len=77, heads=2, head_dim=16, mask="causal"),
    "padding-gqa": dict(batch=3, seq_len=64, kv_seq_len=200, heads=6, kv_heads=3, head_dim=40, mask="padding"),
    "padding-extreme": dict(batch=2, seq_len=50, heads=2, head_dim=32, mask="padding[lengths=50/1]"),
    "causal+padding": dict(batch=2, seq_len=100, heads=2, head_dim=32, mask="causal+padding"),
    "mqa-bf16": dict(batch=1, seq_len=257, heads=4, kv_heads=1, head_dim=64, mask="causal", dtype="bfloat16"),
    "fp16": dict(batch=2, seq_len=129, heads=2, head_dim=48, dtype="float16"),
    "fp64": dict(batch=1, seq_len=96, heads=2, head_dim=20, mask="causal", dtype="float64"),
    "custom-scale": dict(batch=1, seq_len=64, heads=2, head_dim=32, scale=0.3),
}
GRADIENTS = ("gqa-causal-d80", "padding-gqa", "mqa-bf16", "cross-lengths")
# FlexAttention compiles per shape (10-20 s each on CPU): it gets one representative problem here.
FLEX_PROBLEMS = ("gqa-causal-d80",)


def exact_impls():
    return [i for i in registry() if i.exact and i.family == "exact"]


def cases(mode: str):
    names = AWKWARD if mode == "fwd" else GRADIENTS
    for impl in exact_impls():
        for name in names:
            if impl.name == "flex" and name not in FLEX_PROBLEMS:
                continue
            yield pytest.param(impl, name, id=f"{impl.full_name}-{name}")


def _problem(name: str, mode: str) -> Problem:
    return Problem(**{"dtype": "float32", **AWKWARD[name]}, mode=mode)


@pytest.mark.parametrize("impl,name", list(cases("fwd")))
def test_forward_matches_oracle(impl, name):
    problem = _problem(name, "fwd")
    reasons = impl.not_supported_reasons(problem)
    if reasons:
        pytest.skip("; ".join(map(str, reasons)))
    q, k, v = problem.make_inputs(seed=1)
    with torch.no_grad():
        out = impl.build(problem, q, k, v)()
    assert out.shape == (problem.batch, problem.heads, problem.seq_len, problem.head_dim)
    assert out.dtype == problem.dtype
    err = errors(out, reference(problem, q, k, v))
    tol = tolerance(problem.dtype)
    assert err["finite"], "NaN or Inf in the output"
    assert err["max_abs"] <= tol.max_abs and err["rel_l2"] <= tol.rel_l2, err


@pytest.mark.parametrize("impl,name", list(cases("fwd+bwd")))
def test_gradients_match_oracle(impl, name):
    problem = _problem(name, "fwd+bwd")
    reasons = impl.not_supported_reasons(problem)
    if reasons:
        pytest.skip("; ".join(map(str, reasons)))
    q, k, v = problem.make_inputs(seed=2)
    grad_out = problem.make_grad_output(seed=2)
    grads = torch.autograd.grad(impl.build(problem, q, k, v)(), (q, k, v), grad_out)
    expected = reference_grads(problem, q, k, v, grad_out)
    tol = tolerance(problem.dtype)
    for label, actual, oracle in zip(("dq", "dk", "dv"), grads, expected):
        assert actual.shape == oracle.shape, label
        err = errors(actual, oracle)
        assert err["finite"], f"{label} has NaN or Inf"
        # Gradients sum over many more terms than outputs: they get 4× the output's relative bound.
        assert err["rel_l2"] <= 4 * tol.rel_l2, (label, err)


def test_every_dense_impl_reports_reasons_not_crashes():
    problem = Problem(batch=1, seq_len=32, heads=2, head_dim=16, device="cpu")
    for impl in registry():
        for reason in impl.not_supported_reasons(problem):
            assert reason.code and reason.message and "\n" not in reason.message
