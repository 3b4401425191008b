"""Recommendations: per shape group, the non-dominated implementations and which one to pick under common budgets."""

from __future__ import annotations

from ..context import ReportContext, group_tolerance
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


def _row_texts(row: dict, picks: dict, shown: list[str], cells) -> None:
    """Each shown budget's cell: the pick, or "same as <column>" when an earlier column of the row picked the same."""
    for i, budget in enumerate(shown):
        pick = picks.get(budget)
        if pick is None:
            row[budget] = '<small class="same">does not apply here</small>'
            continue
        earlier = next((b for b in shown[:i] if b in picks and pick.impl is not None and picks[b].impl == pick.impl), None)
        row[budget] = f'<span class="same">same as {esc(earlier)}</span>' if earlier else _pick_text(pick, cells)
        if pick.note and not earlier:
            row[budget] += f'<br><small class="warn">{esc(pick.note)}</small>'


def _shown_budgets(budgets: list[str], picked: dict) -> list[str]:
    """A budget whose pick is the fastest everywhere, or nothing anywhere, or the same as a column already shown, adds nothing."""
    shown: list[str] = []
    for i, budget in enumerate(budgets):
        picks_here = [impl for impl, _ in picked[budget]]
        if i and not any(impl is not None and impl != fastest for impl, fastest in picked[budget]):
            continue
        if any(picks_here == [impl for impl, _ in picked[other]] for other in shown):
            continue
        shown.append(budget)
    return shown


def device_table(ctx: ReportContext, device_rows) -> tuple[str, list[str]]:
    rows, budgets, picked, per_row = [], [], {}, []
    baseline = ctx.baseline if ctx.has_baseline else None
    groups = group_order(device_rows)
    for group in groups:
        cells = device_rows[device_rows["group"] == group]
        front = cells[cells["front"]].sort_values(["time_s", "impl"], kind="mergesort")
        inputs = ", ".join(sorted(set(cells["inputs"]))) if "inputs" in cells else "gaussian"
        rows.append({"shape": _shape_link(group, cells["shape"].iloc[0]), "suite": ", ".join(sorted(set(cells["suite"]))),
                     "inputs": inputs, "front": ", ".join(front["impl"]), "count": len(cells)})
        picks = budget_picks(cells, baseline, group_tolerance(cells, ctx.ran))
        for pick in picks:
            if pick.budget not in budgets:
                budgets.append(pick.budget)
        per_row.append(({p.budget: p for p in picks}, cells))
    for budget in budgets:
        picked[budget] = [(p[budget].impl if budget in p else None, p["fastest"].impl) for p, _ in per_row]
    budgets.sort(key=_budget_rank)
    shown = _shown_budgets(budgets, picked)
    for row, (picks, cells) in zip(rows, per_row, strict=True):
        _row_texts(row, picks, shown, cells)
    columns = [Column("shape", "shape", raw_html=True), Column("inputs", "inputs"), Column("suite", "suite"),
               Column("count", "impls", numeric=True), Column("front", "non-dominated (fastest first)")]
    columns += [Column(b, b, raw_html=True) for b in shown]
    return table(rows, columns), [b for b in budgets if b not in shown]


def render(ctx: ReportContext):
    ran = ctx.ran
    if ran.empty:
        return Section("recommendations", "Recommendations", "<p>No cell ran, so there is nothing to recommend.</p>")
    intro = ("<p class=\"lead\">For each problem shape and input distribution: the implementations no other beats on median time, "
             "peak memory and error at once (fastest first; cells.csv's <code>front</code> column), and the pick under common "
             "budgets. A pick never ignores error: the budgets that state no error consider only cells with the exact answer. "
             "Errors below the dtype's rounding tolerance count as equal. '≈' names implementations whose 95% confidence interval "
             "of the median time overlaps the pick's: on these data, their difference is not measured (see Measurement conditions "
             "for how the intervals were made). Every shape links to its Pareto plot below.</p>"
             f"<p class=\"note\">{esc(' · '.join(f'{name}: {text}' for name, text in BUDGET_HELP.items()))}.</p>")
    parts = [intro]
    for device, device_rows in sorted(ran.groupby("device_label"), key=lambda kv: kv[0]):
        html, left_out = device_table(ctx, device_rows)
        parts += [f"<h3>{esc(device)}</h3>", html]
        if left_out:
            parts.append(f'<p class="note">Left out because they repeat another column, or pick nothing, in every shape '
                         f'here: {esc("; ".join(left_out))}.</p>')
    return Section("recommendations", "Recommendations", "".join(parts))


def group_anchor(group: str) -> str:
    return "front-" + anchor(group)
