"""Several devices or machines: the same cells side by side; CUDA event timing agreement and throttling where recorded."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..context import ReportContext
from ..frame import natural_key, shape_order
from ..html import Column, Section, table
from ..units import format_percent, format_ratio, format_seconds

AGREEMENT_WARN = 0.10  # event median and benchmark median differing by more than this is worth a look


def side_by_side(ran: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Median time per (cell without device) × device label, for cells measured on two or more devices; devices fastest first."""
    keyed = ran.assign(cell=ran["impl"] + " · " + ran["shape"] + " · " + ran["suite"])
    table_ = keyed.pivot_table(index="cell", columns="device_label", values="time_s", aggfunc="median")
    table_ = table_[table_.notna().sum(axis=1) >= 2]
    if table_.empty:
        return table_, []
    speed = np.log(table_).sub(np.log(table_).mean(axis=1), axis=0).mean(axis=0)
    devices = sorted(table_.columns, key=lambda d: (speed[d], d))
    # Rows in reading order: by implementation, then shape (numbers as numbers).
    firsts = keyed.groupby("cell")[["impl", *shape_order(keyed)]].first()
    rows = sorted(table_.index, key=lambda cell: natural_key(tuple(firsts.loc[cell])))
    return table_.loc[rows, devices], devices


def cuda_rows(ran: pd.DataFrame) -> list[dict]:
    if "cuda.event_median_s" not in ran and "cuda.throttled" not in ran:
        return []
    rows = []
    cells = ran[ran.filter(like="cuda.").notna().any(axis=1)]
    for _, cell in cells.iterrows():
        event = pd.to_numeric(pd.Series([cell.get("cuda.event_median_s")]), errors="coerce").iloc[0]
        ratio = event / cell["time_s"] - 1 if pd.notna(event) and cell["time_s"] else None
        throttled = cell.get("cuda.throttled")
        rows.append({"cell": f"{cell['impl']} · {cell['shape']}", "device": cell["device_label"], "bench": cell["time_s"], "event": event,
                     "agreement": ratio, "clock": cell.get("cuda.sm_clock_mhz"),
                     "throttled": bool(throttled) if isinstance(throttled, (bool, np.bool_)) else None})
    rows.sort(key=lambda r: (-(abs(r["agreement"]) if r["agreement"] is not None else -1), r["device"], r["cell"]))
    return rows


def _agreement(value) -> str:
    text = format_percent(value, signed=True)
    return f'<span class="warn">{text}</span>' if abs(value) > AGREEMENT_WARN else text


def render(ctx: ReportContext):
    ran = ctx.ran
    devices = sorted(set(ran["device_label"]))
    cuda = cuda_rows(ran) if len(ran) else []
    if len(devices) < 2 and not cuda:
        return None
    parts = []
    if len(devices) >= 2:
        pivot, ordered = side_by_side(ran)
        parts.append(f"<p class=\"lead\">The same cells measured on {len(devices)} devices (machine · device (name)): median time per "
                     "call, and each device's time relative to the first column (the fastest device overall).</p>")
        if pivot.empty:
            parts.append("<p class=\"note\">No cell was measured on more than one device.</p>")
        else:
            rows = []
            for cell, values in pivot.iterrows():
                row = {"cell": cell}
                reference = values[ordered[0]]
                for device in ordered:
                    row[device] = values[device]
                    if device != ordered[0] and pd.notna(values[device]) and pd.notna(reference):
                        row[device + " ratio"] = values[device] / reference
                rows.append(row)
            columns = [Column("cell", "cell (implementation · shape · suite)")]
            for device in ordered:
                columns.append(Column(device, device, format_seconds, numeric=True))
                if device != ordered[0]:
                    columns.append(Column(device + " ratio", f"÷ {ordered[0]}", format_ratio, numeric=True))
            parts.append(table(rows, columns))
    if cuda:
        throttled = sum(1 for r in cuda if r["throttled"])
        parts.append(f"<h3>CUDA event timing vs pytest-benchmark</h3><p class=\"note\">Event median with the L2 cache flushed vs "
                     f"pytest-benchmark's synchronized median; differences beyond {AGREEMENT_WARN:.0%} are highlighted. "
                     f"{throttled} cell(s) measured while the SM clock was throttled. Largest disagreement first.</p>")
        parts.append(table(cuda, [Column("cell", "cell"), Column("device", "device"),
                                  Column("bench", "benchmark median", format_seconds, numeric=True),
                                  Column("event", "event median", format_seconds, numeric=True),
                                  Column("agreement", "event vs benchmark", _agreement, numeric=True, raw_html=True),
                                  Column("clock", "SM clock", lambda v: f"{float(v):.0f} MHz", numeric=True),
                                  Column("throttled", "throttled", lambda v: '<span class="warn">throttled</span>' if v else "no",
                                         raw_html=True)]))
    return Section("devices", "Devices side by side", "".join(parts))
