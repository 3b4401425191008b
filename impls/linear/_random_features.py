"""Orthogonal Gaussian random features (Choromanski et al. 2021, "Rethinking Attention with Performers").

Rows come in blocks of ``dim`` mutually orthogonal directions, each block a Haar-random rotation;
each row is then given the length of an independent N(0, I_dim) vector (a chi-distributed norm).
So every row on its own is exactly N(0, I_dim), which keeps the FAVOR+ softmax-kernel estimator
unbiased, while orthogonality within a block lowers its variance.

Drawn on the CPU in float64 from a seed, so the same seed gives the same features on every device.
"""

from __future__ import annotations

import torch


def orthogonal_gaussian(rows: int, dim: int, seed: int) -> torch.Tensor:
    """(rows, dim) float64 on the CPU."""
    generator = torch.Generator().manual_seed(int(seed))
    blocks = []
    for _ in range(-(-rows // dim)):
        gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
        q, r = torch.linalg.qr(gaussian)
        # Sign fix (Mezzadri 2007): without it the QR factor is not Haar-distributed.
        q = q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))[None, :]
        blocks.append(q.T)
    directions = torch.cat(blocks)[:rows]
    lengths = torch.randn(rows, dim, generator=generator, dtype=torch.float64).norm(dim=1)
    return directions * lengths[:, None]
