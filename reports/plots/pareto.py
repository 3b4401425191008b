"""Pareto fronts: time vs peak memory and time vs error for one shape group."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..pareto import frontier_steps
from ..units import format_bytes, format_seconds
from .style import ERROR_FLOOR, FAMILY_MARKERS, STYLE, format_error_tick, log_axis, to_svg


def marker_areas(values, small: float = 30.0, large: float = 230.0, decades: float = 3.0) -> np.ndarray:
    """Marker areas from a metric on a log scale: the group's smallest value gets ``small``; each decade above it
    adds (large - small) / decades, so a rounding-level difference does not look like a trade-off."""
    v = np.log10(np.clip(np.asarray(values, dtype=float), ERROR_FLOOR, None))
    out = np.full(len(v), small)
    ok = np.isfinite(v)
    if ok.any():
        out[ok] = small + (large - small) * np.clip((v[ok] - v[ok].min()) / decades, 0, 1)
    return out


def label_points(ax, points: pd.DataFrame, x: str, y: str) -> None:
    """Label every point; points within a few % (in log space) of each other share one label, front members first.

    A label is bold when its cluster holds a point of the front, grey when all of its points are dominated.
    """
    if points.empty:
        return
    lx, ly = np.log10(points[x].to_numpy(float)), np.log10(points[y].to_numpy(float))
    front = points["front"].to_numpy(bool)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    span_x, span_y = math.log10(x1 / x0), math.log10(y1 / y0)
    order = np.lexsort((ly, lx))
    clusters: list[list[int]] = []
    for i in order:
        for cluster in clusters:
            j = cluster[0]
            if abs(lx[i] - lx[j]) < 0.035 * span_x and abs(ly[i] - ly[j]) < 0.05 * span_y:
                cluster.append(i)
                break
        else:
            clusters.append([i])
    names = points["impl"].to_numpy(str)
    for index, cluster in enumerate(clusters):
        members = sorted(cluster, key=lambda i: (not front[i], names[i]))
        label = " ≈ ".join(names[i] for i in members[:3]) + (f" +{len(members) - 3}" if len(members) > 3 else "")
        on_front = bool(front[members].any())
        anchor = members[0]
        ax.annotate(label, (10 ** lx[anchor], 10 ** ly[anchor]), xytext=(7, 4 if index % 2 == 0 else -10), textcoords="offset points",
                    fontsize=8.5 if on_front else 7.5, color="#111" if on_front else "#8a8a8a",
                    fontweight="bold" if on_front else "normal", zorder=5)


def pareto_figure(group: pd.DataFrame, colours: dict[str, str], name: str, title: str, tolerance: float = 0.0) -> str:
    """Two panels for one shape group: median time vs peak memory, median time vs error.

    ``group`` has impl, family, time_s, memory_bytes, error, error_rank and ``front`` (on the 3-axis front).
    Each panel's dashed step line is the 2-D front of that panel; outlined full-colour points are on the 3-axis
    front, faded points are dominated. Errors below ``tolerance`` (the dtype's rounding level) rank equal.
    """
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.7))
        data = group.copy()
        data["error_plot"] = data["error"].clip(lower=ERROR_FLOOR)
        if "error_rank" not in data:
            data["error_rank"] = data["error"]
        panels = (("memory_bytes", "memory_bytes", "peak memory", format_bytes, "bytes", "error_rank",
                   "marker area: error (larger = less accurate)"),
                  ("error_plot", "error_rank", "relative L2 error vs float64 oracle", format_error_tick, "decimal", "memory_bytes",
                   "marker area: peak memory"))
        for ax, (y, y_front, ylabel, yformat, kind, size_by, size_note) in zip(axes, panels):
            panel = data[data[y].notna() & (data[y] > 0)]
            if panel.empty:
                ax.text(0.5, 0.5, f"no {ylabel} recorded", ha="center", va="center", transform=ax.transAxes, color="#666")
                ax.set_axis_off()
                continue
            sizes = marker_areas(panel[size_by]) if panel[size_by].notna().any() else np.full(len(panel), 60.0)
            for (_, row), size in zip(panel.iterrows(), sizes):
                on_front = bool(row["front"])
                ax.scatter(row["time_s"], row[y], s=size, marker=FAMILY_MARKERS.get(row["family"], "P"),
                           color=colours.get(row["impl"], "#333"), edgecolor="#111" if on_front else "none",
                           linewidth=0.9, alpha=0.95 if on_front else 0.35, zorder=4 if on_front else 3)
            shown_y = panel[y] if y != "error_plot" or tolerance <= 0 else pd.concat([panel[y], pd.Series([tolerance])])
            pad_log_limits(ax, panel["time_s"], shown_y)
            front_y = panel[y_front].clip(lower=ERROR_FLOOR) if y_front != y else panel[y]
            sx, sy = frontier_steps(panel["time_s"], front_y)
            if len(sx):
                right = ax.get_xlim()[1]
                ax.step(np.append(sx, right), np.append(sy, sy[-1]), where="post", color="#333", linewidth=1.0, linestyle="--",
                        zorder=2)
            if y == "error_plot" and tolerance > 0:
                ax.axhspan(ax.get_ylim()[0], tolerance, color="#2e7d32", alpha=0.07, zorder=0, linewidth=0)
                ax.text(0.01, tolerance * 0.93, "below the dtype's rounding tolerance: counts as exact", transform=ax.get_yaxis_transform(),
                        ha="left", va="top", fontsize=7, color="#2e7d32")
            label_points(ax, panel, "time_s", y)
            ax.set_xscale("log")
            ax.set_yscale("log")
            log_axis(ax.xaxis, format_seconds)
            log_axis(ax.yaxis, yformat, kind)
            ax.set_xlabel("median time per call (log scale)")
            ax.set_ylabel(f"{ylabel} (log)")
            ax.set_title(f"time vs {ylabel.split(' vs ')[0]} · {size_note}", loc="left")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
        return to_svg(fig, name)


def pad_log_limits(ax, x: pd.Series, y: pd.Series) -> None:
    """At least a factor ~10 per axis, so ticks exist; margins so labels stay inside."""
    for values, setter in ((x, ax.set_xlim), (y, ax.set_ylim)):
        low, high = float(values.min()), float(values.max())
        if high / low < 10:
            centre = math.sqrt(low * high)
            low, high = min(low, centre / 3.2), max(high, centre * 3.2)
        setter(low / 1.4, high * 2.2)
