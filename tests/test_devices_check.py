"""scripts/gpu_check.sh without a GPU: its plan, its 'no CUDA' message, and a full quick run on the CPU."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from impls import Problem

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "gpu_check.sh"


def load_gpu_check():
    spec = importlib.util.spec_from_file_location("gpu_check", ROOT / "scripts" / "gpu_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


gpu_check = load_gpu_check()
import gpu_check_tables  # noqa: E402 - beside gpu_check.py, importable once it is loaded
import gpu_check_timing  # noqa: E402


def run_script(*args: str, out: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)  # the interpreter running the tests, venv or not
    env.pop("ATTNBENCH_RUN_ID", None)
    if out is not None:
        env["ATTNBENCH_OUT"] = str(out)
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown where there is no GPU")
def test_without_cuda_it_says_so_in_one_line_and_exits_2(tmp_path):
    result = run_script(out=tmp_path / "out")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "no CUDA device is visible" in result.stderr and "--device cpu --quick" in result.stderr
    assert not (tmp_path / "out").exists()


def test_dry_run_prints_the_plan_and_runs_nothing(tmp_path):
    result = run_script("--dry-run", out=tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert "tests/test_devices_cuda.py" in result.stdout and "--attn-cuda-graphs" in result.stdout
    assert f"output folder: {tmp_path / 'out'}" in result.stdout  # $ATTNBENCH_OUT is honoured
    assert not (tmp_path / "out").exists()


def test_bad_device_is_refused(tmp_path):
    result = run_script("--device", "tpu", out=tmp_path)
    assert result.returncode == 2 and "--device 'tpu'" in result.stderr


def test_quick_cpu_run_writes_results_and_prints_the_tables_last(tmp_path):
    out = tmp_path / "check"
    result = run_script("--device", "cpu", "--quick", "--no-xdist", "--budget-s", "240", out=out)  # xdist: test_devices_xdist.py
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert lines[-1] == "gpu_check: PASS"
    assert any(line.startswith("gpu_check summary") for line in lines[-8:])
    summary = json.loads((out / "summary.json").read_text())
    steps = {s["name"]: s for s in summary["steps"]}
    assert set(steps) == {"correctness", "sweep", "crosscheck"}
    outcomes = steps["correctness"]["data"]["outcomes"]
    assert any(o["impl"] == "naive" and o["outcome"] == "passed" for o in outcomes)
    assert not [o for o in outcomes if o["outcome"] == "failed"]
    records = [json.loads(line) for f in (out / "results").glob("*/cells*.jsonl") for line in f.read_text().splitlines()]
    assert {r["impl"] for r in records} == {"naive", "sdpa", "sdpa-math"} and all(r["status"] == "ok" for r in records)
    rows = json.loads((out / "crosscheck.json").read_text())["rows"]
    assert rows and all(r["reference"] == "torch.utils.benchmark" and r["reference_s"] > 0 for r in rows)
    assert (out / "env.json").exists() and (out / "correctness.xml").exists()


# --- the script's pieces ----------------------------------------------------------------------------------------
def test_junit_ids_are_split_even_when_names_contain_dashes(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text("""<testsuites><testsuite>
      <testcase name="test_matches_the_oracle_on_the_device[sdpa-flash-padding-cross-bfloat16-fwd+bwd]"/>
      <testcase name="test_matches_the_oracle_on_the_device[custom[score=dot]-causal+padding-d80-float16-fwd]">
        <failure message="assert 0.5 &lt;= 0.01"/></testcase>
      <testcase name="test_matches_the_oracle_on_the_device[xformers-gqa-causal-float32-fwd]">
        <skipped message="missing-package: xformers is not installed"/></testcase>
    </testsuite></testsuites>""")
    outcomes = gpu_check.correctness_outcomes(junit, gpu_check.correctness_case_names())
    assert [(o["impl"], o["case"], o["dtype"], o["mode"], o["outcome"]) for o in outcomes] == [
        ("sdpa-flash", "padding-cross", "bfloat16", "fwd+bwd", "passed"),
        ("custom[score=dot]", "causal+padding-d80", "float16", "fwd", "failed"),
        ("xformers", "gqa-causal", "float32", "fwd", "skipped")]
    table = gpu_check_tables.correctness_table(outcomes)
    assert "1 FAIL" in table and "0 ok 1 skip" in table


def test_a_cell_is_rebuilt_from_its_record():
    problem = Problem(batch=2, seq_len=96, kv_seq_len=80, heads=4, kv_heads=2, head_dim=32, dtype="bfloat16", mask="padding",
                      mode="fwd+bwd")
    assert Problem.from_dict(problem.to_dict()) == problem  # what gpu_check_timing.crosscheck_cell rebuilds
    scaled = problem.with_(scale=0.3)
    assert Problem.from_dict(scaled.to_dict()) == scaled


def test_crosscheck_picks_a_spread_of_measured_cells():
    def rec(impl, length, mode, status="ok"):
        return {"impl": impl, "status": status, "problem": {"seq_len": length, "mode": mode}}

    records = [rec("sdpa-flash", 1024, "fwd"), rec("sdpa-flash", 4096, "fwd"), rec("sdpa-flash", 4096, "fwd+bwd"),
               rec("flex", 4096, "fwd"), rec("naive", 1024, "fwd"), rec("sdpa-cudnn", 4096, "fwd", status="skipped"),
               rec("sdpa-efficient", 4096, "fwd")]
    chosen = [(r["impl"], r["problem"]["seq_len"], r["problem"]["mode"]) for r in gpu_check_timing.pick_crosscheck_cells(records)]
    assert chosen == [("sdpa-flash", 4096, "fwd"), ("sdpa-flash", 4096, "fwd+bwd"), ("sdpa-efficient", 4096, "fwd"), ("naive", 1024, "fwd")]


def test_do_bench_absent_is_a_reason_not_a_crash(monkeypatch):
    monkeypatch.setattr(gpu_check_timing.importlib.util, "find_spec", lambda name: None)
    assert gpu_check_timing.do_bench_seconds(lambda: None) == (None, "missing-package: triton")


def test_do_bench_median_in_seconds(monkeypatch):
    import types

    calls = {}

    def do_bench(fn, warmup=25, rep=100, grad_to_none=None, quantiles=None, return_mode="mean"):
        calls.update(warmup=warmup, rep=rep, return_mode=return_mode)
        return 1.5

    testing = types.ModuleType("triton.testing")
    testing.do_bench = do_bench
    monkeypatch.setitem(sys.modules, "triton", types.ModuleType("triton"))
    monkeypatch.setitem(sys.modules, "triton.testing", testing)
    monkeypatch.setattr(gpu_check_timing.importlib.util, "find_spec", lambda name: object())
    assert gpu_check_timing.do_bench_seconds(lambda: None) == (1.5e-3, "triton.testing.do_bench")
    assert calls == {"warmup": 25, "rep": 100, "return_mode": "median"}
