"""Softmax statistics at initialization, for the stability suite: what the softmax of an implementation sees.

An implementation with its own score function exposes ``logits(problem, q, k)`` (custom does); for
the others the logits are the problem's own, q·kᵀ·scale under its mask. The statistics say whether
attention starts flat (entropy near log n) or saturated (max weight near 1), which is what score
scaling is for: unscaled dot-product logits grow like sqrt(head_dim) and saturate the softmax.
"""

from __future__ import annotations

import math

import torch

from ..problem import Problem
from .heads import expand_kv


def logits_of(impl, problem: Problem, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """(B, H, Lq, Lk) logits the implementation's softmax sees; masked pairs are −inf."""
    own = getattr(impl, "logits", None)
    logits = own(problem, q, k) if own is not None else None
    if logits is not None:
        return logits.detach()
    with torch.no_grad():
        logits = torch.matmul(q, expand_kv(k, problem.heads).transpose(-1, -2)) * problem.softmax_scale
        if problem.mask is not None:
            allowed = problem.mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, q.device)
            logits = logits.masked_fill(~allowed, float("-inf"))
    return logits


def softmax_statistics(logits: torch.Tensor) -> dict[str, float]:
    """Entropy (nats, and as a fraction of the uniform entropy over each row's allowed keys), max logit,
    logit std over allowed pairs, mean max weight, and the fraction of rows whose max weight exceeds 0.99."""
    entropy = normalized = max_weight = saturated = 0.0
    total_sum = total_sq = 0.0
    count = rows = 0
    max_logit = -math.inf
    for head in range(logits.shape[1]):  # per head, in float64, to bound memory
        x = logits[:, head].detach().to(torch.float64)
        allowed = torch.isfinite(x)
        n_allowed = allowed.sum(dim=-1)
        live = n_allowed > 0
        if not bool(live.any()):
            continue
        p = torch.softmax(x[live], dim=-1)
        row_entropy = torch.special.entr(p).sum(dim=-1)
        uniform = torch.log(n_allowed[live].to(torch.float64))
        entropy += float(row_entropy.sum())
        normalized += float(torch.where(uniform > 0, row_entropy / uniform.clamp_min(1e-300), torch.ones_like(uniform)).sum())
        peak = p.amax(dim=-1)
        max_weight += float(peak.sum())
        saturated += float((peak > 0.99).sum())
        rows += int(live.sum())
        finite = x[allowed]
        max_logit = max(max_logit, float(finite.max()))
        total_sum += float(finite.sum())
        total_sq += float((finite * finite).sum())
        count += finite.numel()
    if not rows:
        return {}
    mean = total_sum / count
    return {"entropy": entropy / rows, "entropy_fraction": normalized / rows, "max_logit": max_logit,
            "logit_std": math.sqrt(max(0.0, total_sq / count - mean * mean)), "mean_max_weight": max_weight / rows,
            "saturated_rows": saturated / rows}
