"""Speed-up against the baseline per cell (heatmap), and achieved FLOP/s with the fraction of the device's peak."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..context import ReportContext
from ..html import Column, Section, esc, figure, table
from ..plots import speedup_heatmap
from ..units import format_flops, format_percent
from .interval_text import add_interval_columns
from .recommendations import group_order


def speedup_table(device_rows: pd.DataFrame, baseline: str) -> pd.DataFrame:
    """Rows: shape groups where the baseline ran (reading order); columns: impls, best geometric-mean speed-up first."""
    groups = [g for g in group_order(device_rows) if ((device_rows["group"] == g) & (device_rows["impl"] == baseline)).any()]
    if not groups:
        return pd.DataFrame()
    rows = {}
    for group in groups:
        cells = device_rows[device_rows["group"] == group]
        base = float(cells.loc[cells["impl"] == baseline, "time_s"].median())
        rows[cells["shape"].iloc[0]] = (base / cells.groupby("impl")["time_s"].median()).to_dict()
    frame = pd.DataFrame.from_dict(rows, orient="index")
    score = np.log(frame).mean(axis=0, skipna=True)
    order = sorted(frame.columns, key=lambda c: (-score[c] if np.isfinite(score[c]) else np.inf, c))
    return frame[order]


def speedup_interval_rows(device_rows: pd.DataFrame, baseline: str) -> list[dict]:
    """Per shape where the baseline ran: each implementation's speed-up with its 95% interval ('≈': intervals overlap)."""
    rows = []
    for group in group_order(device_rows):
        cells = add_interval_columns(device_rows[device_rows["group"] == group], baseline)
        if not (cells["impl"] == baseline).any():
            continue
        row = {"shape": cells["shape"].iloc[0]}
        row.update({impl: text for impl, text in zip(cells["impl"], cells["speedup_text"]) if impl != baseline})
        rows.append(row)
    return rows


def flops_rows(ran: pd.DataFrame) -> list[dict]:
    rows = []
    for (device, impl), cells in ran.groupby(["device_label", "impl"]):
        rate = cells["flops_per_s"].dropna()
        fraction = cells["peak_fraction"].dropna()
        if rate.empty:
            continue
        best = cells.loc[rate.idxmax()]
        rows.append({"device": device, "impl": impl, "median": float(rate.median()), "best": float(rate.max()),
                     "fraction": float(fraction.median()) if len(fraction) else None,
                     "best_fraction": float(fraction.max()) if len(fraction) else None,
                     "best_shape": best["shape"], "peak": pd.to_numeric(cells["device_peak_flops"], errors="coerce").median()})
    rows.sort(key=lambda r: (r["device"], -r["median"], r["impl"]))
    return rows


def render(ctx: ReportContext):
    ran = ctx.ran
    if ran.empty:
        return None
    parts = []
    if not ctx.has_baseline:
        available = ", ".join(sorted(set(ran["impl"])))
        parts.append(f'<p class="note">The baseline <code>{esc(ctx.baseline)}</code> did not run in these results, so there is no '
                     f"speed-up view; rebuild with <code>--baseline</code> one of: {esc(available)}.</p>")
    else:
        parts.append(f"<p class=\"lead\">Speed-up = {esc(ctx.baseline)}'s median time / the implementation's median time on the "
                     f"same cell (blue: faster, red: slower; grey: did not run). Columns are ordered by geometric-mean speed-up, "
                     f"best first.</p>")
        for index, (device, device_rows) in enumerate(sorted(ran.groupby("device_label"), key=lambda kv: kv[0])):
            speedups = speedup_table(device_rows, ctx.baseline)
            if speedups.empty:
                continue
            svg = speedup_heatmap(speedups, ctx.baseline, f"speedup-{index}", f"speed-up vs {ctx.baseline} · {device}")
            parts.append(figure(svg, f"{len(speedups)} cells × {len(speedups.columns)} implementations on {device}."))
            impls = [impl for impl in speedups.columns if impl != ctx.baseline]
            parts.append(table(speedup_interval_rows(device_rows, ctx.baseline),
                               [Column("shape", "shape")] + [Column(impl, impl, numeric=True) for impl in impls],
                               caption=f"speed-up vs {ctx.baseline} [95% interval]; ≈: the intervals overlap, no difference measured"))
    rows = flops_rows(ran)
    if rows:
        parts.append("<h3>Achieved FLOP/s and fraction of peak</h3><p class=\"note\">Useful FLOPs (masked pairs excluded; "
                     "approximations count their own cost) per second of median time; the peak is a large matmul measured on the "
                     "same device and dtype in the same session. Best median first.</p>")
        parts.append(table(rows, [Column("device", "device"), Column("impl", "implementation"),
                                  Column("median", "median over cells", format_flops, numeric=True),
                                  Column("best", "best cell", format_flops, numeric=True),
                                  Column("fraction", "median of peak", format_percent, numeric=True),
                                  Column("best_fraction", "best of peak", format_percent, numeric=True),
                                  Column("peak", "measured peak", format_flops, numeric=True), Column("best_shape", "best cell's shape")]))
    return Section("speedup", "Speed-up and FLOP/s", "".join(parts))
