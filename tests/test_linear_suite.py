"""The linear suite's uniform-attention baseline, and reports' summary of linear-suite records."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, reference
from reports.summaries.linear import markdown, summarize
from suites.test_linear import uniform_output


@pytest.mark.parametrize("mask", [None, "causal", "padding[lengths=40/9]"])
def test_uniform_output_is_attention_with_equal_logits(mask):
    """Uniform attention is softmax attention with q = 0: the float64 oracle computes it independently."""
    p = Problem(batch=2, seq_len=40, kv_seq_len=40 if mask != "causal" else 30, heads=4, kv_heads=2, head_dim=8, mask=mask)
    q, k, v = p.make_inputs(seed=0)
    rows = torch.tensor([0, 5, 29, 39])
    expected = reference(p, torch.zeros_like(q), k, v, rows=rows)
    assert torch.allclose(uniform_output(p, v, rows), expected, atol=1e-12)


def record(impl, length, seconds, mask="none", mode="fwd", peak=None):
    problem = {"batch": 1, "heads": 8, "kv_heads": 8, "head_dim": 64, "dtype": "float32", "seq_len": length,
               "kv_seq_len": length, "mask_kind": mask, "mode": mode}
    return {"suite": "linear", "status": "ok", "impl": impl, "problem": problem, "time": {"median": seconds},
            "peak_bytes": peak or 1000 * length, "error": {"output": {"rel_l2": 0.5}}, "extra": {"uniform_error": {"rel_l2": 0.8}}}


def test_summary_speedup_exponents_and_crossover():
    lengths = [512, 1024, 2048, 4096, 16384]
    records = [record("sdpa", n, 1e-9 * n * n) for n in lengths]  # quadratic
    records += [record("linear", n, 1e-5 * n) for n in lengths]  # linear: crosses sdpa at n = 10^4
    records.append({"suite": "linear", "status": "skipped", "impl": "sdpa", "problem": records[0]["problem"] | {"seq_len": 32768}})
    (row,) = summarize(records)
    assert row["impl"] == "linear" and row["reference_length"] == 16384
    assert row["speedup"] == pytest.approx(16384 * 1e-9 / 1e-5)
    assert row["time_exponent"] == pytest.approx(1.0) and row["memory_exponent"] == pytest.approx(1.0)
    assert 4096 < row["crossover_length"] < 16384 and row["uniform_rel_l2"] == 0.8
    assert "| linear |" in markdown([row])


def test_summary_counts_a_repeated_cell_once_its_latest_measurement():
    """Two runs measured linear at L=1024: the later one (by timestamp) is the one summarized, whatever the order."""
    lengths = [1024, 2048, 4096]
    records = [record("sdpa", n, 1e-9 * n * n) for n in lengths] + [record("linear", n, 1e-6 * n) for n in lengths]
    stale = record("linear", 4096, 1.0) | {"timestamp": 1.0, "run_id": "a"}
    fresh = record("linear", 4096, 2e-3) | {"timestamp": 2.0, "run_id": "b"}
    records = [r | {"timestamp": 1.5, "run_id": "a"} for r in records if r["problem"]["seq_len"] != 4096 or r["impl"] == "sdpa"]
    for ordered in ([stale, fresh], [fresh, stale]):
        (row,) = summarize(records + ordered)
        assert row["time_s"] == 2e-3 and row["reference_length"] == 4096


def test_the_linear_suite_runs_end_to_end_with_its_uniform_baseline(tmp_path):
    """The suite's extra metric shares the oracle's cached answer with the error check: a sweep through it."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    command = [sys.executable, "-m", "pytest", "suites/test_linear.py", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               "--attn-preset", "linear", "--attn-impls", "linear,performer[m=16]", "--attn-seq-lens", "64", "--attn-heads", "2",
               "--attn-head-dims", "16", "--attn-masks", "causal", "--attn-modes", "fwd", "--attn-no-report",
               "--attn-results", str(tmp_path / "results"), "--benchmark-storage", f"file://{tmp_path / 'storage'}"]
    done = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [json.loads(line) for f in (tmp_path / "results").glob("*/cells*.jsonl") for line in f.read_text().splitlines()]
    assert {r["impl"] for r in rows} == {"linear", "performer[m=16]"} and all(r["status"] == "ok" for r in rows)
    for r in rows:
        assert r["error"]["logit_max"] > 0 and "uniform_error" in json.dumps(r)
