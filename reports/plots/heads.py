"""The heads view: time and peak memory against the number of heads at a fixed model dim."""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.ticker import FuncFormatter, NullLocator

from ..units import format_bytes, format_seconds
from .style import FAMILY_MARKERS, STYLE, log_axis, to_svg, widen


def heads_figure(series: pd.DataFrame, colours: dict[str, str], name: str, title: str) -> str:
    """Time and peak memory against the number of heads at a fixed model dim (head_dim = model_dim / heads)."""
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
        heads = sorted(series["problem.heads"].dropna().unique())
        for impl, rows in sorted(series.groupby("impl"), key=lambda kv: kv[0]):
            per_heads = rows.groupby("problem.heads").agg(time=("time_s", "median"), memory=("memory_bytes", "max")).sort_index()
            colour = colours.get(impl, "#333")
            marker = FAMILY_MARKERS.get(str(rows["family"].iloc[0]), "P")
            axes[0].plot(per_heads.index, per_heads["time"], marker=marker, color=colour, label=impl, linewidth=1.4, markersize=4)
            memory = per_heads["memory"].dropna()
            if len(memory):
                axes[1].plot(memory.index, memory, marker=marker, color=colour, label=impl, linewidth=1.4, markersize=4)
        for ax, formatter, kind, ylabel in ((axes[0], format_seconds, "decimal", "median time per call"),
                                            (axes[1], format_bytes, "bytes", "peak memory")):
            ax.set_xscale("log", base=2)
            ax.xaxis.set_major_locator(matplotlib.ticker.FixedLocator(heads))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(v)}"))
            ax.set_xlabel("query heads (head_dim = model_dim / heads)")
            if ax.has_data():
                ax.set_yscale("log")
                widen(ax)
                log_axis(ax.yaxis, formatter, kind)
            ax.set_ylabel(f"{ylabel} (log)")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.0), ncol=min(4, max(1, len(labels))), frameon=False,
                   fontsize=8)
        return to_svg(fig, name)
