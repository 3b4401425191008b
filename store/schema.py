"""The results database's tables, declared once; the same statements run on SQLite and PostgreSQL.

One row per run, per cell of a run, per gate run and per gate verdict. The columns a query filters
or plots on are columns; everything a record holds besides (raw timing samples, the full problem,
the error of every tensor, the record itself) is kept as JSON text beside them, so nothing of the
JSONL is lost and ``reports build --store`` can rebuild the records exactly.

Keys make ingesting idempotent: a run is its ``run_id``; a cell is (run, suite, cell id); a gate
run is the hash of its gate.json; a verdict is (gate run, benchmark id).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

SCHEMA_VERSION = 1

metadata = MetaData()

schema_version = Table(
    "schema_version", metadata,
    Column("version", Integer, primary_key=True),
    Column("applied", DateTime(timezone=True), nullable=False),
    Column("description", Text, nullable=False),
)

runs = Table(
    "runs", metadata,
    Column("run_id", String(128), primary_key=True),
    Column("commit", String(64)),           # short hash as the run saw it, without the -dirty suffix
    Column("branch", String(256)),
    Column("dirty", Boolean),
    Column("preset", String(64)),
    Column("options", Text),                # JSON: the sweep's overrides (--attn-* options)
    Column("started", DateTime(timezone=True)),
    Column("finished", DateTime(timezone=True)),
    Column("host", String(256)),
    Column("cpu", String(256)),
    Column("machine", Text),                # JSON: everything run.json says of the machine
    Column("devices", Text),                # JSON list
    Column("torch", String(64)),
    Column("cuda", String(64)),
    Column("driver", String(64)),
    Column("source", Text),                 # the run folder it was ingested from
    Column("ingested", DateTime(timezone=True), nullable=False),
)

cells = Table(
    "cells", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("run_id", String(128), ForeignKey("runs.run_id", ondelete="CASCADE"), nullable=False),
    Column("suite", String(64), nullable=False),
    Column("cell_id", String(512), nullable=False),
    Column("impl", String(256), nullable=False),     # full name with parameters: sliding-window[w=256]
    Column("impl_base", String(128)),
    Column("impl_params", Text),                     # JSON
    Column("impl_version", String(64)),
    Column("family", String(64)),
    Column("exact", Boolean),
    # the problem
    Column("batch", Integer), Column("seq_len", Integer), Column("kv_seq_len", Integer),
    Column("heads", Integer), Column("kv_heads", Integer), Column("head_dim", Integer),
    Column("dtype", String(32)), Column("device", String(32)), Column("mask", String(256)),
    Column("mode", String(16)), Column("dropout", Float),
    Column("inputs", String(128), nullable=False),   # input distribution; records from before the axis: gaussian
    Column("problem", Text),                         # JSON: the whole problem
    Column("device_name", String(256)),
    # outcome
    Column("status", String(16), nullable=False),
    Column("reason_code", String(64)),
    Column("reason", Text),
    # time (seconds per call) and its raw samples
    Column("time_median", Float), Column("time_min", Float), Column("time_max", Float), Column("time_mean", Float),
    Column("time_stddev", Float), Column("time_iqr", Float), Column("time_q1", Float), Column("time_q3", Float),
    Column("rounds", Integer), Column("iterations", Integer),
    Column("samples", Text),                         # JSON list: seconds per call of every round
    # memory, error, FLOPs
    Column("peak_bytes", BigInteger), Column("peak_method", String(64)), Column("memory_estimate_bytes", BigInteger),
    Column("error_max_abs", Float), Column("error_rel_l2", Float),
    Column("error", Text),                           # JSON: output and gradients, max_abs and rel_l2
    Column("flops", Float), Column("flops_per_s", Float), Column("peak_fraction", Float),
    Column("device_peak_flops", Float),              # the in-run reference matmul: history normalizes by it
    Column("commit", String(64)),
    Column("timestamp", Float),
    Column("record", Text, nullable=False),          # JSON: the record as written to the JSONL
    UniqueConstraint("run_id", "suite", "cell_id", name="uq_cells_run_suite_cell"),
)
Index("ix_cells_impl_device", cells.c.impl, cells.c.device)

gate_runs = Table(
    "gate_runs", metadata,
    Column("gate_id", String(64), primary_key=True),  # sha256 of gate.json's content: the same file ingests once
    Column("mode", String(32)),
    Column("base_ref", String(256)), Column("base_commit", String(64)),
    Column("head_ref", String(256)), Column("head_commit", String(64)),
    Column("exit_code", Integer), Column("reason", Text),
    Column("selection", Text), Column("settings", Text), Column("machine", Text),
    Column("host", String(256)), Column("cpu", String(256)),
    Column("wall_seconds", Float),
    Column("source", Text),
    Column("ingested", DateTime(timezone=True), nullable=False),
)

gate_verdicts = Table(
    "gate_verdicts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("gate_id", String(64), ForeignKey("gate_runs.gate_id", ondelete="CASCADE"), nullable=False),
    Column("benchmark", String(512), nullable=False),
    Column("impl", String(256)),
    Column("device", String(32)),
    Column("problem", Text),
    Column("verdict", String(32)),
    Column("time_verdict", String(32)), Column("change", Float),
    Column("change_low", Float), Column("change_high", Float),
    Column("p_adjusted", Float), Column("mde", Float),
    Column("base_median_s", Float), Column("head_median_s", Float),
    Column("confirmed", Boolean),
    Column("memory_verdict", String(32)), Column("base_bytes", BigInteger), Column("head_bytes", BigInteger),
    Column("error_verdict", String(32)),
    Column("entry", Text),                           # JSON: the benchmark's whole entry in gate.json
    UniqueConstraint("gate_id", "benchmark", name="uq_gate_verdicts_gate_benchmark"),
)

TABLES = ("schema_version", "runs", "cells", "gate_runs", "gate_verdicts")
