"""Recommendations: per shape group, the non-dominated implementations and which one to pick under common budgets."""

from __future__ import annotations

from ..context import ReportContext
from ..html import Column, Section, anchor, esc, table
from ..pareto import budget_picks
from ..plots import format_bytes, format_seconds


def _pick_text(pick) -> str:
    if pick.impl is None:
        return '<span class="skipped badge">none</span>'
    row = pick.row
    return f"<b>{esc(pick.impl)}</b><br><small>{esc(format_seconds(row['time_s']))} · {esc(format_bytes(row['memory_bytes']))}</small>"


def group_order(ran):
    """Shape groups in reading order: device, then series, then length."""
    keys = ran.groupby("group").agg(device=("device_label", "first"), series=("series", "first"), length=("problem.seq_len", "first"),
                                    shape=("shape", "first"))
    keys = keys.sort_values(["device", "series", "length", "shape"], kind="mergesort", na_position="last")
    return list(keys.index)


def render(ctx: ReportContext):
    ran = ctx.ran
    if ran.empty:
        return Section("recommendations", "Recommendations", "<p>No cell ran, so there is nothing to recommend.</p>")
    intro = ("<p class=\"lead\">For each problem shape: the implementations no other beats on median time, peak memory and error at once "
             "(fastest first), and the pick under common budgets. Errors below the dtype's rounding tolerance count as equal. "
             "Every pick links to the shape's Pareto plot below.</p>")
    parts = [intro]
    baseline = ctx.baseline if ctx.has_baseline else None
    for device, device_rows in sorted(ran.groupby("device_label"), key=lambda kv: kv[0]):
        rows, budgets, picked = [], [], {}
        for group in group_order(device_rows):
            cells = device_rows[device_rows["group"] == group]
            front = cells[cells["front"]].sort_values(["time_s", "impl"], kind="mergesort")
            row = {"shape": f'<a href="#{esc(group_anchor(group))}">{esc(cells["shape"].iloc[0])}</a>', "suite": cells["suite"].iloc[0],
                   "front": ", ".join(front["impl"]), "count": len(cells)}
            picks = budget_picks(cells, baseline)
            for pick in picks:
                if pick.budget not in budgets:
                    budgets.append(pick.budget)
                row[pick.budget] = _pick_text(pick)
                picked.setdefault(pick.budget, []).append((pick.impl, picks[0].impl))
            rows.append(row)
        # A budget whose pick is the fastest everywhere, or that nothing meets anywhere, adds no information here.
        shown = [b for i, b in enumerate(budgets) if i == 0 or any(impl is not None and impl != fastest for impl, fastest in picked[b])]
        columns = [Column("shape", "shape", raw_html=True), Column("suite", "suite"), Column("count", "impls", numeric=True),
                   Column("front", "non-dominated (fastest first)")]
        columns += [Column(b, b, raw_html=True) for b in shown]
        parts.append(f"<h3>{esc(device)}</h3>")
        parts.append(table(rows, columns))
        left_out = [b for b in budgets if b not in shown]
        if left_out:
            parts.append(f'<p class="note">Left out because they pick the fastest implementation, or nothing, in every shape '
                         f'here: {esc("; ".join(left_out))}.</p>')
    return Section("recommendations", "Recommendations", "".join(parts))


def group_anchor(group: str) -> str:
    return "front-" + anchor(group)
