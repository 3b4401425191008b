"""Data quality on the page: intervals against independent formulas, repeats merged, the contended-run banner,
disturbed cells left out of fits, no fraction of peak above 100%, '≈' as overlapping intervals."""

from __future__ import annotations

import copy
import json
import math
import re

import pandas as pd
import pytest

from reports.build import build_report
from reports.intervals import median_interval, rounds_interval, speedup_interval
from reports.pareto import within_noise
from reports.quality import assess, run_contention
from reports.repeats import combine_repeats
from tests.test_reports_synthetic import dense_sweep, record, write_run

T_975 = {1: 12.706204736, 2: 4.302652730, 4: 2.776445105}  # Student's t quantiles (tables)


def test_repeats_interval_is_the_t_interval_on_log_medians():
    medians = [1.00e-3, 1.04e-3, 0.98e-3]
    logs = [math.log(m) for m in medians]
    mean = sum(logs) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / 2)
    low, high, method = median_interval(medians, [], reported=1.00e-3)
    assert low == pytest.approx(math.exp(mean - T_975[2] * sd / math.sqrt(3)), rel=1e-9)
    assert high == pytest.approx(math.exp(mean + T_975[2] * sd / math.sqrt(3)), rel=1e-9)
    assert method == "t interval over 3 repeats"


def test_rounds_interval_uses_binomial_order_statistics():
    samples = [float(i) for i in range(1, 101)]  # n=100: the 95% interval of the median is x(40)..x(61)
    assert rounds_interval(samples[::-1]) == (40.0, 61.0)
    assert rounds_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)  # too few rounds for order statistics: the range


def test_speedup_interval_holds_one_exactly_when_intervals_overlap():
    low, high = speedup_interval((2.0, 2.2), (1.0, 1.1))
    assert (low, high) == pytest.approx((2.0 / 1.1, 2.2 / 1.0))
    assert speedup_interval((1.0, 1.2), (1.1, 1.3))[0] < 1 < speedup_interval((1.0, 1.2), (1.1, 1.3))[1]


def repeated(base: dict, medians: list[float]) -> list[dict]:
    out = []
    for index, median in enumerate(medians, 1):
        rec = copy.deepcopy(base)
        rec["repeat"] = index
        rec["time"].update(median=median, data=[median * f for f in (0.99, 1.0, 1.0, 1.01, 1.02)])
        rec["flops_per_s"] = rec["flops"] / median
        out.append(rec)
    return out


def test_repeats_merge_into_one_cell_with_the_median_of_medians():
    rows = repeated(record("sdpa", 1024, time=1e-3), [1.0e-3, 1.3e-3, 1.1e-3])
    merged = combine_repeats(rows)
    assert len(merged) == 1
    cell = merged[0]
    assert cell["time"]["median"] == pytest.approx(1.1e-3) and cell["repeats"] == 3
    assert cell["time"]["repeat_medians"] == [1.0e-3, 1.3e-3, 1.1e-3] and len(cell["time"]["data"]) == 15
    assert cell["flops_per_s"] == pytest.approx(cell["flops"] / 1.1e-3)
    assert cell["time"]["ci_low"] < 1.0e-3 and cell["time"]["ci_high"] > 1.3e-3
    assessed = assess(merged)[0]["quality"]
    assert assessed["disturbed"] and "repeats differ by 30%" in assessed["why"]


def test_fraction_of_peak_above_one_is_dropped_with_a_reason():
    rec = record("sdpa", 1024, time=1e-3)
    rec["peak_fraction"] = 1.52
    out = assess([rec])[0]
    assert out["peak_fraction"] is None and "152%" in out["quality"]["note"]


def test_contention_from_the_recorded_load():
    assert run_contention({"load": {"cpus": 2, "others_cpu_share": 0.9}})
    assert not run_contention({"load": {"cpus": 2, "others_cpu_share": 0.05, "load_average_before": [3.0, 1, 1]}})
    assert run_contention({"load": {"cpus": 2, "load_average_before": [1.5, 1, 1]}})  # no share recorded: the load average
    assert not run_contention({})


def contended_run(folder, share: float):
    path = write_run(folder, dense_sweep())
    info = json.loads((path / "run.json").read_text())
    info["load"] = {"cpus": 2, "threads": 2, "others_cpu_share": share, "load_average_before": [3.9, 2.0, 1.0],
                    "load_average_after": [4.2, 2.5, 1.1], "top_competitors": [{"pid": 7, "name": "python", "command": "python busy.py",
                                                                                   "cpu_share": 0.97}]}
    info["process_state"] = {"threads": 2, "allocator": "mallopt mmap_threshold=33554432 trim_threshold=2147483647"}
    (path / "run.json").write_text(json.dumps(info))
    return path


def page_text(index) -> str:
    return re.sub(r"<[^>]+>", " ", index.read_text())


def test_contended_run_page_carries_the_banner(tmp_path):
    busy = page_text(build_report([contended_run(tmp_path / "busy", 0.97)], tmp_path / "busy-report"))
    assert "Measured on a contended machine" in busy and "97% of the machine" in busy and "python busy.py" in busy
    idle = page_text(build_report([contended_run(tmp_path / "idle", 0.02)], tmp_path / "idle-report"))
    assert "Measured on a contended machine" not in idle and "others&#x27; CPU share 2%" in idle


def test_disturbed_cells_stay_out_of_scaling_fits(tmp_path):
    rows = dense_sweep()
    for row in rows:  # sdpa at 4096 measured 8x slow and known only to a wide interval: a disturbed cell
        if row["impl"] == "sdpa" and row["problem"]["seq_len"] == 4096:
            row["time"]["median"] *= 8
            row["time"]["data"] = [row["time"]["median"] * f for f in (0.2, 0.5, 1.0, 2.0, 5.0)]
    index = build_report([write_run(tmp_path / "run", rows)], tmp_path / "report")
    frame = pd.read_csv(tmp_path / "report" / "cells.csv")
    flagged = frame[frame["quality.disturbed"].astype(bool)]
    assert list(flagged["impl"]) == ["sdpa"] and list(flagged["problem.seq_len"]) == [4096]
    text = re.sub(r"\s+", " ", page_text(index))
    assert "1 disturbed cell(s) are left out" in text
    # sdpa's fit is over the clean lengths only, so it stays L^2 (with the 8x cell it would be about 2.6)
    assert "sdpa exact 2.00 ± 0.00 1.00 ± 0.00 512, 1,024, 2,048 baseline" in text


def test_approx_means_overlapping_intervals():
    group = pd.DataFrame({"impl": ["a", "b", "c"], "time.ci_low": [1.0, 1.05, 1.3], "time.ci_high": [1.1, 1.2, 1.4],
                          "time.q1": [1.0, 1.0, 1.0], "time.q3": [2.0, 2.0, 2.0]})
    assert within_noise(group, "a") == ["b"]  # the IQRs would say all three


def test_repeats_interval_stays_within_the_rounds_measured():
    low, high, _ = median_interval([5e-5, 4.5e-2], [4e-5, 5e-5, 6e-5, 4.4e-2, 4.5e-2, 4.6e-2], reported=2.3e-2)
    assert (low, high) == (4e-5, 4.6e-2)  # t(0.975, 1) = 12.7 alone would give about 1e-22 .. 1e15 s
