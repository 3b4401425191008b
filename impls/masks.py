"""Mask kinds: which (query, key) pairs a problem keeps.

Each mask is a small frozen dataclass with one source of truth, a vectorized predicate
``allowed(b, h, q_idx, kv_idx) -> bool tensor`` written only with tensor ops. The same predicate
is FlexAttention's ``mask_mod``, densifies the mask for the oracle and the dense kernels, and
counts the kept pairs for useful FLOPs, so no two views of a mask can disagree.

Convention for a query row with no allowed key (the same in every implementation and in the
oracle): its output is zero and it contributes no gradient.

Causal masks are aligned top-left, as ``scaled_dot_product_attention(is_causal=True)`` is:
query ``i`` sees keys ``j <= i`` even when ``kv_seq_len != seq_len``.

Specs: ``none``, ``causal``, ``padding`` (default per-batch key lengths, see :meth:`Padding.spread`),
``padding[lengths=300/150]``, and ``a+b`` for the intersection of two masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch

from .spec import parse_spec

Predicate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

# Densifying in row chunks bounds the oracle's and the pair counter's memory.
_ROW_CHUNK_ELEMENTS = 1 << 24

MASK_KINDS: dict[str, type[Mask]] = {}


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
        rows_per_chunk = max(1, _ROW_CHUNK_ELEMENTS // max(1, kv_len * (batch if self.batch_dependent else 1)))
        total = 0
        for start in range(0, q_len, rows_per_chunk):
            rows = torch.arange(start, min(q_len, start + rows_per_chunk))
            total += int(self.dense(batch, q_len, kv_len, rows=rows).sum())
        return total if self.batch_dependent else total * batch

    def __str__(self) -> str:
        return self.spec()


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

    def predicate(self, device):
        predicates = [p.predicate(device) for p in self.parts]

        def intersection(b, h, q_idx, kv_idx):
            result = predicates[0](b, h, q_idx, kv_idx)
            for pred in predicates[1:]:
                result = result & pred(b, h, q_idx, kv_idx)
            return result

        return intersection


def kind_of(mask: Mask | None) -> str:
    """The kind name used in capability checks: ``none`` for no mask."""
    return "none" if mask is None else mask.kind


def parse_mask(spec: str | Mask | None, batch: int, q_len: int, kv_len: int) -> Mask | None:
    """Turn ``None``/``"none"``/``"causal"``/``"padding[lengths=..]"``/``"a+b"`` or a mask object into a mask."""
    if spec is None or isinstance(spec, Mask):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"mask={spec!r} is not a mask (expected None, a mask name or a Mask object)")
    parts = [s for s in _split_top_level(spec) if s]
    if len(parts) > 1:
        masks = [parse_mask(s, batch, q_len, kv_len) for s in parts]
        return Intersection(tuple(m for m in masks if m is not None))
    name, params = parse_spec(spec)
    if name == "none" and not params:
        return None
    if name not in MASK_KINDS:
        raise ValueError(f"unknown mask {name!r} (known: none, {', '.join(sorted(MASK_KINDS))})")
    return MASK_KINDS[name].from_spec(params, batch, q_len, kv_len)


def _split_top_level(spec: str) -> list[str]:
    """Split on '+' outside brackets, so ``padding[lengths=3/2]+causal`` has two parts."""
    parts, depth, current = [], 0, []
    for ch in spec:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "+" and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts
