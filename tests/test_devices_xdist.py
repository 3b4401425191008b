"""A sweep under pytest-xdist, in a subprocess: each device on exactly one worker, one run for all workers.

Without a GPU, tests/plugins/devices_fake_gpus.py makes torch report two CUDA devices; their
cells are skipped (nothing can run there) but still recorded with their device, which is what
ownership is about. The CPU's cells really run and must carry pytest-benchmark's statistics,
which pytest-benchmark would have switched off under xdist.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--attn-preset", "smoke", "--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-heads", "2",
         "--attn-kv-heads", "h,1", "--attn-head-dims", "16", "--attn-masks", "causal", "--attn-modes", "fwd", "--attn-no-report"]


def sweep(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]))
    env.pop("ATTNBENCH_RUN_ID", None)
    command = [sys.executable, "-m", "pytest", "-p", "devices_fake_gpus", "--benchmark-only",
               "--attn-results", str(tmp_path / "results"), *SMALL, *args, "suites/test_core.py"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def test_each_worker_owns_its_devices_and_all_write_one_run(tmp_path):
    result = sweep(tmp_path, "-n", "4", "--attn-devices", "all")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "gw0 → cuda:0, gw1 → cuda:1, gw2 → cpu, gw3 → nothing" in result.stdout
    assert "Benchmarks are automatically disabled" not in result.stdout + result.stderr
    runs = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs  # every worker wrote into the controller's run
    run = runs[0]
    by_file = {f.name: [json.loads(line) for line in f.read_text().splitlines()] for f in run.glob("cells*.jsonl")}
    assert set(by_file) == {"cells-gw0.jsonl", "cells-gw1.jsonl", "cells-gw2.jsonl"}  # gw3 owns nothing and ran nothing
    assert {r["problem"]["device"] for r in by_file["cells-gw0.jsonl"]} == {"cuda:0"}
    assert {r["problem"]["device"] for r in by_file["cells-gw1.jsonl"]} == {"cuda:1"}
    assert {r["problem"]["device"] for r in by_file["cells-gw2.jsonl"]} == {"cpu"}
    every = [r for rows in by_file.values() for r in rows]
    assert Counter(r["problem"]["device"] for r in every) == {"cpu": 2, "cuda:0": 2, "cuda:1": 2}
    assert len({r["cell_id"] for r in every}) == 6 and {r["run_id"] for r in every} == {run.name}
    with sqlite3.connect(tmp_path / "results" / "attnbench.sqlite") as store:  # the controller stored every worker's cells
        assert store.execute("SELECT count(*) FROM cells WHERE run_id = ?", (run.name,)).fetchone()[0] == 6
    cpu = [r for r in every if r["problem"]["device"] == "cpu"]
    assert all(r["status"] == "ok" and r["time"]["rounds"] >= 2 and r["time"]["median"] > 0 for r in cpu)
    assert all(r["device_peak_bandwidth"] > 0 and r["bandwidth_fraction"] > 0 for r in cpu)
    assert all(r["status"] == "skipped" and r["device_name"] == "Fake GPU (test)" for r in every if r not in cpu)
    info = json.loads((run / "run.json").read_text())
    assert info["devices"] == ["cuda:0", "cuda:1", "cpu"]
    assert info["device_assignment"] == {"gw0": ["cuda:0"], "gw1": ["cuda:1"], "gw2": ["cpu"], "gw3": []}
    saved_text = (run / "pytest-benchmark-gw2.json").read_text()
    assert saved_text.strip(), "worker gw2's pytest-benchmark JSON is empty: the plugin handed pytest-benchmark the wrong kind of target"
    assert "was not written correctly by pytest-benchmark" not in result.stderr
    saved = json.loads(saved_text)
    assert len(saved["benchmarks"]) == 2  # the CPU's two cells, timed by pytest-benchmark in worker gw2
    assert sorted(p.name for p in run.glob("pytest-benchmark-*.json")) == ["pytest-benchmark-gw2.json"]  # the others only skipped
    # The report reads every worker's file of the run.
    pd = pytest.importorskip("pandas")
    from reports.build import build_report

    build_report([run], tmp_path / "report")
    frame = pd.read_csv(tmp_path / "report" / "cells.csv")
    assert Counter(frame["device"]) == {"cpu": 2, "cuda:0": 2, "cuda:1": 2}


def test_a_load_balancing_dist_mode_is_refused(tmp_path):
    result = sweep(tmp_path, "-n", "2", "--dist", "loadgroup")
    assert result.returncode == 4, result.stdout + result.stderr
    assert "--dist loadgroup: a sweep under pytest-xdist runs with --dist each" in result.stderr
    assert "Traceback" not in result.stderr

