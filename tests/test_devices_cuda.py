"""Every implementation on a GPU against the float64 oracle: bf16, fp16, fp32; GQA/MQA; masks; backward.

Skipped where CUDA is not available. ``ATTNBENCH_TEST_DEVICE`` picks the device (default
``cuda``; ``cuda:1``; ``cpu`` runs the same checks on the CPU, which scripts/gpu_check.py uses
to check itself on machines without a GPU). Exact implementations must meet the dtype's
tolerance; approximations must give a finite output of the right shape (their error is a
metric, and their own algorithms are checked against slow formulations in their own tests).
"""

from __future__ import annotations

import os

import pytest
import torch

from impls import Problem, errors, reference, reference_grads, registry, tolerance

DEVICE = os.environ.get("ATTNBENCH_TEST_DEVICE", "cuda")
ON_CUDA = torch.device(DEVICE).type == "cuda"
if ON_CUDA and not torch.cuda.is_available():
    # One skip line for the module instead of hundreds: nothing here can run without the device.
    pytest.skip(f"ATTNBENCH_TEST_DEVICE={DEVICE}: CUDA is not available on this machine", allow_module_level=True)

# Shapes the fused kernels take different paths on: GQA and MQA, head dims 64/80/128, cross
# lengths, lengths that are not multiples of any block size.
CASES = {
    "gqa-causal": dict(batch=2, seq_len=257, heads=8, kv_heads=2, head_dim=64, mask="causal"),
    "mqa-d128": dict(batch=1, seq_len=384, heads=8, kv_heads=1, head_dim=128),
    "padding-cross": dict(batch=2, seq_len=200, kv_seq_len=333, heads=4, head_dim=64, mask="padding"),
    "causal+padding-d80": dict(batch=2, seq_len=160, heads=4, kv_heads=2, head_dim=80, mask="causal+padding"),
}
BACKWARD = ("gqa-causal", "padding-cross")
DTYPES = ("bfloat16", "float16", "float32")
# FlexAttention compiles once per shape and dtype (seconds each, even on a GPU): a representative few.
FLEX = {("gqa-causal", "bfloat16", "fwd"), ("gqa-causal", "float32", "fwd"), ("padding-cross", "float16", "fwd"),
        ("gqa-causal", "bfloat16", "fwd+bwd")}


def problem_for(case: str, dtype: str, mode: str) -> Problem:
    return Problem(**CASES[case], dtype=dtype, mode=mode, device=DEVICE)


def cases():
    for impl in registry():
        for mode, names in (("fwd", CASES), ("fwd+bwd", BACKWARD)):
            for case in names:
                for dtype in DTYPES:
                    if impl.name == "flex" and (case, dtype, mode) not in FLEX:
                        continue
                    yield pytest.param(impl, case, dtype, mode, id=f"{impl.full_name}-{case}-{dtype}-{mode}")


def _skip_unsupported(impl, problem):
    reasons = impl.not_supported_reasons(problem)
    if reasons:
        pytest.skip("; ".join(map(str, reasons)))


@pytest.mark.parametrize("impl,case,dtype,mode", list(cases()))
def test_matches_the_oracle_on_the_device(impl, case, dtype, mode):
    problem = problem_for(case, dtype, mode)
    _skip_unsupported(impl, problem)
    q, k, v = problem.make_inputs(seed=3)
    if mode == "fwd":
        with torch.no_grad():
            out = impl.build(problem, q, k, v)()
    else:
        out = impl.build(problem, q, k, v)()
    assert out.shape == (problem.batch, problem.heads, problem.seq_len, problem.head_dim)
    assert out.device == q.device and out.dtype == problem.dtype
    err = errors(out, reference(problem, q, k, v))
    assert err["finite"], "NaN or Inf in the output"
    tol = tolerance(problem.dtype)
    if impl.exact:
        assert err["max_abs"] <= tol.max_abs and err["rel_l2"] <= tol.rel_l2, err
    if mode == "fwd":
        return
    grad_out = problem.make_grad_output(seed=3)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    expected = reference_grads(problem, q, k, v, grad_out)
    for label, actual, oracle in zip(("dq", "dk", "dv"), grads, expected):
        assert actual.shape == oracle.shape, label
        grad_err = errors(actual, oracle)
        assert grad_err["finite"], f"{label} has NaN or Inf"
        if impl.exact:  # gradients sum over many more terms than outputs: 4× the output's relative bound
            assert grad_err["rel_l2"] <= 4 * tol.rel_l2, (label, grad_err)
