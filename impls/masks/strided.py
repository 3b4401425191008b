"""``strided[block=..,local=..,stride=..]``: Sparse Transformer's strided layout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..spec import parse_params
from .base import register_mask
from .block_layout import BlockLayout
from .counting import format_mask_params, require_positive


@register_mask
@dataclass(frozen=True)
class Strided(BlockLayout):
    """Sparse Transformer's strided layout (Child et al., 2019) at block granularity: query block a
    keeps key block c when a − c < ``local`` (the recent blocks) or a − c is a multiple of ``stride``
    (causal); ``causal=0`` uses |a − c| for both."""

    kind: ClassVar[str] = "strided"
    local: int = 4
    stride: int = 4
    DEFAULTS: ClassVar[dict] = {"block": 64, "local": 4, "stride": 4, "causal": True}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}"))

    def spec(self):
        values = {"block": self.block, "local": self.local, "stride": self.stride, "causal": self.causal}
        return format_mask_params(self.kind, values, self.DEFAULTS, ("block",))

    def validate(self, batch, q_len, kv_len):
        require_positive(self.kind, block=self.block, local=self.local, stride=self.stride)

    def block_rule(self, device):
        local, stride, causal = self.local, self.stride, self.causal

        def strided(q_block, kv_block):
            diff = q_block - kv_block
            return ((diff if causal else diff.abs()) < local) | (diff % stride == 0)

        return strided
