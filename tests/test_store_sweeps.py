"""Sweeps fill the store at their end: two sweeps ending together lose nothing, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select
from store_backends import postgres_cluster, store_url  # noqa: F401 - fixtures

from store.db import open_store
from store.schema import cells, runs

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-preset", "smoke", "--attn-impls", "naive,sdpa", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h",
        "--attn-head-dims", "16", "--attn-masks", "causal,none", "--attn-modes", "fwd", "--attn-no-report"]


def start_sweep(results: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               "--attn-results", str(results), *TINY, *extra]
    env = {k: v for k, v in os.environ.items() if k not in ("ATTNBENCH_RUN_ID", "ATTNBENCH_STORE")}
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def jsonl_lines(results: Path) -> int:
    return sum(1 for path in results.glob("*/cells*.jsonl") for line in path.read_text().splitlines() if line.strip())


def test_two_sweeps_ending_together_lose_nothing(store_url, tmp_path):  # noqa: F811
    sweeps = [start_sweep(tmp_path / f"results-{i}", "--attn-store", store_url) for i in range(2)]
    outputs = [s.communicate(timeout=600)[0] for s in sweeps]
    assert [s.returncode for s in sweeps] == [0, 0], outputs
    for output in outputs:
        assert "store: " in output and " cell(s) added to " in output, output
    lines = jsonl_lines(tmp_path / "results-0") + jsonl_lines(tmp_path / "results-1")
    engine = open_store(store_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(cells)).scalar() == lines == 8
        assert conn.execute(select(func.count()).select_from(runs)).scalar() == 2
    engine.dispose()


def test_a_sweep_whose_store_is_down_keeps_its_run_and_says_how_to_ingest_it(tmp_path):
    sweep = start_sweep(tmp_path / "results", "--attn-impls", "naive", "--attn-store", "postgresql://attnbench@127.0.0.1:9/none")
    output = sweep.communicate(timeout=600)[0]
    assert sweep.returncode == 0, output
    line = next(line for line in output.splitlines() if line.startswith("store: "))
    assert "not written" in line and "python -m reports ingest" in line and jsonl_lines(tmp_path / "results") == 2
