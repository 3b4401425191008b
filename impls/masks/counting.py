"""Shared by the sparse layouts: naming their parameters, checking them, and counting kept pairs.

Windows are counted in steps of ``dilation`` positions; blocks are ``block`` positions on both axes,
aligned at position 0, so the last block of a length that is not a multiple is partial. Every layout
is exact attention under its mask; the sparse implementations (impls/sparse/) compute it without a
seq × seq tensor, and the dense ones densify it like any other mask.
"""

from __future__ import annotations

import torch

from ..spec import format_value


def format_mask_params(kind: str, values: dict[str, object], defaults: dict[str, object], always: tuple[str, ...]) -> str:
    """``kind[...]`` listing ``always`` and every parameter that differs from its default (flags as 0/1)."""
    items = []
    for name, value in values.items():
        if name in always or value != defaults[name]:
            items.append(f"{name}={int(value) if isinstance(value, bool) else format_value(value)}")
    return f"{kind}[{','.join(items)}]" if items else kind


def count_steps(rows: torch.Tensor, kv_len: int, step: int, lo: int, hi: int) -> torch.Tensor:
    """Per row i: how many t in [lo, hi] put the key i - t·step inside [0, kv_len)."""
    top = torch.clamp(torch.div(rows, step, rounding_mode="floor"), max=hi)
    bottom = torch.clamp(-torch.div(kv_len - 1 - rows, step, rounding_mode="floor"), min=lo)
    return torch.clamp(top - bottom + 1, min=0)


def require_positive(kind: str, **values: int) -> None:
    """Raise ValueError naming the first value below 1."""
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{kind} {name}={value} must be at least 1")
