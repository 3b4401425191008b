"""Pareto plots per shape group (time vs memory, time vs error) with the group's cells, best first."""

from __future__ import annotations

from ..context import ReportContext, group_tolerance
from ..html import Column, Section, esc, figure, table
from ..plots import pareto_figure
from ..units import format_bytes, format_flops, format_percent, format_seconds
from .interval_text import add_interval_columns
from .recommendations import group_anchor, group_order


def _error(value) -> str:
    return f"{value:.2e}"


CELL_COLUMNS = [
    Column("front_mark", "front", raw_html=True), Column("impl", "implementation"), Column("family", "family"),
    Column("time_s", "median time", format_seconds, numeric=True), Column("time_interval", "95% interval", numeric=True),
    Column("time.iqr", "IQR", format_seconds, numeric=True), Column("quality_mark", "quality"),
    Column("memory_bytes", "peak memory", format_bytes, numeric=True), Column("error", "rel. L2 error", _error, numeric=True),
    Column("error_max_abs", "max abs error", _error, numeric=True), Column("speedup_text", "speed-up [interval]", numeric=True),
    Column("flops_per_s", "achieved", format_flops, numeric=True), Column("peak_fraction", "of peak", format_percent, numeric=True),
]


def render(ctx: ReportContext):
    ran = ctx.ran
    if ran.empty:
        return None
    parts = ["<p class=\"lead\">Each shape group compares the implementations that ran on the same problem and device. Axes are "
             "logarithmic. The dashed step line is the front of that panel's two axes. Outlined points in full colour, with bold "
             "labels, are on the front over all three axes (time × memory × error); faded points with grey labels are dominated; "
             "'a ≈ b' labels points that sit on top of each other. Errors below the dtype's rounding tolerance (green band) count "
             "as equal. Marker shape: family (● exact, ■ sparse, ▲ linear, ◆ custom).</p>"]
    for index, group in enumerate(group_order(ran)):
        cells = ran[ran["group"] == group].sort_values(["time_s", "impl"], kind="mergesort").copy()
        first = cells.iloc[0]
        suites = ", ".join(sorted(set(cells["suite"])))
        inputs = first.get("inputs") or "gaussian"
        title = f"{first['shape']}  ·  {first['device_label']}  ·  {inputs} inputs  ·  suite {suites}"
        base = cells.loc[cells["impl"] == ctx.baseline, "time_s"]
        cells["speedup"] = float(base.iloc[0]) / cells["time_s"] if len(base) else float("nan")
        cells = add_interval_columns(cells, ctx.baseline)
        cells["front_mark"] = cells["front"].map(lambda f: '<span class="badge ok">front</span>' if f else "")
        svg = pareto_figure(cells, ctx.colours, f"front-{index}", title, group_tolerance(cells, ctx.ran))
        caption = (f"{len(cells)} implementations; front over {first['front_axes']}; speed-up relative to {ctx.baseline}"
                   if len(base) else f"{len(cells)} implementations; front over {first['front_axes']}")
        parts.append(f'<h3 id="{esc(group_anchor(group))}">{esc(first["shape"])} <small>· {esc(first["device_label"])} · '
                     f'error measured on {esc(inputs)} inputs</small></h3>')
        parts.append(figure(svg, caption))
        parts.append(table(cells.to_dict("records"), CELL_COLUMNS))
    return Section("fronts", "Pareto fronts per shape", "".join(parts))
