"""``python -m reports history``: the trend page of every cell across commits, from the results store."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from ..ingest_cli import STORE_HELP

DEFAULT_OUT = Path("reports") / "generated" / "history"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reports history",
                                     description="A self-contained page with each cell's median time across commits, its IQR band, "
                                                 "memory and error, and the steps found in it (change points on this machine's noise).")
    parser.add_argument("--store", default=None, metavar="URL", help=STORE_HELP)
    parser.add_argument("--impls", default=None, help="implementations (names or globs, comma-separated; default: all)")
    parser.add_argument("--machine", default=None, help="only runs whose host, CPU or device name contains this text")
    parser.add_argument("--since", default=None, help="only runs started on or after this date (e.g. 2026-11-01)")
    parser.add_argument("--normalize", action="store_true", help="divide out the in-run reference matmul's speed (machine drift)")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="git repository giving the commit order (default: here)")
    parser.add_argument("--confirm", action="store_true", help="re-measure each step's two commits with the paired gate")
    parser.add_argument("--confirm-max", type=int, default=5, help="at most this many steps, largest first (default 5)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    return parser


def history_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.since is not None:
        import pandas as pd

        try:
            pd.Timestamp(args.since)
        except ValueError:
            print(f"reports history: --since {args.since!r} is not a date (accepted: YYYY-MM-DD or an ISO time)", file=sys.stderr)
            return 2
    from store.db import StoreError, display, open_store, resolve_url

    try:
        url = resolve_url(args.store)
        engine = open_store(url)
    except StoreError as exc:
        print(f"reports history: {exc}", file=sys.stderr)
        return 1
    try:
        return _build(args, engine, display(url))
    except Exception as exc:  # noqa: BLE001 - one line for the user; ATTNBENCH_DEBUG=1 shows the traceback
        if os.environ.get("ATTNBENCH_DEBUG"):
            raise
        print(f"reports history: could not build the page: {type(exc).__name__}: {exc} (ATTNBENCH_DEBUG=1 shows the traceback)",
              file=sys.stderr)
        return 1
    finally:
        engine.dispose()


def _build(args: argparse.Namespace, engine, source: str) -> int:
    from .page import write_page
    from .series import build_history, read_cells
    from .steps import find_steps

    impls = [name.strip() for name in args.impls.split(",") if name.strip()] if args.impls else None
    frame = read_cells(engine, impls, args.machine, args.since)
    if frame.empty:
        print(f"reports history: no measured cell in {source} matches (impls={args.impls}, machine={args.machine}, "
              f"since={args.since}); ingest runs with python -m reports ingest", file=sys.stderr)
        return 2
    history = build_history(frame, args.repo, normalize=args.normalize)
    steps = find_steps(history)
    if args.confirm and not steps.empty:
        _confirm(steps, history, args, engine)
    index = write_page(history, steps, args.out, source, args.normalize)
    print(f"{len(history.commits)} commits, {len(steps)} step(s); {index}")
    return 0


def _confirm(steps, history, args, engine) -> None:
    from .confirm import confirm_step

    problems = history.points.drop_duplicates("cell_id").set_index("cell_id")["problem"]
    for index in steps.index[:args.confirm_max]:
        step = steps.loc[index]
        print(f"confirming {step['cell_id']} {step['good_commit']}..{step['bad_commit']} ({step['change']:+.1%}) with the paired gate",
              flush=True)
        confirmed, words = confirm_step(step.to_dict(), json.loads(problems[step["cell_id"]]), args.repo, engine)
        steps.loc[index, "confirmed"] = confirmed
        steps.loc[index, "confirmation"] = words
        print(f"  {words}", flush=True)
