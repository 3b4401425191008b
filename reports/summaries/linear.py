"""The linear suite's summary: each linear or low-rank member against SDPA on the same problems.

One row per (device, problem without its length, member): time and speed-up over SDPA at L=16384 (or
the longest length measured), the fitted exponents of time and peak memory against L over L ≥ 1024
(reports.scaling), the crossover length where it overtakes SDPA, its error against the softmax
oracle and the error of uniform attention on the same rows (``extra.uniform_error``, the level an
approximation must beat to say anything).

    python -m reports summary linear results/<run> [results/<run> ...]
"""

from __future__ import annotations

import pandas as pd

from ..scaling import crossover, fit_power_law
from ..units import format_number, format_ratio, format_seconds
from .common import markdown_table, optional, per_length, suite_cells

SUITE = "linear"
BASELINE = "sdpa"
REFERENCE_LENGTH = 16384
FIT_FROM = 1024  # exponents are fitted over L >= this (short lengths are dominated by fixed costs)


def summarize(records: list[dict]) -> list[dict]:
    """One row per (device, shape, member) with time, speed-up, exponents, crossover and errors."""
    cells = suite_cells(records, SUITE)
    if cells.empty:
        return []
    cells = cells[cells["problem.seq_len"] == cells["problem.kv_seq_len"]]
    devices = cells["device_label"].nunique()
    rows = []
    for (device, series), group in sorted(cells.groupby(["device_label", "series"]), key=lambda kv: kv[0]):
        members = {impl: per_length(impl_cells) for impl, impl_cells in group.groupby("impl")}
        baseline = members.pop(BASELINE, {})
        shape = f"{device} · {series}" if devices > 1 else series
        rows += [member_row(shape, impl, by_length, baseline) for impl, by_length in sorted(members.items())]
    return rows


def member_row(shape: str, impl: str, by_length: dict[int, pd.Series], baseline: dict[int, pd.Series]) -> dict:
    lengths = sorted(by_length)
    median = {n: float(by_length[n]["time_s"]) for n in lengths}
    long = [n for n in lengths if n >= FIT_FROM]
    time_fit = fit_power_law(long, [median[n] for n in long])
    memory_fit = fit_power_law(long, [optional(by_length[n], "memory_bytes") or float("nan") for n in long])
    common = [n for n in lengths if n in baseline]
    cross = crossover(common, [median[n] for n in common], [float(baseline[n]["time_s"]) for n in common])
    reference = REFERENCE_LENGTH if REFERENCE_LENGTH in by_length else lengths[-1]
    at, sdpa_at = by_length[reference], baseline.get(reference)
    sdpa_s = float(sdpa_at["time_s"]) if sdpa_at is not None else None
    return {
        "shape": shape, "impl": impl, "lengths": f"{lengths[0]}..{lengths[-1]}", "reference_length": reference,
        "time_s": median[reference], "sdpa_s": sdpa_s, "speedup": sdpa_s / median[reference] if sdpa_s else None,
        "time_exponent": time_fit.exponent if time_fit else None,
        "memory_exponent": memory_fit.exponent if memory_fit else None,
        "crossover": cross.text(), "crossover_length": cross.length,
        "rel_l2": optional(at, "error"), "peak_bytes": optional(at, "memory_bytes"),
        "uniform_rel_l2": optional(at, "extra.uniform_error.rel_l2"),
    }


def markdown(rows: list[dict]) -> str:
    """One table, a row per member and shape."""
    header = ["shape", "impl", "L measured", "at L", "time", "sdpa", "speed-up", f"time exp. (L≥{FIT_FROM})", "memory exp.",
              "overtakes sdpa", "rel-L2 vs softmax", "uniform attention's"]
    return "\n".join(markdown_table(header, (
        [r["shape"], r["impl"], r["lengths"], str(r["reference_length"]), format_seconds(r["time_s"]), format_seconds(r["sdpa_s"]),
         format_ratio(r["speedup"], digits=1), format_number(r["time_exponent"], ".2f"), format_number(r["memory_exponent"], ".2f"),
         r["crossover"], format_number(r["rel_l2"]), format_number(r["uniform_rel_l2"])] for r in rows)))
