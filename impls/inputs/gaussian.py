"""``gaussian``: i.i.d. standard normal q, k, v (the suite's original inputs).

Attention on these is nearly uniform (every score is noise of the same size), which is the
hardest case for every approximation and unlike any trained model: use it for timing and exact
kernels, and read approximation error on ``synthetic`` or ``captured:`` inputs.
"""

from __future__ import annotations

import torch


def make(problem, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 CPU tensors; the same numbers for a seed as the suite always drew."""
    generator = torch.Generator().manual_seed(seed)
    shapes = (
        (problem.batch, problem.heads, problem.seq_len, problem.head_dim),
        (problem.batch, problem.kv_heads, problem.kv_seq_len, problem.head_dim),
        (problem.batch, problem.kv_heads, problem.kv_seq_len, problem.head_dim),
    )
    q, k, v = (torch.randn(shape, generator=generator, dtype=torch.float32) for shape in shapes)
    return q, k, v
