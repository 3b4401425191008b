"""custom's attention dropout: p=0 is no dropout, p>0 is unbiased within a statistical tolerance, and seeded."""

from __future__ import annotations

import torch
from test_custom_loops import f64, loop_attention, loop_logits, loop_softmax, scaled_dot

from impls import Problem, get, reference
from impls.custom.attention import CustomAttention, CustomConfig

P, SAMPLES = 0.3, 4000


def _setup(dropout, seed=0):
    attention = CustomAttention.from_config(CustomConfig(dropout=dropout, seed=seed), 2, 4, scale=0.5).to(torch.float64)
    g = torch.Generator().manual_seed(11)
    q, k, v = (torch.randn(1, 2, 6, 4, generator=g, dtype=torch.float64) for _ in range(3))
    return attention, q, k, v


def test_p0_equals_no_dropout():
    attention, q, k, v = _setup(0.0)
    torch.testing.assert_close(attention(q, k, v), loop_attention(q, k, v, scaled_dot(0.5)), rtol=0, atol=1e-12)
    problem = Problem(batch=1, seq_len=16, heads=2, head_dim=8, dtype=torch.float64, dropout=0.0)
    q, k, v = problem.make_inputs(seed=0)
    torch.testing.assert_close(get("custom").build(problem, q, k, v)(), reference(problem, q, k, v), rtol=0, atol=1e-12)


def test_dropout_keeps_the_expected_value_within_a_statistical_tolerance():
    attention, q, k, v = _setup(P)
    with torch.no_grad():  # SAMPLES copies of the inputs in one batch: each copy draws its own masks
        samples = attention(*(t.expand(SAMPLES, *t.shape[1:]) for t in (q, k, v)))[:, None]
    mean = samples.mean(dim=0)
    weights = loop_softmax(loop_logits(f64(q), f64(k), scaled_dot(0.5)), None)
    expected = loop_attention(q, k, v, scaled_dot(0.5))
    # One sample: o = Σ_j w_j·m_j·v_j/(1−p), m_j ~ Bernoulli(1−p)  ⇒  Var(o) = Σ_j w_j²·v_j²·p/(1−p).
    variance = torch.einsum("bhij,bhjd->bhid", weights ** 2, f64(v) ** 2) * P / (1 - P)
    z = (mean - expected) / (variance / SAMPLES).sqrt()
    assert float(z.abs().max()) < 5.0, float(z.abs().max())
    # The spread matches the model too (sample variance of 4000 draws: about ±3% per element), so the
    # keep-probability is 1−p and the rescaling 1/(1−p), not merely the mean.
    ratio = samples.var(dim=0) / variance
    assert 0.85 < float(ratio.min()) and float(ratio.max()) < 1.15, (float(ratio.min()), float(ratio.max()))
    assert not torch.allclose(attention(q, k, v), expected)


def test_dropout_masks_are_reproducible_from_the_seed():
    first, q, k, v = _setup(P, seed=7)
    second, _, _, _ = _setup(P, seed=7)
    other, _, _, _ = _setup(P, seed=8)
    a1, a2 = first(q, k, v), first(q, k, v)
    assert not torch.equal(a1, a2)  # each call draws a new mask
    assert torch.equal(a1, second(q, k, v)) and torch.equal(a2, second(q, k, v))
    assert not torch.equal(a1, other(q, k, v))
    first.output.reset_dropout()
    assert torch.equal(first(q, k, v), a1)


def test_registry_dropout_problem_runs_and_is_measured_without_dropout():
    problem = Problem(batch=1, seq_len=32, heads=2, head_dim=8, dropout=0.2, mode="fwd+bwd")
    impl = get("custom")
    assert impl.supports(problem)
    q, k, v = problem.make_inputs(seed=0)
    out = impl.build(problem, q, k, v)()
    assert torch.isfinite(out).all() and not torch.allclose(out, reference(problem, q, k, v).float(), atol=1e-3)
