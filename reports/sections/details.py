"""Per-implementation details: parameters, error distribution, setup cost, failures, top profiler operators and traces."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

from ..context import ReportContext, group_tolerance
from ..frame import shape_order
from ..html import Column, Section, anchor, esc, figure, table
from ..plots import error_strip
from ..units import format_bytes, format_seconds

TOP_OPERATORS = 8


def _values(cells: pd.DataFrame, column: str) -> str:
    """The distinct values of a column, as written in the records (a parameter 64 stays 64, not 64.0)."""
    if column not in cells:
        return "—"
    values = {_plain(v) for v in cells[column].dropna()}
    return ", ".join(sorted(values)) or "—"


def _plain(value) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


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
    for _, cell in profiled.sort_values(shape_order(profiled), kind="mergesort").iterrows():
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


def impl_block(cells: pd.DataFrame, ran: pd.DataFrame, out_dir: Path) -> str:
    """Profiled cells and failures of one implementation; empty when it has neither."""
    block = [profile_html(ran, out_dir)]
    bad = cells[cells["status"].isin(["failed", "oom"])]
    if len(bad):
        bad_rows = bad.sort_values(shape_order(bad), kind="mergesort").to_dict("records")
        block.append(table(bad_rows, [Column("status", "status", lambda s: f'<span class="badge {esc(s)}">{esc(s)}</span>', raw_html=True),
                                      Column("shape", "shape"), Column("device", "device"), Column("reason", "message")],
                           caption="Failures"))
    return "".join(block)


def summary_row(impl: str, cells: pd.DataFrame, ran: pd.DataFrame, has_block: bool) -> dict:
    counts = cells["status"].value_counts()
    param_columns = sorted(c for c in cells.columns if c.startswith("params.") and cells[c].notna().any())
    params = ", ".join(f"{c.removeprefix('params.')}={_values(cells, c)}" for c in param_columns) or "none"
    errors = ran["error"].dropna()
    worst = ran.loc[errors.idxmax()] if len(errors) else None
    more = f' <a href="#impl-{esc(anchor(impl))}-more">details ↓</a>' if has_block else ""
    return {"impl": f'<b id="impl-{esc(anchor(impl))}">{esc(impl)}</b>{more}', "family": _values(cells, "family"),
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
    rows, blocks = [], []
    for impl in index["impl"]:
        cells, ran = frame[frame["impl"] == impl], ctx.ran[ctx.ran["impl"] == impl]
        block = impl_block(cells, ran, ctx.out_dir)
        rows.append(summary_row(impl, cells, ran, bool(block)))
        if block:
            blocks.append(f'<h3 id="impl-{esc(anchor(impl))}-more">{esc(impl)}</h3>' + block)
    parts = ["<p class=\"lead\">Every implementation (by family, then name): its parameters, what happened to its cells, its setup "
             "cost (build, and the first call, which includes any compilation) and its error against the float64 oracle over the "
             "cells that ran; then the error distribution, and per implementation its profiled cells (top operators, trace links) "
             "and failures.</p>"]
    parts.append(table(rows, [Column("impl", "implementation", raw_html=True), Column("family", "family"), Column("exact", "exact"),
                              Column("version", "version"), Column("params", "parameters"), Column("cells", "cells"),
                              Column("build", "build", numeric=True), Column("first", "first call", numeric=True),
                              Column("err_median", "median rel. L2", fmt, numeric=True), Column("err_max", "max rel. L2", fmt, numeric=True),
                              Column("abs_max", "max abs", fmt, numeric=True), Column("worst", "worst cell"),
                              Column("memory_method", "memory measured by")]))
    if ctx.ran["error"].notna().any():
        tolerances = {}
        for dtype, cells in ctx.ran.groupby("problem.dtype"):
            tolerance = group_tolerance(cells)
            if tolerance > 0:
                tolerances[str(dtype)] = tolerance
        parts.append(figure(error_strip(ctx.ran, ctx.colours, tolerances, "error-distribution"),
                            "Error distribution per implementation over every cell that ran; dotted lines: each dtype's rounding "
                            "tolerance (exact kernels must stay left of it)."))
    parts.extend(blocks)
    return Section("details", "Implementation details", "".join(parts))


def _ms(cells: pd.DataFrame, column: str) -> str:
    if column not in cells:
        return "—"
    values = pd.to_numeric(cells[column], errors="coerce").dropna()
    return format_seconds(float(values.median()) / 1e3) if len(values) else "—"
