"""The inner step of the sparse kernels: each chunk of query rows attends over its own short list of keys.

Layout (the kernels in _banded and _blocks produce it):

- ``q``: (B, Hkv, C, R, d): C chunks of R query rows; with GQA the query heads that share a key head are
  folded into the rows, so keys are never repeated per head;
- ``k``, ``v``: (B, Hkv, C, K, d): each chunk's K keys (an overlapping view of the padded keys is fine);
- a :class:`ChunkMask` of shape (Bm, 1, C, R, K), Bm = 1 or B.

Scores exist only per chunk, (R × K), so memory is O(rows · K), never O(seq²). On a CPU without autograd the
chunks are processed a tile at a time in place (scores of one tile stay in cache, nothing is allocated per
tile); with autograd, or on a GPU, the same ops run out of place on all chunks at once, and autograd keeps
O(rows · K) for backward.
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
    Chunks often share one pattern (every interior chunk of a band does): ``runs`` lists stretches of
    consecutive chunks with the same pattern, so the tiled path reads a (R × K) pattern that stays in
    cache instead of streaming a mask as large as the scores.
    """

    dropped: torch.Tensor  # (Bm, 1, C, R, K) bool, True where the pair is masked
    empty_rows: torch.Tensor | None  # (Bm, 1, C, R, 1) bool, rows with no allowed key; None when there are none
    runs: tuple[tuple[int, int], ...]  # (start, stop) chunk ranges whose patterns are equal, covering 0..C
    columns: tuple[tuple[tuple[int, int], ...], ...]  # per run: the key-column spans where its pattern drops anything

    @classmethod
    def from_kept(cls, kept: torch.Tensor) -> ChunkMask:
        empty = ~kept.any(dim=-1, keepdim=True)
        if bool(empty.any()):
            kept = kept.clone()
            kept[..., :1] |= empty
        else:
            empty = None
        dropped = ~kept
        runs = _equal_runs(dropped)
        return cls(dropped, empty, runs, tuple(_dropping_columns(dropped[:, 0, start]) for start, _ in runs))

    def item(self, b: int) -> ChunkMask:
        """The mask of batch item ``b`` alone (the same mask when it does not depend on the batch)."""
        if self.dropped.shape[0] == 1:
            return self
        empty = self.empty_rows[b:b + 1] if self.empty_rows is not None else None
        return ChunkMask(self.dropped[b:b + 1], empty, self.runs, self.columns)

    def nbytes(self) -> int:
        return self.dropped.numel() + (self.empty_rows.numel() if self.empty_rows is not None else 0)


def _dropping_columns(pattern: torch.Tensor) -> tuple[tuple[int, int], ...]:
    """Contiguous spans of key columns where a (Bm, R, K) pattern drops at least one pair: a band drops only
    two triangles at its edges, so masking just those columns saves most of a pass over the scores."""
    any_dropped = pattern.any(dim=0).any(dim=0).tolist()
    spans, start = [], None
    for column, dropped in enumerate(any_dropped + [False]):
        if dropped and start is None:
            start = column
        elif not dropped and start is not None:
            spans.append((start, column))
            start = None
    return tuple(spans)


def _equal_runs(dropped: torch.Tensor) -> tuple[tuple[int, int], ...]:
    chunks = dropped.shape[2]
    if chunks == 0:
        return ()
    flat = dropped.transpose(0, 2).reshape(chunks, -1)
    same_as_next = (flat[1:] == flat[:-1]).all(dim=1).tolist()
    runs, start = [], 0
    for index, same in enumerate(same_as_next, start=1):
        if not same:
            runs.append((start, index))
            start = index
    runs.append((start, chunks))
    return tuple(runs)


def attend_chunks(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: ChunkMask, scale: float,
                  out: torch.Tensor | None = None) -> torch.Tensor:
    """softmax(scale · q·kᵀ, masked)·v per chunk: (B, Hkv, C, R, d) in q's dtype, written into ``out`` when given."""
    dtype = q.dtype
    compute = _COMPUTE_DTYPE.get(dtype)
    if compute is not None:
        q, k, v = q.to(compute), k.to(compute), v.to(compute)
    if needs_autograd(q, k, v) or not tiled(q):
        result = _differentiable(q * scale, k, v, mask.dropped)
    else:
        result = _tiled_in_place(q, k, v, mask, scale, out if out is not None and compute is None else None)
    if mask.empty_rows is not None:
        result = result.masked_fill_(mask.empty_rows, 0.0) if not result.requires_grad else result.masked_fill(mask.empty_rows, 0.0)
    if out is not None and result is not out:
        return out.copy_(result)
    return result.to(dtype)


def needs_autograd(*tensors: torch.Tensor) -> bool:
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors)


def tiled(q: torch.Tensor) -> bool:
    """The tiled, per-head path is a CPU cache strategy; a GPU gets whole-tensor ops (fewer kernel launches)."""
    return q.device.type == "cpu"


def _differentiable(q, k, v, dropped):
    scores = torch.matmul(q, k.transpose(-1, -2)).masked_fill(dropped, float("-inf"))
    return torch.matmul(torch.softmax(scores, dim=-1), v)


def _tiled_in_place(q, k, v, mask: ChunkMask, scale: float, out: torch.Tensor | None):
    batch, kv_heads, chunks, rows, _ = q.shape
    keys = k.shape[3]
    if out is None:
        out = q.new_empty(batch, kv_heads, chunks, rows, v.shape[-1])
    per_tile = max(1, min(chunks, _TILE_ELEMENTS // max(1, rows * keys)))
    scores = q.new_empty(per_tile * rows * keys)
    tiles = _tiles(mask.runs, mask.columns, per_tile)
    for b in range(batch):
        dropped = mask.dropped[b if mask.dropped.shape[0] > 1 else 0, 0]
        for h in range(kv_heads):
            for start, stop, columns in tiles:
                tile = scores[: (stop - start) * rows * keys].view(stop - start, rows, keys)
                # beta=0: the tile's old contents are ignored; alpha applies the softmax scale for free.
                torch.baddbmm(tile, q[b, h, start:stop], k[b, h, start:stop].transpose(1, 2), beta=0.0, alpha=scale, out=tile)
                if columns is None:  # chunks with different patterns: each its own
                    tile.masked_fill_(dropped[start:stop], float("-inf"))
                for first, last in columns or ():  # one shared pattern: only the columns it drops from
                    tile[:, :, first:last].masked_fill_(dropped[start, :, first:last], float("-inf"))
                torch.ops.aten._softmax.out(tile, -1, False, out=tile)
                torch.bmm(tile, v[b, h, start:stop], out=out[b, h, start:stop])
    return out


def _tiles(runs, columns, per_tile: int) -> list[tuple[int, int, tuple | None]]:
    """(start, stop, columns) tiles of at most ``per_tile`` chunks. A run of equal patterns is masked with its
    one pattern, on the columns it drops from; neighbouring chunks that each differ are grouped (columns None)
    and masked with their own slices."""
    spans: list[tuple[int, int, tuple | None]] = []
    for (start, stop), dropping in zip(runs, columns):
        if stop - start > 1:
            spans.append((start, stop, dropping))
        elif spans and spans[-1][2] is None:
            spans[-1] = (spans[-1][0], stop, None)
        else:
            spans.append((start, stop, None))
    return [(s, min(stop, s + per_tile), cols) for start, stop, cols in spans for s in range(start, stop, per_tile)]


def per_key_head(kernel, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
    """Run ``kernel(q, k, v, scale, out, b)`` one (batch item b, key head) at a time into one output tensor.

    Without autograd this keeps every temporary (padded keys, gathered blocks) the size of one head:
    whole-tensor temporaries above the allocator's mmap threshold (32 MiB in glibc) would be fresh
    pages, zeroed by the kernel on every call, which made time grow faster than L.
    """
    batch, heads, q_len, _ = q.shape
    kv_heads = k.shape[1]
    groups = heads // kv_heads
    out = q.new_empty(batch, heads, q_len, v.shape[-1])
    for b in range(batch):
        for h in range(kv_heads):
            kernel(q[b:b + 1, h * groups:(h + 1) * groups], k[b:b + 1, h:h + 1], v[b:b + 1, h:h + 1], scale,
                   out[b:b + 1, h * groups:(h + 1) * groups], b)
    return out


def fold_heads(x: torch.Tensor, kv_heads: int) -> torch.Tensor:
    """(B, H, ...) → (B, Hkv, H/Hkv, ...): the query heads that share one key head, next to it."""
    return x.unflatten(1, (kv_heads, x.shape[1] // kv_heads))
