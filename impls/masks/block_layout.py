"""The base of masks decided per (query block, key block): strided, fixed, BigBird."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .base import Mask


@dataclass(frozen=True)
class BlockLayout(Mask):
    """A mask decided per (query block, key block); causal layouts also drop j > i inside a block."""

    block: int = 64
    causal: bool = True

    def block_rule(self, device: torch.device | str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``keeps(q_block, kv_block) -> bool tensor`` (broadcastable block indices), built for ``device``."""
        raise NotImplementedError

    def predicate(self, device):
        block, causal, keeps = self.block, self.causal, self.block_rule(device)

        def block_layout(b, h, q_idx, kv_idx):
            kept = keeps(q_idx // block, kv_idx // block)
            return kept & (kv_idx <= q_idx) if causal else kept

        return block_layout

    def layout(self, q_len: int, kv_len: int, device="cpu") -> torch.Tensor:
        """(query blocks, key blocks) bool: True where the block keeps at least one pair."""
        q_blocks = torch.arange(-(-q_len // self.block), device=device)[:, None]
        kv_blocks = torch.arange(-(-kv_len // self.block), device=device)[None, :]
        kept = self.block_rule(device)(q_blocks, kv_blocks)
        # Causal keeps the diagonal block's lower triangle and nothing above it.
        return kept & (kv_blocks <= q_blocks) if self.causal else kept

    def pairs(self, batch, q_len, kv_len):
        layout = self.layout(q_len, kv_len)
        starts = torch.arange(layout.shape[1]) * self.block
        widths = torch.clamp(kv_len - starts, max=self.block)  # keys in each key block
        rows = torch.arange(q_len)
        kept = layout[rows // self.block]  # (q_len, key blocks)
        if not self.causal:
            return batch * int((kept.long() * widths).sum())
        # Below the diagonal a kept block counts whole; on it, only keys j <= i.
        reach = torch.clamp(rows[:, None] - starts[None, :] + 1, min=0)
        return batch * int((kept.long() * torch.minimum(widths[None, :], reach)).sum())
