"""TensorBoard with torch-tb-profiler reads the per-cell trace directories (loopback HTTP only).

Skipped with a reason when the optional 'profile' extra (tensorboard, torch-tb-profiler) is not installed.
"""

from __future__ import annotations

import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import torch

from bench.cell import Cell, CellRun
from bench.profiling.profile import ProfileOptions, ProfileSchedule, profile_cell
from bench.timing import timed_callable
from impls import Problem, get

MISSING = [name for name in ("tensorboard", "torch_tb_profiler") if importlib.util.find_spec(name) is None]
pytestmark = pytest.mark.skipif(bool(MISSING), reason=f"missing-package: {', '.join(MISSING)} "
                                                      "(pip install 'attnbench[profile]' or torch-tb-profiler tensorboard)")
PLUGIN = "/data/plugin/pytorch_profiler/"
STARTUP_SECONDS = 60


def _profile_two_cells(results: Path) -> list[dict]:
    options = ProfileOptions(results_dir=results, run_id="tb", steps=ProfileSchedule(1, 1, 2))
    problem = Problem(batch=1, seq_len=64, heads=2, head_dim=16, dtype=torch.float32, device="cpu", mode="fwd")
    q, k, v = problem.make_inputs(seed=0)
    profiles = []
    for name in ("naive", "sdpa"):
        impl = get(name)
        fn = impl.build(problem, q, k, v)
        run = CellRun(Cell("core", problem, impl), (q, k, v), timed_callable(problem, fn, q, k, v, None), fn())
        profiles.append(profile_cell(run, options))
    return profiles


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Client:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}{PLUGIN}"
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy

    def get(self, route: str, **params):
        with self.opener.open(self.base + route + ("?" + urllib.parse.urlencode(params) if params else ""), timeout=10) as rsp:
            return json.load(rsp)


@pytest.fixture
def tensorboard(tmp_path):
    results = tmp_path / "results"
    profiles = _profile_two_cells(results)
    logdir = results / "traces" / "tb"
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir), "--host", "127.0.0.1",
                             "--port", str(port), "--load_fast=false"],
                            stdout=subprocess.DEVNULL, stderr=open(tmp_path / "tensorboard.log", "w"))
    client = _Client(port)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        runs = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                runs = client.get("runs")
                if not runs["loading"] and len(runs["runs"]) == len(profiles):
                    break
            except OSError:
                pass
            time.sleep(0.5)
        log = (tmp_path / "tensorboard.log").read_text()[-2000:]
        assert runs is not None and len(runs["runs"]) == len(profiles), f"runs={runs}; tensorboard log: {log}"
        yield client, runs["runs"], profiles
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_plugin_lists_each_cell_as_a_run_with_its_views(tensorboard):
    client, runs, profiles = tensorboard
    # run names are the cell directories relative to --logdir: <suite>/<cell-id>
    assert sorted(runs) == sorted(p["trace_dir"].removeprefix("traces/tb/") for p in profiles)
    for profile in profiles:
        run = profile["trace_dir"].removeprefix("traces/tb/")
        assert {"Overview", "Operator", "Trace", "Memory"} <= set(client.get("views", run=run))
        workers = client.get("workers", run=run, view="Operator")
        assert workers == [re.match(r"^(.+?)\.\d+\.pt\.trace\.json$", name).group(1) for name in profile["trace_files"]]
        span = client.get("spans", run=run, worker=workers[0])[0]
        table = client.get("operation/table", run=run, worker=workers[0], span=span, group_by="Operation")["data"]
        plugin_calls = {row["name"]: row["calls"] for row in table}
        for op in profile["top_ops"]:
            assert plugin_calls[op["name"]] == op["calls"], op
