"""``a+b``: the intersection of masks (``causal+padding``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import Mask


@dataclass(frozen=True)
class Intersection(Mask):
    """Keeps a pair only when every part keeps it (``causal+padding``)."""

    kind: ClassVar[str] = "and"
    parts: tuple[Mask, ...] = ()

    @property
    def batch_dependent(self) -> bool:  # type: ignore[override]
        return any(p.batch_dependent for p in self.parts)

    def spec(self):
        return "+".join(p.spec() for p in self.parts)

    def validate(self, batch, q_len, kv_len):
        for part in self.parts:
            part.validate(batch, q_len, kv_len)

    def check_values(self):
        for part in self.parts:
            part.check_values()

    def predicate(self, device):
        predicates = [p.predicate(device) for p in self.parts]

        def intersection(b, h, q_idx, kv_idx):
            result = predicates[0](b, h, q_idx, kv_idx)
            for pred in predicates[1:]:
                result = result & pred(b, h, q_idx, kv_idx)
            return result

        return intersection
