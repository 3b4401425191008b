"""Sweep conditions end to end, in subprocesses: repeats and what run.json records, the same selection on a loaded
machine, and the progress line under pytest-xdist."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-preset", "smoke", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16", "--attn-masks", "causal",
        "--attn-modes", "fwd", "--attn-no-report"]
# A peak measured while another job had the machine: a million FLOP/s (the real one is ~1e11).
LOW_PEAK_PLUGIN = "def pytest_attn_matmul_peak(device, dtype):\n    return 1e6\n"


def sweep(tmp_path: Path, name: str, *args: str, env: dict | None = None, quiet: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", *(["-q"] if quiet else []), "-p", "no:cacheprovider",
               "--attn-results", str(tmp_path / name), "--benchmark-storage", f"file://{tmp_path / 'storage'}", *args]
    result = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def run_folder(tmp_path: Path, name: str) -> Path:
    return next(p for p in (tmp_path / name).iterdir() if p.is_dir() and p.name != "benchmarks")


def records(folder: Path) -> list[dict]:
    return [json.loads(line) for f in sorted(folder.glob("cells*.jsonl")) for line in f.read_text().splitlines()]


def test_repeats_are_recorded_and_run_json_says_how_it_ran(tmp_path):
    sweep(tmp_path, "r", *TINY, "--attn-seq-lens", "32,64", "--attn-impls", "naive,sdpa", "--attn-repeat", "2", "--attn-threads", "1")
    folder = run_folder(tmp_path, "r")
    rows = records(folder)
    assert [r["repeat"] for r in rows] == [1] * 4 + [2] * 4  # the whole grid, then the whole grid again
    assert sorted(r["cell_id"] for r in rows[:4]) == sorted(r["cell_id"] for r in rows[4:])
    assert all(r["load"]["wall_s"] > 0 and r["budget_reference_flops"] == 1e11 for r in rows)
    info = json.loads((folder / "run.json").read_text())
    assert info["repeats"] == 2 and info["process_state"]["threads"] == 1
    assert set(info["load"]) >= {"others_cpu_share", "load_average_before", "load_average_after", "top_competitors"}


def selection(folder: Path) -> dict[str, tuple]:
    return {r["cell_id"]: (r["status"], r["reason_code"]) for r in records(folder)}


def test_same_cells_selected_on_an_idle_and_a_loaded_machine(tmp_path):
    args = [*TINY, "--attn-seq-lens", "64,32768", "--attn-impls", "naive,sdpa"]
    sweep(tmp_path, "idle", *args)
    (tmp_path / "plugins").mkdir()
    (tmp_path / "plugins" / "low_peak.py").write_text(LOW_PEAK_PLUGIN)
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(os.cpu_count() or 1)]
    try:
        sweep(tmp_path, "busy", *args, "-p", "low_peak", env={"PYTHONPATH": str(tmp_path / "plugins")})
    finally:
        for process in busy:
            process.kill()
            process.wait()
    idle, loaded = selection(run_folder(tmp_path, "idle")), selection(run_folder(tmp_path, "busy"))
    assert idle == loaded
    assert {status for status, _ in idle.values()} == {"ok", "skipped"}  # L=64 runs, L=32768 is over the smoke budget
    busy_info = json.loads((run_folder(tmp_path, "busy") / "run.json").read_text())
    assert busy_info["load"]["others_cpu_share"] > 0.25  # the busy loops are on the record


def test_progress_line_under_xdist(tmp_path):
    result = sweep(tmp_path, "x", *TINY, "--attn-seq-lens", "64", "--attn-impls", "naive,sdpa,sdpa-efficient", "-n", "2",
                   env={"ATTNBENCH_PROGRESS": "1"}, quiet=False)  # -q would silence the line
    assert "attnbench 0/3 cells" in result.stderr  # the line, drawn by the controller from the workers' reports
    assert "attnbench: 3/3 cells, 1 skipped in " in result.stdout  # and its last state, once it is gone
