"""``fixed[block=..,local=..,summary=..]``: Sparse Transformer's fixed layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec import parse_params
from .base import register_mask
from .block_layout import BlockLayout
from .counting import format_mask_params, require_positive


@register_mask
@dataclass(frozen=True)
class Fixed(BlockLayout):
    """Sparse Transformer's fixed layout at block granularity: blocks are grouped ``local`` at a time;
    a query block keeps every block of its own group and the last ``summary`` blocks of every group
    (causal: only groups at or before it)."""

    kind: ClassVar[str] = "fixed"
    local: int = 4
    summary: int = 1
    DEFAULTS: ClassVar[dict] = {"block": 64, "local": 4, "summary": 1, "causal": True}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}"))

    def spec(self):
        values = {"block": self.block, "local": self.local, "summary": self.summary, "causal": self.causal}
        return format_mask_params(self.kind, values, self.DEFAULTS, ("block",))

    def validate(self, batch, q_len, kv_len):
        require_positive(self.kind, block=self.block, local=self.local, summary=self.summary)
        if self.summary > self.local:
            raise ValueError(f"fixed summary={self.summary} must not exceed local={self.local} (summary blocks are part of a group)")

    def block_rule(self, device):
        local, first_summary = self.local, self.local - self.summary

        def fixed(q_block, kv_block):
            return ((q_block // local) == (kv_block // local)) | ((kv_block % local) >= first_summary)

        return fixed
