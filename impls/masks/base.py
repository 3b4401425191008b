"""The mask base: which (query, key) pairs a problem keeps, and the registry of mask kinds.

Each mask is a small frozen dataclass with one source of truth, a vectorized predicate
``allowed(b, h, q_idx, kv_idx) -> bool tensor`` written only with tensor ops. The same predicate
is FlexAttention's ``mask_mod``, densifies the mask for the oracle and the dense kernels, and
counts the kept pairs for useful FLOPs, so no two views of a mask can disagree.

Convention for a query row with no allowed key (the same in every implementation and in the
oracle): its output is zero and it contributes no gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

Predicate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

# Densifying in row chunks bounds the oracle's and the pair counter's memory.
ROW_CHUNK_ELEMENTS = 1 << 24

MASK_KINDS: dict[str, type[Mask]] = {}
ANY_LENGTH = 1 << 40  # a length every position-like parameter fits in: check_values tests values, not shapes


def register_mask(cls: type[Mask]) -> type[Mask]:
    """Class decorator: make a mask kind reachable from its spec name."""
    MASK_KINDS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Mask:
    kind: ClassVar[str] = "mask"
    # True when the kept pairs depend on the batch index (the oracle then densifies per batch).
    batch_dependent: ClassVar[bool] = False

    def predicate(self, device: torch.device | str) -> Predicate:
        """A function of broadcastable index tensors (b, h, q_idx, kv_idx) → bool, built for ``device``."""
        raise NotImplementedError

    def spec(self) -> str:
        """The name that parses back into this mask."""
        return self.kind

    def validate(self, batch: int, q_len: int, kv_len: int) -> None:
        """Raise ValueError with a one-line message when the mask cannot apply to these shapes."""

    def check_values(self) -> None:
        """Raise ValueError when a parameter value fits no shape at all (``w=-5``); cheap, so options are checked
        before any work. What depends on the shape (a global position past the end) is ``validate``'s."""
        self.validate(1, ANY_LENGTH, ANY_LENGTH)

    @classmethod
    def from_spec(cls, params: dict[str, str], batch: int, q_len: int, kv_len: int) -> Mask:
        if params:
            raise ValueError(f"mask {cls.kind!r} takes no parameters (got {sorted(params)})")
        return cls()

    def dense(self, batch: int, q_len: int, kv_len: int, device="cpu", rows: torch.Tensor | None = None) -> torch.Tensor:
        """Bool tensor of shape (batch or 1, 1, rows, kv_len); True where the pair is kept."""
        device = torch.device(device)
        q_idx = torch.arange(q_len, device=device) if rows is None else rows.to(device)
        kv_idx = torch.arange(kv_len, device=device)
        b_idx = torch.arange(batch if self.batch_dependent else 1, device=device)
        h_idx = torch.zeros(1, dtype=torch.long, device=device)
        allowed = self.predicate(device)(
            b_idx[:, None, None, None], h_idx[None, :, None, None], q_idx[None, None, :, None], kv_idx[None, None, None, :]
        )
        shape = (b_idx.numel(), 1, q_idx.numel(), kv_len)
        return allowed.expand(shape)

    def pairs(self, batch: int, q_len: int, kv_len: int) -> int:
        """Kept (query, key) pairs per head, summed over the batch. Exact; counted in row chunks."""
        rows_per_chunk = max(1, ROW_CHUNK_ELEMENTS // max(1, kv_len * (batch if self.batch_dependent else 1)))
        total = 0
        for start in range(0, q_len, rows_per_chunk):
            rows = torch.arange(start, min(q_len, start + rows_per_chunk))
            total += int(self.dense(batch, q_len, kv_len, rows=rows).sum())
        return total if self.batch_dependent else total * batch

    def __str__(self) -> str:
        return self.spec()


def kind_of(mask: Mask | None) -> str:
    """The kind name used in capability checks: ``none`` for no mask."""
    return "none" if mask is None else mask.kind
