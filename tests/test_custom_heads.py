"""AttentionHeadManager: layouts, talking heads, pruning and routing against loop formulations; FLOPs saved."""

from __future__ import annotations

import math

import pytest
import torch
from test_custom_loops import f64, loop_allowed, loop_attention, scaled_dot
from torch.utils.flop_counter import FlopCounterMode

from impls import Problem, get
from impls.custom.attention import CustomAttention, CustomConfig
from impls.custom.heads import AttentionHeadManager, HeadLayout, least_important, rank_heads

SCALE = 0.5


def _inputs(batch=2, heads=4, kv_heads=2, length=7, head_dim=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    make = lambda h: torch.randn(batch, h, length, head_dim, generator=g, dtype=torch.float64)  # noqa: E731
    return make(heads), make(kv_heads), make(kv_heads)


def _attention(n_heads=4, kv_heads=2, head_dim=5, **config):
    return CustomAttention.from_config(CustomConfig(**config), n_heads, head_dim, kv_heads, scale=SCALE).to(torch.float64)


def _flops(fn) -> int:
    with FlopCounterMode(display=False) as counter:
        fn()
    return counter.get_total_flops()


def test_layout_at_fixed_model_dim():
    assert (HeadLayout(512, 8, 8).head_dim, HeadLayout(512, 8, 8).kind) == (64, "MHA")
    assert (HeadLayout(1024, 32, 8).head_dim, HeadLayout(1024, 32, 8).kind) == (32, "GQA")
    assert HeadLayout(512, 16, 1).kind == "MQA"
    assert AttentionHeadManager.for_model_dim(512, 4, 1).head_dim == 128
    with pytest.raises(ValueError, match="model_dim=512 is not divisible by heads=3"):
        HeadLayout(512, 3, 3)
    with pytest.raises(ValueError, match="kv_heads=3 does not divide heads=8"):
        HeadLayout(512, 8, 3)


def test_grouped_heads_share_keys_without_copying_them():
    # GQA/MQA do less work than MHA only if K/V are never expanded: no repeat_interleave in the forward.
    attention = _attention(n_heads=8, kv_heads=2)
    q, k, v = _inputs(heads=8, kv_heads=2)
    with torch.autograd.profiler.profile() as prof:
        attention(q, k, v)
    assert not [e for e in prof.function_events if "repeat_interleave" in e.name]


def test_talking_heads_match_the_loop_formulation():
    attention = _attention(heads="talking", mask="causal")
    q, k, v = _inputs()
    manager = attention.heads
    assert not torch.allclose(manager.logit_mixing, torch.eye(4, dtype=torch.float64))
    expected = loop_attention(q, k, v, scaled_dot(SCALE), loop_allowed(lambda b, i, j: j <= i, 1, 7, 7),
                              logit_mixing=manager.logit_mixing, weight_mixing=manager.weight_mixing)
    torch.testing.assert_close(attention(q, k, v), expected, rtol=0, atol=1e-12)


def test_pruned_heads_are_zero_kept_heads_are_exact_and_not_computed():
    q, k, v = _inputs(heads=8, kv_heads=2)
    full = _attention(n_heads=8, kv_heads=2)
    pruned = _attention(n_heads=8, kv_heads=2)
    pruned.heads.prune([1, 2, 5, 6])
    expected = loop_attention(q, k, v, scaled_dot(SCALE))
    out = pruned(q, k, v)
    for head in range(8):
        target = torch.zeros_like(expected[:, head]) if head in (1, 2, 5, 6) else expected[:, head]
        torch.testing.assert_close(out[:, head], target, rtol=0, atol=1e-12)
    # pruned heads are not computed: the attention matmuls do exactly half the FLOPs
    assert _flops(lambda: pruned(q, k, v)) * 2 == _flops(lambda: full(q, k, v))


def test_importance_ranking_prunes_the_heads_with_the_smallest_output():
    q, k, v = _inputs(heads=4, kv_heads=4)
    v[:, 2] *= 0.01  # head 2's values are tiny: its output norm is smallest
    v[:, 0] *= 0.1
    attention = _attention(n_heads=4, kv_heads=4)
    out = loop_attention(q, k, v, scaled_dot(SCALE))
    norms = torch.tensor([float(sum(out[b, h, i].norm() for b in range(2) for i in range(7))) / 14 for h in range(4)], dtype=torch.float64)
    assert rank_heads(norms)[-2:] == [0, 2]
    assert attention.prune_least_important(q, k, v, 2, "norm") == [0, 2] == least_important(norms, 2)
    torch.testing.assert_close(attention.head_importance(q, k, v, "norm"), norms, rtol=1e-10, atol=0)
    assert len(attention.head_importance(q, k, v, "focus")) == 4


def test_registry_prune_fraction_and_reasons():
    impl = get("custom[prune=4/8]")
    assert impl.full_name == "custom[prune=4/8]" and not impl.exact
    assert impl.pruned_count(8) == 4 and impl.pruned_count(16) == 8 and impl.pruned_count(2) == 1
    assert [r.code for r in impl.not_supported_reasons(Problem(batch=1, seq_len=8, heads=1, head_dim=8))] == ["params"]
    problem = Problem(batch=1, seq_len=64, heads=8, head_dim=16)
    assert impl.flops(problem) == pytest.approx(get("custom").flops(problem) / 2)
    q, k, v = problem.make_inputs(seed=0)
    out = impl.build(problem, q, k, v)()
    assert int((out.abs().sum(dim=(0, 2, 3)) == 0).sum()) == 4


def _loop_routing(q, k, v, router, top_k):
    """Per token: router logits from the token's queries of all heads, top-k heads, gate k·softmax, others zero."""
    q64, router = f64(q), f64(router)
    full = loop_attention(q, k, v, scaled_dot(SCALE))
    batch, heads, length, _ = q.shape
    out = torch.zeros_like(full)
    for b in range(batch):
        for i in range(length):
            logits = [float(torch.cat([q64[b, h, i] for h in range(heads)]) @ router[:, g]) for g in range(heads)]
            chosen = sorted(range(heads), key=lambda g: -logits[g])[:top_k]
            norm = sum(math.exp(logits[g]) for g in chosen)
            for g in chosen:
                out[b, g, i] = top_k * math.exp(logits[g]) / norm * full[b, g, i]
    return out


@pytest.mark.parametrize("top_k", [1, 2, 4])
def test_routing_matches_the_loop_formulation_and_saves_compute(top_k):
    q, k, v = _inputs(heads=4, kv_heads=2, length=9)
    routed = _attention(n_heads=4, kv_heads=2, route=top_k)
    torch.testing.assert_close(routed(q, k, v), _loop_routing(q, k, v, routed.heads.router, top_k), rtol=0, atol=1e-12)
    # batch 1 (no padding rows): attention FLOPs are exactly top_k/heads of MHA's, plus the router's matmul
    q1, k1, v1 = q[:1], k[:1], v[:1]
    router_flops = 2 * 9 * (4 * 5) * 4
    assert _flops(lambda: routed(q1, k1, v1)) - router_flops == _flops(lambda: _attention(n_heads=4, kv_heads=2)(q1, k1, v1)) * top_k // 4


def test_head_schemes_that_cannot_combine_are_refused():
    with pytest.raises(ValueError, match="cannot be pruned or routed"):
        get("custom[heads=talking,route=2]")
    with pytest.raises(ValueError, match="choose prune or route"):
        get("custom[prune=2,route=2]")
    with pytest.raises(ValueError, match="cannot prune all 4 heads"):
        AttentionHeadManager(4, 8).prune(range(4))
    reasons = get("custom[route=4]").not_supported_reasons(Problem(batch=1, seq_len=8, heads=2, head_dim=8))
    assert [r.code for r in reasons] == ["params"] and "route=4 > heads=2" in reasons[0].message
