"""The error strip: each implementation's relative L2 errors against the oracle, one dot per cell."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .style import ERROR_FLOOR, STYLE, format_error_tick, log_axis, to_svg


def error_strip(ran: pd.DataFrame, colours: dict[str, str], tolerances: dict[str, float], name: str) -> str:
    """One row per implementation (most accurate at the top), one dot per cell: relative L2 error against the oracle."""
    data = ran[ran["error"].notna()].copy()
    data["error_plot"] = data["error"].clip(lower=ERROR_FLOOR)
    order = data.groupby("impl")["error_plot"].median().sort_values(kind="mergesort")
    impls = sorted(order.index, key=lambda i: (order[i], i))
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(10, 0.8 + 0.32 * len(impls)))
        for row, impl in enumerate(impls):
            values = np.sort(data.loc[data["impl"] == impl, "error_plot"].to_numpy(float))
            offsets = (np.arange(len(values)) % 5 - 2) * 0.07  # deterministic spread so equal values stay visible
            ax.scatter(values, row + offsets, s=18, color=colours.get(impl, "#333"), alpha=0.8, linewidth=0, zorder=3)
            ax.plot([np.median(values)] * 2, [row - 0.3, row + 0.3], color="#222", linewidth=1.2, zorder=4)
        for dtype, tolerance in sorted(tolerances.items()):
            ax.axvline(tolerance, color="#2e7d32", linestyle=":", linewidth=1)
            ax.text(tolerance, len(impls) - 0.4, f" {dtype} tolerance", color="#2e7d32", fontsize=7, va="bottom")
        ax.set_yticks(range(len(impls)), impls)
        ax.set_ylim(-0.6, len(impls) - 0.2)
        ax.invert_yaxis()
        ax.set_xscale("log")
        low = min(float(data["error_plot"].min()), *(tolerances.values() or [1.0]))
        high = max(float(data["error_plot"].max()), *(tolerances.values() or [1e-12]))
        ax.set_xlim(low / 3, high * 3)
        log_axis(ax.xaxis, format_error_tick)
        ax.grid(True, axis="x", alpha=0.25)
        ax.set_xlabel("relative L2 error of the output vs the float64 oracle (log; one dot per cell, bar = median)")
        fig.tight_layout()
        return to_svg(fig, name)
