"""Figures as inline SVG text: Pareto fronts, scaling curves, speed-up heatmap, heads views.

Every function takes plain frames and returns the ``<svg>`` element as a string. Output is
deterministic: the SVG id salt is fixed per figure, the date is left out, text stays text.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.colors import TwoSlopeNorm  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

from .pareto import frontier_steps  # noqa: E402
from .scaling import fit_power_law  # noqa: E402

STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, printable
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
FAMILY_MARKERS = {"exact": "o", "sparse": "s", "linear": "^", "custom": "D"}
MUTED = "#b8b8b8"
# Plotted at this relative error when the measured error is exactly 0 (a log axis has no 0).
ERROR_FLOOR = 1e-12


def palette(impls) -> dict[str, str]:
    """A stable colour per implementation (sorted names → tab10, then tab20b/c)."""
    colours = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20b").colors) + list(plt.get_cmap("tab20c").colors)
    result = {}
    for index, name in enumerate(sorted(set(impls))):
        r, g, b = colours[index % len(colours)][:3]
        result[name] = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    return result


# --- units ---------------------------------------------------------------------------------------------------
def format_seconds(value: float) -> str:
    if not value or not math.isfinite(value):
        return "—"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(value) >= scale * 0.9999:
            return f"{value / scale:.3g} {unit}"
    return f"{value / 1e-9:.3g} ns"


def format_bytes(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(value) >= scale * 0.9999:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.0f} B"


def format_flops(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    for unit, scale in (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)):
        if abs(value) >= scale * 0.9999:
            return f"{value / scale:.3g} {unit}"
    return f"{value:.3g} FLOP/s"


def nice_log_ticks(low: float, high: float, kind: str) -> list[float]:
    """Readable tick values in [low, high] on a log axis: powers of two for bytes, 1-2-5 × 10^k otherwise; at most ~7."""
    if not (low > 0 and high > low and math.isfinite(high)):
        return []
    if kind == "bytes":
        first, last = math.ceil(math.log2(low)), math.floor(math.log2(high))
        step = 1
        while (last - first) // step + 1 > 7:
            step *= 2
        start = first + (-first) % step  # keep 1 KiB, 1 MiB, 1 GiB on the grid when the step allows
        return [2.0 ** k for k in range(start, last + 1, step)]
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas, decade_step in (((1, 2, 5), 1), ((1, 3), 1), ((1,), 1), ((1,), 2), ((1,), 3), ((1,), 5)):
        ticks = [m * 10.0 ** k for k in range(first, last + 1) if k % decade_step == 0 for m in mantissas]
        ticks = [t for t in ticks if low <= t * (1 + 1e-9) and t <= high * (1 + 1e-9)]
        if len(ticks) <= 7:
            return ticks
    return ticks


def _log_axis(axis, formatter, kind: str = "decimal") -> None:
    """Fixed readable ticks for the axis's current limits (call after the limits are final)."""
    low, high = axis.get_view_interval()
    low, high = min(low, high), max(low, high)
    axis.set_major_locator(matplotlib.ticker.FixedLocator(nice_log_ticks(low, high, kind)))
    axis.set_minor_locator(NullLocator())  # the 1-2-5 / power-of-two majors suffice; minors cost most of the drawing time
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: formatter(v)))


def _length_axis(axis, lengths) -> None:
    axis.set_minor_locator(NullLocator())
    ticks = sorted(set(int(v) for v in lengths))
    axis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(v):,}" if v < 1e4 else f"{int(v) // 1024}k"))


def to_svg(fig, name: str) -> str:
    """The figure as an ``<svg>`` element; ids salted with ``name`` so several figures share one page."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"attnbench-{name}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # Title lets assistive tech name the figure; the pt size stays as the natural size (CSS caps the width).
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{_attr(name)}" ', text, count=1)


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


# --- Pareto ---------------------------------------------------------------------------------------------------
def marker_areas(values, small: float = 30.0, large: float = 230.0, decades: float = 3.0) -> np.ndarray:
    """Marker areas from a metric on a log scale: the group's smallest value gets ``small``; each decade above it
    adds (large - small) / decades, so a rounding-level difference does not look like a trade-off."""
    v = np.log10(np.clip(np.asarray(values, dtype=float), ERROR_FLOOR, None))
    out = np.full(len(v), small)
    ok = np.isfinite(v)
    if ok.any():
        out[ok] = small + (large - small) * np.clip((v[ok] - v[ok].min()) / decades, 0, 1)
    return out


def _label_points(ax, points: pd.DataFrame, x: str, y: str) -> None:
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
                  ("error_plot", "error_rank", "relative L2 error vs float64 oracle", _format_error, "decimal", "memory_bytes",
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
            _pad_log_limits(ax, panel["time_s"], shown_y)
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
            _label_points(ax, panel, "time_s", y)
            ax.set_xscale("log")
            ax.set_yscale("log")
            _log_axis(ax.xaxis, format_seconds)
            _log_axis(ax.yaxis, yformat, kind)
            ax.set_xlabel("median time per call (log scale)")
            ax.set_ylabel(f"{ylabel} (log)")
            ax.set_title(f"time vs {ylabel.split(' vs ')[0]} · {size_note}", loc="left")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
        return to_svg(fig, name)


def _format_error(value: float) -> str:
    if value <= ERROR_FLOOR * 1.0001:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def _pad_log_limits(ax, x: pd.Series, y: pd.Series) -> None:
    """At least a factor ~10 per axis, so ticks exist; margins so labels stay inside."""
    for values, setter in ((x, ax.set_xlim), (y, ax.set_ylim)):
        low, high = float(values.min()), float(values.max())
        if high / low < 10:
            centre = math.sqrt(low * high)
            low, high = min(low, centre / 3.2), max(high, centre * 3.2)
        setter(low / 1.4, high * 2.2)


# --- scaling ------------------------------------------------------------------------------------------------------
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
            _length_axis(ax.xaxis, lengths)
            ax.set_xlabel("sequence length L (tokens, log)")
            if ax.has_data():
                ax.set_yscale("log")
                _widen(ax)
                _log_axis(ax.yaxis, formatter, kind)
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


def _widen(ax) -> None:
    """A log y axis spanning at least a factor ~6, so it carries two or more ticks."""
    low, high = ax.get_ylim()
    if high / low < 6:
        centre = math.sqrt(low * high)
        ax.set_ylim(centre / 2.5, centre * 2.5)


# --- speed-up heatmap ------------------------------------------------------------------------------------------
def speedup_heatmap(table: pd.DataFrame, baseline: str, name: str, title: str) -> str:
    """``table``: rows = cells (shape), columns = impls, values = baseline time / impl time."""
    rows, cols = table.shape
    ratios = table.to_numpy(dtype=float)
    logs = np.log2(ratios)
    finite = logs[np.isfinite(logs)]
    reach = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(min(2.2 + 1.05 * cols, 14), 0.9 + 0.28 * rows))
        masked = np.ma.masked_invalid(logs)
        cmap = plt.get_cmap("RdBu").with_extremes(bad="#eeeeee")
        image = ax.imshow(masked, cmap=cmap, norm=TwoSlopeNorm(0.0, -reach, reach), aspect="auto")
        for i in range(rows):
            for j in range(cols):
                value = ratios[i, j]
                text = "—" if not math.isfinite(value) else f"{value:.2g}×"
                dark = math.isfinite(logs[i, j]) and abs(logs[i, j]) > 0.6 * reach
                ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color="white" if dark else "#222")
        ax.set_xticks(range(cols), [str(c) for c in table.columns], rotation=30, ha="right")
        ax.set_yticks(range(rows), [str(r) for r in table.index], fontsize=7.5)
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label(f"speed-up vs {baseline} (log2 colour; >1 = faster)")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{2 ** v:.2g}×"))
        ax.set_title(title, loc="left")
        fig.tight_layout()
        return to_svg(fig, name)


# --- error distribution ------------------------------------------------------------------------------------------
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
        _log_axis(ax.xaxis, _format_error)
        ax.grid(True, axis="x", alpha=0.25)
        ax.set_xlabel("relative L2 error of the output vs the float64 oracle (log; one dot per cell, bar = median)")
        fig.tight_layout()
        return to_svg(fig, name)


# --- heads -----------------------------------------------------------------------------------------------------
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
                _widen(ax)
                _log_axis(ax.yaxis, formatter, kind)
            ax.set_ylabel(f"{ylabel} (log)")
        fig.suptitle(title, x=0.01, ha="left", fontsize=10)
        fig.tight_layout()
        handles, labels = axes[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper left", bbox_to_anchor=(0.01, 0.0), ncol=min(4, max(1, len(labels))), frameon=False,
                   fontsize=8)
        return to_svg(fig, name)
