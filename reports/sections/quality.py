"""Measurement conditions and data quality: a banner when a run was contended, the cells whose spread flags them, how
the intervals were made, and figures that were dropped (fractions of peak above 100%)."""

from __future__ import annotations

import pandas as pd

from ..context import ReportContext
from ..html import Column, Section, esc, table
from ..quality import run_contention

BANNER_STYLE = "border:2px solid #b3261e;background:#fdecea;padding:10px 14px;margin:8px 0 14px;max-width:980px"
FLAGGED_LISTED = 30


def load_text(load: dict) -> str:
    before, after = load.get("load_average_before"), load.get("load_average_after")
    parts = []
    if load.get("others_cpu_share") is not None:
        parts.append(f"others' CPU share {100 * load['others_cpu_share']:.0f}%")
    if before and after:
        parts.append(f"load average {before[0]:.1f} → {after[0]:.1f} on {load.get('cpus', '?')} CPUs")
    return ", ".join(parts) or "not recorded"


def competitors_text(load: dict) -> str:
    top = load.get("top_competitors") or []
    return "; ".join(f"{c.get('command') or c.get('name')} ({100 * c.get('cpu_share', 0):.0f}% of a CPU)" for c in top[:3])


def conditions_rows(ctx: ReportContext) -> list[dict]:
    rows = []
    for run in ctx.runs:
        state, load = run.get("process_state") or {}, run.get("load") or {}
        rows.append({"run": run.get("run_id"), "threads": state.get("threads"), "allocator": state.get("allocator", "not recorded"),
                     "repeats": run.get("repeats") or 1, "load": load_text(load),
                     "contended": "yes" if run_contention(run) else "no" if load else "?"})
    return rows


def banner(ctx: ReportContext) -> str:
    contended = [(run, run_contention(run)) for run in ctx.runs]
    contended = [(run, reasons) for run, reasons in contended if reasons]
    if not contended:
        return ""
    lines = []
    for run, reasons in contended:
        competing = competitors_text(run.get("load") or {})
        threads = (run.get("process_state") or {}).get("threads") or 0
        hint = (f" It ran {threads} intra-op threads: on busy cores threads that wait for each other at every barrier can "
                "take many times longer than one; <code>--attn-threads 1</code> measures such a machine more steadily."
                if threads > 1 else "")
        lines.append(f"<li><b>{esc(run.get('run_id'))}</b>: {esc('; '.join(reasons))}"
                     + (f". Busiest other processes: {esc(competing)}." if competing else ".") + hint + "</li>")
    return (f'<div class="banner" style="{BANNER_STYLE}"><b class="warn">Measured on a contended machine.</b> '
            "Other jobs had the CPUs while these cells were timed, so times are slower and noisier than on an idle machine "
            "and may not hold on another run; compare with care, and prefer intervals (run with <code>--attn-repeat 3</code>)."
            f"<ul>{''.join(lines)}</ul></div>")


def flagged_rows(frame: pd.DataFrame) -> list[dict]:
    if "quality.disturbed" not in frame:
        return []
    flagged = frame[frame["quality.disturbed"].fillna(False).astype(bool)]
    return [{"impl": row["impl"], "shape": row["shape"], "device": row["device_label"], "why": row.get("quality.why")}
            for _, row in flagged.head(FLAGGED_LISTED).iterrows()]


def notes_rows(frame: pd.DataFrame) -> list[dict]:
    if "quality.note" not in frame:
        return []
    noted = frame[frame["quality.note"].fillna("").astype(str) != ""]
    return [{"impl": row["impl"], "shape": row["shape"], "note": row["quality.note"]} for _, row in noted.iterrows()]


def interval_text(frame: pd.DataFrame) -> str:
    methods = sorted(set(frame["time.ci_method"].dropna().astype(str))) if "time.ci_method" in frame else []
    if not methods:
        return ""
    one_process = any(m == "rounds of one process" for m in methods)
    text = ("Every median on this page has a 95% confidence interval (" + esc(", ".join(methods)) + "). "
            "'≈' means two intervals overlap: on these data the two cannot be told apart.")
    if one_process:
        text += (" An interval from one process's rounds covers only the noise between rounds, not what changes between runs "
                 "(other processes, the allocator's state): run with <code>--attn-repeat 3</code> for intervals that do.")
    return f'<p class="note">{text}</p>'


def render(ctx: ReportContext):
    frame = ctx.frame
    flagged, noted, rows = flagged_rows(frame), notes_rows(frame), conditions_rows(ctx)
    top = banner(ctx)
    parts = [top, interval_text(frame)]
    if rows:
        parts.append(table(rows, [Column("run", "run"), Column("threads", "threads", numeric=True), Column("allocator", "allocator"),
                                  Column("repeats", "repeats", numeric=True), Column("load", "load while it ran"),
                                  Column("contended", "contended")]))
    if flagged:
        count = int(frame["quality.disturbed"].fillna(False).astype(bool).sum())
        parts.append(f"<h3>Disturbed cells ({count})</h3><p class=\"note\">Their spread says something else ran while they were "
                     "timed: they are marked in the tables and left out of scaling fits and crossovers.</p>")
        parts.append(table(flagged, [Column("impl", "implementation"), Column("shape", "shape"), Column("device", "device"),
                                     Column("why", "why")]))
    if noted:
        parts.append("<h3>Figures left out</h3>")
        parts.append(table(noted, [Column("impl", "implementation"), Column("shape", "shape"), Column("note", "why")]))
    if not top and not flagged and not noted and not rows:
        return None
    return Section("quality", "Measurement conditions", "".join(p for p in parts if p))
