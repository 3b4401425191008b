"""Where a run's results go: the run directory, its metadata and the crash-safe JSONL of cells.

Every cell (ran, skipped, failed, oom) becomes one JSON line, appended and flushed as soon as it
finishes, so an interrupted run keeps everything it finished. With pytest-xdist each worker
appends to its own file in the same run directory. The format is ``store.records``'.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import socket
from pathlib import Path

from store.records import SCHEMA_VERSION, json_default

RUN_ID_ENV = "ATTNBENCH_RUN_ID"


def new_run_id() -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:32] or "host"
    return f"{stamp}-{host}-{os.getpid()}"  # the process id: two sweeps started in the same second are two runs


class RunWriter:
    """Owns ``results/<run_id>/``: run.json once, then one JSON line per finished cell."""

    def __init__(self, results_dir: Path, run_id: str, worker: str | None = None) -> None:
        self.run_dir = Path(results_dir) / run_id
        self.run_id = run_id
        self.cells_path = self.run_dir / (f"cells-{worker}.jsonl" if worker else "cells.jsonl")

    def write_run_info(self, info: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "run.json"
        path.write_text(json.dumps({"schema": SCHEMA_VERSION, "run_id": self.run_id, **info}, indent=2, default=str))

    def append(self, record: dict) -> None:
        line = json.dumps(record, default=json_default, allow_nan=True)
        if not self.cells_path.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cells_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
