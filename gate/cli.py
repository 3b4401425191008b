"""`python -m gate` (also `python -m reports gate`): the command line, the run, the outputs and the exit code.

Exit codes: 0 pass, 1 confirmed regression, 2 inconclusive under --strict, 3 infrastructure
error (bad ref, a tree that does not import, nothing selected, bad options). The last line
printed is always ``gate: <code> <reason>``.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

from bench.options import AXIS_NAMES

from . import history, judge, report
from .paired import run_paired
from .settings import DEFAULT_PRESET, GateSettings
from .sides import NothingSelected
from .trees import TreeError, clean_stale
from .workers import WorkerError

SELECTION_AXES = (*AXIS_NAMES, "devices")  # the sweep's --attn-* axes (bench/options.py), passed on to the workers
DEFAULT_OUT = Path("reports") / "generated" / "gate"
LABELS = {0: "PASS", 1: "REGRESSION", 2: "INCONCLUSIVE", 3: "INFRASTRUCTURE ERROR"}


class UsageError(Exception):
    """Bad command-line options (exit code 3, like any other reason the gate could not run)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse would exit 2, which means "inconclusive" here
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m gate", description=(
        "Fail CI on a real regression, not on noise: base and head measured in interleaved pairs (or a run "
        "against a committed baseline), timing judged by significance and an effect floor, memory and error by margins."))
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--base", metavar="REF", help="git ref to compare against (checked out into a temporary worktree)")
    mode.add_argument("--baseline", metavar="FILE", type=Path, help="history mode: compare with a committed baseline file")
    mode.add_argument("--write-baseline", metavar="FILE", type=Path, help="measure the head and write a baseline file")
    parser.add_argument("--head", metavar="REF", help="git ref to gate (default: the working tree)")
    group = parser.add_argument_group("selection (as for the sweep; the default gives every runnable implementation a cell, "
                                      "and more to those the change touches)")
    group.add_argument("--attn-preset", default=None,
                       help=f"named grid (default {DEFAULT_PRESET}; with other --attn-* options: smoke's grids)")
    for axis in SELECTION_AXES:
        group.add_argument(f"--attn-{axis}", default=None, metavar="LIST")
    group.add_argument("--attn-seed", type=int, default=0, help="input seed (default 0)")
    decision = parser.add_argument_group("decision")
    decision.add_argument("--strict", action="store_true",
                          help="exit 2 when any benchmark is inconclusive or a cell fails on both sides")
    decision.add_argument("--accept-yardstick-change", action="store_true",
                          help="judge with the head's yardstick (oracle, inputs, tolerances, measuring code) instead of the base's")
    decision.add_argument("--floor", type=float, metavar="PCT",
                          help="smallest slowdown in percent that counts (default 3 on CPU, 2 on CUDA; 10 in history mode)")
    decision.add_argument("--alpha", type=float, default=0.05, help="significance level after Holm correction (default 0.05)")
    decision.add_argument("--no-confirm", action="store_true", help="do not re-measure a flagged benchmark in a fresh process pair")
    sampling = parser.add_argument_group("sampling")
    sampling.add_argument("--pairs", type=int, default=20, help="interleaved pairs of blocks measured first (default 20; at least 10)")
    sampling.add_argument("--max-pairs", type=int, default=60,
                          help="more pairs, 10 at a time, while a benchmark is inconclusive, up to this many (default 60)")
    sampling.add_argument("--calls", type=int, default=5, help="timed samples of each cell per block (default 5)")
    sampling.add_argument("--workers", type=int, default=3,
                          help="worker processes per side (default 3): a process's own layout shifts its times by ~1%%, "
                               "so pairs go round several")
    sampling.add_argument("--budget-seconds", type=float, default=120.0,
                          help="measuring time one pass may take; fewer pairs (never under 10) when the selection is slow")
    sampling.add_argument("--threads", type=int, default=1,
                          help="intra-op threads per worker (default 1: on a shared runner multi-threaded timings measure the "
                               "scheduler; 0 = torch's default)")
    sampling.add_argument("--shuffle-seed", type=int, default=None, help="seed of the block order (default: random, recorded)")
    parser.add_argument("--out", type=Path, default=None, help="folder for gate.json and gate.md (default ./reports/generated/gate)")
    parser.add_argument("--store", default=None, metavar="URL", help="results database the verdicts go into (default: $ATTNBENCH_STORE, "
                                                                     "else results/attnbench.sqlite); --no-store: none")
    parser.add_argument("--no-store", action="store_true", help="do not put the verdicts into the results database")
    return parser


def settings_from(args: argparse.Namespace) -> GateSettings:
    for name, low in (("pairs", 10), ("max_pairs", args.pairs), ("calls", 1), ("workers", 1), ("threads", 0)):
        if getattr(args, name) < low:
            raise UsageError(f"--{name.replace('_', '-')} {getattr(args, name)} is too small (accepted: {low} or more)")
    if args.floor is not None and not 0 <= args.floor < 100:
        raise UsageError(f"--floor {args.floor} is not a percentage in [0, 100)")
    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha {args.alpha} must be in (0, 1)")
    explicit = explicit_selection(args)
    if explicit and args.attn_preset == DEFAULT_PRESET:
        raise UsageError(f"--attn-preset {DEFAULT_PRESET} is the default selection and takes no other --attn-* options "
                         "(accepted: leave it out, or name a sweep preset such as smoke)")
    selection = {"preset": args.attn_preset or ("smoke" if explicit else DEFAULT_PRESET)}
    selection.update({axis.replace("-", "_"): getattr(args, f"attn_{axis.replace('-', '_')}") for axis in SELECTION_AXES})
    return GateSettings(selection={k: v for k, v in selection.items() if v is not None}, seed=args.attn_seed,
                        floor=None if args.floor is None else args.floor / 100, alpha=args.alpha, pairs=args.pairs, max_pairs=args.max_pairs,
                        calls=args.calls, workers=args.workers, budget_seconds=args.budget_seconds, confirm=not args.no_confirm,
                        strict=args.strict, threads=args.threads or None, shuffle_seed=args.shuffle_seed, out=args.out,
                        explicit_selection=explicit, accept_yardstick_change=args.accept_yardstick_change)


def explicit_selection(args: argparse.Namespace) -> bool:
    """Any --attn-* option other than ``--attn-preset gate``: exactly the sweep's cells for them."""
    return args.attn_preset not in (None, DEFAULT_PRESET) or any(getattr(args, f"attn_{a.replace('-', '_')}") for a in SELECTION_AXES)


def run(args: argparse.Namespace, settings: GateSettings) -> dict:
    if args.head and not args.base:
        raise UsageError("--head applies to the paired mode only (use it with --base REF)")
    clean_stale(Path.cwd())  # a run killed outright (SIGKILL after a CI cancel) left a worktree and temporary folders
    if args.write_baseline:
        return history.write_baseline(settings, args.write_baseline)
    if args.baseline:
        return history.run_history(settings, args.baseline, use_stored_selection=not explicit_selection(args))
    return run_paired(settings, args.base, args.head)


def _terminate(signum, frame):  # a cancelled CI job sends SIGTERM: unwind, so worktrees and workers go away
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _terminate)
    result: dict = {"benchmarks": []}
    out, store = None, False
    try:
        args = build_parser().parse_args(argv)
        store = False if args.no_store else args.store
        settings = settings_from(args)
        out = settings.out or DEFAULT_OUT
        result = run(args, settings)
        if result.get("mode") == "baseline-written":
            return _finish(result, judge.PASS, result["reason"], None)
        code, reason = judge.decide(result["benchmarks"], settings.strict)
    except (UsageError, TreeError, WorkerError, NothingSelected, history.BaselineError) as exc:
        return _finish(result, judge.INFRASTRUCTURE, str(exc), out, store)
    for line in report.headline(result):
        print(f"gate: {line}")
    print(report.table(result))
    return _finish(result, code, reason, out, store)


def _finish(result: dict, code: int, reason: str, out: Path | None, store: str | None | bool = False) -> int:
    """Write the outputs, put the verdicts into the results store (``store``: its URL, None for the default, False for none)."""
    result.update(exit_code=code, reason=reason)
    if out is not None:
        json_path, md_path = report.write(result, out)
        for note in report.notes(result):
            print(f"  {note}")
        print(f"gate: wrote {json_path} and {md_path}")
        if store is not False and result.get("benchmarks"):  # the verdicts join the results store's history
            from store.finish import store_gate_result

            print(f"gate: {store_gate_result(json_path, store)}")
    print(f"gate: {code} {LABELS[code]}: {reason}")
    return code
