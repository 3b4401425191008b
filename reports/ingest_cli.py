"""``python -m reports ingest PATH... [--store URL]``: put run folders and gate outputs into the results store."""

from __future__ import annotations

import argparse
import sys

STORE_HELP = "results store: a path to an SQLite file or postgresql://USER@HOST:PORT/DB (default: $ATTNBENCH_STORE, else results/attnbench.sqlite)"


def ingest_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports ingest",
                                     description="Put run folders (run.json + cells*.jsonl) and gate outputs (gate.json) into the "
                                                 "results store. Idempotent: what is already there is left as it is.")
    parser.add_argument("paths", nargs="+", metavar="PATH", help="run folder, folder of run folders, gate output folder or gate.json")
    parser.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    args = parser.parse_args(argv)

    from store.db import StoreError, display, open_store, resolve_url
    from store.ingest import find_sources, ingest_paths

    try:
        find_sources(args.paths)  # a bad path is the user's to fix, whatever the store's state: exit 2
    except StoreError as exc:
        print(f"reports ingest: {exc}", file=sys.stderr)
        return 2
    try:
        url = resolve_url(args.store)
        engine = open_store(url)
        summary = ingest_paths(engine, args.paths)
    except StoreError as exc:
        print(f"reports ingest: {exc}", file=sys.stderr)
        return 1
    for note in summary.notes:
        print(f"  note: {note}")
    print(f"{display(url)}: {summary.line()}")
    engine.dispose()
    return 0
