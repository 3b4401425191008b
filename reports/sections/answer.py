"""The answer at the top of the page: per device, problem and length, the implementation to use under each budget."""

from __future__ import annotations

from ..answer import ANSWER_BUDGETS, FASTEST_EXACT, LEAST_MEMORY, AnswerPick, AnswerRow, reading_order
from ..context import ReportContext
from ..html import Column, Section, esc, table
from ..pareto import within_noise
from ..units import format_bytes, format_seconds
from ..verdict import verdicts
from .recommendations import group_anchor

INTRO = ("Per problem and sequence length, the implementation to use under each budget; each pick links to its Pareto front. "
         "A pick never ignores error: only exact implementations answer the budgets that state no error.")
RULES = ("<b>fastest exact</b>: lowest median time among exact implementations · <b>fastest, error ≤ e</b>: lowest median time "
         "among the exact ones and the approximations whose relative L2 error against the float64 oracle is at most e (or the "
         "dtype's rounding tolerance, if larger), the error measured on the most realistic inputs of the run for that problem "
         "(captured from a model &gt; synthetic &gt; gaussian: <i>error judged on</i>) · <b>least memory (exact)</b>: lowest "
         "peak memory with the exact answer · '≈': implementations whose 95% interval of the median time overlaps the pick's "
         "(not told apart on these data). cells.csv beside this page reproduces every pick (columns <code>question</code>, "
         "<code>inputs</code>, <code>counted</code>, <code>exact</code>, <code>time_s</code>, <code>memory_bytes</code>, "
         "<code>error</code>; <code>front</code> is each cell's Pareto front membership).")


def pick_html(pick: AnswerPick) -> str:
    if pick.same_as is not None:
        return f'<span class="same">same as {esc(pick.same_as)}</span>'
    if pick.row is None:
        return '<span class="skipped badge">none measured</span>'
    row = pick.row
    details = [format_seconds(row["time_s"])]
    if pick.budget == LEAST_MEMORY or pick.budget == FASTEST_EXACT:
        details.append(format_bytes(row["memory_bytes"]))
    if not bool(row["exact"]):
        details.append(f"error {row['error']:.1e} on {row['inputs']}")
    text = (f'<a href="#{esc(group_anchor(row["group"]))}"><b>{esc(pick.impl)}</b></a>'
            f'<br><small>{esc(" · ".join(details))}</small>')
    if pick.budget != LEAST_MEMORY:
        ties = within_noise(pick.pool, pick.impl)
        if ties:
            text += f'<br><small class="tie">≈ {esc(", ".join(ties))}</small>'
    return text


def device_table(rows: list[AnswerRow]) -> str:
    table_rows, previous = [], None
    for row in rows:
        cells = {"problem": esc(row.series) if row.series != previous else "", "L": row.seq_len, "inputs": row.inputs}
        cells.update({pick.budget: pick_html(pick) for pick in row.picks})
        table_rows.append(cells)
        previous = row.series
    columns = [Column("problem", "problem", raw_html=True), Column("L", "L", numeric=True), Column("inputs", "error judged on")]
    columns += [Column(budget, budget, raw_html=True) for budget in ANSWER_BUDGETS]
    return table(table_rows, columns, css_class="answer")


def render(ctx: ReportContext):
    if ctx.ran.empty:
        return None
    rows = reading_order(ctx.answer)
    parts = [f'<p class="lead">{INTRO}</p>']
    parts += [f'<p class="verdict">{esc(text)}</p>' for text in verdicts(rows)]
    for device in dict.fromkeys(row.device for row in rows):
        parts.append(f"<h3>{esc(device)}</h3>")
        parts.append(device_table([row for row in rows if row.device == device]))
    parts.append(f'<p class="note">{RULES}</p>')
    return Section("answer", "Answer: which attention to use", "".join(parts))
