"""The trend page: the steps table, then one figure per cell history (those with steps first).

Same conventions as the run report: one self-contained HTML file, inline SVG, no scripts, no network,
the same inputs give the same bytes; the frames behind it are written beside it as CSV.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..html import Column, Section, anchor, esc, figure, page, table
from ..units import format_bytes, format_seconds
from .plots import history_figure
from .series import SERIES_KEY, History

MAX_FIGURES = 80


def _pct(value) -> str:
    return f"{value:+.1%}"


def steps_section(steps: pd.DataFrame, commits: pd.DataFrame) -> Section:
    subjects = dict(zip(commits["commit"], commits["subject"].fillna("")))
    rows = []
    for _, s in steps.iterrows():
        rows.append({"cell": f'<a href="#{anchor("h-" + "-".join(str(s[k]) for k in SERIES_KEY))}">{esc(s["cell_id"])}</a>',
                     "machine": f"{s['host']} · {s['device_name']}",
                     "range": f"<code>{esc(str(s['good_commit'])[:10])}</code> → <code>{esc(str(s['bad_commit'])[:10])}</code> "
                              f"{esc(subjects.get(s['bad_commit'], '')[:70])}",
                     "change": f"{_pct(s['change'])} [{_pct(s['low'])}, {_pct(s['high'])}]",
                     "times": f"{format_seconds(s['before_s'])} → {format_seconds(s['after_s'])}",
                     "confirmed": s["confirmation"] or "not re-measured (--confirm)"})
    columns = [Column("cell", "cell", raw_html=True), Column("machine", "machine · device"),
               Column("range", "commits (last before → first after)", raw_html=True), Column("change", "size [95% interval]", numeric=True),
               Column("times", "median time", numeric=True), Column("confirmed", "paired gate")]
    body = (table(rows, columns, caption=f"{len(rows)} step(s), largest first") if rows else
            '<p class="note">No step found: every history is flat within this machine\'s noise.</p>')
    body += ('<p class="note">A step is a change of the median level found by a robust (L1) piecewise-constant fit of log time '
             "across commits (ruptures PELT), tuned on this machine's run-to-run noise, kept when at least 3% with a bootstrap "
             "interval that excludes no change. It is a candidate until <code>--confirm</code> re-measures its two commits with "
             "the paired gate. See docs/history.md.</p>")
    return Section("steps", "Steps", body)


def series_sections(history: History, steps: pd.DataFrame) -> list[Section]:
    points, commits = history.points, history.commits
    keyed = {key: group for key, group in points.groupby(SERIES_KEY, sort=True, dropna=False)}
    with_steps = [tuple(k) for k in steps[SERIES_KEY].drop_duplicates().itertuples(index=False)] if not steps.empty else []
    order = with_steps + [k for k in keyed if k not in with_steps]
    parts = []
    for key in order[:MAX_FIGURES]:
        series = keyed[key].sort_values("position")
        own = steps[(steps[SERIES_KEY] == pd.Series(key, index=SERIES_KEY)).all(axis=1)] if not steps.empty else steps
        cell_id, host, device_name = key
        name = anchor("h-" + "-".join(map(str, key)))
        title = f"{cell_id} · {host} · {device_name}"
        svg = history_figure(series, own, commits, name, title)
        last = series.iloc[-1]
        caption = (f"{len(series)} commits, {int(series['runs'].sum())} runs; latest {format_seconds(last['median'])}, "
                   f"peak memory {format_bytes(last['peak_bytes'])}, max |error| {last['error_max_abs']:.2g}; inputs {last['inputs']}.")
        parts.append(f'<div id="{esc(name)}"><h3>{esc(title)}</h3>{figure(svg, caption)}</div>')
    if len(order) > MAX_FIGURES:
        parts.append(f'<p class="note">{len(order) - MAX_FIGURES} more histories are in history.csv (narrow the page with '
                     "--impls or --machine).</p>")
    return [Section("histories", "Histories", "".join(parts))]


def commits_section(commits: pd.DataFrame) -> Section:
    rows = [{"position": int(c["position"]), "commit": str(c["commit"]), "subject": c["subject"] or ""} for _, c in commits.iterrows()]
    columns = [Column("position", "#", numeric=True), Column("commit", "commit"), Column("subject", "subject")]
    return Section("commits", "Commits", table(rows, columns, caption="in the order plotted (oldest first)"))


def write_page(history: History, steps: pd.DataFrame, out_dir: Path, source: str, normalized: bool) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    history.points.drop(columns=["problem"], errors="ignore").to_csv(out_dir / "history.csv", index=False)
    steps.to_csv(out_dir / "steps.csv", index=False)
    notes = "".join(f'<p class="note">{esc(n)}</p>' for n in history.notes)
    series_count = len(history.points.groupby(SERIES_KEY, dropna=False)) if not history.points.empty else 0
    subtitle = (f"{series_count} cell histories over {len(history.commits)} commits from {source}; median time per commit"
                + (" normalized by the in-run reference matmul" if normalized else "")
                + ", IQR band, steps found on this machine's noise. The frames are history.csv and steps.csv beside this page.")
    sections = [steps_section(steps, history.commits), *series_sections(history, steps), commits_section(history.commits)]
    if notes:
        sections.insert(0, Section("notes", "Notes", notes))
    index = out_dir / "index.html"
    index.write_text(page("attnbench history", subtitle, sections), encoding="utf-8")
    return index
