"""Predicted seconds a cell takes in a sweep: what the fleet balances its shards on.

The runtime's own prediction (``bench.conditions.predicted_cell_seconds``: the budget's estimate
from a fixed reference rate per device kind and dtype, the rounds the budget sizes, warm-up,
error check and peak memory; 0 for a cell that is unsupported or over budget), so the plan
selects and weighs cells exactly as the shards will, on a machine without the shards' devices.
Two things it leaves out matter when cells are dealt between processes: compilation
(``Impl.compile_seconds``, once per shape) and a small fixed cost per cell.
"""

from __future__ import annotations

CELL_OVERHEAD_S = 0.05  # inputs, build, the record: a skipped cell costs about this


def cell_cost(cell, budget, ignore_budget: bool = False) -> float:
    from ..conditions import predicted_cell_seconds

    try:
        predicted = predicted_cell_seconds(cell, budget, ignore_budget)
    except Exception:  # noqa: BLE001 - a capability probe that needs the device itself (planning without it): assume it runs
        predicted = None
    if predicted is None:
        return CELL_OVERHEAD_S
    compile_s = getattr(cell.impl, "compile_seconds", 0.0) if predicted > 0 else 0.0
    return CELL_OVERHEAD_S + compile_s + predicted
