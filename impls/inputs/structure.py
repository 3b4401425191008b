"""Per-head statistics of causal attention, to show what structure an input distribution has.

For each head, averaged over query rows i >= 1 (row 0 sees only itself):
- ``entropy``: of the attention row, in nats; ``relative_entropy``: divided by log(i + 1), the
  entropy of uniform attention over the visible keys (1.0 = uniform, 0 = one key);
- ``top1``: the largest weight of the row (peakedness);
- ``local_mass``: weight on the ``window`` nearest keys (i - window < j <= i);
- ``sink_mass``: weight on key 0;
- ``mean_distance``: the expected i - j.
"""

from __future__ import annotations

import math

import torch

STATISTICS = ("entropy", "relative_entropy", "top1", "local_mass", "sink_mass", "mean_distance")


def head_statistics(q: torch.Tensor, k: torch.Tensor, scale: float | None = None, window: int = 16,
                    row_chunk: int = 256) -> list[dict[str, float]]:
    """q (heads, L, d), k (kv_heads, L, d) of one batch item → one dict per head (causal attention)."""
    heads, length, dim = q.shape
    scale = dim ** -0.5 if scale is None else scale
    k = k.repeat_interleave(heads // k.shape[0], dim=0).double()
    q = q.double()
    keys = torch.arange(length)
    sums = {name: torch.zeros(heads, dtype=torch.float64) for name in STATISTICS}
    for start in range(1, length, row_chunk):
        rows = torch.arange(start, min(start + row_chunk, length))
        scores = (q[:, rows] @ k.transpose(1, 2)) * scale
        distance = rows[:, None] - keys[None, :]  # (rows, keys)
        scores = scores.masked_fill(distance < 0, float("-inf"))
        weights = torch.softmax(scores, dim=-1)
        entropy = -(weights * torch.log(weights.clamp_min(1e-300))).sum(-1)  # (heads, rows)
        sums["entropy"] += entropy.sum(-1)
        sums["relative_entropy"] += (entropy / torch.log(rows.double() + 1)).sum(-1)
        sums["top1"] += weights.amax(-1).sum(-1)
        sums["local_mass"] += (weights * ((distance >= 0) & (distance < window))).sum(-1).sum(-1)
        sums["sink_mass"] += weights[..., 0].sum(-1)
        sums["mean_distance"] += (weights * distance.clamp_min(0)).sum(-1).sum(-1)
    count = length - 1
    return [{name: float(sums[name][h]) / count for name in STATISTICS} for h in range(heads)]


def uniform_reference(length: int, window: int = 16) -> dict[str, float]:
    """The same statistics for uniform causal attention (what near-uniform gaussian inputs approach)."""
    rows = range(1, length)
    return {
        "entropy": sum(math.log(i + 1) for i in rows) / (length - 1), "relative_entropy": 1.0,
        "top1": sum(1 / (i + 1) for i in rows) / (length - 1),
        "local_mass": sum(min(window, i + 1) / (i + 1) for i in rows) / (length - 1),
        "sink_mass": sum(1 / (i + 1) for i in rows) / (length - 1), "mean_distance": sum(i / 2 for i in rows) / (length - 1),
    }
