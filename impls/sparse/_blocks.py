"""The block-gather kernel: block-sparse layouts (strided, fixed, BigBird, or any mask cut into blocks).

The mask is cut into ``block`` × ``block`` tiles; the layout says which key blocks each query block
keeps. Query blocks are bucketed by how many key blocks they keep (padded up to the bucket's size, so a
few buckets serve any layout), each bucket gathers its key blocks into a (blocks kept × block)-key list
per query block, and the inner step attends over it with the exact element mask inside the tiles. Work
and memory are O(L · kept blocks · block): BigBird's global rows form their own bucket instead of
padding every row to the whole sequence.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..masks import BlockLayout, Mask
from ._chunked import ChunkMask, attend_chunks, fold_heads, needs_autograd, per_key_head, tiled

# Pair evaluations of the predicate held at once while deriving a layout (about 1 MB of booleans: never seq × seq).
_LAYOUT_CHUNK = 1 << 20
# A bucket takes query blocks keeping down to this fraction of its size: at most 1/4 of its pairs are padding.
_BUCKET_FILL = 0.75


def block_layout(mask: Mask | None, batch: int, q_len: int, kv_len: int, block: int, device) -> torch.Tensor:
    """(query blocks, key blocks) bool: True where any batch item keeps any pair of the tile."""
    q_blocks, kv_blocks = -(-q_len // block), -(-kv_len // block)
    if mask is None:
        return torch.ones(q_blocks, kv_blocks, dtype=torch.bool, device=device)
    if isinstance(mask, BlockLayout) and mask.block == block:
        return mask.layout(q_len, kv_len, device)
    layout = torch.zeros(q_blocks, kv_blocks, dtype=torch.bool, device=device)
    rows_per_pass = block * max(1, _LAYOUT_CHUNK // (block * kv_len * (batch if mask.batch_dependent else 1)))
    for start in range(0, q_len, rows_per_pass):
        rows = torch.arange(start, min(q_len, start + rows_per_pass), device=device)
        kept = mask.dense(batch, q_len, kv_len, device, rows=rows).any(dim=0)[0]  # (rows, kv_len)
        kept = F.pad(kept, (0, kv_blocks * block - kv_len, 0, (-rows.numel()) % block))
        layout[start // block: start // block + kept.shape[0] // block] = kept.view(-1, block, kv_blocks, block).any(dim=3).any(dim=1)
    return layout


def buckets(counts: list[int]) -> list[int]:
    """Bucket sizes covering every count: a count joins the smallest bucket it fills to at least _BUCKET_FILL."""
    sizes: list[int] = []
    for count in sorted(set(counts), reverse=True):
        if count and (not sizes or count < _BUCKET_FILL * sizes[-1]):
            sizes.append(count)
    return sorted(sizes)


class BlockGather:
    """The plan for one problem shape and mask, built once: buckets, gather indices and tile masks."""

    def __init__(self, mask: Mask | None, *, batch: int, q_len: int, kv_len: int, heads: int, kv_heads: int,
                 block: int, device="cpu") -> None:
        self.q_len, self.kv_len, self.heads, self.kv_heads, self.block = q_len, kv_len, heads, kv_heads, block
        self.q_blocks, self.kv_blocks = -(-q_len // block), -(-kv_len // block)
        layout = block_layout(mask, batch, q_len, kv_len, block, device)
        self.kept_blocks = int(layout.sum())
        counts = layout.sum(dim=1)
        sizes = buckets(counts.tolist())
        bucket_of = torch.bucketize(counts, torch.tensor(sizes, device=device)) if sizes else torch.zeros_like(counts)
        self.groups: list[tuple[torch.Tensor, torch.Tensor, ChunkMask]] = []
        order = []
        for index, size in enumerate(sizes):
            members = torch.nonzero((bucket_of == index) & (counts > 0)).flatten()
            if members.numel():
                self.groups.append(self._group(mask, batch, layout, members, size, device))
                order.append(members)
        self.empty_blocks = torch.nonzero(counts == 0).flatten()  # query blocks that keep nothing: zero rows
        order.append(self.empty_blocks)
        self.inverse = torch.argsort(torch.cat(order))  # computed order → block order

    def _group(self, mask, batch, layout, members, size, device):
        block, groups = self.block, self.heads // self.kv_heads
        # Kept key blocks first (a stable sort keeps them in order), then padding slots pointing at block 0.
        ranked = torch.sort((~layout[members]).to(torch.uint8), dim=1, stable=True).indices[:, :size]
        slot_used = torch.gather(layout[members], 1, ranked)
        kv_index = torch.where(slot_used, ranked, torch.zeros_like(ranked))
        q_pos = members[:, None] * block + torch.arange(block, device=device)  # (n, block)
        kv_pos = (kv_index[:, :, None] * block + torch.arange(block, device=device)).flatten(1)  # (n, size·block)
        real = slot_used.repeat_interleave(block, dim=1) & (kv_pos < self.kv_len)
        if mask is None:
            kept = real[None, :, None, :].expand(1, -1, block, -1)
        else:
            b_idx = torch.arange(batch if mask.batch_dependent else 1, device=device)[:, None, None, None]
            h_idx = torch.zeros((), dtype=torch.long, device=device)
            kept = mask.predicate(device)(b_idx, h_idx, q_pos[None, :, :, None], kv_pos[None, :, None, :]) & real[None, :, None, :]
            kept = kept.expand(b_idx.shape[0], -1, block, -1)  # a predicate may not depend on every index
        kept = kept[:, :, None].expand(-1, -1, groups, -1, -1).reshape(kept.shape[0], 1, members.numel(), groups * block, -1)
        return members, kv_index, ChunkMask.from_kept(kept)

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        if needs_autograd(q, k, v) or not tiled(q):
            return self._run(q, k, v, scale)
        return per_key_head(self._run, q, k, v, scale)

    def _run(self, q, k, v, scale, out=None, batch_item=None):
        """All heads at once (autograd), or one key head's slice written into ``out``."""
        batch, heads, q_len, dim = q.shape
        kv_heads, dim_v = k.shape[1], v.shape[-1]
        block, groups, padded = self.block, heads // kv_heads, self.q_blocks * self.block
        if padded != q_len:
            q = F.pad(q, (0, 0, 0, padded - q_len))
        q = fold_heads(q, kv_heads).unflatten(3, (self.q_blocks, block))  # (B, Hkv, G, q blocks, block, d)
        k_blocks = F.pad(k, (0, 0, 0, self.kv_blocks * block - self.kv_len)).unflatten(2, (self.kv_blocks, block))
        v_blocks = F.pad(v, (0, 0, 0, self.kv_blocks * block - self.kv_len)).unflatten(2, (self.kv_blocks, block))
        attended = []
        for members, kv_index, mask in self.groups:
            rows = q[:, :, :, members].transpose(2, 3).reshape(batch, kv_heads, members.numel(), groups * block, dim)
            gathered = (batch, kv_heads, members.numel(), -1, dim)
            keys = k_blocks[:, :, kv_index.flatten()].reshape(gathered)
            values = v_blocks[:, :, kv_index.flatten()].reshape(gathered)
            mask = mask if batch_item is None else mask.item(batch_item)
            attended.append((members, attend_chunks(rows, keys, values, mask, scale)))
        if out is None:  # autograd: assemble out of place
            zeros = q.new_zeros(batch, kv_heads, self.empty_blocks.numel(), groups * block, dim_v)
            blocks = torch.cat([a for _, a in attended] + [zeros], dim=2)[:, :, self.inverse]
        else:
            direct = groups == 1 and padded == q_len  # the block layout is the output's own
            blocks = out.view(batch, kv_heads, self.q_blocks, block, dim_v) if direct else \
                q.new_empty(batch, kv_heads, self.q_blocks, groups * block, dim_v)
            for members, a in attended:
                blocks.index_copy_(2, members, a)
            blocks.index_fill_(2, self.empty_blocks, 0.0)
            if direct:
                return out
        blocks = blocks.view(batch, kv_heads, self.q_blocks, groups, block, dim_v).transpose(2, 3)
        result = blocks.reshape(batch, heads, padded, dim_v)[:, :, :q_len]
        return result if out is None else out.copy_(result)

    def executed_pairs(self) -> int:
        """Score elements computed per (batch, head): every slot of every bucket, padding included."""
        return sum(m.numel() * kv.shape[1] for m, kv, _ in self.groups) * self.block * self.block

    def nbytes(self, batch: int, dim: int, element: int) -> int:
        gathered = 2 * batch * self.kv_heads * (self.executed_pairs() // self.block) * dim * element
        return gathered + sum(mask.nbytes() for _, _, mask in self.groups) + (1 << 22)
