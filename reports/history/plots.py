"""One figure per history: median time with its IQR band and the steps found, memory and error below it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from ..plots.style import STYLE, to_svg  # noqa: E402
from ..units import format_bytes, format_seconds  # noqa: E402

MAX_LABELS = 24  # commit labels on the x axis; more commits get every n-th label


def history_figure(series: pd.DataFrame, steps: pd.DataFrame, commits: pd.DataFrame, name: str, title: str) -> str:
    """``series``: one row per commit (position, median, q1, q3, peak_bytes, error_max_abs); ``steps``: this series' steps."""
    with plt.rc_context(STYLE):
        fig, (ax_time, ax_memory, ax_error) = plt.subplots(3, 1, figsize=(8.6, 4.6), sharex=True,
                                                           gridspec_kw={"height_ratios": [3, 1, 1], "hspace": 0.12})
        x = series["position"].to_numpy()
        ax_time.fill_between(x, series["q1"], series["q3"], color="#9ecae1", alpha=0.45, linewidth=0, label="IQR")
        ax_time.plot(x, series["median"], "-o", color="#08519c", markersize=3.2, linewidth=1.1, label="median")
        for _, step in steps.iterrows():
            colour = "#b2182b" if step["change"] > 0 else "#1a9850"
            edge = (step["good_position"] + step["bad_position"]) / 2
            ax_time.axvline(edge, color=colour, linestyle="--", linewidth=1)
            ax_time.hlines([step["before_s"], step["after_s"]], [x.min(), edge], [edge, x.max()], colors=colour, linewidth=0.8,
                           alpha=0.7)
            ax_time.annotate(f"{step['change']:+.1%}", (edge, step["after_s"]), textcoords="offset points", xytext=(4, 6),
                             color=colour, fontsize=8)
        ax_time.set_ylabel("time per call")
        ax_time.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: format_seconds(v)))
        ax_time.set_title(title, loc="left")
        ax_time.legend(loc="upper left", frameon=False, ncols=2)
        ax_memory.plot(x, series["peak_bytes"], "-s", color="#6a51a3", markersize=2.5, linewidth=0.9)
        ax_memory.set_ylabel("peak mem.")
        ax_memory.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: format_bytes(v)))
        ax_error.plot(x, series["error_max_abs"].clip(lower=1e-12), "-^", color="#525252", markersize=2.5, linewidth=0.9)
        ax_error.set_yscale("log")
        ax_error.set_ylabel("max |err|")
        every = max(1, -(-len(commits) // MAX_LABELS))
        shown = commits.iloc[::every]
        ax_error.set_xticks(shown["position"], [str(c)[:8] for c in shown["commit"]], rotation=60, ha="right", fontsize=7)
        ax_error.set_xlim(commits["position"].min() - 0.5, commits["position"].max() + 0.5)
        ax_error.set_xlabel("commit (oldest left)")
        svg = to_svg(fig, name)
        plt.close(fig)
    return svg
