"""Where a run's results go: the run directory, its metadata and the crash-safe JSONL of cells.

Every cell (ran, skipped, failed, oom) becomes one JSON line, appended and flushed as soon as it
finishes, so an interrupted run keeps everything it finished. With pytest-xdist each worker
appends to its own file in the same run directory. The format is ``store.records``'.

A run folder belongs to one run: run ids carry the host, the process and a random suffix, and the
folder is created exclusively (``reserve``). A record that cannot be written whole is cut back off
the file, so the lines before it stay readable, and ``ResultsWriteError`` says where and how many
cells are saved.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
import secrets
import socket
from pathlib import Path

from store.records import SCHEMA_VERSION, json_default

RUN_ID_ENV = "ATTNBENCH_RUN_ID"
RESERVE_ATTEMPTS = 5


class ResultsWriteError(Exception):
    """The results folder cannot be written (full disk, read-only, not a folder); the message is one line."""


def new_run_id() -> str:
    """``YYYYmmdd-HHMMSS-host-pid-xxxx``: unique per process and host, still sorted by start time."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:32] or "host"
    return f"{stamp}-{host}-{os.getpid()}-{secrets.token_hex(2)}"


class RunWriter:
    """Owns ``results/<run_id>/``: run.json once, then one JSON line per finished cell."""

    def __init__(self, results_dir: Path, run_id: str, worker: str | None = None) -> None:
        self.worker = worker
        self.place(Path(results_dir), run_id)
        self.saved = 0  # records this process wrote whole
        self.reserved = False  # this process created the run folder
        self.info_written = False  # this process wrote the run's full run.json

    def place(self, results_dir: Path, run_id: str) -> None:
        self.run_id = run_id
        self.run_dir = results_dir / run_id
        self.cells_path = self.run_dir / (f"cells-{self.worker}.jsonl" if self.worker else "cells.jsonl")

    def reserve(self, shared: bool = False) -> None:
        """Create the run folder, which must not exist yet (another id is drawn when it does), and write a first
        run.json into it: an unwritable results folder is reported here, before the first cell. A ``shared`` run
        (named with --attn-run-id, or resumed) may exist already: it is only checked writable."""
        results_dir = self.run_dir.parent
        if results_dir.exists() and not results_dir.is_dir():
            raise ResultsWriteError(f"{results_dir} is not a folder (give a folder, existing or not, for the results)")
        if shared:
            self.check_writable()
            self.info_written = (self.run_dir / "run.json").exists()  # a resumed run keeps what it said of itself
            return
        for _ in range(RESERVE_ATTEMPTS):
            try:
                results_dir.mkdir(parents=True, exist_ok=True)
                self.run_dir.mkdir()
            except FileExistsError:
                self.place(results_dir, new_run_id())
                continue
            except OSError as exc:
                raise ResultsWriteError(f"cannot create a run folder in {results_dir}: {exc.strerror}") from None
            self.reserved = True
            self.replace_json("run.json", {"schema": SCHEMA_VERSION, "run_id": self.run_id,
                                           "started": _dt.datetime.now().isoformat(timespec="seconds")})
            return
        raise ResultsWriteError(f"no free run folder name in {results_dir} after {RESERVE_ATTEMPTS} tries")

    def check_writable(self) -> None:
        probe = self.run_dir / f".write-check-{os.getpid()}"
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            probe.write_text("attnbench\n", encoding="utf-8")
            probe.unlink()
        except OSError as exc:
            raise ResultsWriteError(f"cannot write into {self.run_dir}: {exc.strerror}") from None

    def write_run_info(self, info: dict) -> None:
        self.replace_json("run.json", {"schema": SCHEMA_VERSION, "run_id": self.run_id, **info})
        self.info_written = True

    def replace_json(self, name: str, data: dict) -> None:
        """Write ``name`` in the run folder through a temporary file, so a reader never sees half of it."""
        path = self.run_dir / name
        temporary = path.with_name(f".{name}.{os.getpid()}.tmp")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            temporary.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            temporary.unlink(missing_ok=True)
            raise ResultsWriteError(f"cannot write {path}: {exc.strerror}") from None

    def append(self, record: dict) -> None:
        """Append one record as one line, on disk (fsync) before returning; all of it or none of it."""
        data = (json.dumps(record, default=json_default, allow_nan=True) + "\n").encode("utf-8")
        try:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.cells_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise ResultsWriteError(f"cannot write {self.cells_path}: {exc.strerror}; {self.saved_note()}") from None
        try:
            start = os.fstat(fd).st_size
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            except OSError as exc:
                cut_back(fd, start)
                raise ResultsWriteError(f"cannot write {self.cells_path}: {exc.strerror}; {self.saved_note()}") from None
        finally:
            os.close(fd)
        self.saved += 1

    def saved_note(self) -> str:
        return f"{self.saved} cell(s) saved in {self.run_dir}"

    def release_if_empty(self) -> None:
        """Remove the run folder this process reserved when no cell was written to it (a --collect-only run)."""
        if not self.reserved or any(self.run_dir.glob("cells*.jsonl")):
            return
        try:
            (self.run_dir / "run.json").unlink(missing_ok=True)
            self.run_dir.rmdir()
        except OSError:
            pass  # something else is in it: leave it


def cut_back(fd: int, size: int) -> None:
    """Drop a partly written line, so a torn record never glues onto the next one."""
    try:
        os.ftruncate(fd, size)
    except OSError:
        pass  # the reader skips a damaged line and says so
