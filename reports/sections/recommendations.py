"""Recommendations: per shape group, the non-dominated implementations and which one to pick under common budgets."""

from __future__ import annotations

from ..context import ReportContext
from ..frame import shape_order
from ..html import Column, Section, anchor, esc, table
from ..pareto import BUDGET_HELP, budget_picks, within_noise
from ..units import format_bytes, format_seconds


def _pick_text(pick, cells) -> str:
    if pick.impl is None:
        return '<span class="skipped badge">none</span>'
    row = pick.row
    text = f"<b>{esc(pick.impl)}</b><br><small>{esc(format_seconds(row['time_s']))} · {esc(format_bytes(row['memory_bytes']))}</small>"
    if pick.budget.startswith("fastest"):
        eligible = cells[cells["impl"].isin(pick.eligible)] if pick.eligible is not None else cells
        ties = within_noise(eligible, pick.impl)
        if ties:
            text += f'<br><small class="tie">≈ {esc(", ".join(ties))} (intervals overlap)</small>'
    return text


def _budget_rank(budget: str) -> tuple[int, str]:
    """Columns in the order of pareto.BUDGET_HELP (error budgets by their number)."""
    for rank, prefix in enumerate(("fastest exact", "fastest, error", "fastest in", "fastest", "least memory", "most accurate")):
        if budget.startswith(prefix):
            order = (1, 2, 4, 0, 3, 5)[rank]
            return order, f"{float(budget.split('≤')[1]):020.12f}" if "≤" in budget else budget
    return 9, budget


def _shape_link(group: str, shape: str) -> str:
    return f'<a href="#{esc(group_anchor(group))}" class="nowrap">{esc(shape)}</a>'


def group_order(ran) -> list[str]:
    """Shape groups in reading order: device, then frame.SHAPE_ORDER (suite, pass, mask, dtype, sizes)."""
    firsts = ran.groupby("group")[["device_label", *shape_order(ran)]].first()
    firsts = firsts.sort_values(["device_label", *shape_order(ran)], kind="mergesort", na_position="last")
    return list(firsts.index)


def render(ctx: ReportContext):
    ran = ctx.ran
    if ran.empty:
        return Section("recommendations", "Recommendations", "<p>No cell ran, so there is nothing to recommend.</p>")
    intro = ("<p class=\"lead\">For each problem shape: the implementations no other beats on median time, peak memory and error at once "
             "(fastest first), and the pick under common budgets. Errors below the dtype's rounding tolerance count as equal. "
             "'≈' names implementations whose 95% confidence interval of the median time overlaps the pick's: on these data, "
             "their difference is not measured (see Measurement conditions for how the intervals were made). "
             "Every shape links to its Pareto plot below.</p>"
             f"<p class=\"note\">{esc(' · '.join(f'{name}: {text}' for name, text in BUDGET_HELP.items()))}.</p>")
    parts = [intro]
    baseline = ctx.baseline if ctx.has_baseline else None
    for device, device_rows in sorted(ran.groupby("device_label"), key=lambda kv: kv[0]):
        rows, budgets, picked = [], [], {}
        for group in group_order(device_rows):
            cells = device_rows[device_rows["group"] == group]
            front = cells[cells["front"]].sort_values(["time_s", "impl"], kind="mergesort")
            row = {"shape": _shape_link(group, cells["shape"].iloc[0]), "suite": ", ".join(sorted(set(cells["suite"]))),
                   "front": ", ".join(front["impl"]), "count": len(cells)}
            picks = budget_picks(cells, baseline)
            for pick in picks:
                if pick.budget not in budgets:
                    budgets.append(pick.budget)
                row[pick.budget] = _pick_text(pick, cells)
                picked.setdefault(pick.budget, []).append((pick.impl, picks[0].impl))
            rows.append(row)
        budgets.sort(key=_budget_rank)
        # A budget whose pick is the fastest everywhere, or nothing anywhere, or the same as a column already shown, adds nothing.
        shown: list[str] = []
        for i, budget in enumerate(budgets):
            picks_here = [impl for impl, _ in picked[budget]]
            if i and not any(impl is not None and impl != fastest for impl, fastest in picked[budget]):
                continue
            if any(picks_here == [impl for impl, _ in picked[other]] for other in shown):
                continue
            shown.append(budget)
        columns = [Column("shape", "shape", raw_html=True), Column("suite", "suite"), Column("count", "impls", numeric=True),
                   Column("front", "non-dominated (fastest first)")]
        columns += [Column(b, b, raw_html=True) for b in shown]
        parts.append(f"<h3>{esc(device)}</h3>")
        parts.append(table(rows, columns))
        left_out = [b for b in budgets if b not in shown]
        if left_out:
            parts.append(f'<p class="note">Left out because they repeat another column, or pick nothing, in every shape '
                         f'here: {esc("; ".join(left_out))}.</p>')
    return Section("recommendations", "Recommendations", "".join(parts))


def group_anchor(group: str) -> str:
    return "front-" + anchor(group)
