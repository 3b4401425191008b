"""The masking step: which (query, key) pairs may attend, applied to the logits.

A strategy is named or given as an object, and always becomes a :class:`impls.masks.Mask`, whose
predicate is the single source of truth (the oracle densifies the same predicate):

- ``padding`` / ``padding[lengths=300/150]`` and ``causal``: the core's masks;
- ``local[w=64]`` (symmetric: |i − j| ≤ w) or ``local[w=64,causal=1]`` (0 ≤ i − j ≤ w): the sparse family's
  ``SlidingWindow`` mask under a name whose default is symmetric (``sliding-window[...]`` works too);
- custom: any Mask, a bool tensor broadcastable to (B, 1, Lq, Lk), or a predicate function
  ``allowed(b, h, q_idx, kv_idx)`` written with tensor ops; ``a+b`` intersects named masks.

The step densifies once per shape, outside any timed call. Rows with no allowed key produce zero
output (the project-wide convention), not NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ..masks import Intersection, Mask, SlidingWindow, parse_mask
from ..spec import parse_spec, split_top_level  # the core's '+' splitter, so 'a+b' parses alike


@dataclass(frozen=True, eq=False)
class TensorMask(Mask):
    """A user's bool tensor, broadcastable to (B, 1, Lq, Lk); True keeps the pair. Compared by identity."""

    kind: ClassVar[str] = "custom"
    allowed: torch.Tensor = field(default_factory=lambda: torch.ones(1, 1, 1, 1, dtype=torch.bool))
    name: str = "tensor"

    @property
    def batch_dependent(self) -> bool:  # type: ignore[override]
        return self._as_4d().shape[0] > 1

    def _as_4d(self) -> torch.Tensor:
        t = self.allowed
        while t.dim() < 4:
            t = t.unsqueeze(0)
        return t

    def spec(self):
        return f"custom[name={self.name}]"

    def validate(self, batch, q_len, kv_len):
        if self.allowed.dtype != torch.bool:
            raise ValueError(f"custom mask has dtype {self.allowed.dtype} (expected torch.bool, True = keep)")
        try:
            torch.broadcast_shapes(self._as_4d().shape, (batch, 1, q_len, kv_len))
        except RuntimeError:
            raise ValueError(f"custom mask shape {tuple(self.allowed.shape)} does not broadcast to "
                             f"(batch, 1, q_len, kv_len) = {(batch, 1, q_len, kv_len)}") from None

    def predicate(self, device):
        allowed = self._as_4d().to(device)

        def custom(b, h, q_idx, kv_idx):
            b = b if allowed.shape[0] > 1 else torch.zeros_like(b)
            q_idx = q_idx if allowed.shape[2] > 1 else torch.zeros_like(q_idx)
            kv_idx = kv_idx if allowed.shape[3] > 1 else torch.zeros_like(kv_idx)
            return allowed[b, 0, q_idx, kv_idx]

        return custom


@dataclass(frozen=True, eq=False)
class PredicateMask(Mask):
    """A user's predicate ``allowed(b, h, q_idx, kv_idx) -> bool tensor`` (tensor ops only). Compared by identity."""

    kind: ClassVar[str] = "custom"
    function: Callable = lambda b, h, q_idx, kv_idx: q_idx >= 0
    name: str = "predicate"
    depends_on_batch: bool = False

    @property
    def batch_dependent(self) -> bool:  # type: ignore[override]
        return self.depends_on_batch

    def spec(self):
        return f"custom[name={self.name}]"

    def predicate(self, device):
        return self.function


MaskStrategy = str | Mask | torch.Tensor | Callable | None


def resolve_mask(strategy: MaskStrategy, batch: int, q_len: int, kv_len: int) -> Mask | None:
    """A Mask (or None) from a strategy name, Mask, bool tensor or predicate; ``+`` intersects names."""
    if strategy is None or isinstance(strategy, Mask):
        return strategy
    if isinstance(strategy, torch.Tensor):
        return TensorMask(strategy)
    if callable(strategy):
        return PredicateMask(strategy, getattr(strategy, "__name__", "predicate"))
    if not isinstance(strategy, str):
        raise ValueError(f"mask strategy {strategy!r} is not understood (accepted: a name, a Mask, a bool tensor or a predicate)")
    parts = split_top_level(strategy, "+")
    masks = [_named_mask(part, batch, q_len, kv_len) for part in parts]
    masks = [m for m in masks if m is not None]
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else Intersection(tuple(masks))


def _named_mask(name: str, batch: int, q_len: int, kv_len: int) -> Mask | None:
    base, params = parse_spec(name)
    if base != "local":
        return parse_mask(name, batch, q_len, kv_len)
    if "w" not in params:
        raise ValueError(f"local mask {name!r} needs w=<window> (e.g. local[w=64] or local[w=64,causal=1])")
    return SlidingWindow.from_spec({"causal": "0", **params}, batch, q_len, kv_len)


def intersect(*masks: Mask | None) -> Mask | None:
    present = tuple(m for m in masks if m is not None)
    if not present:
        return None
    return present[0] if len(present) == 1 else Intersection(present)


class MaskStep:
    """Applies a mask strategy to logits. ``prepare`` resolves and densifies it once per shape (a strategy
    like ``padding`` depends on the batch and lengths); ``apply`` is cheap afterwards."""

    def __init__(self, strategy: MaskStrategy = None) -> None:
        self.strategy = strategy
        self.mask: Mask | None = strategy if isinstance(strategy, Mask) else None
        self._key = None
        self.allowed: torch.Tensor | None = None  # (B or 1, 1, Lq, Lk)
        self.has_empty_rows = False

    def prepare(self, batch: int, q_len: int, kv_len: int, device) -> None:
        key = (batch, q_len, kv_len, str(device))
        if self.strategy is None or key == self._key:
            return
        self.mask = resolve_mask(self.strategy, batch, q_len, kv_len)
        if self.mask is None:
            self.allowed = None
        else:
            self.mask.validate(batch, q_len, kv_len)
            self.allowed = self.mask.dense(batch, q_len, kv_len, device).contiguous()
            self.has_empty_rows = not bool(self.allowed.any(dim=-1).all())
        self._key = key

    def rows_allowed(self, rows: torch.Tensor | None) -> torch.Tensor | None:
        """The allowed pairs for all query rows (rows None) or for per-batch rows (B, n) → (B, 1, n, Lk)."""
        if self.allowed is None or rows is None:
            return self.allowed
        batch, count = rows.shape
        allowed = self.allowed.expand(batch, 1, *self.allowed.shape[2:])[:, 0]
        index = rows[..., None].expand(batch, count, allowed.shape[-1])
        return allowed.gather(1, index)[:, None]

    def apply(self, logits: torch.Tensor, rows: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Masked logits (disallowed pairs −inf) and the rows with no allowed key (None when there are none).

        Call ``prepare`` for the shape first (CustomAttention does, once per shape).
        """
        if self.allowed is None:
            return logits, None
        allowed = self.rows_allowed(rows)
        masked = logits.masked_fill(~allowed, float("-inf"))
        empty = ~allowed.any(dim=-1, keepdim=True) if self.has_empty_rows else None
        return masked, empty
