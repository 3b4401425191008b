"""--attn-profile end to end: a real ``pytest --benchmark-only --attn-profile`` run over two small cells.

The trace files are checked as TensorBoard's plugin and Perfetto read them (names, Chrome trace
JSON), and the record's operator table is recomputed from the trace's own events here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from collections import defaultdict
from pathlib import Path

import pytest
import torch

from bench.cell import Cell, CellRun
from bench.profiling.profile import ProfileOptions, ProfileSchedule, profile_cell, safe_name
from bench.timing import timed_callable
from impls import Problem, get

ROOT = Path(__file__).resolve().parent.parent
# tensorboard_trace_handler's file name, and the pattern torch-tb-profiler matches (worker, span timestamp).
TRACE_NAME = re.compile(r"^(?P<worker>.+?)\.(?P<timestamp>\d+)\.pt\.trace\.json$")
ATTENTION_OPS = {"naive": {"aten::bmm", "aten::softmax"}, "sdpa": {"aten::scaled_dot_product_attention"}}

# Wraps the post-timing hooks (profiling among them): writes what record["time"] held just before and just after they ran.
SPY_PLUGIN = textwrap.dedent('''
    import copy, json, os

    import pytest


    @pytest.hookimpl(wrapper=True)
    def pytest_attn_post_timing(run):
        before = copy.deepcopy(run.record.get("time"))
        result = yield
        with open(os.environ["ATTN_SPY_FILE"], "a") as fh:
            fh.write(json.dumps({"cell": run.cell.id, "hook": "post_timing", "fields": sorted(k for r in result if r for k in r),
                                 "before": before, "after": run.record.get("time")}) + "\\n")
        return result
''')


def _run_sweep(tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp), str(ROOT), os.environ.get("PYTHONPATH", "")]),
           "ATTN_SPY_FILE": str(tmp / "spy.jsonl")}
    env.pop("ATTNBENCH_RUN_ID", None)
    command = [sys.executable, "-m", "pytest", "--benchmark-only", "suites/test_core.py", "-q", "-p", "no:cacheprovider",
               "--attn-preset", "smoke", "--attn-impls", "naive,sdpa", "--attn-seq-lens", "128", "--attn-masks", "none",
               "--attn-modes", "fwd", "--attn-kv-heads", "h", "--attn-results", str(tmp / "results"), "--attn-no-report", *extra]
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("profiled")
    (tmp / "profiling_spy.py").write_text(SPY_PLUGIN)
    proc = _run_sweep(tmp, "-p", "profiling_spy", "--attn-profile", "--attn-memory-snapshot")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    results = tmp / "results"
    records = [json.loads(line) for path in results.glob("*/cells*.jsonl") for line in path.read_text().splitlines()]
    spy = [json.loads(line) for line in (tmp / "spy.jsonl").read_text().splitlines()]
    benchmarks = [b for path in (results / "benchmarks").rglob("*.json") for b in json.loads(path.read_text())["benchmarks"]]
    return {"results": results, "records": records, "spy": spy, "benchmarks": benchmarks, "stdout": proc.stdout}


def _trace_file(sweep, record) -> Path:
    trace_dir = sweep["results"] / record["profile"]["trace_dir"]
    files = sorted(trace_dir.glob("*.pt.trace.json"))
    assert len(files) == 1, files
    return files[0]


def _cpu_ops(trace: dict) -> list[dict]:
    return [e for e in trace["traceEvents"] if e.get("cat") == "cpu_op" and e.get("ph") == "X"]


def _self_times(ops: list[dict]) -> dict[str, float]:
    """Self time per operator name: an event's duration minus its direct children's, nesting by time per thread."""
    self_us: dict[str, float] = defaultdict(float)
    by_thread = defaultdict(list)
    for event in ops:
        by_thread[(event["pid"], event["tid"])].append(event)
    for events in by_thread.values():
        events.sort(key=lambda e: (e["ts"], -e["dur"]))
        stack: list[dict] = []
        for event in events:
            while stack and event["ts"] >= stack[-1]["ts"] + stack[-1]["dur"]:
                stack.pop()
            if stack:
                self_us[stack[-1]["name"]] -= event["dur"]
            self_us[event["name"]] += event["dur"]
            stack.append(event)
    return self_us


def test_two_cells_profiled(sweep):
    assert sorted(r["impl"] for r in sweep["records"]) == ["naive", "sdpa"]
    assert all(r["status"] == "ok" and r["profile"]["status"] == "ok" for r in sweep["records"])
    assert "tensorboard --logdir" in sweep["stdout"]


def test_trace_files_have_the_names_tensorboard_expects(sweep):
    for record in sweep["records"]:
        profile = record["profile"]
        run_id, suite = record["run_id"], record["suite"]
        assert profile["trace_dir"] == f"traces/{run_id}/{suite}/{safe_name(record['cell_id'])}"
        path = _trace_file(sweep, record)
        assert TRACE_NAME.match(path.name), path.name
        assert profile["trace_files"] == [path.name]
        trace = json.loads(path.read_text())
        assert isinstance(trace["traceEvents"], list)
        assert all({"ph", "name"} <= set(e) for e in trace["traceEvents"])
        names = {e["name"] for e in _cpu_ops(trace)}
        assert ATTENTION_OPS[record["impl"]] <= names, sorted(names)
        assert profile["kernels"] == 0  # a CPU run launches no device kernels
        assert profile["activities"] == ["cpu"]


def test_top_ops_match_the_trace(sweep):
    for record in sweep["records"]:
        profile = record["profile"]
        ops = _cpu_ops(json.loads(_trace_file(sweep, record).read_text()))
        active = profile["steps"]["active"]
        calls: dict[str, int] = defaultdict(int)
        for event in ops:
            calls[event["name"]] += 1
        self_us = _self_times(ops)
        top = profile["top_ops"]
        assert 0 < len(top) <= 10 and profile["ops_total"] == len(calls)
        for op in top:
            assert op["calls"] == calls[op["name"]], op
            assert op["calls"] % active == 0, op  # the same operators every active step
            assert op["self_cpu_us"] == pytest.approx(self_us[op["name"]], rel=0.02, abs=2.0), op
        assert [op["self_cpu_us"] for op in top] == sorted((op["self_cpu_us"] for op in top), reverse=True)
        from_trace = sorted(self_us, key=self_us.get, reverse=True)
        assert top[0]["name"] == from_trace[0]
        assert profile["self_cpu_us_total"] == pytest.approx(sum(self_us.values()), rel=0.02)
    naive = next(r for r in sweep["records"] if r["impl"] == "naive")["profile"]
    assert {"aten::bmm": 2 * naive["steps"]["active"]}.items() <= {o["name"]: o["calls"] for o in naive["top_ops"]}.items()


def test_memory_artifacts(sweep):
    for record in sweep["records"]:
        profile = record["profile"]
        assert profile["profiler_peak_bytes"] > 0
        assert (sweep["results"] / profile["memory_timeline"]).read_text().lstrip().lower().startswith("<html")
        times, sizes = json.loads((sweep["results"] / profile["memory_timeline_data"]).read_text())
        assert len(times) == len(sizes) > 0 and max(sum(s) for s in sizes) > 0
        # CPU: no allocator snapshot, and the record says why
        assert profile["memory_snapshot"] is None and profile["memory_snapshot_reason_code"] == "not-cuda"
        assert "cpu" in profile["memory_snapshot_reason"]


def test_profiling_runs_after_timing_and_leaves_it_alone(sweep):
    spied = [s for s in sweep["spy"] if "profile" in s["fields"]]
    assert len(spied) == 2
    records = {r["cell_id"]: r for r in sweep["records"]}
    for entry in spied:
        before = entry["before"]
        assert before["rounds"] >= 1 and len(before["data"]) == before["rounds"]  # stats existed when the hook ran
        assert entry["after"] == before
        assert records[entry["cell"]]["time"] == before
    # pytest-benchmark's own saved statistics saw only the timed rounds, not the profiler's calls.
    for bench in sweep["benchmarks"]:
        cell_id = bench["name"].split("[", 1)[1].rstrip("]")
        timed = records[cell_id]["time"]
        assert bench["stats"]["rounds"] == timed["rounds"]
        assert bench["stats"]["median"] == pytest.approx(timed["median"], rel=1e-12)


def test_bad_profile_steps_is_a_usage_error(tmp_path):
    proc = _run_sweep(tmp_path, "--attn-profile", "--attn-profile-steps", "1,x", "--collect-only")
    assert proc.returncode == 4
    assert "--attn-profile-steps: '1,x' is not valid" in proc.stderr + proc.stdout


@pytest.mark.parametrize("text, expected", [("3", ProfileSchedule(1, 1, 3)), ("0,2,5", ProfileSchedule(0, 2, 5))])
def test_schedule_parse(text, expected):
    assert ProfileSchedule.parse(text) == expected


@pytest.mark.parametrize("text", ["", "0", "1,1", "1,1,0", "-1,1,3", "a"])
def test_schedule_parse_rejects(text):
    with pytest.raises(ValueError, match="--attn-profile-steps"):
        ProfileSchedule.parse(text)


def test_safe_name():
    assert safe_name("padding[lengths=300/150]+causal") == "padding_lengths=300_150_+causal"


def test_hook_calls_the_cell_schedule_plus_one_times(tmp_path):
    """In process: the profiler calls the timed callable wait+warmup+active times, plus one for the memory timeline."""
    problem = Problem(batch=1, seq_len=32, heads=2, head_dim=8, dtype=torch.float32, device="cpu", mode="fwd")
    q, k, v = problem.make_inputs(seed=0)
    fn = get("naive").build(problem, q, k, v)
    inner = timed_callable(problem, fn, q, k, v, None)
    count = 0

    def call():
        nonlocal count
        count += 1
        return inner()

    record = {"time": {"rounds": 3, "data": [1.0, 2.0, 3.0]}}
    run = CellRun(Cell("unit", problem, get("naive")), (q, k, v), call, fn(), record)
    steps = ProfileSchedule(1, 1, 2)
    profile = profile_cell(run, ProfileOptions(results_dir=tmp_path, run_id="r1", steps=steps))
    assert count == steps.calls + 1
    assert record == {"time": {"rounds": 3, "data": [1.0, 2.0, 3.0]}}
    assert profile["status"] == "ok" and {o["name"]: o["calls"] for o in profile["top_ops"]}["aten::bmm"] == 4
    assert (tmp_path / profile["trace_dir"]).is_dir() and profile["trace_dir"].startswith("traces/r1/unit/naive-")
