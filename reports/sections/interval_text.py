"""Intervals and quality marks as table text: '1.2 ms [1.1–1.3]', '≈ 1.03× [0.97–1.10]', 'disturbed'."""

from __future__ import annotations

import math

import pandas as pd

from ..intervals import speedup_interval
from ..units import format_ratio, format_seconds


def finite(*values) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in values)


def time_interval(row) -> tuple[float, float] | None:
    low, high = row.get("time.ci_low"), row.get("time.ci_high")
    return (float(low), float(high)) if finite(low, high) else None


def interval_text(row) -> str | None:
    interval = time_interval(row)
    return f"{format_seconds(interval[0])} – {format_seconds(interval[1])}" if interval else None


def speedup_text(base_row, row) -> str | None:
    """'1.52× [1.41–1.63]', with '≈' in front when the interval holds 1 (the two times' intervals overlap)."""
    if not finite(base_row.get("time_s"), row.get("time_s")):
        return None
    value = float(base_row["time_s"]) / float(row["time_s"])
    base, impl = time_interval(base_row), time_interval(row)
    if base is None or impl is None:
        return format_ratio(value)
    low, high = speedup_interval(base, impl)
    return f"{'≈ ' if low <= 1.0 <= high else ''}{format_ratio(value)} [{low:.2f}–{high:.2f}]"


def add_interval_columns(cells: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Adds ``time_interval``, ``speedup_text`` (against the baseline's row) and ``quality_mark`` to a group's cells."""
    cells = cells.copy()
    base = cells[cells["impl"] == baseline]
    base_row = base.iloc[0] if len(base) else None
    cells["time_interval"] = [interval_text(row) for _, row in cells.iterrows()]
    cells["speedup_text"] = [speedup_text(base_row, row) if base_row is not None else None for _, row in cells.iterrows()]
    flags = cells["quality.disturbed"].fillna(False).astype(bool) if "quality.disturbed" in cells else [False] * len(cells)
    cells["quality_mark"] = ["disturbed" if flag else "" for flag in flags]
    return cells
