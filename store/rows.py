"""From a run's records and a gate's gate.json to the store's rows (plain dicts keyed by column)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math

from .records import CellRecord, RunInfo

DEFAULT_INPUTS = "gaussian"  # records written before the input distribution was an axis drew Gaussian q, k, v


def to_json(value) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True, default=str, allow_nan=True)


def parse_time(value) -> dt.datetime | None:
    """ISO text (naive means this machine's local time) or epoch seconds, as an aware UTC datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(float(value), dt.timezone.utc) if math.isfinite(value) else None
    try:
        parsed = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return (parsed if parsed.tzinfo else parsed.astimezone()).astimezone(dt.timezone.utc)


def split_commit(commit: str | None) -> tuple[str | None, bool | None]:
    if not commit:
        return None, None
    return commit.removesuffix("-dirty"), commit.endswith("-dirty")


def _number(value):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value


def run_row(run_id: str, info: RunInfo | None, records: list[CellRecord], source: str, now: dt.datetime) -> dict:
    """A run's row from its run.json (``info``; None when missing) and its cell records."""
    info = info or RunInfo()
    first = records[0] if records else CellRecord(impl="", problem={}, status="")
    machine = info.machine or first.machine or {}
    commit, dirty = split_commit(info.commit or first.commit)
    stamps = [r.timestamp for r in records if _number(r.timestamp) is not None]
    started = parse_time(info.started) or (parse_time(min(stamps)) if stamps else None)
    return {
        "run_id": run_id, "commit": commit, "dirty": dirty,
        "branch": info.fields.get("branch"), "preset": info.preset or first.preset,
        "options": to_json(info.overrides or {}),
        "started": started, "finished": parse_time(info.fields.get("finished")) or (parse_time(max(stamps)) if stamps else None),
        "host": machine.get("host"), "cpu": machine.get("cpu"), "machine": to_json(machine),
        "devices": to_json(info.devices or sorted({r.device for r in records} - {None})),
        "torch": machine.get("torch"), "cuda": machine.get("cuda"), "driver": machine.get("driver"),
        "source": source, "ingested": now,
    }


def cell_row(record: CellRecord, run_id: str) -> dict:
    problem = record.problem
    timing = record.time or {}
    error = record.error if isinstance(record.error, dict) else {}
    output_error = record.output_error if isinstance(record.output_error, dict) else {}
    row = {
        "run_id": run_id, "suite": str(record.suite or ""),
        "cell_id": str(record.cell_id or f"{record.impl}-{to_json(problem)}"),
        "impl": str(record.impl), "impl_base": record.impl_base, "impl_params": to_json(record.fields.get("params")),
        "impl_version": None if record.impl_version is None else str(record.impl_version),
        "family": record.family, "exact": record.exact,
        "inputs": str(problem.get("inputs") or DEFAULT_INPUTS), "problem": to_json(problem), "device_name": record.device_name,
        "status": str(record.status), "reason_code": record.reason_code, "reason": record.reason,
        "rounds": _number(timing.get("rounds")), "iterations": _number(timing.get("iterations")),
        "samples": to_json(timing.get("data")),
        "peak_bytes": _number(record.peak_bytes), "peak_method": record.peak_method,
        "memory_estimate_bytes": _number(record.fields.get("memory_estimate_bytes")),
        "error_max_abs": _number(output_error.get("max_abs")), "error_rel_l2": _number(output_error.get("rel_l2")),
        "error": to_json(error or None), "flops": _number(record.flops), "flops_per_s": _number(record.flops_per_s),
        "peak_fraction": _number(record.peak_fraction), "device_peak_flops": _number(record.device_peak_flops),
        "commit": split_commit(record.commit)[0], "timestamp": _number(record.timestamp),
        "record": to_json({**record.to_dict(), "run_id": run_id}),
    }
    for field in ("batch", "seq_len", "kv_seq_len", "heads", "kv_heads", "head_dim", "dropout"):
        row[field] = _number(problem.get(field))
    for field in ("dtype", "device", "mask", "mode"):
        row[field] = None if problem.get(field) is None else str(problem.get(field))
    for stat in ("median", "min", "max", "mean", "stddev", "iqr", "q1", "q3"):
        row[f"time_{stat}"] = _number(timing.get(stat))
    for field in ("peak_bytes", "memory_estimate_bytes"):
        row[field] = None if row[field] is None else int(row[field])
    return row


def gate_id(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()[:32]


def gate_run_row(result: dict, gate: str, source: str, now: dt.datetime) -> dict:
    base, head = result.get("base") or {}, result.get("head") or {}
    baseline = result.get("baseline") or {}
    machine = result.get("machine") or {}
    return {
        "gate_id": gate, "mode": result.get("mode"),
        "base_ref": base.get("ref") or baseline.get("path"), "base_commit": base.get("commit") or baseline.get("commit"),
        "head_ref": head.get("ref"), "head_commit": head.get("commit"),
        "exit_code": _number(result.get("exit_code")), "reason": result.get("reason"),
        "selection": to_json(result.get("selection")), "settings": to_json(result.get("settings")), "machine": to_json(machine),
        "host": machine.get("host"), "cpu": machine.get("cpu"), "wall_seconds": _number(result.get("wall_seconds")),
        "source": source, "ingested": now,
    }


def verdict_row(entry: dict, gate: str) -> dict:
    timing, memory, error = entry.get("time") or {}, entry.get("memory") or {}, entry.get("error") or {}
    interval = timing.get("interval") or [None, None]
    confirmation = timing.get("confirmation")
    return {
        "gate_id": gate, "benchmark": str(entry.get("id")), "impl": entry.get("impl"),
        "device": (entry.get("problem") or {}).get("device"), "problem": to_json(entry.get("problem")),
        "verdict": entry.get("verdict"), "time_verdict": timing.get("verdict"), "change": _number(timing.get("change")),
        "change_low": _number(interval[0]), "change_high": _number(interval[1]),
        "p_adjusted": _number(timing.get("p_adjusted")), "mde": _number(timing.get("mde")),
        "base_median_s": _number(timing.get("base_median_s")), "head_median_s": _number(timing.get("head_median_s")),
        "confirmed": None if confirmation is None else bool(confirmation.get("confirmed")),
        "memory_verdict": memory.get("verdict"), "base_bytes": _number(memory.get("base_bytes")),
        "head_bytes": _number(memory.get("head_bytes")), "error_verdict": error.get("verdict"), "entry": to_json(entry),
    }
