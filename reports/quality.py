"""Data quality: was a run contended, which cells were disturbed, and which figures cannot be trusted.

- A **run is contended** when other processes used at least a quarter of the machine's CPUs while
  it ran (run.json ``load.others_cpu_share``), or, where that was not recorded, when the 1-minute
  load average before it was at least half the CPU count, or when a GPU cell ran throttled.
- A **cell is disturbed** when its spread says so: its repeats' medians differ by more than 10%,
  or the 95% interval of its median (reports/intervals.py) is wider than ±10%. A few preempted
  rounds do not move a median, so the rounds' own spread is not the test; an uncertain median is.
  Disturbed cells stay on the page, marked; scaling fits and crossovers leave them out.
- A **fraction of peak above 100%** means the peak was measured low (another job had the machine
  while the matmul ran): the fraction is dropped and the cell says why.
"""

from __future__ import annotations

import pandas as pd

CONTENDED_OTHERS_SHARE = 0.25
CONTENDED_LOAD_PER_CPU = 0.5
DISTURBED_REPEAT_SPREAD = 0.10
DISTURBED_INTERVAL = 0.10  # half the interval's width, relative to the median


def run_contention(run: dict) -> list[str]:
    """Why a run counts as contended (empty: it does not, or it recorded no load)."""
    load = run.get("load") or {}
    cpus = load.get("cpus") or (run.get("machine") or {}).get("cores") or 1
    reasons = []
    share = load.get("others_cpu_share")
    if share is not None and share >= CONTENDED_OTHERS_SHARE:
        reasons.append(f"other processes used {100 * share:.0f}% of the machine's {cpus} CPUs while it ran")
    before = (load.get("load_average_before") or [None])[0]
    if share is None and before is not None and before >= CONTENDED_LOAD_PER_CPU * cpus:
        reasons.append(f"the 1-minute load average was {before:.1f} on {cpus} CPUs when it started")
    return reasons


def spread_reasons(record: dict) -> list[str]:
    """Why a timed cell's own figures say it was disturbed."""
    time = record.get("time") or {}
    median = time.get("median")
    if not median:
        return []
    reasons = []
    medians = [m for m in time.get("repeat_medians") or [] if m]
    if len(medians) >= 2 and max(medians) / min(medians) - 1 > DISTURBED_REPEAT_SPREAD:
        reasons.append(f"its {len(medians)} repeats differ by {100 * (max(medians) / min(medians) - 1):.0f}%")
    low, high = time.get("ci_low"), time.get("ci_high")
    if low is not None and high is not None and (high - low) / (2 * median) > DISTURBED_INTERVAL:
        reasons.append(f"its median is only known to ±{100 * (high - low) / (2 * median):.0f}%")
    return reasons


def assess(records: list[dict]) -> list[dict]:
    """Adds ``quality`` (disturbed, why, note) to every record; drops fractions of peak above 100%."""
    for record in records:
        reasons = spread_reasons(record) if record.get("status") == "ok" else []
        notes = []
        fraction = record.get("peak_fraction")
        if isinstance(fraction, (int, float)) and fraction > 1.0:
            notes.append(f"measured at {100 * fraction:.0f}% of the device's matmul peak, so the peak was measured low "
                         "(under load); the fraction is not shown")
            record["peak_fraction"] = None
        if (record.get("cuda") or {}).get("throttled"):
            notes.append("the GPU ran throttled while it was timed")
        record["quality"] = {"disturbed": bool(reasons), "why": "; ".join(reasons), "note": "; ".join(notes)}
    return records


def disturbed(frame: pd.DataFrame) -> pd.Series:
    """Boolean mask of the frame's disturbed cells (all False when the frame has no quality columns)."""
    if "quality.disturbed" not in frame:
        return pd.Series(False, index=frame.index)
    return frame["quality.disturbed"].fillna(False).astype(bool)
