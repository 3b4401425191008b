"""The end of a sweep or a gate run: put what it wrote on disk into the store, and say so in one line.

The files on disk are the record of truth; the store is filled from them. Whatever goes wrong with the
store (unreachable server, refused write, missing driver, a newer schema), nothing is lost: the line
says so and gives the command that ingests the run later.
"""

from __future__ import annotations

import shlex
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from .db import StoreError, display, one_line, open_store, resolve_url
from .ingest import ingest_gate, ingest_run


def _later(path: Path, url_text: str | None) -> str:
    store = f" --store {shlex.quote(url_text)}" if url_text and "@" not in url_text else (" --store URL" if url_text else "")
    return f"python -m reports ingest {shlex.quote(str(path))}{store}"


def _ingest(what, path: Path, url_text: str | None, default_dir: Path | None):
    """Open the store, ingest ``path`` with ``what``, close it: (summary, shown URL) or (None, shown URL, reason)."""
    shown = url_text or "the store"
    try:
        url = resolve_url(url_text, default_dir=default_dir)
        shown = display(url)
        engine = open_store(url)
        try:
            return what(engine, Path(path)), shown, None
        finally:
            engine.dispose()
    except (StoreError, SQLAlchemyError, OSError) as exc:
        return None, shown, str(exc) if isinstance(exc, StoreError) else one_line(exc)


def store_finished_run(run_dir: Path, url_text: str | None = None, default_dir: Path | None = None) -> str:
    """Ingest a finished run folder; the line to print (what was stored, or how to store it later)."""
    summary, shown, reason = _ingest(ingest_run, run_dir, url_text, default_dir)
    if summary is None:
        return f"store: not written to {shown} ({reason}); the run is on disk, ingest it later with: {_later(run_dir, url_text)}"
    return f"store: {summary.cells_added} cell(s) added to {shown}" + (f" ({summary.cells_present} already there)"
                                                                        if summary.cells_present else "")


def store_gate_result(gate_json: Path, url_text: str | None = None, default_dir: Path | None = None) -> str:
    """Ingest a gate run's gate.json; the line to print."""
    summary, shown, reason = _ingest(ingest_gate, gate_json, url_text, default_dir)
    if summary is None:
        return f"store: gate verdicts not written to {shown} ({reason}); ingest them later with: {_later(Path(gate_json).parent, url_text)}"
    return f"store: {summary.verdicts_added} gate verdict(s) added to {shown}"
