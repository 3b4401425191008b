"""Predicted seconds a cell takes in a sweep: what the fleet balances its shards on.

The same estimate the budget uses (``impl.time_estimate``), but against a fixed reference rate
per device type instead of a measured peak: the plan is made before any shard runs, often on a
machine without the shards' devices, and only the ratios between cells matter for balance.

The rate a shard will measure is not known, and the runtime skips a cell whose call it predicts
over the budget from that measured rate: a cell near the budget may run (expensive) or be
skipped (free). So a cell's cost is its mean over rates from half to twice the reference, which
turns that cliff into a slope instead of betting on one side of it.
"""

from __future__ import annotations

# FLOP/s assumed for a device type when predicting; roughly a few CPU cores and one recent GPU.
REFERENCE_RATE = {"cpu": 5e10, "cuda": 2e14}
RATE_SPREAD = (0.5, 0.71, 1.0, 1.41, 2.0)  # multiples of the reference rate a cell's cost is averaged over
# Work around the timed rounds: warm-up, error check (and its float64 oracle), peak memory, the sizing call.
UNTIMED_CALLS = 6
CELL_OVERHEAD_S = 0.05  # inputs, build, bookkeeping
SKIPPED_CELL_S = 0.01  # an unsupported cell or one over budget is recorded without running
MIN_ROUND_S = 1e-3  # calls shorter than this are repeated within a round (as the runtime does)


def call_seconds(impl, problem, rate_multiple: float = 1.0) -> float:
    """Predicted seconds per call at (a multiple of) the device type's reference rate."""
    rate = REFERENCE_RATE.get(problem.device_type, REFERENCE_RATE["cpu"]) * rate_multiple
    return impl.time_estimate(problem, rate)


def cell_cost(impl, problem, budget) -> float:
    """Predicted wall seconds of one cell, averaged over RATE_SPREAD."""
    try:
        unsupported = bool(impl.not_supported_reasons(problem))
    except Exception:  # noqa: BLE001 - a capability probe that needs the device itself: assume it runs
        unsupported = False
    if unsupported:
        return SKIPPED_CELL_S
    costs = [cost_at(call_seconds(impl, problem, multiple), budget, getattr(impl, "compile_seconds", 0.0))
             for multiple in RATE_SPREAD]
    return sum(costs) / len(costs)


def cost_at(call: float, budget, compile_s: float = 0.0) -> float:
    """Wall seconds of a cell whose call takes ``call`` seconds: skipped over budget, else rounds sized by the budget."""
    if budget is None:
        return CELL_OVERHEAD_S + compile_s + (UNTIMED_CALLS + 3) * call
    if call > budget.max_call_seconds:
        return SKIPPED_CELL_S
    round_s = max(call, MIN_ROUND_S)
    timed = min(max(budget.target_cell_seconds, budget.min_rounds * round_s), budget.max_rounds * round_s)
    return CELL_OVERHEAD_S + compile_s + timed + UNTIMED_CALLS * call
