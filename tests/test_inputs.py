"""Input distributions: gaussian unchanged, synthetic structured and reproducible, the shipped captured
set cut to prefixes, one-line errors, and exact kernels within tolerance of the float64 oracle on each."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, errors, get, reference, tolerance
from impls.inputs import check_inputs

DISTRIBUTIONS = ("gaussian", "synthetic", "captured:charlm")


def test_gaussian_draws_the_same_numbers_as_before():
    problem = Problem(batch=2, seq_len=30, kv_seq_len=20, heads=4, kv_heads=2, head_dim=8)
    generator = torch.Generator().manual_seed(5)
    expected = [torch.randn(shape, generator=generator) for shape in ((2, 4, 30, 8), (2, 2, 20, 8), (2, 2, 20, 8))]
    for actual, wanted in zip(problem.make_inputs(seed=5), expected):
        assert torch.equal(actual, wanted)


@pytest.mark.parametrize("inputs", ["synthetic", "gaussian"])
@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
def test_shapes_dtypes_gqa_and_reproducibility(inputs, dtype):
    problem = Problem(batch=2, seq_len=40, kv_seq_len=24, heads=6, kv_heads=2, head_dim=12, dtype=dtype,
                      mode="fwd+bwd", inputs=inputs)
    q, k, v = problem.make_inputs(seed=3)
    assert q.shape == (2, 6, 40, 12) and k.shape == v.shape == (2, 2, 24, 12)
    assert q.dtype == k.dtype == v.dtype == problem.dtype and q.requires_grad and q.is_leaf
    for tensor in (q, k, v):
        assert torch.isfinite(tensor).all() and (tensor != 0).float().mean() > 0.99
    again = problem.make_inputs(seed=3)
    assert all(torch.equal(a, b) for a, b in zip((q, k, v), again))
    assert not torch.equal(q, problem.make_inputs(seed=4)[0])


def _causal_weights(q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Causal softmax weights (heads, L, L) in float64, written here independently of impls."""
    scores = q.double() @ k.double().transpose(-1, -2) / q.shape[-1] ** 0.5
    length = q.shape[-2]
    scores = scores.masked_fill(torch.ones(length, length, dtype=torch.bool).triu(1), float("-inf"))
    return torch.softmax(scores, dim=-1)


def test_synthetic_heads_are_local_peaked_and_sink_shaped_where_gaussian_is_flat():
    length = 512
    q, k, _ = Problem(batch=1, seq_len=length, heads=4, head_dim=64, inputs="synthetic").make_inputs(0)
    weights = _causal_weights(q[0], k[0])[:, 64:]  # rows far enough from the start to see many keys
    rows = torch.arange(64, length)
    near = (rows[:, None] - torch.arange(length)[None, :]).abs() < 16
    assert (weights[0] * near).sum(-1).mean() > 0.5  # local: most mass on the 16 nearest keys
    assert weights[1][torch.arange(len(rows)), rows - 1].mean() > 0.5  # previous token
    assert weights[2][:, 0].mean() > 0.3  # sink on key 0
    flat = _causal_weights(*[t[0] for t in Problem(batch=1, seq_len=length, heads=4, head_dim=64).make_inputs(0)[:2]])[:, 64:]
    assert flat.amax(-1).mean() < 0.1 and (flat * near).sum(-1).mean() < 0.1


def test_captured_prefixes_fold_the_models_scale_and_standardize_values():
    short = Problem(batch=1, seq_len=64, heads=8, head_dim=64, inputs="captured:charlm")
    long = short.with_(seq_len=256)
    for a, b in zip(short.make_inputs(), long.make_inputs()):
        assert torch.equal(a, b[:, :, :64])
    assert torch.equal(short.make_inputs(seed=0)[0], short.make_inputs(seed=9)[0])
    scaled_q = short.with_(scale=0.25).make_inputs()[0]
    torch.testing.assert_close(scaled_q * 0.25, short.make_inputs()[0] * 64 ** -0.5)  # same logits
    v_full = Problem(batch=1, seq_len=2048, heads=8, head_dim=64, inputs="captured:charlm").make_inputs()[2]
    assert float(v_full.pow(2).mean().sqrt()) == pytest.approx(1.0, rel=1e-4)


@pytest.mark.parametrize("changes,named", [
    (dict(seq_len=4096), "seq_len=4096"), (dict(heads=4), "heads=4"), (dict(head_dim=32), "head_dim=32"),
    (dict(kv_heads=2), "kv_heads=2"), (dict(batch=2), "batch=2"), (dict(kv_seq_len=3000), "kv_seq_len=3000"),
])
def test_a_captured_set_fixes_axes_with_one_line_errors(changes, named):
    problem = Problem(**{"batch": 1, "seq_len": 128, "heads": 8, "head_dim": 64, **changes}, inputs="captured:charlm")
    reasons = problem.input_conflicts()
    assert len(reasons) == 1 and named in reasons[0] and "heads=8" in reasons[0] and "\n" not in reasons[0]
    with pytest.raises(ValueError, match="captured:charlm fix"):
        problem.make_inputs()


@pytest.mark.parametrize("value,message", [
    ("uniform", "unknown inputs 'uniform' (accepted: gaussian, synthetic, captured:PATH"),
    ("captured:", "names no file"), ("", "accepted:"),
])
def test_bad_inputs_name_what_is_accepted(value, message):
    with pytest.raises(ValueError) as info:
        Problem(batch=1, seq_len=8, heads=1, head_dim=8, inputs=value)
    assert message in str(info.value) and "\n" not in str(info.value)


def test_a_missing_captured_set_is_named_when_its_inputs_are_drawn():
    problem = Problem(batch=1, seq_len=8, heads=1, head_dim=8, inputs="captured:/nonexistent/set.safetensors")
    for attempt in (problem.make_inputs, lambda: check_inputs(problem.inputs)):
        with pytest.raises(ValueError, match="captured set '/nonexistent/set.safetensors' not found .*captured:charlm") as info:
            attempt()
        assert "\n" not in str(info.value)


def test_ids_and_records_name_the_inputs_only_when_not_gaussian():
    base = Problem(batch=1, seq_len=64, heads=8, head_dim=64)
    assert "gaussian" not in base.id() and base.to_dict()["inputs"] == "gaussian"
    assert base.with_(inputs="synthetic").id().endswith("-synthetic")
    assert base.with_(inputs="captured:/data/sets/llama.layer3.safetensors").id().endswith("-captured-llama.layer3")
    for problem in (base, base.with_(inputs="synthetic"), base.with_(inputs="captured:charlm")):
        assert Problem.from_dict(problem.to_dict()) == problem
    old_record = {k: v for k, v in base.to_dict().items() if k != "inputs"}
    assert Problem.from_dict(old_record) == base
    captured = base.with_(inputs="captured:charlm")
    assert captured.id().endswith("-captured-charlm") and captured.to_dict()["inputs"] == "captured:charlm"
    assert Problem(batch=1, seq_len=64, heads=8, head_dim=64, inputs=" Synthetic ").inputs == "synthetic"


@pytest.mark.parametrize("inputs", DISTRIBUTIONS)
@pytest.mark.parametrize("impl_name,dtype,mask", [
    ("sdpa", "float32", "causal"), ("sdpa", "float32", "none"), ("naive", "float32", "causal"),
    ("sdpa", "bfloat16", "causal"), ("sdpa-math", "float16", "causal"),
])
def test_exact_kernels_meet_the_oracle_on_every_distribution(inputs, impl_name, dtype, mask):
    problem = Problem(batch=1, seq_len=256, heads=8, head_dim=64, dtype=dtype, mask=mask, inputs=inputs)
    impl = get(impl_name)
    q, k, v = problem.make_inputs(seed=2)
    out = impl.build(problem, q, k, v)()
    measured = errors(out, reference(problem, q, k, v))
    bound = tolerance(problem.dtype)
    assert measured["finite"] and measured["max_abs"] <= bound.max_abs and measured["rel_l2"] <= bound.rel_l2, measured


def _logit_max_by_hand(problem: Problem, q, k) -> float:
    """The largest |q·kᵀ·scale| over the pairs the mask allows, written out in float64 (no chunks, no oracle code)."""
    scores = (q.double() @ k.double().transpose(-1, -2)) * problem.softmax_scale
    if problem.mask_kind == "causal":
        keep = torch.ones(problem.seq_len, problem.kv_seq_len, dtype=torch.bool).tril()
        scores = scores[..., keep]
    return float(scores.abs().max())


def test_tolerance_scales_max_abs_with_the_largest_logit_and_keeps_rel_l2():
    from impls.reference import UNIT_LOGIT

    base = tolerance(torch.float32)
    assert tolerance(torch.float32, None) == base == tolerance(torch.float32, UNIT_LOGIT / 2)
    scaled = tolerance(torch.float32, 4 * UNIT_LOGIT)
    assert scaled.max_abs == pytest.approx(4 * base.max_abs) and scaled.rel_l2 == base.rel_l2


@pytest.mark.parametrize("mask", ["causal", "none"])
def test_exact_kernels_meet_the_logit_scaled_tolerance_on_the_whole_captured_set(mask):
    """At the captured length the trained model's peaked heads reach logits of about 200; the exact kernels' max-abs
    error grows with them (rounding the logit), within the scaled bound, while wrong answers still fail it."""
    from bench.oracle_check import OracleCache, error_verdict, measure_error
    from impls import oracle

    problem = Problem(batch=1, seq_len=2048, heads=8, head_dim=64, mask=mask, inputs="captured:charlm")
    q, k, v = problem.make_inputs()
    answer = oracle(problem, q, k, v)
    assert answer.logit_max == pytest.approx(_logit_max_by_hand(problem, q, k), rel=1e-12)
    assert answer.logit_max > 50  # far beyond Gaussian logits: the case the scaling is for
    cache = OracleCache()
    for name in ("sdpa", "sdpa-math", "naive"):
        impl = get(name)
        error = measure_error(problem, impl, q, k, v, None, impl.build(problem, q, k, v)(), 0, cache)
        assert error["logit_max"] == answer.logit_max
        assert error_verdict(problem, impl, error) is None, (name, error)
    wrong_mask = get("sdpa").build(problem.with_(mask="none" if mask == "causal" else "causal"), q, k, v)()
    unscaled = get("sdpa").build(problem.with_(scale=1.0), q, k, v)()  # the softmax scale forgotten
    for wrong in (wrong_mask, unscaled):
        error = measure_error(problem, get("sdpa"), q, k, v, None, wrong, 0, cache)
        assert error_verdict(problem, get("sdpa"), error) is not None
