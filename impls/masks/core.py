"""The core masks: ``causal`` and ``padding`` (no mask at all is ``None``, spelled ``none``).

Causal masks are aligned top-left, as ``scaled_dot_product_attention(is_causal=True)`` is:
query ``i`` sees keys ``j <= i`` even when ``kv_seq_len != seq_len``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch

from .base import Mask, register_mask


@register_mask
@dataclass(frozen=True)
class Causal(Mask):
    kind: ClassVar[str] = "causal"

    def predicate(self, device):
        def causal(b, h, q_idx, kv_idx):
            return q_idx >= kv_idx

        return causal

    def pairs(self, batch, q_len, kv_len):
        # Row i keeps min(i + 1, kv_len) keys.
        full_rows = max(0, q_len - kv_len)
        ramp = min(q_len, kv_len)
        return batch * (ramp * (ramp + 1) // 2 + full_rows * kv_len)


@register_mask
@dataclass(frozen=True)
class Padding(Mask):
    """Per-batch key lengths: batch item ``b`` keeps keys ``j < lengths[b]``."""

    kind: ClassVar[str] = "padding"
    batch_dependent: ClassVar[bool] = True
    lengths: tuple[int, ...] = ()

    @staticmethod
    def spread(batch: int, kv_len: int) -> Padding:
        """Very different lengths per batch item: kv_len·(B−b)/(B+1) rounded up, at least 1."""
        return Padding(tuple(max(1, math.ceil(kv_len * (batch - b) / (batch + 1))) for b in range(batch)))

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        unknown = set(params) - {"lengths"}
        if unknown:
            raise ValueError(f"mask 'padding' takes only lengths=L1/L2/... (got {sorted(unknown)})")
        if "lengths" not in params:
            return cls.spread(batch, kv_len)
        try:
            lengths = tuple(int(x) for x in params["lengths"].split("/"))
        except ValueError:
            raise ValueError(f"padding lengths={params['lengths']!r} must be integers separated by '/'") from None
        return cls(lengths)

    def spec(self):
        return f"padding[lengths={'/'.join(map(str, self.lengths))}]"

    def check_values(self):
        bad = [n for n in self.lengths if n < 1]
        if bad:
            raise ValueError(f"padding lengths {bad} must be at least 1 (one key length per batch item)")

    def validate(self, batch, q_len, kv_len):
        if len(self.lengths) != batch:
            raise ValueError(f"padding has {len(self.lengths)} lengths but batch={batch} (one length per batch item)")
        bad = [n for n in self.lengths if not 1 <= n <= kv_len]
        if bad:
            raise ValueError(f"padding lengths {bad} out of range (each must be in 1..kv_seq_len={kv_len})")

    def predicate(self, device):
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)

        def padding(b, h, q_idx, kv_idx):
            return kv_idx < lengths[b]

        return padding

    def pairs(self, batch, q_len, kv_len):
        return q_len * sum(self.lengths)
