"""Softmax statistics for the stability suite, against values computed row by row."""

from __future__ import annotations

import math

import torch

from impls import Problem, get
from impls.custom.statistics import logits_of, softmax_statistics


def test_statistics_match_a_row_by_row_computation():
    logits = torch.tensor([[[[0.0, 0.0, float("-inf")], [2.0, 0.0, -1.0], [float("-inf")] * 3]]])
    stats = softmax_statistics(logits)
    row2 = [math.exp(x) for x in (2.0, 0.0, -1.0)]
    p2 = [x / sum(row2) for x in row2]
    entropy2 = -sum(p * math.log(p) for p in p2)
    assert math.isclose(stats["entropy"], (math.log(2) + entropy2) / 2, rel_tol=1e-12)  # the empty row is left out
    assert math.isclose(stats["entropy_fraction"], (1.0 + entropy2 / math.log(3)) / 2, rel_tol=1e-12)
    assert stats["max_logit"] == 2.0 and math.isclose(stats["mean_max_weight"], (0.5 + max(p2)) / 2, rel_tol=1e-12)
    values = [0.0, 0.0, 2.0, 0.0, -1.0]
    mean = sum(values) / 5
    assert math.isclose(stats["logit_std"], math.sqrt(sum((x - mean) ** 2 for x in values) / 5), rel_tol=1e-9)


def test_logits_are_the_problems_own_or_the_implementations():
    problem = Problem(batch=1, seq_len=5, heads=2, kv_heads=1, head_dim=4, mask="causal", scale=1.0)
    q, k, _ = problem.make_inputs(seed=0)
    standard = logits_of(get("naive"), problem, q, k)
    assert torch.isneginf(standard[0, 0, 0, 1]) and torch.allclose(standard[0, 1, 4], q[0, 1, 4] @ k[0, 0].T)
    torch.testing.assert_close(logits_of(get("custom"), problem, q, k), standard)
    assert not torch.allclose(logits_of(get("custom[score=additive]"), problem, q, k)[0, 0, 4], standard[0, 0, 4])
