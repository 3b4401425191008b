"""banded: our chunked sliding-window kernel, exact for the problem's own window mask.

Solves problems whose mask is a sliding window (causal, symmetric or dilated) or a Longformer
window with global tokens, in O(L·w) time and memory; see _banded for the algorithm. To impose a
window on a dense or causal problem instead (an approximation), use ``sliding-window[w=...]``.
"""

from __future__ import annotations

import torch

from ..masks import Longformer
from ..registry import Impl, register
from ._banded import LongformerKernel, window_band

ALL_DTYPES = frozenset({torch.float32, torch.float64, torch.float16, torch.bfloat16})


def band_kernel(problem, rows: int, device):
    """The kernel for the problem's window mask, planned for its shape."""
    shape = (problem.seq_len, problem.kv_seq_len, problem.heads, problem.kv_heads, rows, device)
    if isinstance(problem.mask, Longformer):
        return LongformerKernel(problem.mask, *shape)
    return window_band(problem.mask, *shape)


def band_pairs(problem, rows: int) -> int:
    """Score elements the banded kernel computes per (batch, query head), padding included."""
    mask = problem.mask
    step = getattr(mask, "dilation", 1)
    after = 0 if mask.causal else mask.w
    q_steps, kv_steps = -(-problem.seq_len // step), -(-problem.kv_seq_len // step)
    rows = max(1, min(rows, q_steps))
    chunks = -(-q_steps // rows)
    keys = rows + min(mask.w, chunks * rows - 1) + min(after, kv_steps - 1)
    pairs = step * chunks * rows * keys
    if isinstance(mask, Longformer):
        pairs += step * chunks * rows * len(mask.globals) + len(mask.globals) * problem.kv_seq_len
    return pairs


@register
class Banded(Impl):
    name = "banded"
    family = "sparse"
    description = "our chunked banded kernel: each chunk of queries against its window of keys, O(L·w); exact for window masks"
    dtypes = ALL_DTYPES
    mask_kinds = frozenset({"sliding-window", "longformer"})
    params = {"chunk": 64}
    efficiency = 0.2  # small bmm tiles and a softmax pass; only used to predict time for budgets

    def check_params(self):
        if self.values["chunk"] < 1:
            raise ValueError(f"banded chunk={self.values['chunk']} must be at least 1 (query rows per chunk)")

    def build(self, problem, q, k, v):
        kernel = band_kernel(problem, self.values["chunk"], q.device)
        scale = problem.softmax_scale
        return lambda: kernel(q, k, v, scale)

    def executed_flops(self, problem):
        pairs = problem.batch * problem.heads * band_pairs(problem, self.values["chunk"])
        return 2.0 * pairs * 2 * problem.head_dim * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        pairs = problem.batch * problem.heads * band_pairs(problem, self.values["chunk"])
        windows = 3 * problem.input_bytes()  # padded keys and values, and their window copies in backward
        saved = pairs * 4 * 2 if problem.needs_grad else 1 << 22  # scores and weights kept for backward, else one tile
        return problem.min_bytes() + windows + saved + pairs // problem.heads
