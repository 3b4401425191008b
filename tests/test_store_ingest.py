"""The results store: ingest run folders and gate outputs, idempotently, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import json
import multiprocessing
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, text
from store_backends import postgres_cluster, store_url  # noqa: F401 - fixtures
from store_data import cell_record, gate_result, ingest_in_process, write_gate, write_run

from store.db import StoreError, open_store, resolve_url
from store.ingest import ingest_paths
from store.migrations import migrate, stamped_version
from store.schema import SCHEMA_VERSION, cells, gate_verdicts, runs

ROOT = Path(__file__).resolve().parent.parent


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def two_runs(results: Path) -> None:
    write_run(results, "run-a", [cell_record("run-a", impl, L, 1e-3 * L / 64) for impl in ("naive", "sdpa") for L in (64, 128)])
    write_run(results, "run-b", [cell_record("run-b", "naive", 64, 2e-3, commit="bbbb00000000"),
                                 cell_record("run-b", "sdpa", 64, 0, status="skipped")], commit="bbbb00000000", workers=2)


def test_ingest_is_idempotent_and_keeps_every_field(store_url, tmp_path):  # noqa: F811
    two_runs(tmp_path / "results")
    engine = open_store(store_url)
    first = ingest_paths(engine, [tmp_path / "results"])
    assert (first.runs, first.cells_added, first.cells_present) == (2, 6, 0)
    again = ingest_paths(engine, [tmp_path / "results" / "run-a", tmp_path / "results" / "run-b"])
    assert (again.cells_added, again.cells_present) == (0, 6)
    assert count(engine, runs) == 2 and count(engine, cells) == 6
    frame = pd.read_sql(select(cells).where(cells.c.run_id == "run-a").order_by(cells.c.cell_id), engine)
    row = frame[(frame.impl == "naive") & (frame.seq_len == 128)].iloc[0]
    assert row.time_median == pytest.approx(2e-3) and row.rounds == 5 and row.peak_bytes == 1_000_000
    assert json.loads(row.samples) == pytest.approx([2e-3 * f for f in (0.97, 0.99, 1.0, 1.01, 1.05)])
    assert row.inputs == "gaussian" and row["mask"] == "causal" and row.error_max_abs == pytest.approx(1e-6)
    assert json.loads(row.record)["cell_id"] == row.cell_id
    run_b = pd.read_sql(select(runs).where(runs.c.run_id == "run-b"), engine).iloc[0]
    assert run_b.commit == "bbbb00000000" and not run_b.dirty and run_b.preset == "smoke" and run_b.host == "testhost"
    engine.dispose()


def test_a_run_that_grew_gets_only_its_new_cells(store_url, tmp_path):  # noqa: F811
    run_dir = write_run(tmp_path, "run-c", [cell_record("run-c", "naive", 64, 1e-3)])
    engine = open_store(store_url)
    ingest_paths(engine, [run_dir])
    with open(run_dir / "cells.jsonl", "a") as fh:
        fh.write(json.dumps(cell_record("run-c", "naive", 128, 2e-3, inputs="rotary-local")) + "\n")
        fh.write('{"schema": 1, "run_id": "run-c", "impl": "na')  # an interrupted run's half-written last line
    summary = ingest_paths(engine, [run_dir / "cells.jsonl"])
    assert (summary.cells_added, summary.cells_present) == (1, 1)
    assert any("incomplete" in note for note in summary.notes)
    with engine.connect() as conn:
        assert conn.execute(select(cells.c.inputs).where(cells.c.seq_len == 128)).scalar() == "rotary-local"
    engine.dispose()


def test_gate_verdicts_land_once(store_url, tmp_path):  # noqa: F811
    gate = write_gate(tmp_path / "gate-out", gate_result("base1", "head1", {"naive-L64": ("regression", 0.12),
                                                                           "sdpa-L64": ("unchanged", 0.004)}))
    engine = open_store(store_url)
    assert ingest_paths(engine, [tmp_path / "gate-out"]).verdicts_added == 2
    assert ingest_paths(engine, [gate]).gate_runs_present == 1
    frame = pd.read_sql(select(gate_verdicts).order_by(gate_verdicts.c.benchmark), engine)
    assert list(frame.verdict) == ["regression", "unchanged"] and frame.change[0] == pytest.approx(0.12)
    assert bool(frame.confirmed[0]) and frame.change_low[0] == pytest.approx(0.11)
    engine.dispose()


def test_schema_is_stamped_and_a_newer_schema_is_refused(store_url):  # noqa: F811
    engine = open_store(store_url)
    with engine.connect() as conn:
        assert stamped_version(conn) == SCHEMA_VERSION
    assert migrate(engine) == SCHEMA_VERSION  # opening again changes nothing
    added = []
    migrate(engine, target=SCHEMA_VERSION + 1,
            migrations={SCHEMA_VERSION + 1: ("a test column", lambda conn: added.append(conn.execute(text("SELECT 1")).scalar()))})
    assert added == [1]
    with pytest.raises(StoreError, match=f"version {SCHEMA_VERSION + 1}, newer than this attnbench's {SCHEMA_VERSION}"):
        migrate(engine)
    engine.dispose()


def test_writers_at_once_lose_nothing(store_url, tmp_path):  # noqa: F811
    """Four processes ingest at the same moment: two distinct runs, each twice (an end-of-run ingest racing a manual one)."""
    for name in ("run-x", "run-y"):
        write_run(tmp_path, name, [cell_record(name, impl, L, 1e-3) for impl in ("naive", "sdpa", "sdpa-math") for L in (64, 128, 256)],
                  workers=3)
    open_store(store_url).dispose()
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(4)
    paths = [[str(tmp_path / "run-x")], [str(tmp_path / "run-y")], [str(tmp_path / "run-x")], [str(tmp_path)]]
    processes = [context.Process(target=ingest_in_process, args=(store_url, p, barrier)) for p in paths]
    for p in processes:
        p.start()
    for p in processes:
        p.join(120)
    assert [p.exitcode for p in processes] == [0, 0, 0, 0]
    engine = open_store(store_url)
    assert count(engine, cells) == 18 and count(engine, runs) == 2
    engine.dispose()


def test_bad_urls_and_unreachable_servers_say_so_in_one_line(tmp_path):
    with pytest.raises(StoreError, match="mysql is not supported"):
        resolve_url("mysql://u@h/db")
    assert resolve_url(str(tmp_path / "x.sqlite")).get_backend_name() == "sqlite"
    assert resolve_url("postgresql://u:secret@localhost/db").drivername == "postgresql+psycopg"
    with pytest.raises(StoreError, match=r"cannot use the store postgresql\+psycopg://u:\*\*\*@127.0.0.1:9/db") as caught:
        open_store("postgresql://u:secret@127.0.0.1:9/db")
    assert "\n" not in str(caught.value) and "secret" not in str(caught.value)


def test_ingest_command(tmp_path):
    two_runs(tmp_path / "results")
    store = tmp_path / "cli.sqlite"
    command = [sys.executable, "-m", "reports", "ingest", str(tmp_path / "results"), "--store", str(store)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "2 run(s): 6 cell(s) added, 0 already there" in done.stdout
    done = subprocess.run(command[:4] + [str(tmp_path / "nothing-here"), "--store", str(store)], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no such file or folder" in done.stderr


def test_report_from_the_store_matches_the_report_from_the_run_folder(tmp_path):
    """The store returns each record as written (PostgreSQL too: the ingest tests above); SQLite only, to keep CI short."""
    url = f"sqlite:///{tmp_path / 'build.sqlite'}"
    two_runs(tmp_path / "results")
    engine = open_store(url)
    ingest_paths(engine, [tmp_path / "results"])
    engine.dispose()
    from_files = subprocess.run([sys.executable, "-m", "reports", "build", str(tmp_path / "results" / "run-a"), "--out", str(tmp_path / "a")],
                                cwd=ROOT, capture_output=True, text=True, timeout=300)
    from_store = subprocess.run([sys.executable, "-m", "reports", "build", "--store", url, "--run", "run-a", "--out",
                                 str(tmp_path / "b")], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert from_files.returncode == 0 and from_store.returncode == 0, from_store.stderr
    assert (tmp_path / "a" / "cells.csv").read_text() == (tmp_path / "b" / "cells.csv").read_text()
    missing = subprocess.run([sys.executable, "-m", "reports", "build", "--store", url, "--run", "nope"], cwd=ROOT,
                             capture_output=True, text=True, timeout=300)
    assert missing.returncode == 2 and "no run nope in the store (latest: run-" in missing.stderr


def test_end_of_run_ingest_says_how_to_ingest_later_when_the_store_is_down(tmp_path):
    from store.finish import store_finished_run, store_gate_result

    run_dir = write_run(tmp_path / "results", "run-d", [cell_record("run-d", "naive", 64, 1e-3)])
    line = store_finished_run(run_dir, "postgresql://u:secret@127.0.0.1:9/db")
    assert line.startswith("store: not written to postgresql+psycopg://u:***@127.0.0.1:9/db (cannot use the store")
    assert line.endswith(f"ingest it later with: python -m reports ingest {run_dir} --store URL") and "secret" not in line
    assert "\n" not in line
    assert store_finished_run(run_dir, default_dir=tmp_path / "results") == f"store: 1 cell(s) added to sqlite:///{tmp_path}/results/attnbench.sqlite"
    gate = write_gate(tmp_path / "gate", gate_result("a", "b", {"naive-L64": ("unchanged", 0.0)}))
    assert store_gate_result(gate, str(tmp_path / "results" / "attnbench.sqlite")).startswith("store: 1 gate verdict(s) added")
