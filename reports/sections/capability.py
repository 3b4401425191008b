"""Capability matrix: implementation × problem kind → ran, skipped (reason), failed (message), oom."""

from __future__ import annotations

import pandas as pd

from ..context import ReportContext
from ..html import Section, esc

ORDER = ("ok", "skipped", "failed", "oom")
SHOWN_REASONS = 2
REASON_CHARS = 160


def _short(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= REASON_CHARS else text[:REASON_CHARS - 1] + "…"


def cell_html(cells: pd.DataFrame) -> str:
    parts = []
    statuses = sorted(set(cells["status"]), key=lambda s: (ORDER.index(s) if s in ORDER else len(ORDER), s))
    for status in statuses:
        subset = cells[cells["status"] == status]
        label = "ran" if status == "ok" else status
        if status == "ok":
            parts.append(f'<span class="badge ok">{label} {len(subset)}</span>')
            continue
        by_reason = subset.groupby(subset["reason_code"].fillna("—").astype(str))
        for code, reasons in sorted(by_reason, key=lambda kv: (-len(kv[1]), kv[0])):
            messages = sorted(set(reasons["reason"].dropna().astype(str)))
            title = " | ".join(messages)
            shown = "<br>".join(esc(_short(m)) for m in messages[:SHOWN_REASONS])
            more = f" (+{len(messages) - SHOWN_REASONS} more)" if len(messages) > SHOWN_REASONS else ""
            parts.append(f'<span class="badge {esc(status)}" title="{esc(title)}">{esc(label)} {len(reasons)}: {esc(code)}</span>'
                         f'<br><small>{shown}{esc(more)}</small><br>')
    return "".join(parts)


def render(ctx: ReportContext):
    frame = ctx.frame.copy()
    if frame["device"].map(lambda d: str(d).split(":")[0]).nunique() > 1:
        frame["kind"] = frame["kind"] + " · " + frame["device"].map(lambda d: str(d).split(":")[0])
    kinds = sorted(set(frame["kind"]))
    impls = frame.groupby("impl")["family"].first().reset_index().sort_values(["family", "impl"], kind="mergesort")
    head = "".join(f"<th>{esc(k)}</th>" for k in kinds)
    rows = []
    for impl, family in zip(impls["impl"], impls["family"]):
        cells = frame[frame["impl"] == impl]
        tds = []
        for kind in kinds:
            subset = cells[cells["kind"] == kind]
            tds.append(f"<td>{cell_html(subset) if len(subset) else '<small>not in the sweep</small>'}</td>")
        rows.append(f"<tr><th>{esc(impl)}<br><small>{esc(family)}</small></th>{''.join(tds)}</tr>")
    body = ("<p class=\"lead\">What each implementation did on each kind of problem (mask · pass · dtype, GQA when kv_heads &lt; "
            "heads), with the counts over all sizes and the reasons it did not run. Hover a badge for every message.</p>"
            f'<div class="scroll"><table class="matrix"><thead><tr><th>implementation</th>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table></div>")
    return Section("capability", "Capability matrix", body)
