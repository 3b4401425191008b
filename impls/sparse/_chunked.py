"""The inner step of the sparse kernels: each chunk of query rows attends over its own short list of keys.

Layout (the kernels in _banded and _blocks produce it):

- ``q``: (B, Hkv, C, R, d), already multiplied by the softmax scale: C chunks of R query rows; with GQA the
  query heads that share a key head are folded into the rows, so keys are never repeated per head;
- ``k``, ``v``: (B, Hkv, C, K, d): each chunk's K keys (an overlapping view of the padded keys is fine);
- a :class:`ChunkMask` of shape (Bm, 1, C, R, K), Bm = 1 or B.

Scores exist only per chunk, (R × K), so memory is O(rows · K), never O(seq²). Without autograd the chunks
are processed a tile at a time in place (scores of one tile stay in cache, nothing is allocated per tile);
with autograd the same ops run out of place on all chunks at once and autograd keeps O(rows · K) for backward.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# Score elements of one in-place tile: about 4 MiB of float32, which keeps a tile in the L2/L3 cache of
# a CPU and still gives each bmm enough chunks to parallelize over.
_TILE_ELEMENTS = 1 << 20
# Low-precision inputs are computed in float32: the scores and the softmax need the range and precision.
_COMPUTE_DTYPE = {torch.float16: torch.float32, torch.bfloat16: torch.float32}


@dataclass(frozen=True)
class ChunkMask:
    """Which (row, key) pairs of each chunk are dropped. Built once, outside the timed call.

    A row that keeps no key would make softmax 0/0; such a row keeps one dummy key here and its output
    is set to zero afterwards (the documented convention), so no NaN reaches values or gradients.
    """

    dropped: torch.Tensor  # (Bm, 1, C, R, K) bool, True where the pair is masked
    empty_rows: torch.Tensor | None  # (Bm, 1, C, R, 1) bool, rows with no allowed key; None when there are none

    @classmethod
    def from_kept(cls, kept: torch.Tensor) -> ChunkMask:
        empty = ~kept.any(dim=-1, keepdim=True)
        if not bool(empty.any()):
            return cls(~kept, None)
        kept = kept.clone()
        kept[..., :1] |= empty
        return cls(~kept, empty)

    def nbytes(self) -> int:
        return self.dropped.numel() + (self.empty_rows.numel() if self.empty_rows is not None else 0)


def attend_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: ChunkMask) -> torch.Tensor:
    """softmax(q·kᵀ masked)·v per chunk: (B, Hkv, C, R, d) in q's dtype."""
    dtype = q.dtype
    compute = _COMPUTE_DTYPE.get(dtype)
    if compute is not None:
        q, k, v = q.to(compute), k.to(compute), v.to(compute)
    if torch.is_grad_enabled() and (q.requires_grad or k.requires_grad or v.requires_grad):
        out = _differentiable(q, k, v, mask.dropped)
    else:
        out = _tiled_in_place(q, k, v, mask.dropped)
    if mask.empty_rows is not None:
        out = out.masked_fill(mask.empty_rows, 0.0)
    return out.to(dtype)


def _differentiable(q, k, v, dropped):
    scores = torch.matmul(q, k.transpose(-1, -2)).masked_fill(dropped, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _tiled_in_place(q, k, v, dropped):
    batch, kv_heads, chunks, rows, _ = q.shape
    keys = k.shape[3]
    out = q.new_empty(batch, kv_heads, chunks, rows, v.shape[-1])
    per_tile = max(1, min(chunks, _TILE_ELEMENTS // max(1, rows * keys)))
    scores = q.new_empty(per_tile * rows * keys)
    for b in range(batch):
        dropped_b = dropped[b if dropped.shape[0] > 1 else 0, 0]
        for h in range(kv_heads):
            for start in range(0, chunks, per_tile):
                stop = min(chunks, start + per_tile)
                tile = scores[: (stop - start) * rows * keys].view(stop - start, rows, keys)
                torch.bmm(q[b, h, start:stop], k[b, h, start:stop].transpose(1, 2), out=tile)
                tile.masked_fill_(dropped_b[start:stop], float("-inf"))
                torch.ops.aten._softmax.out(tile, -1, False, out=tile)
                torch.bmm(tile, v[b, h, start:stop], out=out[b, h, start:stop])
    return out


def fold_heads(x: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(B, H, ...) → (B, Hkv, H/Hkv, ...): the query heads that share one key head, next to it."""
    return x.unflatten(1, (kv_heads, x.shape[1] // kv_heads))
