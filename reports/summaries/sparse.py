"""The sparse suite's summary: the headline grid (a causal problem approximated by a window of 256 keys).

Per device and member of the headline grid (causal, forward, batch 1, heads 8, head_dim 64, float32):
time, speed-up over sdpa's causal kernel, peak memory and error per length; the fitted exponents of
time and peak memory against length (reports.scaling); and the sparse family's performance goals
with their verdicts.

    python -m reports summary sparse results/<run> [results/<run> ...]
"""

from __future__ import annotations

import pandas as pd

from ..scaling import fit_power_law
from ..units import format_bytes, format_number, format_ratio, format_seconds
from .common import markdown_table, optional, per_length, suite_cells

SUITE = "sparse"
WINDOW = 256
BASELINE, OURS, FLEX = "sdpa", f"sliding-window[w={WINDOW}]", f"flex-sliding-window[w={WINDOW}]"
HEADLINE = {"problem.mask": "causal", "problem.mode": "fwd", "problem.heads": 8, "problem.kv_heads": 8, "problem.head_dim": 64,
            "problem.dtype": "float32", "problem.batch": 1}
GOALS_AT = {8192: 4.0, 16384: 8.0}  # minimum speed-up of OURS over sdpa causal at these lengths
MAX_TIME_EXPONENT = 1.15
MAX_MEMORY_EXPONENT = 1.15  # "peak memory grows linearly", with the same allowance for fixed costs


def headline(cells: pd.DataFrame) -> pd.DataFrame:
    """The headline grid's cells (self-attention: kv_seq_len == seq_len)."""
    keep = cells["problem.seq_len"] == cells["problem.kv_seq_len"]
    for column, value in HEADLINE.items():
        keep &= cells[column] == value if column in cells else False
    return cells[keep]


def summarize(records: list[dict]) -> list[dict]:
    """One summary per device that ran the headline grid: ``{"device", "rows", "fits", "goals"}``."""
    cells = suite_cells(records, SUITE)
    if cells.empty:
        return []
    summaries = []
    for device, on_device in sorted(headline(cells).groupby("device_label"), key=lambda kv: kv[0]):
        table = {impl: per_length(rows) for impl, rows in on_device.groupby("impl")}
        summaries.append({"device": device, **summarize_device(table)})
    return summaries


def summarize_device(table: dict[str, dict[int, pd.Series]]) -> dict:
    baseline = table.get(BASELINE, {})
    rows, fits = [], {}
    for impl, by_length in sorted(table.items(), key=lambda kv: (kv[0] != BASELINE, kv[0])):
        lengths = sorted(by_length)
        for n in lengths:
            r, base = by_length[n], baseline.get(n)
            rows.append({"impl": impl, "L": n, "time_s": float(r["time_s"]),
                         "speedup_vs_sdpa": float(base["time_s"] / r["time_s"]) if base is not None else None,
                         "peak_bytes": optional(r, "memory_bytes"), "rel_l2": optional(r, "error")})
        time_fit = fit_power_law(lengths, [by_length[n]["time_s"] for n in lengths])
        memory_fit = fit_power_law(lengths, [optional(by_length[n], "memory_bytes") or float("nan") for n in lengths])
        fits[impl] = {"lengths": f"{lengths[0]}..{lengths[-1]}",
                      "time_exponent": time_fit.exponent if time_fit else None, "time_stderr": time_fit.stderr if time_fit else None,
                      "memory_exponent": memory_fit.exponent if memory_fit else None}
    return {"rows": rows, "fits": fits, "goals": goals(table, fits)}


def goals(table: dict[str, dict[int, pd.Series]], fits: dict[str, dict]) -> list[dict]:
    ours, flex, base = table.get(OURS, {}), table.get(FLEX, {}), table.get(BASELINE, {})
    verdicts = []
    for length, wanted in GOALS_AT.items():
        got = float(base[length]["time_s"] / ours[length]["time_s"]) if length in ours and length in base else None
        verdicts.append({"goal": f"{OURS} ≥ {wanted:g}× faster than sdpa causal at L={length}", "measured": got,
                         "met": None if got is None else got >= wanted})
    if 8192 in ours and 8192 in flex:
        ratio = float(flex[8192]["time_s"] / ours[8192]["time_s"])
        verdicts.append({"goal": f"{OURS} not slower than {FLEX} at L=8192 (flex time / ours)", "measured": ratio, "met": ratio >= 1.0})
    fit = fits.get(OURS, {})
    for key, limit, text in (("time_exponent", MAX_TIME_EXPONENT, "time"), ("memory_exponent", MAX_MEMORY_EXPONENT, "peak memory")):
        value = fit.get(key)
        verdicts.append({"goal": f"{text} exponent of {OURS} against L ≤ {limit}", "measured": value,
                         "met": None if value is None else value <= limit})
    return verdicts


def markdown(summaries: list[dict]) -> str:
    """The tables, per device: times per length, fitted exponents, goals."""
    lines = []
    for summary in summaries:
        lines += [f"{summary['device']}: causal, batch 1, heads 8, head_dim 64, float32, forward; window w={WINDOW} for the "
                  "window members", ""]
        lines += markdown_table(["impl", "L", "time", "speed-up vs sdpa causal", "peak memory", "rel-L2 vs causal oracle"], (
            [r["impl"], str(r["L"]), format_seconds(r["time_s"]), format_ratio(r["speedup_vs_sdpa"]), format_bytes(r["peak_bytes"]),
             format_number(r["rel_l2"])] for r in summary["rows"]))
        lines += [""] + markdown_table(["impl", "lengths", "time exponent", "peak-memory exponent"], (
            [impl, f["lengths"], format_number(f["time_exponent"], ".3f") + _stderr(f["time_stderr"]),
             format_number(f["memory_exponent"], ".3f")] for impl, f in summary["fits"].items()))
        lines += [""] + markdown_table(["goal", "measured", "met"], (
            [g["goal"], format_number(g["measured"], ".2f"), "—" if g["met"] is None else ("yes" if g["met"] else "NO")]
            for g in summary["goals"]))
        lines.append("")
    return "\n".join(lines).rstrip()


def _stderr(value: float | None) -> str:
    text = format_number(value, ".2f", missing="")
    return f" ± {text}" if text else ""
