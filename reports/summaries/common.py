"""What the suite summaries share: the suite's measured cells as a frame, one per cell, and markdown tables.

A cell measured more than once counts once: its latest measurement (reports.frame.latest_measurements,
the rule every report view uses).
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from ..frame import latest_measurements, measured, tidy_frame


def suite_cells(records: list[dict], suite: str) -> pd.DataFrame:
    """The suite's cells that ran, one row per (machine, device, problem, impl), with the tidy frame's columns."""
    mine = [r for r in records if r.get("suite") == suite]
    if not mine:
        return pd.DataFrame()
    kept, _repeated = latest_measurements(measured(tidy_frame(mine)))
    return kept.reset_index(drop=True)


def per_length(cells: pd.DataFrame) -> dict[int, pd.Series]:
    """Rows of one (series, impl) by sequence length."""
    return {int(row["problem.seq_len"]): row for _, row in cells.sort_values("problem.seq_len").iterrows()}


def optional(row: pd.Series | None, column: str) -> float | None:
    """A row's value as a float, or None when the row or the value is missing."""
    if row is None or column not in row or pd.isna(row[column]):
        return None
    return float(row[column])


def markdown_table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    """A GitHub-flavoured markdown table, one line per row."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines

