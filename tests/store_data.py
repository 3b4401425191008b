"""Synthetic run folders and gate outputs for the store tests, written the way a sweep and the gate write them."""

from __future__ import annotations

import json
from pathlib import Path


def cell_record(run_id: str, impl: str, seq_len: int, median: float, commit: str = "aaaa00000000", device: str = "cpu",
                status: str = "ok", timestamp: float = 1.8e9, inputs: str | None = None, peak_flops: float = 1e10) -> dict:
    problem = {"batch": 1, "seq_len": seq_len, "kv_seq_len": seq_len, "heads": 4, "kv_heads": 4, "head_dim": 32,
               "dtype": "float32", "device": device, "mask": "causal", "mask_kind": "causal", "dropout": 0.0, "mode": "fwd"}
    if inputs is not None:
        problem["inputs"] = inputs
    record = {"schema": 1, "run_id": run_id, "suite": "core", "cell_id": f"{impl}-b1-h4-L{seq_len}-d32-float32-causal-fwd-{device}",
              "preset": "smoke", "timestamp": timestamp, "commit": commit, "impl": impl, "impl_base": impl.split("[")[0],
              "family": "exact", "exact": True, "impl_version": "1", "params": {}, "problem": problem, "device_name": "Test CPU",
              "machine": {"host": "testhost", "cpu": "Test CPU", "torch": "2.13.0+cpu", "cuda": None, "driver": None},
              "status": status, "reason_code": None if status == "ok" else "unsupported",
              "reason": None if status == "ok" else "dtype=float32 (supported: float16)"}
    if status == "ok":
        samples = [median * f for f in (0.97, 0.99, 1.0, 1.01, 1.05)]
        record.update(time={"min": min(samples), "max": max(samples), "mean": sum(samples) / 5, "stddev": 0.0, "median": median,
                            "iqr": median * 0.02, "q1": median * 0.99, "q3": median * 1.01, "rounds": 5, "iterations": 1, "data": samples},
                      peak_bytes=1_000_000, peak_method="cpu-profiler-memory-events", memory_estimate_bytes=900_000,
                      error={"output": {"max_abs": 1e-6, "rel_l2": 2e-7, "finite": True}}, flops=1e6, flops_per_s=1e6 / median,
                      device_peak_flops=peak_flops, peak_fraction=1e6 / median / peak_flops)
    return record


def write_run(results: Path, run_id: str, records: list[dict], commit: str = "aaaa00000000", workers: int = 1,
              started: str = "2026-11-30T10:00:00") -> Path:
    run_dir = results / run_id
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps({
        "schema": 1, "run_id": run_id, "preset": "smoke", "started": started, "commit": commit,
        "machine": {"host": "testhost", "cpu": "Test CPU", "torch": "2.13.0+cpu", "cuda": None, "driver": None, "cores": 2},
        "overrides": {"impls": ["naive", "sdpa"]}, "devices": ["cpu"]}))
    for worker in range(workers):
        name = f"cells-gw{worker}.jsonl" if workers > 1 else "cells.jsonl"
        with open(run_dir / name, "a", encoding="utf-8") as fh:
            for record in records[worker::workers]:
                fh.write(json.dumps(record) + "\n")
    return run_dir


def gate_result(base: str, head: str, verdicts: dict[str, tuple[str, float]]) -> dict:
    """A paired gate.json: benchmark id → (verdict, change)."""
    benchmarks = []
    for benchmark, (verdict, change) in verdicts.items():
        benchmarks.append({
            "id": benchmark, "impl": benchmark.split("-")[0], "problem": {"device": "cpu", "seq_len": 64},
            "status": {"base": "ok", "head": "ok"}, "reason": {"base": None, "head": None}, "notes": [],
            "time": {"verdict": verdict, "why": "test", "floor": 0.03, "change": change, "interval": [change - 0.01, change + 0.01],
                     "p_adjusted": 0.001, "mde": 0.02, "base_median_s": 1e-3, "head_median_s": 1e-3 * (1 + change),
                     "confirmation": {"confirmed": verdict == "regression"}},
            "memory": {"verdict": "unchanged", "base_bytes": 1000, "head_bytes": 1000},
            "error": {"verdict": "unchanged"}, "verdict": verdict})
    regressions = sum(v == "regression" for v, _ in verdicts.values())
    return {"schema": 1, "mode": "paired", "base": {"ref": base, "commit": base}, "head": {"ref": head, "commit": head},
            "selection": {"impls": "naive"}, "settings": {"pairs_used": 20}, "machine": {"host": "testhost", "cpu": "Test CPU"},
            "benchmarks": benchmarks, "exit_code": 1 if regressions else 0, "reason": "test", "wall_seconds": 12.0}


def write_gate(folder: Path, result: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "gate.json"
    path.write_text(json.dumps(result, indent=1))
    return path


def ingest_in_process(url: str, paths: list[str], barrier) -> None:
    """A separate writer (spawned: it imports only this light module and the store)."""
    from store.db import open_store
    from store.ingest import ingest_paths

    engine = open_store(url)
    barrier.wait()
    ingest_paths(engine, paths)
    engine.dispose()
