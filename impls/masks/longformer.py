"""``longformer[w=..,globals=a/b,causal=..]``: a symmetric window plus global token positions."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from ..spec import parse_params
from .base import Mask, register_mask
from .counting import count_steps, format_mask_params


@register_mask
@dataclass(frozen=True)
class Longformer(Mask):
    """Longformer (Beltagy et al., 2020): a symmetric sliding window of ``w`` keys on each side, plus
    global token positions that attend to every key and are attended by every query (``causal=1``
    keeps only j <= i throughout)."""

    kind: ClassVar[str] = "longformer"
    w: int = 256
    globals: tuple[int, ...] = (0,)
    causal: bool = False
    DEFAULTS: ClassVar[dict] = {"w": 256, "globals": (0,), "causal": False}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        values = parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}")
        return cls(w=values["w"], globals=tuple(sorted(set(values["globals"]))), causal=values["causal"])

    def spec(self):
        values = {"w": self.w, "globals": self.globals, "causal": self.causal}
        return format_mask_params(self.kind, values, self.DEFAULTS, ("w", "globals"))

    def validate(self, batch, q_len, kv_len):
        if self.w < 0:
            raise ValueError(f"longformer w={self.w} must be at least 0 (keys on each side of the query)")
        if not self.globals:
            raise ValueError("longformer needs at least one global position (without any it is sliding-window[w=..,causal=0])")
        limit = min(q_len, kv_len)
        bad = [g for g in self.globals if not 0 <= g < limit]
        if bad:
            raise ValueError(f"longformer global positions {bad} out of range (each must be in 0..{limit - 1})")
        if list(self.globals) != sorted(set(self.globals)):
            raise ValueError(f"longformer globals={'/'.join(map(str, self.globals))} must be increasing, without repeats")

    def predicate(self, device):
        w, causal, positions = self.w, self.causal, self.globals

        def longformer(b, h, q_idx, kv_idx):
            diff = q_idx - kv_idx
            kept = diff.abs() <= w
            for g in positions:
                kept = kept | (q_idx == g) | (kv_idx == g)
            return kept & (diff >= 0) if causal else kept

        return longformer

    def pairs(self, batch, q_len, kv_len):
        rows = torch.arange(q_len, dtype=torch.long)
        window = count_steps(rows, kv_len, 1, 0 if self.causal else -self.w, self.w)
        if not self.globals:
            return batch * int(window.sum())
        g = torch.tensor(self.globals, dtype=torch.long)[None, :]
        outside = (rows[:, None] - g).abs() > self.w
        if self.causal:
            outside &= g <= rows[:, None]
        counts = window + outside.sum(dim=1)
        full = torch.clamp(rows + 1, max=kv_len) if self.causal else torch.full_like(rows, kv_len)
        is_global = (rows[:, None] == g).any(dim=1)
        return batch * int(torch.where(is_global, full, counts).sum())
