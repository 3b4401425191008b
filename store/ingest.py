"""Fill the store from what is on disk: run folders (run.json + cells*.jsonl) and gate outputs (gate.json).

Ingesting is idempotent: a cell already in the store (same run, suite and cell id) and a gate.json
already ingested (same content hash) are left as they are, so a folder can be ingested again after
an interrupted ingest, and the cells the end-of-run ingest missed are added. Rows go in with
"insert, or do nothing on a duplicate key", so writers racing on the same run lose nothing and
duplicate nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, Engine, select, update

from . import rows
from .db import StoreError
from .records import RecordFileError, read_run
from .schema import cells, gate_runs, gate_verdicts, runs

ACCEPTED = "a run folder (run.json and cells*.jsonl), a folder of run folders, a gate output folder or a gate.json file"
CHUNK = 500


@dataclass
class IngestSummary:
    runs: int = 0
    cells_added: int = 0
    cells_present: int = 0
    gate_runs_added: int = 0
    gate_runs_present: int = 0
    verdicts_added: int = 0
    notes: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = f"{self.runs} run(s): {self.cells_added} cell(s) added, {self.cells_present} already there"
        if self.gate_runs_added or self.gate_runs_present:
            text += (f"; {self.gate_runs_added} gate run(s) added ({self.verdicts_added} verdicts), "
                     f"{self.gate_runs_present} already there")
        return text


def insert_new(conn: Connection, table, items: list[dict], keys: tuple[str, ...]) -> None:
    """INSERT ... ON CONFLICT (keys) DO NOTHING, on SQLite and PostgreSQL alike."""
    if not items:
        return
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).on_conflict_do_nothing(index_elements=list(keys))
    for start in range(0, len(items), CHUNK):
        conn.execute(statement, items[start:start + CHUNK])


def find_sources(paths: list[str | Path]) -> tuple[list[Path], list[Path]]:
    """(run folders, gate.json files) under ``paths``; StoreError naming a path that is neither."""
    run_dirs, gate_files = [], []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise StoreError(f"{path}: no such file or folder (expected {ACCEPTED})")
        if path.is_file():
            if path.name == "gate.json":
                gate_files.append(path)
            elif path.name == "run.json" or (path.suffix == ".jsonl" and path.name.startswith("cells")):
                run_dirs.append(path.parent)
            else:
                raise StoreError(f"{path}: not a result file (expected {ACCEPTED})")
        elif any(path.glob("cells*.jsonl")) or (path / "gate.json").is_file():
            run_dirs += [path] if any(path.glob("cells*.jsonl")) else []
            gate_files += [path / "gate.json"] if (path / "gate.json").is_file() else []
        else:
            found_runs = sorted(p.parent for p in path.glob("*/cells*.jsonl"))
            found_gates = sorted(path.glob("*/gate.json"))
            if not found_runs and not found_gates:
                raise StoreError(f"{path}: holds no run folder and no gate.json (expected {ACCEPTED})")
            run_dirs += found_runs
            gate_files += found_gates
    return list(dict.fromkeys(run_dirs)), list(dict.fromkeys(gate_files))


def ingest_paths(engine: Engine, paths: list[str | Path]) -> IngestSummary:
    run_dirs, gate_files = find_sources(paths)
    summary = IngestSummary()
    for run_dir in run_dirs:
        ingest_run(engine, run_dir, summary)
    for gate_file in gate_files:
        ingest_gate(engine, gate_file, summary)
    return summary


def ingest_run(engine: Engine, run_dir: Path, summary: IngestSummary | None = None) -> IngestSummary:
    summary = summary or IngestSummary()
    try:
        info, records, notes = read_run(run_dir)
    except RecordFileError as exc:
        raise StoreError(str(exc)) from None
    summary.notes += notes
    now = dt.datetime.now(dt.timezone.utc)
    folder_run = (info.run_id if info else None) or run_dir.name
    by_run: dict[str, list] = {}
    for record in records:
        by_run.setdefault(str(record.run_id or folder_run), []).append(record)
    if not by_run and info:
        by_run[str(folder_run)] = []
    for run_id, run_records in by_run.items():
        run_info = info if info is not None and (info.run_id in (None, run_id)) else None
        cell_rows = sorted((rows.cell_row(r, run_id) for r in run_records), key=lambda row: (row["suite"], row["cell_id"]))
        with engine.begin() as conn:
            run = rows.run_row(run_id, run_info, run_records, str(run_dir), now)
            insert_new(conn, runs, [run], ("run_id",))
            if run["finished"] is not None:  # a run ingested again after it grew: its end moves on
                conn.execute(update(runs).where(runs.c.run_id == run_id)
                             .where((runs.c.finished.is_(None)) | (runs.c.finished < run["finished"])).values(finished=run["finished"]))
            present = {tuple(row) for row in conn.execute(select(cells.c.suite, cells.c.cell_id).where(cells.c.run_id == run_id))}
            new = [row for row in cell_rows if (row["suite"], row["cell_id"]) not in present]
            insert_new(conn, cells, new, ("run_id", "suite", "cell_id"))
        summary.runs += 1
        summary.cells_added += len(new)
        summary.cells_present += len(cell_rows) - len(new)
    return summary


def ingest_gate(engine: Engine, path: Path, summary: IngestSummary | None = None) -> IngestSummary:
    summary = summary or IngestSummary()
    content = path.read_bytes()
    try:
        result = json.loads(content)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path}: not valid JSON ({exc}); expected the gate's gate.json") from None
    if not isinstance(result, dict) or not isinstance(result.get("benchmarks"), list):
        raise StoreError(f"{path}: not a gate result (a JSON object with a 'benchmarks' list, written by python -m reports gate)")
    gate = rows.gate_id(content)
    with engine.begin() as conn:
        if conn.execute(select(gate_runs.c.gate_id).where(gate_runs.c.gate_id == gate)).first():
            summary.gate_runs_present += 1
            return summary
        insert_new(conn, gate_runs, [rows.gate_run_row(result, gate, str(path), dt.datetime.now(dt.timezone.utc))], ("gate_id",))
        verdicts = {row["benchmark"]: row for row in (rows.verdict_row(e, gate) for e in result["benchmarks"] if isinstance(e, dict))}
        insert_new(conn, gate_verdicts, list(verdicts.values()), ("gate_id", "benchmark"))
    summary.gate_runs_added += 1
    summary.verdicts_added += len(verdicts)
    return summary
