"""Our sparse kernels against the float64 oracle with the densified mask: awkward shapes, GQA, batch > 1,
rows with few or no keys, gradients, low precision; and the memory bound (no seq × seq tensor)."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, errors, get, reference, reference_grads, tolerance

# (batch, heads, kv_heads, seq_len, kv_seq_len): lengths that are not multiples of any window or block,
# GQA, batch > 1, more queries than keys (rows with no key at all), more keys than queries.
SHAPES = [(2, 4, 2, 37, 37), (1, 2, 1, 45, 20), (2, 2, 2, 30, 45), (1, 2, 2, 7, 7)]
BANDED_MASKS = [
    "sliding-window[w=5]", "sliding-window[w=0]", "sliding-window[w=100]",  # one key per row; window > sequence
    "sliding-window[w=3,causal=0]", "sliding-window[w=3,dilation=3]", "sliding-window[w=2,causal=0,dilation=4]",
    "longformer[w=3,globals=0/6]", "longformer[w=2,globals=1/5,causal=1]",
]
BLOCK_MASKS = [
    "strided[block=4]", "strided[block=3,local=2,stride=3,causal=0]", "fixed[block=4]", "fixed[block=5,local=3,summary=2,causal=0]",
    "bigbird[block=4,window=3,globals=1,random=2,seed=1]", "bigbird[block=4,window=3,globals=2,random=2,seed=0,causal=1]",
    "sliding-window[w=5]", "longformer[w=3,globals=0/6]", "causal", "padding", "causal+padding",
]


def _problem(mask, shape, mode="fwd", dtype=torch.float32):
    batch, heads, kv_heads, q_len, kv_len = shape
    return Problem(batch=batch, seq_len=q_len, kv_seq_len=kv_len, heads=heads, kv_heads=kv_heads, head_dim=16,
                   mask=mask, mode=mode, dtype=dtype)


def _cases(masks, impl_for):
    for mask in masks:
        for shape in SHAPES:
            try:
                problem = _problem(mask, shape)
            except ValueError:
                continue  # a global position beyond a short sequence
            yield pytest.param(impl_for(mask), problem, id=f"{impl_for(mask)}-{problem.id()}")


def _block_of(mask: str) -> int:
    return int(mask.split("block=")[1].split(",")[0].rstrip("]")) if "block=" in mask else 8


def _check_forward(impl_name, problem):
    impl = get(impl_name)
    assert impl.not_supported_reasons(problem) == []
    q, k, v = problem.make_inputs(seed=1)
    with torch.no_grad():
        out = impl.build(problem, q, k, v)()
    err, tol = errors(out, reference(problem, q, k, v)), tolerance(problem.dtype)
    assert err["finite"] and err["max_abs"] <= tol.max_abs and err["rel_l2"] <= tol.rel_l2, err
    return out


@pytest.mark.parametrize("impl_name,problem", list(_cases(BANDED_MASKS, lambda m: "banded[chunk=8]")))
def test_banded_is_exact(impl_name, problem):
    _check_forward(impl_name, problem)


@pytest.mark.parametrize("impl_name,problem", list(_cases(BLOCK_MASKS, lambda m: f"block-sparse[block={_block_of(m)}]")))
def test_block_sparse_is_exact(impl_name, problem):
    _check_forward(impl_name, problem)


@pytest.mark.parametrize("impl_name,mask", [
    ("banded[chunk=8]", "sliding-window[w=5]"), ("banded[chunk=4]", "sliding-window[w=2,causal=0,dilation=3]"),
    ("banded[chunk=8]", "longformer[w=3,globals=0/6,causal=1]"), ("block-sparse[block=4]", "bigbird[block=4,window=3,globals=1,random=2,seed=1]"),
    ("block-sparse[block=4]", "strided[block=4]"), ("block-sparse[block=8]", "causal+padding"),
])
@pytest.mark.parametrize("shape", [(2, 4, 2, 37, 37), (1, 2, 1, 45, 20)], ids=["gqa-batch2", "rows-without-keys"])
def test_gradients_match_the_oracle(impl_name, mask, shape):
    problem = _problem(mask, shape, mode="fwd+bwd")
    q, k, v = problem.make_inputs(seed=2)
    grad_out = problem.make_grad_output(seed=2)
    out = get(impl_name).build(problem, q, k, v)()
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    expected = reference_grads(problem, q, k, v, grad_out)
    tol = tolerance(problem.dtype)
    assert errors(out, reference(problem, q, k, v))["max_abs"] <= tol.max_abs
    for name, got, want in zip(("dq", "dk", "dv"), grads, expected):
        err = errors(got, want)
        assert err["finite"] and err["rel_l2"] <= 4 * tol.rel_l2, (name, err)


@pytest.mark.parametrize("impl_name", ["banded", "block-sparse[block=8]"])
def test_rows_without_keys_are_zero_and_give_no_nan(impl_name):
    # 45 queries, 20 keys, a causal window of 5: queries 25..44 keep no key at all.
    problem = _problem("sliding-window[w=5]", (1, 2, 2, 45, 20), mode="fwd+bwd")
    q, k, v = problem.make_inputs(seed=3)
    out = get(impl_name).build(problem, q, k, v)()
    assert torch.equal(out[:, :, 25:], torch.zeros_like(out[:, :, 25:]))
    grads = torch.autograd.grad(out, (q, k, v), problem.make_grad_output(seed=3))
    assert all(torch.isfinite(g).all() for g in grads)
    assert torch.equal(grads[0][:, :, 25:], torch.zeros_like(grads[0][:, :, 25:]))


@pytest.mark.parametrize("impl_name,mask", [("banded", "sliding-window[w=5]"),
                                            ("block-sparse[block=8]", "bigbird[block=8,window=3,globals=1,random=1,seed=0]")])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float64])
def test_other_dtypes_meet_their_tolerance(impl_name, mask, dtype):
    out = _check_forward(impl_name, _problem(mask, (2, 4, 2, 37, 37), dtype=dtype))
    assert out.dtype == dtype


PATTERNS = ["sliding-window[w=6]", "sliding-window[w=4,causal=0,dilation=2]", "longformer[w=4,globals=0/9]",
            "strided[block=8]", "fixed[block=8,local=2]", "bigbird[block=8,window=3,globals=1,random=1,seed=4]"]


@pytest.mark.parametrize("pattern", PATTERNS)
def test_a_pattern_is_exact_on_its_own_mask_and_imposes_it_elsewhere(pattern):
    impl = get(pattern)
    assert not impl.exact and impl.full_name == pattern
    own = _problem(pattern, (2, 4, 2, 37, 37))
    _check_forward(pattern, own)
    # On a causal problem it computes its own mask, so its output is the oracle of the patterned problem.
    causal = own.with_(mask="causal")
    q, k, v = causal.make_inputs(seed=4)
    with torch.no_grad():
        out = impl.build(causal, q, k, v)()
    patterned = causal.with_(mask=pattern)
    assert errors(out, reference(patterned, q, k, v))["max_abs"] <= tolerance(torch.float32).max_abs
    assert impl.flops(causal) == patterned.flops()  # useful FLOPs are the pattern's pairs


def _largest_allocation(call) -> int:
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        call()
    sizes = [e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]
    return max(sizes)


@pytest.mark.parametrize("mode", ["fwd", "fwd+bwd"])
@pytest.mark.parametrize("impl_name,mask", [("banded", "sliding-window[w=64]"), ("banded", "longformer[w=32,globals=0/100]"),
                                            ("block-sparse[block=64]", "bigbird[block=64,window=3,globals=1,random=2,seed=0]")])
def test_no_tensor_as_large_as_seq_by_seq(impl_name, mask, mode):
    length = 4096
    problem = Problem(batch=1, seq_len=length, heads=2, head_dim=32, mask=mask, mode=mode)
    q, k, v = problem.make_inputs(seed=0)
    fn = get(impl_name).build(problem, q, k, v)
    if mode == "fwd":
        call = lambda: fn()  # noqa: E731 - grad mode as the harness runs it
        with torch.no_grad():
            largest = _largest_allocation(call)
    else:
        grad_out = problem.make_grad_output(0)
        largest = _largest_allocation(lambda: torch.autograd.grad(fn(), (q, k, v), grad_out))
    # A seq × seq tensor of any dtype, even bool, for a single head would be at least length² bytes.
    assert 0 < largest < length * length, largest
