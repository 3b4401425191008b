"""custom's masking step: named, local, tensor and predicate strategies against loop-built masks."""

from __future__ import annotations

import pytest
import torch
from test_custom_loops import loop_allowed, loop_attention, scaled_dot

from impls import Problem, errors, get, reference, tolerance
from impls.custom.attention import CustomAttention, CustomConfig
from impls.custom.masking import PredicateMask, TensorMask, resolve_mask
from impls.masks import SlidingWindow

BATCH, HEADS, Q_LEN, KV_LEN, DIM = 2, 2, 9, 11, 4


def _run(strategy):
    attention = CustomAttention.from_config(CustomConfig(mask=strategy), HEADS, DIM, scale=0.5).to(torch.float64)
    g = torch.Generator().manual_seed(5)
    q = torch.randn(BATCH, HEADS, Q_LEN, DIM, generator=g, dtype=torch.float64)
    k = torch.randn(BATCH, HEADS, KV_LEN, DIM, generator=g, dtype=torch.float64)
    v = torch.randn(BATCH, HEADS, KV_LEN, DIM, generator=g, dtype=torch.float64)
    return attention(q, k, v), (q, k, v)


@pytest.mark.parametrize("strategy, rule", [
    ("causal", lambda b, i, j: j <= i),
    ("padding[lengths=11/4]", lambda b, i, j: j < (11, 4)[b]),
    ("local[w=3]", lambda b, i, j: abs(i - j) <= 3),
    ("local[w=3,causal=1]", lambda b, i, j: 0 <= i - j <= 3),
    ("sliding-window[w=2]", lambda b, i, j: 0 <= i - j <= 2),
    ("local[w=2]+padding[lengths=11/4]", lambda b, i, j: abs(i - j) <= 2 and j < (11, 4)[b]),
])
def test_named_strategies_match_a_loop_built_mask(strategy, rule):
    out, (q, k, v) = _run(strategy)
    expected = loop_attention(q, k, v, scaled_dot(0.5), loop_allowed(rule, BATCH, Q_LEN, KV_LEN))
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)


def test_custom_tensor_and_predicate_masks_and_empty_rows_give_zero():
    rule = lambda b, i, j: (i + j + b) % 3 != 0 and i != 4  # noqa: E731  (row 4 keeps no key)
    allowed = loop_allowed(rule, BATCH, Q_LEN, KV_LEN)
    predicate = PredicateMask(lambda b, h, i, j: ((i + j + b) % 3 != 0) & (i != 4), "mod3", depends_on_batch=True)
    for strategy in (allowed[:, None], predicate):
        out, (q, k, v) = _run(strategy)
        expected = loop_attention(q, k, v, scaled_dot(0.5), allowed)
        torch.testing.assert_close(out, expected, rtol=0, atol=1e-12)
        assert torch.all(out[:, :, 4] == 0)


def test_custom_masks_are_exact_against_the_oracle_in_a_problem():
    allowed = torch.rand(2, 1, 29, 29, generator=torch.Generator().manual_seed(0)) < 0.3
    allowed[:, :, 3] = False  # a row with no allowed key
    problem = Problem(batch=2, seq_len=29, heads=4, kv_heads=2, head_dim=16, mask=TensorMask(allowed, "random"))
    q, k, v = problem.make_inputs(seed=0)
    e = errors(get("custom").build(problem, q, k, v)(), reference(problem, q, k, v))
    assert e["finite"] and e["max_abs"] <= tolerance(torch.float32).max_abs


def test_window_parameter_intersects_the_problems_mask():
    problem = Problem(batch=1, seq_len=21, heads=2, head_dim=8, mask="causal", dtype=torch.float64)
    q, k, v = problem.make_inputs(seed=0)
    impl = get("custom[window=4]")
    assert not impl.exact and impl.full_name == "custom[window=4]"
    windowed = problem.with_(mask=resolve_mask("causal+local[w=4]", 1, 21, 21))
    torch.testing.assert_close(impl.build(problem, q, k, v)(), reference(windowed, q, k, v), rtol=0, atol=1e-12)
    assert impl.flops(problem) < get("custom").flops(problem)


def test_bad_strategies_say_what_is_accepted():
    with pytest.raises(ValueError, match="needs w=<window>"):
        resolve_mask("local", 1, 4, 4)
    with pytest.raises(ValueError, match="does not broadcast"):
        TensorMask(torch.ones(3, 1, 4, 4, dtype=torch.bool)).validate(2, 4, 4)
    with pytest.raises(ValueError, match="unknown mask"):
        resolve_mask("diagonal", 1, 4, 4)
    assert resolve_mask("local[w=2,causal=1]", 1, 4, 4) == SlidingWindow(w=2, causal=True)
    assert resolve_mask("local[w=2]", 1, 4, 4) == SlidingWindow(w=2, causal=False)
