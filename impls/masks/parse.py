"""``parse_mask``: a mask name (``causal``, ``padding[lengths=300/150]``, ``a+b``) or object into a mask."""

from __future__ import annotations

from ..spec import parse_spec, split_top_level
from .base import MASK_KINDS, Mask
from .intersection import Intersection


def parse_mask(spec: str | Mask | None, batch: int, q_len: int, kv_len: int) -> Mask | None:
    """Turn ``None``/``"none"``/``"causal"``/``"padding[lengths=..]"``/``"a+b"`` or a mask object into a mask."""
    if spec is None or isinstance(spec, Mask):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"mask={spec!r} is not a mask (expected None, a mask name or a Mask object)")
    parts = split_top_level(spec, "+")
    if len(parts) > 1:
        masks = [parse_mask(s, batch, q_len, kv_len) for s in parts]
        return Intersection(tuple(m for m in masks if m is not None))
    name, params = parse_spec(spec)
    if name == "none" and not params:
        return None
    if name not in MASK_KINDS:
        raise ValueError(f"unknown mask {name!r} (known: none, {', '.join(sorted(MASK_KINDS))})")
    return MASK_KINDS[name].from_spec(params, batch, q_len, kv_len)
