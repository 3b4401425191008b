"""Building reports: inputs of every accepted form, odd results, merges, errors, determinism, and no torch."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from test_reports_synthetic import dense_sweep, record, write_run

from reports.__main__ import main as cli
from reports.build import build_report
from reports.load import ResultFileError, load_results

ROOT = Path(__file__).resolve().parent.parent


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def assert_one_line_error(result: subprocess.CompletedProcess, name: str) -> None:
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0] and "Traceback" not in result.stderr


def benchmark_json(path: Path, records: list[dict]) -> Path:
    """pytest-benchmark's file format: extra_info = the record without time, stats = the timing."""
    benchmarks = []
    for rec in records:
        info = {k: v for k, v in rec.items() if k != "time"}
        stats = {k: v for k, v in (rec.get("time") or {}).items() if k != "data"}
        benchmarks.append({"group": "core", "name": f"test_core[{rec['cell_id']}]", "fullname": "x", "params": {}, "param": "",
                           "extra_info": info, "options": {}, "stats": stats})
    data = {"machine_info": {"node": "bench-host", "cpu": {"brand_raw": "AMD EPYC"}}, "commit_info": {"id": "0123456789abcdef"},
            "benchmarks": benchmarks, "datetime": "2026-01-01T00:00:00", "version": "5.2.3"}
    path.write_text(json.dumps(data))
    return path


# --- inputs -----------------------------------------------------------------------------------------------------
def test_build_report_contract_and_page_sections(tmp_path):
    run = write_run(tmp_path / "20260101-000000-vm", dense_sweep())
    index = build_report([run], tmp_path / "out")
    assert index == tmp_path / "out" / "index.html"
    page = index.read_text()
    for section in ("Run", "Recommendations", "Pareto fronts per shape", "Scaling with sequence length", "Speed-up and FLOP/s",
                    "Capability matrix", "Implementation details"):
        assert f"<h2>{section}</h2>" in page
    assert "<script" not in page and "<svg" in page
    frame = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert len(frame) == 12
    assert {"machine", "device", "device_label", "time_s", "memory_bytes", "error", "problem.seq_len", "error.output.rel_l2",
            "time.median"} <= set(frame.columns)
    # The linear approximation (∝ L) overtakes sdpa (∝ L²) at exactly L = 1024 in the synthetic laws.
    assert "L ≈ 1,024" in page


def test_every_input_form_loads_and_duplicates_are_kept_once(tmp_path):
    records = dense_sweep()
    run = write_run(tmp_path / "results" / "20260101-000000-vm", records)
    bench = benchmark_json(tmp_path / "0001_bench.json", records)
    assert len(load_results([run]).records) == 12
    assert len(load_results([run / "cells.jsonl"]).records) == 12
    assert len(load_results([run / "run.json"]).records) == 12
    assert len(load_results([tmp_path / "results"]).records) == 12  # a folder of run folders
    from_bench = load_results([bench]).records
    assert len(from_bench) == 12 and from_bench[0]["time"]["median"] == records[0]["time"]["median"]
    merged = load_results([run, bench]).records
    assert len(merged) == 12 and all("data" in r["time"] for r in merged)  # the JSONL record (with samples) wins


def test_interrupted_run_keeps_every_whole_line(tmp_path):
    run = write_run(tmp_path / "run", dense_sweep())
    with open(run / "cells.jsonl", "a") as fh:
        fh.write('{"schema": 1, "run_id": "20260101-0000')  # killed mid-write
    loaded = load_results([run])
    assert len(loaded.records) == 12 and "incomplete" in loaded.notes[0]


@pytest.mark.parametrize("content, name", [
    ("hello, not JSON\n", "notes.txt"),
    ("{broken json", "broken.json"),
    ('{"some": "json"}', "other.json"),
    ('{"benchmarks": [{"name": "x", "extra_info": {}, "stats": {}}]}', "foreign-bench.json"),
    ('{"a": 1}\n{"b": 2}\n', "cells.jsonl"),
    ("[1, 2, 3]\n", "list.jsonl"),
])
def test_a_file_that_is_not_a_result_is_a_one_line_error_naming_it(tmp_path, capsys, content, name):
    path = tmp_path / name
    path.write_text(content)
    assert cli(["build", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err
    assert not (tmp_path / "out").exists()


def test_the_process_prints_one_line_and_no_traceback(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not a result")
    assert_one_line_error(run_cli("build", str(path)), "notes.txt")


def test_missing_paths_empty_folders_and_binary_files_are_one_line_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "blob.json").write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")
    for path in (tmp_path / "nope", tmp_path / "empty", tmp_path / "blob.json"):
        with pytest.raises(ResultFileError) as info:
            load_results([path])
        assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_unknown_baseline_is_a_one_line_error_listing_the_choices(tmp_path, capsys):
    run = write_run(tmp_path / "run", dense_sweep())
    assert cli(["build", str(run), "--out", str(tmp_path / "out"), "--baseline", "flash9"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "flash9" in err and "sdpa" in err


# --- odd results ------------------------------------------------------------------------------------------------
def test_missing_metrics_skipped_failed_and_oom_cells_still_make_a_report(tmp_path):
    records = [
        record("sdpa", 1024),
        record("sdpa", 2048, memory=None),  # no peak memory
        record("naive", 1024, error=None),  # no error
        record("naive", 2048, time=None),  # no timing (benchmarks disabled)
        record("naive", 8192, status="skipped", reason_code="budget", reason="predicted 9.69 s per call exceeds the preset's 3 s budget"),
        record("flex", 1024, status="skipped", reason_code="missing-package", reason="needs triton (pip install triton)"),
        record("xformers", 1024, status="failed", reason_code="raised", reason="RuntimeError: kernel exploded at row 7"),
        record("sdpa-math", 8192, status="oom", reason_code="oom", reason="CUDA out of memory. Tried to allocate 8 GiB"),
        record("performer", 1024, error=float("inf"), family="linear", exact=False),  # a non-finite metric is a missing one
        record("linformer", 1024, time=0.0, family="linear", exact=False),  # a zero time cannot be ranked or fitted
    ]
    page = build_report([write_run(tmp_path / "run", records)], tmp_path / "out").read_text()
    for text in ("kernel exploded at row 7", "missing-package", "needs triton", "budget", "Tried to allocate 8 GiB"):
        assert text in page
    assert 'class="badge failed"' in page and 'class="badge oom"' in page


def test_one_implementation_only_and_no_baseline(tmp_path):
    records = [record("naive", n, time=1e-9 * n ** 2) for n in (512, 1024, 2048)]
    page = build_report([write_run(tmp_path / "run", records)], tmp_path / "out").read_text()
    assert "did not run in these results" in page and "naive" in page
    assert "<h2>Scaling with sequence length</h2>" in page


def test_nothing_ran(tmp_path):
    records = [record("naive", 8192, status="skipped", reason_code="budget", reason="too big")]
    page = build_report([write_run(tmp_path / "run", records)], tmp_path / "out").read_text()
    assert "nothing to recommend" in page and "too big" in page


def test_design_space_and_profile_views(tmp_path):
    records = []
    for heads in (1, 2, 4, 8):
        for impl, factor in (("sdpa", 1.0), ("custom[heads=talking]", 2.5)):
            rec = record(impl, 1024, heads=heads, head_dim=512 // heads, model_dim=512, suite="heads", time=factor * 1e-3 * heads ** 0.5,
                         family="custom" if impl.startswith("custom") else "exact")
            rec["extra"] = {"grad_norm_ratio_q": 1.0 + heads / 100, "softmax_entropy": 3.2}
            records.append(rec)
    profiled = record("naive", 1024)
    profiled["profile"] = {"trace_dir": "results/traces/run/naive-cell", "kernels": 12, "profiler_peak_bytes": 3 << 20,
                           "top_ops": [{"name": "aten::bmm", "self_cpu_us": 900.0, "self_device_us": 0.0, "calls": 2},
                                       {"name": "aten::_softmax", "self_cpu_us": 300.0, "self_device_us": 0.0, "calls": 1}]}
    records.append(profiled)
    page = build_report([write_run(tmp_path / "run", records)], tmp_path / "out").read_text()
    assert "<h2>Heads and design space</h2>" in page and "model_dim 512" in page
    assert "grad_norm_ratio_q" in page and "softmax_entropy" in page
    assert "aten::bmm" in page and "12 kernels" in page
    assert 'href="' in page and "results/traces/run/naive-cell</a>" in page


# --- merges -----------------------------------------------------------------------------------------------------
def test_merged_report_two_machines_two_devices(tmp_path, capsys):
    a = dense_sweep("20260101-000000-alpha", host="alpha", device="cuda:0", device_name="NVIDIA H100", scale=0.1)
    b = dense_sweep("20260101-000000-beta", host="beta", device="cuda:0", device_name="NVIDIA A100", scale=0.2)
    for rec in a[:3]:
        rec["cuda"] = {"event_median_s": rec["time"]["median"] * 1.02, "sm_clock_mhz": 1980, "throttled": False}
    b[0]["cuda"] = {"event_median_s": b[0]["time"]["median"] * 1.4, "sm_clock_mhz": 1100, "throttled": True}
    run_a = write_run(tmp_path / "alpha" / "run", a)
    run_b = write_run(tmp_path / "beta" / "run", b)
    out = tmp_path / "merged"
    assert cli(["build", str(run_a), str(run_b), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    page = (out / "index.html").read_text()
    assert "<h2>Devices side by side</h2>" in page
    assert "alpha · cuda:0 (NVIDIA H100)" in page and "beta · cuda:0 (NVIDIA A100)" in page
    assert "throttled" in page and "+40.0 %" in page  # the disagreeing, throttled cell is flagged
    frame = pd.read_csv(out / "cells.csv")
    assert len(frame) == 24
    assert set(zip(frame["machine"], frame["device_name"])) == {("alpha", "NVIDIA H100"), ("beta", "NVIDIA A100")}
    # Fronts are per device: each shape appears once per device in the Pareto section.
    assert page.count("<h3 id=\"front-alpha") == 4 and page.count("<h3 id=\"front-beta") == 4


# --- determinism and no torch -----------------------------------------------------------------------------------
_BUILD_IN_FRESH_PROCESS = """
import sys
from reports.build import build_report
build_report(sys.argv[1:-1], sys.argv[-1])
assert "torch" not in sys.modules, "reports imported torch"
"""


def test_same_input_gives_identical_bytes_across_processes_and_never_imports_torch(tmp_path):
    records = dense_sweep(lengths=(512, 1024)) + [record("naive", 8192, status="skipped", reason_code="budget", reason="too big")]
    run = write_run(tmp_path / "run", records)
    other = write_run(tmp_path / "other", dense_sweep("20260101-000000-gpu", host="gpu-box", device="cuda:0", device_name="NVIDIA H200",
                                                      lengths=(512, 1024)))
    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"out{seed}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        result = subprocess.run([sys.executable, "-c", _BUILD_IN_FRESH_PROCESS, str(run), str(other), str(out)], cwd=ROOT, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        outputs.append(((out / "index.html").read_bytes(), (out / "cells.csv").read_bytes()))
    assert outputs[0] == outputs[1]


def test_the_cli_module_does_not_import_torch():
    code = "import sys, reports, reports.__main__, reports.build, reports.load, reports.plots; assert 'torch' not in sys.modules"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- the gate subcommand ----------------------------------------------------------------------------------------
def test_gate_is_forwarded_to_the_gate_package(monkeypatch):
    calls = []

    class FakeGate:
        @staticmethod
        def main(argv):
            calls.append(argv)
            return 1

    monkeypatch.setitem(sys.modules, "gate", FakeGate)
    assert cli(["gate", "--strict", "a", "b"]) == 1
    assert calls == [["--strict", "a", "b"]]


def test_cli_usage_errors(capsys):
    assert cli(["frobnicate"]) == 2
    assert "unknown command 'frobnicate'" in capsys.readouterr().err
    assert cli([]) == 2


def test_repeated_measurements_of_a_cell_count_once_on_the_fronts(tmp_path):
    older = dense_sweep("20260101-000000-vm", lengths=(1024,))
    newer = dense_sweep("20260102-000000-vm", lengths=(1024,))
    for rec in newer:
        rec["timestamp"] += 86400
        rec["time"]["median"] *= 0.5
    page = build_report([write_run(tmp_path / "a", older), write_run(tmp_path / "b", newer)], tmp_path / "out").read_text()
    assert "3 cell(s) were measured more than once" in page
    frame = pd.read_csv(tmp_path / "out" / "cells.csv")
    assert len(frame) == 6  # every measurement stays in the frame
    newest_sdpa = [r for r in newer if r["impl"] == "sdpa"][0]["time"]["median"]
    assert f"{newest_sdpa * 1e6:.3g} µs" in page  # the table shows the latest run's median
