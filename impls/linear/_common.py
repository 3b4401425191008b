"""What the linear and low-rank family shares: naming, row blocking, and the compute dtypes."""

from __future__ import annotations

from typing import ClassVar

import torch

from ..registry import Impl
from ..spec import format_spec

# On CPU a block's largest temporary is kept near this size: a tensor of tens of MB is mmapped
# fresh on every call and page-faulted in (about 1 ms per MB on the 2-core CI VM), and a small
# one stays in cache across the few ops that touch it.
CPU_BLOCK_BYTES = 4 << 20


class Approximation(Impl):
    """Base of our approximations: error is a metric, the name shows the defining parameter(s)."""

    family = "linear"
    exact = False
    dtypes = frozenset({torch.float32, torch.bfloat16, torch.float64})
    # parameters shown in the name even at their default (e.g. ``performer[m=256]``)
    shown_params: ClassVar[tuple[str, ...]] = ()

    @property
    def full_name(self) -> str:
        shown = {k: v for k, v in self.values.items() if k in self.shown_params or v != self.params[k]}
        return format_spec(self.name, shown)

    def positive_params(self, *names: str) -> None:
        for name in names:
            value = self.values[name]
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{self.name}[{name}={value}] must be a positive integer")


def block_rows(problem, row_elements: int, multiple: int = 1) -> int:
    """Rows per block so that one block's largest temporary (``row_elements`` per row, all heads) stays
    small on CPU; a single block on CUDA, where one large launch is faster and memory is cached."""
    if problem.device_type == "cuda":
        rows = max(problem.seq_len, problem.kv_seq_len)
    else:
        per_row = max(1, problem.batch * problem.heads * row_elements * 4)
        rows = max(1, CPU_BLOCK_BYTES // per_row)
    return max(multiple, rows // multiple * multiple)


def accumulate_dtype(dtype: torch.dtype) -> torch.dtype:
    """Sums over the sequence are kept at least in float32."""
    return torch.promote_types(dtype, torch.float32)
