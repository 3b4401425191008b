"""Run header: machines, devices, versions, commits, presets, when; how many cells ran, were skipped (by reason) or failed."""

from __future__ import annotations

import datetime as _dt

import pandas as pd

from ..context import ReportContext
from ..html import Column, Section, esc, table


def _when(run: dict, frame: pd.DataFrame) -> str:
    if run.get("started"):
        return str(run["started"])
    stamps = pd.to_numeric(frame.loc[frame["run_id"] == run.get("run_id"), "timestamp"], errors="coerce").dropna()
    if stamps.empty:
        return "?"
    return _dt.datetime.fromtimestamp(float(stamps.min()), tz=_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    return frame[name] if name in frame else pd.Series([None] * len(frame), index=frame.index)


def render(ctx: ReportContext) -> Section:
    frame = ctx.frame
    counts = frame["status"].value_counts()
    cards = "".join(f'<div class="card {status}">{esc(status if status != "ok" else "ran")}<b>{int(counts.get(status, 0))}</b></div>'
                    for status in ("ok", "skipped", "failed", "oom"))
    others = sorted(set(counts.index) - {"ok", "skipped", "failed", "oom"})
    cards += "".join(f'<div class="card">{esc(s)}<b>{int(counts[s])}</b></div>' for s in others)
    body = [f'<div class="cards"><div class="card">cells<b>{len(frame)}</b></div>{cards}</div>']

    # Runs: one row per run id, what run.json said (or what the records say when it is absent).
    run_meta = {str(r.get("run_id")): r for r in ctx.runs}
    rows = []
    for run_id, cells in sorted(frame.groupby("run_id", dropna=False), key=lambda kv: str(kv[0])):
        meta = run_meta.get(str(run_id), {"run_id": run_id})
        rows.append({"run": run_id, "preset": meta.get("preset") or ", ".join(sorted(set(_column(cells, "preset").dropna().astype(str)))),
                     "commit": meta.get("commit") or ", ".join(sorted(set(_column(cells, "commit").dropna().astype(str)))),
                     "when": _when(meta, frame), "suites": ", ".join(sorted(set(cells["suite"]))), "cells": len(cells),
                     "ran": int((cells["status"] == "ok").sum())})
    body.append(table(rows, [Column("run", "run"), Column("preset", "preset"), Column("commit", "commit"), Column("when", "started"),
                             Column("suites", "suites"), Column("cells", "cells", numeric=True), Column("ran", "ran", numeric=True)],
                      caption="Runs"))

    # Machines and devices, with the versions that matter for attention kernels.
    machine_rows = []
    for host, cells in sorted(frame.groupby("machine"), key=lambda kv: str(kv[0])):
        def values(name, cells=cells):
            return ", ".join(sorted(set(_column(cells, name).dropna().astype(str)))) or "—"
        machine_rows.append({"host": host, "cpu": values("machine.cpu"), "torch": values("machine.torch"),
                             "cuda": values("machine.cuda"), "driver": values("machine.driver"), "xformers": values("machine.xformers"),
                             "devices": ", ".join(sorted(set(cells["device"] + " (" + cells["device_name"].astype(str) + ")")))})
    body.append(table(machine_rows, [Column("host", "machine"), Column("devices", "devices"), Column("cpu", "CPU"),
                                     Column("torch", "torch"), Column("cuda", "CUDA"), Column("driver", "driver"),
                                     Column("xformers", "xformers")], caption="Machines and devices"))

    not_ran = frame[frame["status"] != "ok"]
    if len(not_ran):
        reasons = []
        for (status, code), cells in not_ran.groupby(["status", _column(not_ran, "reason_code").fillna("—")]):
            example = cells["reason"].dropna().astype(str)
            reasons.append({"status": status, "code": code, "cells": len(cells),
                            "impls": ", ".join(sorted(set(cells["impl"]))), "example": example.iloc[0] if len(example) else ""})
        reasons.sort(key=lambda r: (-r["cells"], r["status"], str(r["code"])))
        body.append(table(reasons, [Column("status", "status", lambda s: f'<span class="badge {esc(s)}">{esc(s)}</span>', raw_html=True),
                                    Column("code", "reason"), Column("cells", "cells", numeric=True), Column("impls", "implementations"),
                                    Column("example", "example message")], caption="Cells that did not run, by reason (most first)"))
    for note in ctx.notes:
        body.append(f'<p class="note">{esc(note)}</p>')
    return Section("run", "Run", "".join(body))
