"""Read a run folder as plain data: run.json and the cell records of every cells*.jsonl (one per xdist worker)."""

from __future__ import annotations

import json
from pathlib import Path

from .db import StoreError


def read_run_folder(run_dir: Path) -> tuple[dict, list[dict], list[str]]:
    """(run info, cell records, notes). A half-written last line (an interrupted run) is left out with a note."""
    info: dict = {}
    notes: list[str] = []
    run_json = run_dir / "run.json"
    if run_json.is_file():
        try:
            info = json.loads(run_json.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"{run_json}: not readable as JSON ({exc})") from None
    records: list[dict] = []
    for path in sorted(run_dir.glob("cells*.jsonl")):
        lines = [(n, line) for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.strip()]
        for position, (number, line) in enumerate(lines):
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                if position == len(lines) - 1:
                    notes.append(f"{path}: line {number} is incomplete (interrupted run?) and was left out")
                    continue
                raise StoreError(f"{path}: line {number} is not JSON (expected one cell record per line)") from None
            if not isinstance(record, dict) or "impl" not in record or "status" not in record:
                raise StoreError(f"{path}: line {number} is not a cell record (a JSON object with impl, problem, status)")
            records.append(record)
    return info, records, notes
