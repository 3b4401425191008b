"""Synthetic result records and files for the report tests (shaped like bench/session.py and bench/run_cell.py write them).

The helpers are imported by the other test_reports*/test_browser* modules; the tests here check that the
synthetic records keep the real schema's keys, so the report tests keep testing what a run writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

SCHEMA_KEYS = ("schema", "run_id", "suite", "cell_id", "preset", "timestamp", "commit", "impl", "impl_base", "family", "exact",
               "impl_version", "params", "problem", "device_name", "machine", "status", "reason_code", "reason")
MEASURED_KEYS = ("predicted_call_seconds", "memory_estimate_bytes", "build_ms", "warmup_ms", "error", "tolerance", "peak_bytes",
                 "peak_method", "time", "flops", "device_peak_flops", "flops_per_s", "peak_fraction", "bytes_per_s")


def problem(seq_len: int, heads: int = 8, kv_heads: int | None = None, head_dim: int = 64, batch: int = 1, dtype: str = "float32",
            mask: str = "causal", mode: str = "fwd", device: str = "cpu", **extra) -> dict:
    return {"batch": batch, "seq_len": seq_len, "kv_seq_len": seq_len, "heads": heads, "kv_heads": kv_heads or heads,
            "head_dim": head_dim, "dtype": dtype, "device": device, "mask": mask, "mask_kind": mask.split("[")[0], "dropout": 0.0,
            "mode": mode, "scale": 1 / math.sqrt(head_dim), "inputs": "gaussian", **extra}


def record(impl: str, seq_len: int, *, time: float | None = 1e-3, memory: int | None = 1 << 20, error: float | None = 3e-7,
           status: str = "ok", family: str = "exact", exact: bool = True, host: str = "vm", device_name: str = "AMD EPYC",
           run_id: str = "20260101-000000-vm", suite: str = "core", reason_code: str | None = None, reason: str | None = None,
           params: dict | None = None, spread: float = 0.05, **problem_args) -> dict:
    """One cell record; ``time`` is the median seconds per call (min/max ± ``spread``); None leaves a metric out."""
    p = problem(seq_len, **problem_args)
    pid = "-".join(str(p[k]) for k in ("batch", "heads", "kv_heads", "seq_len", "head_dim", "dtype", "mask", "mode", "device"))
    pid += "".join(f"-{k}{v}" for k, v in problem_args.items() if k not in p or k in ("model_dim",))
    rec = {
        "schema": 1, "run_id": run_id, "suite": suite, "cell_id": f"{impl}-{pid}", "preset": "cpu", "timestamp": 1767225600.0,
        "commit": "0123456789ab", "impl": impl, "impl_base": impl.split("[")[0], "family": family, "exact": exact, "impl_version": "1",
        "params": params or {}, "problem": p, "device_name": device_name,
        "machine": {"host": host, "cpu": "AMD EPYC", "torch": "2.13.0+cpu", "cuda": None, "driver": None, "xformers": None},
        "status": status, "reason_code": reason_code, "reason": reason,
    }
    if status != "ok":
        return rec
    flops = 4.0 * p["batch"] * p["heads"] * seq_len * seq_len * p["head_dim"]
    rec.update(predicted_call_seconds=time, memory_estimate_bytes=memory, build_ms=0.01, warmup_ms=1.5,
               tolerance={"max_abs": 5e-5, "rel_l2": 1e-5} if exact else None, peak_method="cpu-profiler-memory-events",
               flops=flops, device_peak_flops=1e11, bytes_per_s=1e9)
    if error is not None:
        rec["error"] = {"output": {"max_abs": error * 3, "rel_l2": error, "finite": True}, "rows_checked": seq_len}
    if memory is not None:
        rec["peak_bytes"] = memory
    if time is not None:
        rec["time"] = {"min": time * (1 - spread), "max": time * (1 + spread), "mean": time, "stddev": time * spread / 2, "median": time,
                       "iqr": time * spread, "q1": time * (1 - spread / 2), "q3": time * (1 + spread / 2), "rounds": 5, "iterations": 1,
                       "ops": 1 / time if time else None, "data": [time * (1 + spread * (i - 2) / 2) for i in range(5)]}
        if time:
            rec["flops_per_s"] = flops / time
            rec["peak_fraction"] = flops / time / 1e11
    return rec


def write_run(folder: Path, records: list[dict], preset: str = "cpu", machine: dict | None = None) -> Path:
    """A run folder as bench/writer.py writes it: run.json and cells.jsonl."""
    folder.mkdir(parents=True, exist_ok=True)
    run_id = records[0]["run_id"] if records else folder.name
    info = {"schema": 1, "run_id": run_id, "preset": preset, "started": "2026-01-01T00:00:00", "commit": "0123456789ab",
            "machine": machine or {"host": "vm", "cpu": "AMD EPYC", "torch": "2.13.0+cpu"}}
    (folder / "run.json").write_text(json.dumps(info, indent=2))
    (folder / "cells.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return folder


def dense_sweep(run_id: str = "20260101-000000-vm", host: str = "vm", device: str = "cpu", device_name: str = "AMD EPYC",
                scale: float = 1.0, lengths=(512, 1024, 2048, 4096)) -> list[dict]:
    """A small sweep with known laws: naive ∝ L², sdpa ∝ L² (faster), a linear approximation ∝ L that crosses sdpa at L=1024."""
    records = []
    common = dict(run_id=run_id, host=host, device=device, device_name=device_name)
    for length in lengths:
        records.append(record("naive", length, time=scale * 4e-9 * length ** 2, memory=8 * length ** 2, **common))
        records.append(record("sdpa", length, time=scale * 1e-9 * length ** 2, memory=600 * length, **common))
        records.append(record("linear[m=64]", length, time=scale * 1.024e-6 * length, memory=400 * length, error=2e-2, family="linear",
                              exact=False, params={"m": 64}, **common))
    return records


def test_synthetic_records_have_the_schema_keys():
    rec = record("sdpa", 1024)
    assert set(SCHEMA_KEYS) | set(MEASURED_KEYS) <= set(rec)
    skipped = record("naive", 8192, status="skipped", reason_code="budget", reason="predicted 9 s per call exceeds the 3 s budget")
    assert set(SCHEMA_KEYS) <= set(skipped) and "time" not in skipped


def test_synthetic_records_match_what_the_session_writes():
    """Keys of a real base record (bench.session) are all present in the synthetic one, problem fields included."""
    import pytest

    torch = pytest.importorskip("torch")
    from bench.cell import Cell
    from impls import Problem, get

    real_problem = Problem(batch=1, seq_len=64, heads=2, head_dim=16, dtype=torch.float32, device="cpu", mask="causal").to_dict()
    assert set(real_problem) <= set(problem(64))
    cell = Cell("core", Problem(batch=1, seq_len=64, heads=2, head_dim=16, dtype=torch.float32, device="cpu"), get("sdpa"))
    assert set(cell.impl.info()) <= set(record("sdpa", 64))
