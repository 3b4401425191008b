"""naive: the textbook formula with an explicit (seq × kv_seq) score matrix."""

from __future__ import annotations

import torch

from ..registry import Impl, register


@register
class Naive(Impl):
    name = "naive"
    family = "exact"
    description = "explicit q·kᵀ, softmax, ·v; materializes the score matrix"
    dropout = True
    efficiency = 0.15

    def build(self, problem, q, k, v):
        scale = problem.softmax_scale
        groups = problem.gqa_ratio
        allowed = None
        empty_rows = None
        if problem.mask is not None:
            allowed = problem.mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, q.device)
            has_key = allowed.any(dim=-1, keepdim=True)
            empty_rows = None if bool(has_key.all()) else ~has_key
        dropout_p = problem.dropout

        def naive():
            keys = k.repeat_interleave(groups, dim=1) if groups > 1 else k
            values = v.repeat_interleave(groups, dim=1) if groups > 1 else v
            scores = torch.matmul(q, keys.transpose(-1, -2)) * scale
            if allowed is not None:
                scores = scores.masked_fill(~allowed, float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            if empty_rows is not None:  # softmax of an all -inf row is NaN; our convention is zero
                weights = weights.masked_fill(empty_rows, 0.0)
            if dropout_p:
                weights = torch.nn.functional.dropout(weights, p=dropout_p)
            return torch.matmul(weights, values)

        return naive

    def memory_estimate(self, problem):
        # scores, exp and weights are live together at the peak (three score-sized buffers);
        # backward keeps two of them and adds their gradients.
        scores = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len * problem.element_size()
        return problem.min_bytes() + scores * (3 if problem.mode == "fwd" else 5)

    def executed_flops(self, problem):
        return problem.with_(mask=None).flops() if problem.mask is not None else problem.flops()
