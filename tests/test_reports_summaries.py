"""reports' suite summaries from records: the sparse headline, its goals, and ``python -m reports summary``."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from reports.summaries import sparse, summary_text

HEADLINE = {"batch": 1, "heads": 8, "kv_heads": 8, "head_dim": 64, "dtype": "float32", "mask": "causal", "mask_kind": "causal",
            "mode": "fwd", "device": "cpu"}


def record(impl, length, seconds, peak):
    return {"suite": "sparse", "status": "ok", "impl": impl, "problem": HEADLINE | {"seq_len": length, "kv_seq_len": length},
            "time": {"median": seconds}, "peak_bytes": peak, "error": {"output": {"rel_l2": 0.1, "max_abs": 0.2}}}


def headline_records():
    lengths = [1024, 2048, 4096, 8192, 16384]
    records = [record("sdpa", n, 1e-9 * n * n, 100 * n * n) for n in lengths]  # quadratic time and memory
    records += [record(sparse.OURS, n, 2e-6 * n, 1000 * n) for n in lengths]  # linear
    records += [record(sparse.FLEX, n, 3e-6 * n, 1000 * n) for n in lengths]
    return records


def test_sparse_summary_speedups_exponents_and_goals():
    (summary,) = sparse.summarize(headline_records())
    ours = {r["L"]: r for r in summary["rows"] if r["impl"] == sparse.OURS}
    assert ours[8192]["speedup_vs_sdpa"] == pytest.approx(8192 * 1e-9 / 2e-6)
    assert summary["fits"][sparse.OURS]["time_exponent"] == pytest.approx(1.0)
    assert summary["fits"]["sdpa"]["memory_exponent"] == pytest.approx(2.0)
    met = {g["goal"]: g["met"] for g in summary["goals"]}
    assert all(met.values()) and len(met) == 5  # 4.1× at 8192, 8.2× at 16384, flex 1.5× slower, both exponents 1


def test_other_problems_and_suites_stay_out_of_the_sparse_summary():
    other = record(sparse.OURS, 1024, 1.0, 1) | {"problem": HEADLINE | {"seq_len": 1024, "kv_seq_len": 1024, "heads": 4}}
    linear = record("linear", 1024, 1.0, 1) | {"suite": "linear"}
    (summary,) = sparse.summarize(headline_records() + [other, linear])
    assert {r["impl"] for r in summary["rows"]} == {"sdpa", sparse.OURS, sparse.FLEX} and len(summary["rows"]) == 15
    assert summary_text("sparse", [linear]) is None


def test_summary_command_prints_the_tables_and_writes_them(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in headline_records()))
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.run([sys.executable, "-m", "reports", "summary", "sparse", str(run), "--out", str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"| {sparse.OURS} | 8192 | 16.4 ms | 4.10× |" in proc.stdout
    assert json.loads((out / "sparse_summary.json").read_text())[0]["fits"][sparse.OURS]["time_exponent"] == pytest.approx(1.0)
    bad = subprocess.run([sys.executable, "-m", "reports", "summary", "linear", str(run)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "nothing to summarize for the linear suite" in bad.stderr and "Traceback" not in bad.stderr
