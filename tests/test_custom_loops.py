"""Slow, loop-based float64 formulations of the custom attention's functions, and their own check.

Every (batch, head, query, key) is visited by Python loops, with no code shared with impls/custom:
the other test_custom_* modules compare the fast modules against these. The loops are validated
here against the project's float64 oracle for the one case where both define the same function.
"""

from __future__ import annotations

import math

import torch

from impls import Problem, reference


def f64(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float64).cpu()


def loop_logits(q, k, score) -> torch.Tensor:
    """logits[b, h, i, j] = score(b, h, i, j, q_vec, k_vec), key head h // group."""
    batch, heads, q_len, _ = q.shape
    kv_heads, kv_len = k.shape[1], k.shape[2]
    group = heads // kv_heads
    out = torch.zeros(batch, heads, q_len, kv_len, dtype=torch.float64)
    for b in range(batch):
        for h in range(heads):
            for i in range(q_len):
                for j in range(kv_len):
                    out[b, h, i, j] = score(h, q[b, h, i], k[b, h // group, j])
    return out


def loop_mix(values, mixing) -> torch.Tensor:
    """mixed[b, g, i, j] = Σ_h mixing[g, h] · values[b, h, i, j] (talking heads)."""
    batch, heads, q_len, kv_len = values.shape
    out = torch.zeros_like(values)
    for b in range(batch):
        for g in range(heads):
            for h in range(heads):
                out[b, g] += mixing[g, h] * values[b, h]
    return out


def loop_softmax(logits, allowed) -> torch.Tensor:
    """Row softmax over allowed keys; rows with no allowed key are zero. allowed: (B or 1, Lq, Lk) bool."""
    batch, heads, q_len, kv_len = logits.shape
    weights = torch.zeros_like(logits)
    for b in range(batch):
        for h in range(heads):
            for i in range(q_len):
                keep = [j for j in range(kv_len) if allowed is None or bool(allowed[b if allowed.shape[0] > 1 else 0, i, j])]
                if not keep:
                    continue
                top = max(float(logits[b, h, i, j]) for j in keep)
                exps = {j: math.exp(float(logits[b, h, i, j]) - top) for j in keep}
                total = sum(exps.values())
                for j in keep:
                    weights[b, h, i, j] = exps[j] / total
    return weights


def loop_combine(weights, v) -> torch.Tensor:
    batch, heads, q_len, kv_len = weights.shape
    group = heads // v.shape[1]
    out = torch.zeros(batch, heads, q_len, v.shape[-1], dtype=torch.float64)
    for b in range(batch):
        for h in range(heads):
            for i in range(q_len):
                for j in range(kv_len):
                    out[b, h, i] += weights[b, h, i, j] * v[b, h // group, j]
    return out


def loop_attention(q, k, v, score, allowed=None, logit_mixing=None, weight_mixing=None) -> torch.Tensor:
    q, k, v = f64(q), f64(k), f64(v)
    logits = loop_logits(q, k, score)
    if logit_mixing is not None:
        logits = loop_mix(logits, f64(logit_mixing))
    weights = loop_softmax(logits, allowed)
    if weight_mixing is not None:
        weights = loop_mix(weights, f64(weight_mixing))
    return loop_combine(weights, v)


# --- score functions, written from their formulas -----------------------------------------------------
def scaled_dot(scale):
    return lambda h, qi, kj: float(torch.dot(qi, kj)) * scale


def dot():
    return lambda h, qi, kj: float(torch.dot(qi, kj))


def multiplicative(weight, scale):
    w = f64(weight)
    return lambda h, qi, kj: float(qi @ w[h] @ kj) * scale


def additive(query_weight, key_weight, vector):
    wq, wk, vec = f64(query_weight), f64(key_weight), f64(vector)
    return lambda h, qi, kj: float(torch.dot(vec[h], torch.tanh(qi @ wq[h] + kj @ wk[h])))


def loop_allowed(predicate, batch, q_len, kv_len) -> torch.Tensor:
    """(B, Lq, Lk) bool from a Python predicate(b, i, j), evaluated pair by pair."""
    return torch.tensor([[[bool(predicate(b, i, j)) for j in range(kv_len)] for i in range(q_len)] for b in range(batch)])


def test_the_loops_match_the_oracle_for_scaled_dot_with_gqa_and_a_mask():
    problem = Problem(batch=2, seq_len=5, kv_seq_len=7, heads=4, kv_heads=2, head_dim=3, dtype=torch.float64,
                      mask="padding[lengths=7/3]+causal")
    q, k, v = problem.make_inputs(seed=3)
    lengths = (7, 3)
    allowed = loop_allowed(lambda b, i, j: j < lengths[b] and j <= i, 2, 5, 7)
    loops = loop_attention(q, k, v, scaled_dot(problem.softmax_scale), allowed)
    torch.testing.assert_close(loops, reference(problem, q, k, v), rtol=0, atol=1e-12)
