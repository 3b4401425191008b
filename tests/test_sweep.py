"""The sweep end to end, in a subprocess: records, storage, bad input, failing cells, interruption."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--attn-preset", "smoke", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h",
         "--attn-head-dims", "16", "--attn-masks", "causal", "--attn-modes", "fwd", "--attn-no-report"]


def sweep(tmp_path: Path, *args: str, plugin: bool = False) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]))
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", "--attn-results", str(tmp_path / "results"),
               "--benchmark-storage", f"file://{tmp_path / 'storage'}", *args]
    if plugin:
        command[4:4] = ["-p", "faulty_impls"]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def records(tmp_path: Path) -> list[dict]:
    files = sorted((tmp_path / "results").glob("*/cells*.jsonl"))
    return [json.loads(line) for f in files for line in f.read_text().splitlines()]


def test_smoke_sweep_records_every_cell(tmp_path):
    result = sweep(tmp_path, *SMALL, "--attn-impls", "naive,sdpa,sdpa-math,sdpa-efficient")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = records(tmp_path)
    assert [r["impl"] for r in rows] == ["naive", "sdpa", "sdpa-math", "sdpa-efficient"]
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 3
    for r in ok:
        assert r["time"]["median"] > 0 and r["time"]["rounds"] >= 2
        assert r["flops"] == 2 * (64 * 65 // 2) * 2 * 16 * 2  # 2·P·(d_qk+d_v)·H, causal pairs only
        assert r["flops_per_s"] == pytest.approx(r["flops"] / r["time"]["median"])
        assert r["error"]["output"]["max_abs"] < 1e-5 and r["peak_bytes"] > 0
        assert r["peak_method"] == "cpu-profiler-memory-events"
        assert r["problem"]["mask"] == "causal" and r["machine"]["torch"]
    skipped = [r for r in rows if r["status"] == "skipped"]
    assert skipped[0]["impl"] == "sdpa-efficient" and skipped[0]["reason_code"] == "backend"
    run_dirs = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]  # beside them: the results store, attnbench.sqlite
    assert (run_dirs[0] / "run.json").exists()
    saved = list((tmp_path / "storage").rglob("*.json"))
    assert saved, "pytest-benchmark storage was not written"
    benchmarks = json.loads(saved[0].read_text())["benchmarks"]
    assert {b["extra_info"]["impl"] for b in benchmarks} == {"naive", "sdpa", "sdpa-math"}
    assert "results:" in result.stdout


@pytest.mark.parametrize("args,message", [
    (["--attn-impls", "nope"], "unknown implementation 'nope'"),
    (["--attn-seq-lens", "-5"], "--attn-seq-lens: -5 must be a positive integer"),
    (["--attn-head-dims", "0"], "--attn-head-dims: 0 must be a positive integer"),
    (["--attn-heads", "8", "--attn-kv-heads", "3"], "does not divide"),
    (["--attn-dtypes", "float8"], "unknown dtype 'float8'"),
    (["--attn-devices", "tpu"], "unknown device 'tpu'"),
    (["--attn-devices", "cuda:3"], "not available"),
    (["--attn-preset", "huge"], "unknown preset 'huge'"),
    (["--attn-masks", "diagonal"], "unknown mask 'diagonal'"),
    (["--attn-modes", "bwd"], "unknown mode 'bwd'"),
])
def test_bad_input_is_a_one_line_usage_error(tmp_path, args, message):
    result = sweep(tmp_path, "--attn-preset", "smoke", *args)
    assert result.returncode == 4, result.stdout + result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert len([line for line in result.stderr.splitlines() if line.strip()]) == 1, result.stderr


def test_failing_and_oom_cells_are_recorded_and_the_sweep_goes_on(tmp_path):
    result = sweep(tmp_path, *SMALL, "--attn-impls", "test-raises,test-oom,test-wrong,naive", plugin=True)
    assert result.returncode == 1, result.stdout[-3000:]
    by_impl = {r["impl"]: r for r in records(tmp_path)}
    assert by_impl["test-raises"]["status"] == "failed"
    assert "deliberate failure" in by_impl["test-raises"]["reason"]
    assert by_impl["test-oom"]["status"] == "oom"
    assert by_impl["test-wrong"]["status"] == "failed" and "exceeds the torch.float32 tolerance" in by_impl["test-wrong"]["reason"]
    assert by_impl["naive"]["status"] == "ok"
    assert "2 failed, 1 passed, 1 skipped" in result.stdout, result.stdout[-2000:]


def test_interrupted_run_keeps_finished_cells(tmp_path):
    # --maxfail stops the session at the failing cell, like an interruption: the cell before it is kept.
    result = sweep(tmp_path, *SMALL, "--attn-impls", "naive,test-raises,sdpa", "--maxfail", "1", plugin=True)
    assert result.returncode == 1
    assert [r["impl"] for r in records(tmp_path)] == ["naive", "test-raises"]


def test_plain_pytest_does_not_collect_the_sweep():
    result = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "suites/test_core.py", "tests/test_oracle.py"],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    # Named explicitly, the suite is collected; the default test run (testpaths) leaves it out.
    assert "test_core[" in result.stdout
    default = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--ignore=tests/test_sweep.py"],
                             cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "test_core[" not in default.stdout and "tests/test_oracle.py" in default.stdout
    sweep_only = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "--benchmark-only"],
                                cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "test_core[" in sweep_only.stdout and "tests/test_oracle.py" not in sweep_only.stdout
