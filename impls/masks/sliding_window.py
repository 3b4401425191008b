"""``sliding-window[w=..,causal=..,dilation=..]``: a (dilated) band of keys around each query."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..spec import parse_params
from .base import Mask, register_mask
from .counting import count_steps, format_mask_params, require_positive


@register_mask
@dataclass(frozen=True)
class SlidingWindow(Mask):
    """Query i keeps key j when i − j is a multiple of ``dilation`` and the number of steps between
    them, (i − j) / dilation, is in [0, w] (causal) or in [−w, w] (``causal=0``, symmetric).

    ``w`` counts keys besides the query's own: a causal window keeps w + 1 keys, a symmetric one
    2w + 1 (as FlexAttention's ``q_idx - kv_idx <= w`` and local-attention's exact windows do).
    """

    kind: ClassVar[str] = "sliding-window"
    w: int = 256
    causal: bool = True
    dilation: int = 1
    DEFAULTS: ClassVar[dict] = {"w": 256, "causal": True, "dilation": 1}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}"))

    def spec(self):
        return format_mask_params(self.kind, {"w": self.w, "causal": self.causal, "dilation": self.dilation}, self.DEFAULTS, ("w",))

    def validate(self, batch, q_len, kv_len):
        if self.w < 0:
            raise ValueError(f"sliding-window w={self.w} must be at least 0 (keys before the query, besides itself)")
        require_positive(self.kind, dilation=self.dilation)

    @property
    def span(self) -> int:
        """How far (in positions) a query reaches back, and forward when symmetric."""
        return self.w * self.dilation

    def predicate(self, device):
        span, step, causal = self.span, self.dilation, self.causal

        def sliding_window(b, h, q_idx, kv_idx):
            diff = q_idx - kv_idx
            near = ((diff >= 0) & (diff <= span)) if causal else (diff.abs() <= span)
            return near if step == 1 else near & (diff % step == 0)

        return sliding_window

    def pairs(self, batch, q_len, kv_len):
        rows = torch.arange(q_len, dtype=torch.long)
        counts = count_steps(rows, kv_len, self.dilation, 0 if self.causal else -self.w, self.w)
        return batch * int(counts.sum())
