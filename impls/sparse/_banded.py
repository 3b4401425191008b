"""The banded kernel: sliding windows (causal, symmetric, dilated) and Longformer on top of them.

Queries are cut into chunks of ``rows`` consecutive positions; chunk n needs only the keys from
``before`` positions ahead of its first row to ``after`` positions past its last, K = rows + before +
after keys, which are an overlapping (unfold) view of the padded keys, not a copy. A dilated window
of step r is r interleaved plain windows (positions ≡ c mod r), so the classes become more chunks.
Each chunk costs rows × K scores: O(L·w) time and memory in total.

Longformer adds its global positions as extra key columns to every chunk (masked where a global key
already lies inside the window, so it is not counted twice) and recomputes the global query rows
against all keys, O(globals · L).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..masks import Longformer, SlidingWindow
from ._chunked import ChunkMask, attend_chunks, fold_heads, needs_autograd, per_key_head, tiled


class Band:
    """The plan for one problem shape, built once: chunk sizes and the chunk mask."""

    def __init__(self, *, q_len: int, kv_len: int, heads: int, kv_heads: int, before: int, after: int,
                 dilation: int = 1, rows: int = 64, device="cpu", global_keys: tuple[int, ...] = (),
                 causal_globals: bool = False) -> None:
        if global_keys and dilation != 1:
            raise ValueError("global keys need dilation=1 (a global position is not in every residue class)")
        step = dilation
        q_steps, kv_steps = -(-q_len // step), -(-kv_len // step)  # positions per residue class
        rows = max(1, min(rows, q_steps))
        chunks = -(-q_steps // rows)
        # A window wider than the sequence reaches nothing more than the whole sequence: clamping keeps
        # K small and changes no kept pair (no query step is more than chunks·rows − 1 from a key step).
        before = min(before, chunks * rows - 1)
        after = min(after, max(0, kv_steps - 1))
        self.q_len, self.kv_len, self.heads, self.kv_heads = q_len, kv_len, heads, kv_heads
        self.step, self.rows, self.chunks, self.before, self.after = step, rows, chunks, before, after
        self.kv_steps = kv_steps
        self.window = rows + before + after
        self.global_keys = torch.tensor(global_keys, dtype=torch.long, device=device)
        self.mask = ChunkMask.from_kept(self._kept(device, global_keys, causal_globals))

    def _kept(self, device, global_keys, causal_globals) -> torch.Tensor:
        rows, chunks, step = self.rows, self.chunks, self.step
        row = torch.arange(rows, device=device)[:, None]
        slot = torch.arange(self.window, device=device)[None, :]
        in_band = (slot >= row) & (slot <= row + self.before + self.after)  # (rows, K), the same in every chunk
        key_step = (torch.arange(chunks, device=device) * rows - self.before)[:, None, None] + slot  # (chunks, 1, K)
        residue = torch.arange(step, device=device)[:, None, None, None]
        real_key = (key_step >= 0) & (residue + key_step * step < self.kv_len)  # (step, chunks, 1, K)
        kept = in_band & real_key  # (step, chunks, rows, K)
        if global_keys:
            query = (torch.arange(chunks, device=device) * rows)[:, None] + torch.arange(rows, device=device)[None, :]
            g = self.global_keys[None, None, :]
            q_pos = query[:, :, None]
            outside = (g < q_pos - self.before) | (g > q_pos + self.after)  # inside ones are window keys already
            kept_globals = outside & (g <= q_pos) if causal_globals else outside
            kept = torch.cat([kept, kept_globals[None]], dim=-1)
        groups = self.heads // self.kv_heads
        kept = kept[:, :, None].expand(-1, -1, groups, -1, -1)  # the same rows for every folded query head
        return kept.reshape(1, 1, step * chunks, groups * rows, kept.shape[-1])

    def __call__(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float) -> torch.Tensor:
        if needs_autograd(q, k, v) or not tiled(q):
            return self._run(q, k, v, scale)
        return per_key_head(self._run, q, k, v, scale)

    def _run(self, q, k, v, scale, out=None, batch_item=None):  # a band's mask is the same for every batch item
        """All heads at once (autograd), or one key head's slice written into ``out``."""
        batch, heads, q_len, dim = q.shape
        kv_heads = k.shape[1]
        step, rows, chunks, groups = self.step, self.rows, self.chunks, heads // kv_heads
        padded = chunks * rows * step
        if padded != q_len:
            q = F.pad(q, (0, 0, 0, padded - q_len))
        # position = (chunk·rows + row)·step + residue
        q = fold_heads(q, kv_heads).unflatten(3, (chunks, rows, step)).permute(0, 1, 5, 3, 2, 4, 6)
        q = q.reshape(batch, kv_heads, step * chunks, groups * rows, dim)
        keys, values = self._windows(k), self._windows(v)
        if self.global_keys.numel():
            extra = (batch, kv_heads, chunks, self.global_keys.numel(), dim)
            keys = torch.cat([keys, k[:, :, self.global_keys, None].transpose(2, 3).expand(extra)], dim=3)
            values = torch.cat([values, v[:, :, self.global_keys, None].transpose(2, 3).expand(extra)], dim=3)
        if out is not None and step == 1 and groups == 1 and padded == q_len:  # the chunk layout is the output's own
            attend_chunks(q, keys, values, self.mask, scale, out=out.view(batch, kv_heads, chunks, rows, -1))
            return out
        result = attend_chunks(q, keys, values, self.mask, scale)
        result = result.view(batch, kv_heads, step, chunks, groups, rows, -1).permute(0, 1, 4, 3, 5, 2, 6)
        result = result.reshape(batch, heads, padded, -1)[:, :, :q_len]
        return result if out is None else out.copy_(result)

    def _windows(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Hkv, kv_len, d) → (B, Hkv, step·chunks, K, d): each chunk's keys, a view where step = 1."""
        batch, kv_heads, kv_len, dim = x.shape
        step, needed = self.step, self.chunks * self.rows + self.after
        x = F.pad(x, (0, 0, 0, self.kv_steps * step - kv_len))
        x = x.view(batch, kv_heads, self.kv_steps, step, dim).transpose(2, 3)[:, :, :, :needed]
        x = F.pad(x, (0, 0, self.before, needed - x.shape[3]))
        windows = x.unfold(3, self.window, self.rows).transpose(-1, -2)  # (B, Hkv, step, chunks, K, d)
        return windows[:, :, 0] if step == 1 else windows.reshape(batch, kv_heads, step * self.chunks, self.window, dim)

    def nbytes(self, batch: int, dim: int, element: int) -> int:
        """Working memory besides inputs and output: padded copies, the mask, and one tile of scores."""
        padded = batch * self.kv_heads * self.step * (self.chunks * self.rows + self.before + self.after) * dim * element
        return 3 * padded + self.mask.nbytes() + (1 << 22)


def window_band(mask: SlidingWindow, q_len, kv_len, heads, kv_heads, rows, device) -> Band:
    return Band(q_len=q_len, kv_len=kv_len, heads=heads, kv_heads=kv_heads, before=mask.w,
                after=0 if mask.causal else mask.w, dilation=mask.dilation, rows=rows, device=device)


class LongformerKernel:
    """Window + global keys through :class:`Band`; the global query rows attend to every key."""

    def __init__(self, mask: Longformer, q_len, kv_len, heads, kv_heads, rows, device) -> None:
        self.band = Band(q_len=q_len, kv_len=kv_len, heads=heads, kv_heads=kv_heads, before=mask.w,
                         after=0 if mask.causal else mask.w, rows=rows, device=device,
                         global_keys=mask.globals, causal_globals=mask.causal)
        self.kv_heads = kv_heads
        self.positions = torch.tensor(mask.globals, dtype=torch.long, device=device)
        key = torch.arange(kv_len, device=device)[None, :]
        kept = (key <= self.positions[:, None]) if mask.causal else torch.ones(len(mask.globals), kv_len, dtype=torch.bool, device=device)
        kept = kept[None].expand(heads // kv_heads, -1, -1).reshape(1, 1, 1, -1, kv_len)
        self.global_rows = ChunkMask.from_kept(kept)

    def __call__(self, q, k, v, scale):
        out = self.band(q, k, v, scale)
        batch, heads, _, dim = q.shape
        rows = fold_heads(q[:, :, self.positions], self.kv_heads).reshape(batch, self.kv_heads, 1, -1, dim)
        attended = attend_chunks(rows, k[:, :, None], v[:, :, None], self.global_rows, scale)
        attended = attended.reshape(batch, heads, -1, attended.shape[-1])
        if needs_autograd(q, k, v):
            return out.index_copy(2, self.positions, attended)
        return out.index_copy_(2, self.positions, attended)

    def nbytes(self, batch, dim, element):
        return self.band.nbytes(batch, dim, element) + self.global_rows.nbytes()
