"""One record per cell from the repeats of a run (``--attn-repeat N``), with the interval of its median.

A run with repeats holds one record per cell and repeat (``repeat``: 1..N). The page shows one row
per cell: the median of the repeats' medians, the interval over the repeats (reports/intervals.py),
the repeats' medians themselves (``time.repeat_medians``) and every timed round pooled
(``time.data``). FLOP/s and the fraction of peak follow the combined median. A cell that failed in
some repeats and ran in others keeps the runs and says how many repeats failed.

Every record that ran gets ``time.ci_low``, ``time.ci_high`` and ``time.ci_method``, with or
without repeats, so the page can show an interval for every median.
"""

from __future__ import annotations

import copy
import statistics

from .intervals import median_interval


def cell_key(record: dict) -> tuple:
    return (record.get("run_id"), record.get("suite"), record.get("cell_id") or record.get("impl"),
            repr(sorted((record.get("problem") or {}).items())))


def combine_repeats(records: list[dict]) -> list[dict]:
    """Records in their first-seen order, repeats of one cell merged into one record."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        groups.setdefault(cell_key(record), []).append(record)
    return [combine(group) for group in groups.values()]


def timed(record: dict) -> bool:
    return record.get("status") == "ok" and bool((record.get("time") or {}).get("median"))


def combine(group: list[dict]) -> dict:
    ran = [r for r in group if timed(r)]
    if not ran:
        return with_interval(copy.deepcopy(group[0]), [])
    merged = copy.deepcopy(ran[0])
    medians = [r["time"]["median"] for r in ran]
    if len(group) > 1:
        time = merged["time"]
        pooled = [x for r in ran for x in (r["time"].get("data") or [])]
        time.update(median=statistics.median(medians), min=min(r["time"].get("min", m) for r, m in zip(ran, medians)),
                    max=max(r["time"].get("max", m) for r, m in zip(ran, medians)), data=pooled,
                    rounds=sum(r["time"].get("rounds") or 0 for r in ran), repeat_medians=medians)
        if len(pooled) >= 4:
            q1, _, q3 = statistics.quantiles(pooled, n=4)
            time.update(q1=q1, q3=q3, iqr=q3 - q1)
        merged["repeats"] = len(ran)
        merged.pop("repeat", None)
        failed = [r for r in group if not timed(r)]
        if failed:
            merged["repeats_failed"] = len(failed)
            merged["repeats_failed_reason"] = failed[0].get("reason")
        rescale_rates(merged, medians[0])
    return with_interval(merged, medians if len(group) > 1 else [])


def rescale_rates(record: dict, first_median: float) -> None:
    """Rates of the merged record (copied from its first repeat) follow the combined median."""
    median = record["time"]["median"]
    if record.get("flops"):
        record["flops_per_s"] = record["flops"] / median
        if record.get("device_peak_flops"):
            record["peak_fraction"] = record["flops_per_s"] / record["device_peak_flops"]
    if record.get("bytes_per_s"):
        record["bytes_per_s"] *= first_median / median


def with_interval(record: dict, repeat_medians: list[float]) -> dict:
    time = record.get("time") or {}
    if timed(record):
        low, high, method = median_interval(repeat_medians, time.get("data") or [], time["median"])
        time.update(ci_low=low, ci_high=high, ci_method=method)
        record["time"] = time
    return record
