"""Pareto fronts (every axis minimized) and the budget picks built on them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


def non_dominated(points) -> np.ndarray:
    """Boolean mask of the points no other point dominates, every column minimized.

    ``a`` dominates ``b`` when it is no worse on every axis and strictly better on one; so exact
    duplicates do not dominate each other and all stay on the front. Rows must be finite.
    """
    values = np.asarray(points, dtype=float)
    if values.ndim != 2:
        raise ValueError(f"points must be a 2-D array (n points × k axes), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("points must be finite (drop cells with a missing metric before computing a front)")
    if len(values) == 0:
        return np.zeros(0, dtype=bool)
    no_worse = (values[:, None, :] <= values[None, :, :]).all(axis=2)  # [j, i]: j is no worse than i everywhere
    better = (values[:, None, :] < values[None, :, :]).any(axis=2)  # [j, i]: j is strictly better somewhere
    return ~(no_worse & better).any(axis=0)


def frontier_steps(x, y) -> tuple[np.ndarray, np.ndarray]:
    """The 2-D front of (x, y), both minimized, as vertices of a staircase (for ``step(where="post")``).

    Sorted by x; each front point holds its y until the next front point's x.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = non_dominated(np.column_stack([x, y])) if len(x) else np.zeros(0, dtype=bool)
    order = np.lexsort((y[keep], x[keep]))
    return x[keep][order], y[keep][order]


@dataclass(frozen=True)
class Pick:
    budget: str  # what the user asked for, in words
    impl: str | None  # None: nothing meets the budget
    row: pd.Series | None
    note: str = ""
    eligible: tuple[str, ...] | None = None  # the implementations that met the budget


# Relative-L2 error budgets a user typically has: rounding-level, 0.1 %, 1 %.
ERROR_BUDGETS = (1e-5, 1e-3, 1e-2)


BUDGET_HELP = {
    "fastest": "lowest median time with the exact answer (error within the dtype's rounding tolerance); "
               "only where no cell has it, the lowest regardless of error (said in the cell)",
    "fastest exact": "lowest median time among exact implementations",
    "fastest, error ≤ x": "lowest median time with relative L2 error against the float64 oracle at most x",
    "least memory": "lowest peak memory with the exact answer (ties: faster first)",
    "fastest in ½ baseline's memory": "lowest median time with the exact answer using at most half of the baseline's peak memory",
    "most accurate": "lowest error, rounding-level differences counted as equal (ties: faster first)",
}


def within_tolerance(group: pd.DataFrame, tolerance: float) -> pd.Series:
    """Cells with the problem's exact answer: an exact implementation, or an error within the rounding tolerance."""
    exact = group["exact"].fillna(False).astype(bool)
    return exact | (group["error"] <= tolerance)


def budget_picks(group: pd.DataFrame, baseline: str | None = None, tolerance: float | None = None) -> list[Pick]:
    """For one shape group (cells that ran): which implementation to choose under common budgets (see BUDGET_HELP).

    Expects columns impl, time_s, memory_bytes, error, exact. Time is the median; memory the peak. A pick never
    ignores error: the budgets that state none consider only cells with the exact answer (``within_tolerance``;
    ``tolerance`` defaults to the largest ``tolerance.rel_l2`` the cells recorded).
    """
    picks: list[Pick] = []
    if group.empty:
        return picks
    if tolerance is None:
        recorded = pd.to_numeric(group.get("tolerance.rel_l2", pd.Series(dtype=float)), errors="coerce").dropna()
        tolerance = float(recorded.max()) if len(recorded) else 0.0
    by_time = group.sort_values(["time_s", "impl"], kind="mergesort")
    answered = by_time[within_tolerance(by_time, tolerance)]
    if answered.empty:
        answered = by_time
        picks.append(_pick("fastest", by_time, "no cell has the exact answer: the fastest regardless of error"))
    else:
        picks.append(_pick("fastest", answered))
    exact = by_time[by_time["exact"].fillna(False).astype(bool)]
    if len(exact):
        picks.append(_pick("fastest exact", exact))
    errors = by_time["error"]
    if errors.notna().any():
        for limit in ERROR_BUDGETS:
            picks.append(_pick(f"fastest, error ≤ {limit:g}", by_time[errors <= max(limit, tolerance)]))
    memory = answered["memory_bytes"]
    if memory.notna().any():
        picks.append(_pick("least memory", answered[memory.notna()].sort_values(["memory_bytes", "time_s", "impl"], kind="mergesort")))
        if baseline is not None and (by_time["impl"] == baseline).any():
            base_memory = by_time.loc[by_time["impl"] == baseline, "memory_bytes"].iloc[0]
            if pd.notna(base_memory) and base_memory > 0:
                picks.append(_pick(f"fastest in ½ {baseline}'s memory", answered[memory <= base_memory / 2]))
    if errors.notna().any():
        rank = "error_rank" if "error_rank" in by_time else "error"  # rounding-level differences are not accuracy
        by_error = by_time[errors.notna()].sort_values([rank, "time_s", "impl"], kind="mergesort")
        picks.append(_pick("most accurate", by_error))
    return picks


def _pick(budget: str, ordered: pd.DataFrame, note: str = "") -> Pick:
    if ordered.empty:
        return Pick(budget, None, None, "nothing measured meets this budget", ())
    row = ordered.iloc[0]
    return Pick(budget, str(row["impl"]), row, note, eligible=tuple(ordered["impl"]))


def within_noise(group: pd.DataFrame, impl: str) -> list[str]:
    """Other implementations whose time interval overlaps ``impl``'s: their difference is not measured.

    The interval is the 95% confidence interval of the median (reports/intervals.py) where the frame
    has one, else the rounds' interquartile range.
    """
    low_column, high_column = ("time.ci_low", "time.ci_high") if "time.ci_low" in group else ("time.q1", "time.q3")
    if low_column not in group or high_column not in group:
        return []
    row = group[group["impl"] == impl]
    if row.empty or row[[low_column, high_column]].isna().any(axis=None):
        return []
    low, high = float(row[low_column].iloc[0]), float(row[high_column].iloc[0])
    others = group[(group["impl"] != impl) & (group[low_column] <= high) & (group[high_column] >= low)]
    return sorted(others["impl"])
