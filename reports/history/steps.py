"""Change points of every history, as one table: cell, machine, commit range, size with its interval."""

from __future__ import annotations

import pandas as pd

from .changepoints import detect
from .series import SERIES_KEY, History

COLUMNS = [*SERIES_KEY, "impl", "good_commit", "bad_commit", "good_position", "bad_position", "change", "low", "high",
           "before_s", "after_s", "confirmed", "confirmation"]


def find_steps(history: History) -> pd.DataFrame:
    """Every step found, largest first; ``confirmed`` stays empty until the paired gate re-measures it."""
    found = []
    if history.points.empty:
        return pd.DataFrame(columns=COLUMNS)
    for key, series in history.points.groupby(SERIES_KEY, sort=True, dropna=False):
        series = series.sort_values("position")
        for step in detect(series["median"].to_numpy()):
            before, after = series.iloc[step.position - 1], series.iloc[step.position]
            found.append({**dict(zip(SERIES_KEY, key)), "impl": series["impl"].iloc[0],
                          "good_commit": before["commit"], "bad_commit": after["commit"],
                          "good_position": int(before["position"]), "bad_position": int(after["position"]),
                          "change": step.change, "low": step.low, "high": step.high, "before_s": step.before,
                          "after_s": step.after, "confirmed": None, "confirmation": ""})
    table = pd.DataFrame(found, columns=COLUMNS)
    if table.empty:
        return table
    order = table["change"].abs().sort_values(ascending=False, kind="stable").index
    return table.loc[order].reset_index(drop=True)
