"""Resuming a run measured with --attn-repeat redoes only the repeats it had not finished."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMALL = ["--attn-preset", "smoke", "--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-heads", "2",
         "--attn-kv-heads", "h", "--attn-head-dims", "16", "--attn-masks", "causal", "--attn-modes", "fwd",
         "--attn-no-report", "--attn-no-store", "--attn-repeat", "2", "-q", "suites/test_core.py"]


def sweep(results: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.pop("ATTNBENCH_RUN_ID", None)
    return subprocess.run([sys.executable, "-m", "pytest", "--benchmark-only", "--attn-results", str(results), *SMALL, *args],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)


def records(run: Path) -> list[dict]:
    return [json.loads(line) for path in sorted(run.glob("cells*.jsonl")) for line in path.read_text().splitlines()]


def test_resume_redoes_only_the_unfinished_repeat(tmp_path):
    results = tmp_path / "results"
    first = sweep(results)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    (run,) = [p for p in results.iterdir() if p.is_dir() and any(p.glob("cells*.jsonl"))]
    done = records(run)
    assert sorted(r["repeat"] for r in done) == [1, 2]
    # The run stopped during repeat 2: only repeat 1's record survived.
    (cells_file,) = run.glob("cells*.jsonl")
    cells_file.write_text("".join(json.dumps(r) + "\n" for r in done if r["repeat"] == 1))

    resumed = sweep(results, "--attn-resume", str(run))
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    assert "1 passed" in resumed.stdout, resumed.stdout[-2000:]
    assert sorted(r["repeat"] for r in records(run)) == [1, 2]


def test_resuming_a_finished_run_has_nothing_to_do_and_exits_0(tmp_path):
    results = tmp_path / "results"
    assert sweep(results).returncode == 0
    (run,) = [p for p in results.iterdir() if p.is_dir() and any(p.glob("cells*.jsonl"))]
    again = sweep(results, "--attn-resume", str(run))
    assert again.returncode == 0, again.stdout[-2000:] + again.stderr[-2000:]
    assert "2 cells already finished" in again.stdout + again.stderr
    assert len(records(run)) == 2
