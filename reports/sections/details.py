"""Per-implementation details: parameters, error distribution, setup cost, failures, top profiler operators and traces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from ..context import ReportContext
from ..html import Column, Section, anchor, esc, table
from ..plots import format_bytes, format_seconds

TOP_OPERATORS = 8


def _values(cells: pd.DataFrame, column: str) -> str:
    if column not in cells:
        return "—"
    return ", ".join(sorted(set(cells[column].dropna().astype(str)))) or "—"


def error_distribution(ran: pd.DataFrame) -> list[dict]:
    rows = []
    for column, label in (("error", "relative L2"), ("error_max_abs", "max abs")):
        values = ran[column].dropna().to_numpy(float)
        if len(values) == 0:
            continue
        worst = ran.loc[ran[column].idxmax()]
        rows.append({"metric": label, "cells": len(values), "min": values.min(), "median": float(np.median(values)),
                     "p90": float(np.quantile(values, 0.9)), "max": values.max(), "worst": worst["shape"] + " · " + worst["device"]})
    return rows


def trace_link(trace_dir: str, out_dir: Path) -> str:
    """A relative link from the report folder to the trace folder (a local file link, no network)."""
    target = Path(trace_dir)
    if not target.is_absolute():
        target = Path.cwd() / target
    try:
        href = os.path.relpath(target, out_dir.resolve())
    except ValueError:  # another drive on Windows
        href = target.as_uri()
    return f'<a href="{esc(href)}">{esc(trace_dir)}</a>'


def _operators(text) -> list[dict]:
    if not isinstance(text, str) or not text:
        return []
    try:
        ops = json.loads(text)
    except json.JSONDecodeError:
        return []
    return [op for op in ops if isinstance(op, dict)] if isinstance(ops, list) else []


def profile_html(ran: pd.DataFrame, out_dir: Path) -> str:
    if not any(c.startswith("profile.") for c in ran.columns):
        return ""
    profiled = ran[ran[[c for c in ran.columns if c.startswith("profile.")]].notna().any(axis=1)]
    if profiled.empty:
        return ""
    parts = [f"<h4>Profiled cells ({len(profiled)})</h4>"]
    for _, cell in profiled.sort_values(["series", "problem.seq_len", "shape"], kind="mergesort").iterrows():
        facts = [f"{esc(cell['shape'])} · {esc(cell['device'])}"]
        if pd.notna(cell.get("profile.kernels")):
            facts.append(f"{int(cell['profile.kernels'])} kernels")
        if pd.notna(cell.get("profile.profiler_peak_bytes")):
            facts.append(f"profiler peak {esc(format_bytes(float(cell['profile.profiler_peak_bytes'])))}")
        if isinstance(cell.get("profile.trace_dir"), str) and cell["profile.trace_dir"]:
            facts.append("trace: " + trace_link(cell["profile.trace_dir"], out_dir))
        parts.append(f"<p class=\"note\">{' · '.join(facts)}</p>")
        ops = _operators(cell.get("profile.top_ops"))
        if ops:
            ops = sorted(ops, key=lambda op: (-(op.get("self_device_us") or 0) - (op.get("self_cpu_us") or 0), str(op.get("name"))))
            parts.append(table(ops[:TOP_OPERATORS], [Column("name", "operator"),
                                                     Column("self_cpu_us", "self CPU", lambda v: format_seconds(float(v) * 1e-6), numeric=True),
                                                     Column("self_device_us", "self device", lambda v: format_seconds(float(v) * 1e-6),
                                                            numeric=True),
                                                     Column("calls", "calls", lambda v: f"{int(v)}", numeric=True)]))
    return "".join(parts)


def summary_row(impl: str, cells: pd.DataFrame, ran: pd.DataFrame) -> dict:
    counts = cells["status"].value_counts()
    param_columns = sorted(c for c in cells.columns if c.startswith("params.") and cells[c].notna().any())
    params = ", ".join(f"{c.removeprefix('params.')}={_values(cells, c)}" for c in param_columns) or "none"
    errors = ran["error"].dropna()
    worst = ran.loc[errors.idxmax()] if len(errors) else None
    return {"impl": f'<a href="#impl-{esc(anchor(impl))}">{esc(impl)}</a>', "family": _values(cells, "family"),
            "exact": _values(cells, "exact"), "version": _values(cells, "impl_version"), "params": params,
            "cells": " · ".join(f"{'ran' if s == 'ok' else s} {int(n)}" for s, n in sorted(counts.items())),
            "build": _ms(ran, "build_ms"), "first": _ms(ran, "warmup_ms"),
            "err_median": float(errors.median()) if len(errors) else None, "err_max": float(errors.max()) if len(errors) else None,
            "abs_max": float(ran["error_max_abs"].max()) if ran["error_max_abs"].notna().any() else None,
            "worst": f"{worst['shape']} · {worst['device']}" if worst is not None else None,
            "memory_method": _values(ran, "peak_method")}


def render(ctx: ReportContext):
    frame = ctx.frame
    index = frame.groupby("impl")["family"].first().reset_index().sort_values(["family", "impl"], kind="mergesort")
    fmt = lambda v: f"{v:.2e}"  # noqa: E731
    rows = [summary_row(impl, frame[frame["impl"] == impl], ctx.ran[ctx.ran["impl"] == impl]) for impl in index["impl"]]
    parts = ["<p class=\"lead\">Every implementation (by family, then name): its parameters, what happened to its cells, its setup "
             "cost (build, and the first call, which includes any compilation) and its error against the float64 oracle over the "
             "cells that ran. Below: the error distribution, profiler operators and trace links, and failures, per implementation.</p>"]
    parts.append(table(rows, [Column("impl", "implementation", raw_html=True), Column("family", "family"), Column("exact", "exact"),
                              Column("version", "version"), Column("params", "parameters"), Column("cells", "cells"),
                              Column("build", "build", numeric=True), Column("first", "first call", numeric=True),
                              Column("err_median", "median rel. L2", fmt, numeric=True), Column("err_max", "max rel. L2", fmt, numeric=True),
                              Column("abs_max", "max abs", fmt, numeric=True), Column("worst", "worst cell"),
                              Column("memory_method", "memory measured by")]))
    for impl in index["impl"]:
        cells = frame[frame["impl"] == impl]
        ran = ctx.ran[ctx.ran["impl"] == impl]
        block = []
        distribution = error_distribution(ran)
        if distribution:
            block.append(table(distribution, [Column("metric", "error vs float64 oracle"), Column("cells", "cells", numeric=True),
                                              Column("min", "min", fmt, numeric=True), Column("median", "median", fmt, numeric=True),
                                              Column("p90", "90th pct", fmt, numeric=True), Column("max", "max", fmt, numeric=True),
                                              Column("worst", "worst cell")]))
        block.append(profile_html(ran, ctx.out_dir))
        bad = cells[cells["status"].isin(["failed", "oom"])]
        if len(bad):
            bad_rows = bad.sort_values(["series", "problem.seq_len", "shape"], kind="mergesort").to_dict("records")
            block.append(table(bad_rows, [Column("status", "status", lambda s: f'<span class="badge {esc(s)}">{esc(s)}</span>', raw_html=True),
                                          Column("shape", "shape"), Column("device", "device"), Column("reason", "message")],
                               caption="Failures"))
        parts.append(f'<h3 id="impl-{esc(anchor(impl))}">{esc(impl)}</h3>' + "".join(block))
    return Section("details", "Implementation details", "".join(parts))


def _ms(cells: pd.DataFrame, column: str) -> str:
    if column not in cells:
        return "—"
    values = pd.to_numeric(cells[column], errors="coerce").dropna()
    return format_seconds(float(values.median()) / 1e3) if len(values) else "—"
