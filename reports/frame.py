"""The tidy frame: one row per cell, nested record fields flattened to dotted columns.

Flattened columns keep the record's names (``problem.seq_len``, ``time.median``,
``error.output.rel_l2``, ``extra.<metric>``, ``profile.kernels``...). A few derived columns with
plain names are what the report works with:

- ``machine``, ``device``, ``device_name``, ``device_label``: where the cell ran;
- ``time_s`` (median seconds per call), ``memory_bytes`` (peak), ``error`` (relative L2 of the
  output against the float64 oracle), ``error_max_abs``;
- ``shape``: the problem's label (``Problem.id()`` without the device); ``series``: the same without the sequence
  length (a scaling curve); ``kind``: the problem's kind (mask, mode, dtype, GQA) for the capability matrix;
- ``group``: device label + shape, the set of cells compared with each other on a Pareto front;
- ``inputs``: the input distribution the cell was measured on (``gaussian`` for records written
  before it was recorded); the shape label names it when it is not gaussian.

A cell measured more than once (several runs, or several suites, on the same machine, device and
problem) counts once everywhere a figure or a summary is computed: its latest measurement, by
record timestamp, then run id, then suite (see :func:`latest_measurements`). Every measurement
stays in the frame and in ``cells.csv``.
"""

from __future__ import annotations

import json

import pandas as pd

from store.records import DEFAULT_INPUTS, CellRecord, problem_label

# Lists kept whole would make the CSV unreadable; raw timing samples are summarized by their count.
_DROPPED = {"time.data"}


def flatten(record: dict, prefix: str = "") -> dict:
    """Nested dicts → dotted keys; lists → JSON text (so every cell of the CSV is a scalar)."""
    flat = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, (list, tuple)):
            if name not in _DROPPED:
                flat[name] = json.dumps(value, sort_keys=True, default=str)
        else:
            flat[name] = value
    return flat


def describe_problem(problem: dict, with_length: bool = True) -> str:
    """The problem's one label (``store.records.problem_label``, what ``Problem.id()`` is) without its device:
    ``b1-h8kv2-L1024-d64-float32-causal-fwd``; without the length, the label of a scaling series."""
    return problem_label(problem, length=with_length, device=False)


def problem_kind(problem: dict) -> str:
    """The capability-matrix column: what kind of problem, not its size."""
    parts = [str(problem.get("mask_kind") or problem.get("mask") or "none"), str(problem.get("mode", "?")), str(problem.get("dtype", "?"))]
    if problem.get("kv_heads") not in (None, problem.get("heads")):
        parts.append("GQA")
    if problem.get("kv_seq_len") not in (None, problem.get("seq_len")):
        parts.append("cross")
    if problem.get("dropout"):
        parts.append("dropout")
    return " · ".join(parts)


def _derived(cell: CellRecord) -> dict:
    problem = cell.problem
    machine = cell.host or "unknown"
    device = str(cell.device or "?")
    device_name = cell.device_name or device
    time = cell.time or {}
    label = f"{machine} · {device} ({device_name})"
    shape = describe_problem(problem)
    return {
        "machine": machine, "device": device, "device_name": device_name, "device_label": label,
        "status": cell.status or "unknown", "inputs": problem.get("inputs") or DEFAULT_INPUTS,
        "time_s": cell.median_s, "memory_bytes": cell.peak_bytes,
        "error": cell.output_error.get("rel_l2"), "error_max_abs": cell.output_error.get("max_abs"),
        "time.samples": len(time["data"]) if isinstance(time.get("data"), list) else None,
        "shape": shape, "series": describe_problem(problem, with_length=False), "kind": problem_kind(problem),
        "group": f"{label} | {shape}",
    }


# Reading order of shapes: same suite, pass, mask and dtype together, then by size (numbers sort as numbers).
SHAPE_ORDER = ("suite", "inputs", "problem.mode", "problem.mask_kind", "problem.dtype", "problem.batch", "problem.model_dim", "problem.heads",
               "problem.kv_heads", "problem.head_dim", "problem.kv_seq_len", "problem.seq_len", "shape")


def shape_order(frame: pd.DataFrame) -> list[str]:
    """The SHAPE_ORDER columns present in ``frame``."""
    return [c for c in SHAPE_ORDER if c in frame.columns]


def natural_key(values) -> tuple:
    """Sort key for a tuple of mixed values: numbers by value, before text; missing values last."""
    key = []
    for value in values if isinstance(values, tuple) else (values,):
        if value is None or (isinstance(value, float) and value != value):
            key.append((2, 0.0, ""))
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            key.append((0, float(value), ""))
        else:
            key.append((1, 0.0, str(value)))
    return tuple(key)


def tidy_frame(records: list[CellRecord | dict]) -> pd.DataFrame:
    """One row per cell, sorted by machine, device, suite, shape, impl; columns sorted, derived ones first."""
    rows = []
    for record in records:
        cell = record if isinstance(record, CellRecord) else CellRecord.from_dict(record)
        row = flatten({k: v for k, v in cell.to_dict().items() if k not in ("status",)})
        row.update(_derived(cell))
        rows.append(row)
    frame = pd.DataFrame(rows)
    for column in ("impl", "family", "suite", "exact", "reason_code", "reason", "run_id", "problem.seq_len", "peak_method",
                   "flops_per_s", "peak_fraction", "device_peak_flops", "time.min", "time.max", "time.iqr", "problem.heads",
                   "problem.head_dim", "commit", "preset", "timestamp", "impl_base"):
        if column not in frame.columns:
            frame[column] = None
    frame["impl"] = frame["impl"].astype(str)
    frame["family"] = frame["family"].fillna("unknown").astype(str)
    frame["suite"] = frame["suite"].fillna("?").astype(str)
    for column in ("time_s", "memory_bytes", "error", "error_max_abs", "problem.seq_len", "flops_per_s", "peak_fraction",
                   "time.min", "time.max", "time.iqr", "problem.heads", "problem.head_dim"):
        # Non-finite metrics are missing metrics: a front or a fit cannot rank infinity.
        frame[column] = pd.to_numeric(frame[column], errors="coerce").replace([float("inf"), float("-inf")], float("nan"))
    first = ["run_id", "suite", "machine", "device", "device_name", "device_label", "impl", "family", "status", "reason_code",
             "reason", "shape", "inputs"]
    rest = sorted(c for c in frame.columns if c not in first)
    frame = frame[first + rest]
    frame = frame.sort_values(["machine", "device", *shape_order(frame), "impl", "run_id"], kind="mergesort",
                              na_position="last").reset_index(drop=True)
    return frame


def measured(frame: pd.DataFrame) -> pd.DataFrame:
    """Cells that ran and have a median time."""
    return frame[(frame["status"] == "ok") & frame["time_s"].notna() & (frame["time_s"] > 0)]


def latest_measurements(ran: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """The one rule for a cell measured more than once: keep the latest measurement of each (group, impl).

    ``group`` is machine, device and problem; "latest" is the record's timestamp, then its run id, then
    its suite; with neither timestamp nor run id, the later record in ``ran`` wins. Returns the kept rows
    (in the frame's order) and how many were left out.
    """
    order = ran.assign(_stamp=pd.to_numeric(ran["timestamp"], errors="coerce").fillna(0.0))
    order = order.sort_values(["_stamp", "run_id", "suite"], kind="mergesort", na_position="first")
    kept = order.drop_duplicates(["group", "impl"], keep="last")
    kept = ran.loc[ran.index.isin(kept.index)]
    return kept, len(ran) - len(kept)
