"""``python -m reports``: ``build`` a report from result files or the store; ``summary`` prints a suite's tables;
``ingest`` fills the results store; ``history`` draws the trend page; ``gate`` forwards to the regression gate
(``python -m gate``)."""

from __future__ import annotations

import argparse
import os
import sys

USAGE = "python -m reports {build,summary,ingest,history,gate} ..."


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage block would bury the one line that matters
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_main(argv: list[str]) -> int:
    parser = OneLineParser(prog="python -m reports build",
                           description="Build one HTML report (and its CSV frame) from result files: run folders, "
                                       "cells*.jsonl files or pytest-benchmark JSON files; several runs, machines and devices merge.")
    parser.add_argument("results", nargs="*", metavar="RESULT", help="run folder, folder of runs, cells*.jsonl or pytest-benchmark .json")
    parser.add_argument("--store", default=None, metavar="URL", help="read the runs given by --run from this results store instead")
    parser.add_argument("--run", action="append", default=[], metavar="ID", help="a run id in the store (repeatable, or comma-separated)")
    parser.add_argument("--out", default=None, help="output folder (default: reports/generated/<run_id> or merged-...)")
    parser.add_argument("--baseline", default=None, help="implementation the speed-ups and crossovers compare against (default: sdpa)")
    args = parser.parse_args(argv)

    from .load import ResultFileError, load_results  # light: json and pathlib only, so a bad file fails fast

    if bool(args.store or args.run) == bool(args.results) or bool(args.store) != bool(args.run):
        print("reports build: give result files, or --store URL with --run ID (not both)", file=sys.stderr)
        return 2
    try:
        loaded = load_results(args.results) if args.results else _load_store(args.store, args.run)
    except ResultFileError as exc:
        print(f"reports build: {exc}", file=sys.stderr)
        return 2
    except ConnectionError as exc:
        print(f"reports build: {exc}", file=sys.stderr)
        return 1
    for note in loaded.notes:  # on the page too; said here so a damaged file is never read in silence
        print(f"reports build: note: {note}", file=sys.stderr)
    impls = sorted({str(r.get("impl")) for r in loaded.records})
    if args.baseline is not None and args.baseline not in impls:
        print(f"reports build: --baseline {args.baseline!r} is not in these results (available: {', '.join(impls)})", file=sys.stderr)
        return 2

    from .build import DEFAULT_BASELINE, build_from, default_out_dir  # pandas and matplotlib: imported only when needed

    try:
        index = build_from(loaded, args.out or default_out_dir(loaded), baseline=args.baseline or DEFAULT_BASELINE)
    except OSError as exc:
        print(f"reports build: cannot write the report to {args.out or 'reports/generated/'}: {exc.strerror or exc} "
              "(give a writable folder with --out)", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - one line for the user; ATTNBENCH_DEBUG=1 shows the traceback
        if os.environ.get("ATTNBENCH_DEBUG"):
            raise
        print(f"reports build: could not build the report from {', '.join(args.results)}: {type(exc).__name__}: {exc} "
              f"(ATTNBENCH_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1
    print(index)
    return 0


def _load_store(url: str, run_args: list[str]):
    from store.db import StoreError, display, open_store, resolve_url

    from .load_store import load_from_store

    run_ids = [r.strip() for text in run_args for r in text.split(",") if r.strip()]
    try:
        resolved = resolve_url(url)
        engine = open_store(resolved)
    except StoreError as exc:
        raise ConnectionError(str(exc)) from None
    try:
        return load_from_store(engine, run_ids, display(resolved))
    finally:
        engine.dispose()


def gate_main(argv: list[str]) -> int:
    """``python -m reports gate ...`` is ``python -m gate ...`` (the gate is its own top-level package)."""
    from gate import main as run_gate

    return int(run_gate(argv) or 0)


def summary_main(argv: list[str]) -> int:
    from .summaries import SUMMARIES

    parser = OneLineParser(prog="python -m reports summary",
                           description="Print a suite's summary tables from result files (several runs merge; a cell "
                                       "measured more than once counts once, its latest measurement).")
    parser.add_argument("suite", choices=sorted(SUMMARIES), help="the suite whose summary to print")
    parser.add_argument("results", nargs="+", metavar="RESULT", help="run folder, folder of runs, cells*.jsonl or pytest-benchmark .json")
    parser.add_argument("--out", default=None, help="also write <suite>_summary.md and .json into this folder")
    args = parser.parse_args(argv)

    from .load import ResultFileError, load_results
    from .summaries import summary_text

    try:
        records = load_results(args.results).records
    except ResultFileError as exc:
        print(f"reports summary: {exc}", file=sys.stderr)
        return 2
    try:
        text = summary_text(args.suite, records, args.out)
    except OSError as exc:
        print(f"reports summary: could not write into --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    if text is None:
        print(f"reports summary: nothing to summarize for the {args.suite} suite in {', '.join(args.results)} (it needs measured "
              f"{args.suite} cells beside the sdpa baseline; suites found: {', '.join(sorted({str(r.get('suite')) for r in records}))})",
              file=sys.stderr)
        return 2
    print(text)
    return 0


def ingest_main(argv: list[str]) -> int:
    from .ingest_cli import ingest_main as run

    return run(argv)


def history_main(argv: list[str]) -> int:
    from .history.cli import history_main as run

    return run(argv)


COMMANDS = {"build": build_main, "summary": summary_main, "ingest": ingest_main, "history": history_main, "gate": gate_main}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        print(f"python -m reports: a command is needed (accepted: {', '.join(COMMANDS)}; python -m reports --help says more)",
              file=sys.stderr)
        return 2
    if argv[0] in ("-h", "--help"):
        print(f"usage: {USAGE}\n\n  build   build an HTML report from result files (python -m reports build --help)\n"
              "  summary print a suite's summary tables (python -m reports summary --help)\n"
              "  ingest  put run folders and gate outputs into the results store (python -m reports ingest --help)\n"
              "  history the trend page across commits, with change points (python -m reports history --help)\n"
              "  gate    the noise-aware regression gate (python -m reports gate --help)")
        return 0
    command = COMMANDS.get(argv[0])
    if command is None:
        print(f"python -m reports: unknown command {argv[0]!r} (accepted: {', '.join(COMMANDS)})", file=sys.stderr)
        return 2
    return command(argv[1:])


if __name__ == "__main__":
    sys.exit(main())
