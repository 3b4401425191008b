"""The fleet end to end on this machine: local processes, submitit's local executor (real subprocess jobs), a local Ray.

Each test runs a tiny grid (smoke preset, naive only, L=64: 8 cells) and checks the merged run
against an independent expansion: the cell ids of one `pytest --collect-only` over the same
options. The local test also kills one shard with SIGKILL after its first cell, checks that the
fleet reports it with the cells it left undone, and resumes it.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWEEP = ["--attn-preset", "smoke", "--attn-impls", "naive", "--attn-seq-lens", "64", "suites/test_core.py"]
# Shards load the test plugins: a fixed matmul peak (these tests check cells, not speed); the kill switch.
PLUGINS_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]),
               "PYTEST_ADDOPTS": "-p fleet_test_speed -p fleet_kill"}


@functools.cache
def one_process_cells() -> set[str]:
    """The cell ids a single sweep process collects, read from pytest's own --collect-only listing."""
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--benchmark-only", "--attn-devices", "cpu",
                           *SWEEP], cwd=ROOT, capture_output=True, text=True, timeout=300)
    ids = set(re.findall(r"::test_core\[(.+)\]$", done.stdout, flags=re.M))
    assert ids, done.stdout + done.stderr
    return ids


def fleet(tmp_path: Path, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", "fleet", "--results", str(tmp_path / "results"), "--no-report", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, **PLUGINS_ENV, **(env or {})})


def run_records(run_dir: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(run_dir.glob("cells*.jsonl")) for line in path.read_text().splitlines() if line]


def check_one_run(run_dir: Path, shards: int) -> None:
    records = run_records(run_dir)
    ids = [r["cell_id"] for r in records]
    assert len(ids) == len(set(ids)), "a cell was measured twice"
    assert set(ids) == one_process_cells()
    assert {r["run_id"] for r in records} == {run_dir.name}
    assert sorted(p.name for p in run_dir.glob("cells*.jsonl")) == [f"cells-s{i}.jsonl" for i in range(shards)]
    info = json.loads((run_dir / "run.json").read_text())
    assert info["fleet"]["complete"] and [s["status"] for s in info["fleet"]["shards"]] == ["complete"] * shards
    assert info["nodes"][0]["devices"][0]["device"] == "cpu" and sum(d["cells"] for d in info["nodes"][0]["devices"]) == len(ids)


def test_local_fleet_reports_a_killed_shard_and_resumes_it(tmp_path):
    env = {"ATTNBENCH_TEST_KILL_SHARD": "s1", "ATTNBENCH_TEST_KILL_AFTER": "1", "ATTNBENCH_TEST_KILL_ONCE": str(tmp_path / "killed")}
    first = fleet(tmp_path, "--engine", "local", "--shards", "2", "--run-id", "two", *SWEEP, env=env)
    assert first.returncode == 1, first.stdout + first.stderr
    run_dir = tmp_path / "results" / "two"
    shards = {s["shard"]: s for s in json.loads((run_dir / "run.json").read_text())["fleet"]["shards"]}
    assert shards["s0"]["status"] == "complete" and shards["s1"]["status"] == "incomplete"
    assert shards["s1"]["reason"] == "pytest was killed by SIGKILL"
    planned_s1 = (run_dir / "fleet" / "s1.cells").read_text().split("\n")[:-1]
    assert shards["s1"]["done"] == 1 and sorted(shards["s1"]["undone"]) == sorted(planned_s1[1:])
    assert "undone: core " in first.stdout and "--resume two" in first.stdout

    second = fleet(tmp_path, "--engine", "local", "--resume", "two", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "s1: 4 cells, predicted" in second.stdout and "(rerun)" in second.stdout and "s0: 4 cells" in second.stdout
    attempts = [json.loads(line) for line in (run_dir / "fleet" / "attempts.jsonl").read_text().splitlines()]
    assert [a["shard"] for a in attempts] == ["s0", "s1", "s1"]  # only the killed shard ran again
    assert attempts[2]["records_before"] == 1 and attempts[2]["records_this_attempt"] == 3  # the finished cell was not redone
    assert "resuming two: 1 cells already finished" in (run_dir / "fleet" / "s1.log").read_text()
    check_one_run(run_dir, 2)


@pytest.mark.skipif(importlib.util.find_spec("submitit") is None, reason="install .[slurm]")
def test_submitit_fleet_in_three_shards_gives_the_cells_of_one_process(tmp_path):
    done = fleet(tmp_path, "--engine", "slurm", "--submitit-cluster", "local", "--shards", "3", "--run-id", "three", *SWEEP)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "submitted: s0 → job" in done.stdout
    check_one_run(tmp_path / "results" / "three", 3)


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="install .[ray]")
def test_ray_fleet_in_two_shards_gives_the_cells_of_one_process(tmp_path):
    done = fleet(tmp_path, "--engine", "ray", "--ray-local-cpus", "2", "--shards", "2", "--run-id", "ray", *SWEEP)
    assert done.returncode == 0, done.stdout + done.stderr
    check_one_run(tmp_path / "results" / "ray", 2)


def test_a_shard_with_two_gpus_splits_its_cells_between_two_xdist_workers(tmp_path):
    """Planned for 2 shards × 2 GPU slots; shard s0 run with two (fake) GPUs: each worker runs only its GPU's listed cells."""
    from bench.fleet.plan import cells_path, collect_cells, make_plan, slot_devices
    from bench.fleet.shard import ShardJob

    slots = slot_devices(2)
    results = tmp_path / "results"
    plan = make_plan("gpus", "smoke", 2, slots, SWEEP[2:], collect_cells("smoke", slots, SWEEP[2:], results))
    plan.save(results / "gpus" / "fleet")
    shard = plan.shards[0]
    env = {**PLUGINS_ENV, "PYTEST_ADDOPTS": PLUGINS_ENV["PYTEST_ADDOPTS"] + " -p devices_fake_gpus"}
    job = ShardJob(shard.name, str(ROOT), str(results), "gpus", str(cells_path(results / "gpus" / "fleet", shard)), "smoke", slots,
                   SWEEP[2:], str(tmp_path / "s0.log"), env=env)
    assert job.run()["exit_code"] == 0, (tmp_path / "s0.log").read_text()[-3000:]
    by_file = {p.name: [json.loads(line) for line in p.read_text().splitlines()] for p in (results / "gpus").glob("cells*.jsonl")}
    assert set(by_file) == {"cells-s0-gw0.jsonl", "cells-s0-gw1.jsonl"}
    assert {r["problem"]["device"] for r in by_file["cells-s0-gw0.jsonl"]} == {"cuda:0"}
    assert {r["problem"]["device"] for r in by_file["cells-s0-gw1.jsonl"]} == {"cuda:1"}
    recorded = sorted(("core", r["cell_id"]) for rows in by_file.values() for r in rows)
    assert recorded == sorted(shard.cells) and len(shard.cells) == 4  # 8 cells over 4 slots; this shard's, each once
