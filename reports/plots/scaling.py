"""Scaling curves: median time, peak memory and FLOP/s against sequence length, with fitted exponents."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd

from ..scaling import fit_power_law
from ..units import format_bytes, format_flops, format_seconds
from .style import FAMILY_MARKERS, STYLE, length_axis, log_axis, to_svg, widen


def scaling_figure(series: pd.DataFrame, colours: dict[str, str], name: str, title: str) -> str:
    """Median time (with the min–max band over rounds), peak memory and achieved FLOP/s against sequence length.

    One legend below the panels names each implementation with its fitted time and memory exponents.
    """
    lengths = sorted(series["problem.seq_len"].dropna().unique())
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 3, figsize=(12, 3.5))
        handles, labels = [], []
        for impl, rows in sorted(series.groupby("impl"), key=lambda kv: kv[0]):
            per_length = rows.groupby("problem.seq_len").agg(time=("time_s", "median"), low=("time.min", "min"), high=("time.max", "max"),
                                                             memory=("memory_bytes", "max"), flops=("flops_per_s", "median"))
            per_length = per_length.sort_index()
            colour = colours.get(impl, "#333")
            marker = FAMILY_MARKERS.get(str(rows["family"].iloc[0]), "P")
            x = per_length.index.to_numpy(float)
            style = dict(marker=marker, color=colour, linewidth=1.5, markersize=4.5)
            (line,) = axes[0].plot(x, per_length["time"], **style)
            band = per_length[["low", "high"]].dropna()
            if len(band) >= 2:
                axes[0].fill_between(band.index.to_numpy(float), band["low"], band["high"], color=colour, alpha=0.15, linewidth=0)
            memory = per_length["memory"].dropna()
            memory = memory[memory > 0]
            if len(memory):
                axes[1].plot(memory.index.to_numpy(float), memory, **style)
            flops = per_length["flops"].dropna()
            if len(flops):
                axes[2].plot(flops.index.to_numpy(float), flops, **style)
            fit_t = fit_power_law(x, per_length["time"])
            fit_m = fit_power_law(memory.index.to_numpy(float), memory) if len(memory) else None
            exponents = ", ".join(part for part in (f"time ∝ L^{fit_t.text()}" if fit_t else "", f"memory ∝ L^{fit_m.text()}" if fit_m else "")
                                  if part)
            handles.append(line)
            labels.append(f"{impl}  ({exponents})" if exponents else impl)
        formats = ((format_seconds, "decimal"), (format_bytes, "bytes"), (format_flops, "decimal"))
        ylabels = ("median time per call", "peak memory", "achieved FLOP/s")
        for ax, (formatter, kind), ylabel in zip(axes, formats, ylabels):
            ax.set_xscale("log")
            length_axis(ax.xaxis, lengths)
            ax.set_xlabel("sequence length L (tokens, log)")
            if ax.has_data():
                ax.set_yscale("log")
                widen(ax)
                log_axis(ax.yaxis, formatter, kind)
            else:
                ax.text(0.5, 0.5, "not recorded", ha="center", va="center", transform=ax.transAxes, color="#666")
            ax.set_ylabel(f"{ylabel} (log)")
        axes[0].set_title("time (band: fastest–slowest round)", loc="left")
        axes[1].set_title("peak memory", loc="left")
        axes[2].set_title("useful FLOPs / median time", loc="left")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
        columns = 2 if len(labels) > 3 else len(labels)
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.0), ncol=max(columns, 1), frameon=False, fontsize=8)
        return to_svg(fig, name)
