"""custom's score functions: scaled-dot against the float64 oracle, the others against loop formulations."""

from __future__ import annotations

import pytest
import torch
from test_custom_loops import additive, dot, loop_allowed, loop_attention, multiplicative, scaled_dot

from impls import Problem, errors, get, reference, reference_grads, tolerance
from impls.custom.attention import CustomAttention, CustomConfig


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("mask, kv_heads, kv_seq_len", [
    (None, 4, None), ("causal", 2, None), ("causal", 1, 23), ("padding", 4, 31), ("padding+causal", 2, None),
])
def test_scaled_dot_config_is_exact_against_the_oracle(dtype, mask, kv_heads, kv_seq_len):
    problem = Problem(batch=2, seq_len=37, kv_seq_len=kv_seq_len, heads=4, kv_heads=kv_heads, head_dim=16, dtype=dtype,
                      mask=mask, mode="fwd+bwd")
    q, k, v = problem.make_inputs(seed=1)
    impl = get("custom")
    assert impl.exact and impl.full_name == "custom"
    out = impl.build(problem, q, k, v)()
    tol = tolerance(dtype)
    e = errors(out, reference(problem, q, k, v))
    assert e["max_abs"] <= tol.max_abs and e["rel_l2"] <= tol.rel_l2, e
    grad_out = problem.make_grad_output(seed=1)
    grads = torch.autograd.grad(out, (q, k, v), grad_out)
    for actual, expected in zip(grads, reference_grads(problem, q, k, v, grad_out)):
        assert errors(actual, expected)["rel_l2"] <= 4 * tol.rel_l2


def test_scaled_dot_follows_the_problems_scale():
    problem = Problem(batch=1, seq_len=19, heads=2, head_dim=8, scale=1.0, dtype=torch.float64)
    q, k, v = problem.make_inputs(seed=2)
    torch.testing.assert_close(get("custom").build(problem, q, k, v)(), reference(problem, q, k, v), rtol=0, atol=1e-10)


def _module(score, heads=4, kv_heads=2, head_dim=6, scale=0.5, mask=None, seed=0):
    attention = CustomAttention.from_config(CustomConfig(score=score, mask=mask, seed=seed), heads, head_dim, kv_heads, scale=scale)
    return attention.to(torch.float64)


def _inputs(batch=2, heads=4, kv_heads=2, q_len=5, kv_len=7, head_dim=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda h, n: torch.randn(batch, h, n, head_dim, generator=g, dtype=torch.float64)  # noqa: E731
    return make(heads, q_len), make(kv_heads, kv_len), make(kv_heads, kv_len)


@pytest.mark.parametrize("score", ["dot", "scaled-dot", "multiplicative", "additive"])
def test_each_score_function_matches_its_loop_formulation(score):
    attention = _module(score, mask="causal")
    q, k, v = _inputs()
    s = attention.score
    formula = {"dot": lambda: dot(), "scaled-dot": lambda: scaled_dot(0.5), "multiplicative": lambda: multiplicative(s.weight, 0.5),
               "additive": lambda: additive(s.query_weight, s.key_weight, s.vector)}[score]()
    allowed = loop_allowed(lambda b, i, j: j <= i, 1, 5, 7)
    torch.testing.assert_close(attention(q, k, v), loop_attention(q, k, v, formula, allowed), rtol=0, atol=1e-12)


def test_additive_chunking_over_query_rows_gives_the_same_logits(monkeypatch):
    import impls.custom.scores as scores

    attention = _module("additive")
    q, k, v = _inputs(q_len=9)
    whole = attention(q, k, v)
    monkeypatch.setitem(scores.ADDITIVE_CHUNK_ELEMENTS, "cpu", 2 * 4 * 7 * 6 * 2)  # two query rows per chunk
    torch.testing.assert_close(attention(q, k, v), whole, rtol=0, atol=1e-14)


def test_parameters_come_from_the_seed_and_names_parse():
    a, b, c = _module("additive", seed=0), _module("additive", seed=0), _module("additive", seed=1)
    assert torch.equal(a.score.vector, b.score.vector) and not torch.equal(a.score.vector, c.score.vector)
    assert get("custom[score=general]").full_name == "custom[score=multiplicative]"
    assert get("custom[score=additive,seed=3]").full_name == "custom[score=additive,seed=3]"
    for name in ("custom[score=dot]", "custom[score=additive]", "custom[score=multiplicative]"):
        assert not get(name).exact
    with pytest.raises(ValueError, match="unknown score function 'cosine'"):
        get("custom[score=cosine]")


@pytest.mark.parametrize("name", ["custom[score=dot]", "custom[score=multiplicative]", "custom[score=additive]"])
def test_registry_variants_compute_their_loop_formulation_in_float64(name):
    problem = Problem(batch=1, seq_len=6, heads=2, kv_heads=1, head_dim=4, dtype=torch.float64, mask="causal")
    q, k, v = problem.make_inputs(seed=4)
    impl = get(name)
    s = impl.attention(problem).score
    formula = {"dot": dot, "multiplicative": lambda: multiplicative(s.weight, problem.softmax_scale),
               "additive": lambda: additive(s.query_weight, s.key_weight, s.vector)}[impl.values["score"]]()
    allowed = loop_allowed(lambda b, i, j: j <= i, 1, 6, 6)
    torch.testing.assert_close(impl.build(problem, q, k, v)(), loop_attention(q, k, v, formula, allowed), rtol=0, atol=1e-12)


@pytest.mark.parametrize("config", [{"score": "dot"}, {"score": "scaled-dot"}, {"score": "multiplicative"}, {"score": "additive"},
                                    {"heads": "talking"}, {"route": 1}])
def test_gradients_match_finite_differences(config):
    attention = CustomAttention.from_config(CustomConfig(mask="causal", **config), 2, 3, 1, scale=0.5).to(torch.float64)
    q, k, v = (t.requires_grad_() for t in _inputs(batch=1, heads=2, kv_heads=1, q_len=4, kv_len=4, head_dim=3, seed=2))
    assert torch.autograd.gradcheck(attention, (q, k, v), eps=1e-6, atol=1e-7)
