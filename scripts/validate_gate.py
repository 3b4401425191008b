"""Validate the regression gate on this machine: false alarms, detection rates, deterministic gates, wall time.

    python scripts/validate_gate.py                 # the default selection: A/A, slowdowns, accuracy (about 80 gate runs)
    python scripts/validate_gate.py --quick         # 1 run per scenario, to try the script

Everything runs in a temporary git worktree of HEAD (the committed gate and implementations), with
base = HEAD and head = that worktree, as a developer would run ``python -m gate --base HEAD``,
with the gate's default selection (every runnable implementation, one cell each):
- aa:              the worktree unchanged (A/A): any regression is a false alarm.
- aa-busy:         A/A with one busy-loop process competing for the 2 cores during the gate run.
- sparse-P:        block-sparse made P% slower (a loop calibrated on this machine, scripts/gate_inject.py).
- linear-P:        linear made P% slower, the same way.
- linear-accuracy: half of linear's output replaced by the mean of the values (its error grows ~15%).
- memory:          naive holds an extra score-sized buffer during the call.
- history:         (--history N) the unchanged worktree against a baseline written at the start of the
                   validation (history mode, times normalized by the in-run matmul): false alarms across runs.
Scenarios run in rounds (each round every injected scenario once and --aa-per-round A/A runs, in a
shuffled order), so an interrupted validation still has balanced counts.
Each gate run takes /tmp/attnbench-bench.lock for itself only, so other jobs interleave.
Results: results/gate-validation/<stamp>/runs.jsonl (one line per run), summary.json, summary.md.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import random
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from gate.workers import ALLOCATOR_ENV  # noqa: E402 - the calibration must run like the gate's workers

LOCK = "/tmp/attnbench-bench.lock"
# The gate's default cell (gate/selection.py): batch 1, 2 heads, L=256, head_dim 32, causal, float32, forward.
PROBLEM = {"batch": 1, "seq_len": 256, "heads": 2, "head_dim": 32, "mask": "causal"}
TARGETS = {  # scenario family → (implementation, its class, its module)
    "sparse": ("block-sparse[block=64]", "BlockSparse", Path("impls/sparse/block_sparse.py")),
    "linear": ("linear", "Linear", Path("impls/linear/linear.py")),
    "naive": ("naive", "Naive", Path("impls/exact/naive.py")),
}
SLOWDOWNS = (10, 25)
BUSY_LOOP = "while True: pass"
BASELINE = "baseline.json"  # history mode's baseline, written into the output folder at the start
SCORE_BYTES = PROBLEM["batch"] * PROBLEM["heads"] * PROBLEM["seq_len"] ** 2 * 4  # one extra float32 score matrix


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def scenario_target(scenario: str) -> tuple[str, str, Path] | None:
    family = scenario.split("-")[0]
    return TARGETS.get("naive" if scenario == "memory" else family)


def plan(args, rng: random.Random) -> list[tuple[str, int]]:
    """Rounds: every injected scenario once and ``aa_per_round`` A/A runs each, shuffled within the round."""
    injected = [f"{family}-{p}" for family in ("sparse", "linear") for p in args.levels]
    injected += ["linear-accuracy"] * bool(args.accuracy) + ["memory"] * bool(args.memory) + ["aa-busy"] * bool(args.busy)
    injected += ["history"] * bool(args.history)
    limits = {"linear-accuracy": args.accuracy, "memory": args.memory, "aa-busy": args.busy, "history": args.history}
    runs, counts = [], {}
    for _ in range(args.rounds):
        round_ = [s for s in injected if counts.get(s, 0) < limits.get(s, args.rounds)] + ["aa"] * args.aa_per_round
        rng.shuffle(round_)
        for scenario in round_:
            runs.append((scenario, counts.get(scenario, 0)))
            counts[scenario] = counts.get(scenario, 0) + 1
    return runs


def injection_command(tree: Path, scenario: str, report: Path) -> list[str] | None:
    """The command that applies this scenario's injection (calibrating a slowdown first), or None for A/A."""
    target = scenario_target(scenario)
    if scenario.startswith("aa") or scenario == "history" or target is None:
        return None
    impl, cls, module = target
    suffix = scenario.split("-", 1)[1] if "-" in scenario else ""
    kind, amount = {"memory": ("memory", SCORE_BYTES), "accuracy": ("blur", 0)}.get(suffix or scenario, ("slowdown", None))
    if amount is None:
        amount = int(suffix) / 100
    return [sys.executable, str(ROOT / "scripts" / "gate_inject.py"), "--tree", str(tree), "--module", str(module),
            "--cls", cls, "--impl", impl, "--problem", json.dumps(PROBLEM), "--kind", kind,
            "--amount", str(amount), "--report", str(report)]


def locked_command(tree: Path, scenario: str, out: Path, report: Path) -> list[str]:
    """One lock hold: injection (with its calibration), an optional busy loop, the gate run."""
    steps = []
    inject = injection_command(tree, scenario, report)
    if inject:
        allocator = [f"{name}={value}" for name, value in ALLOCATOR_ENV.items()]
        steps.append(f"{shlex.join(['env', *allocator, *inject])} || exit 3")
    if scenario == "aa-busy":
        steps.append(f"{shlex.quote(sys.executable)} -c {shlex.quote(BUSY_LOOP)} & busy=$!")
    mode = ["--baseline", str(out.parent.parent / BASELINE)] if scenario == "history" else ["--base", "HEAD"]
    gate = [sys.executable, "-m", "gate", *mode, "--out", str(out)]
    steps.append(f"{shlex.join(gate)}; code=$?")
    if scenario == "aa-busy":
        steps.append("kill $busy")
    steps.append("exit $code")
    return ["flock", LOCK, "bash", "-c", "; ".join(steps)]


def run_once(tree: Path, scenario: str, index: int, out_root: Path) -> dict:
    git("checkout", "--", *(str(module) for _, _, module in TARGETS.values()), cwd=tree)  # undo the previous run's injection
    out = out_root / "runs" / f"{scenario}-{index:02d}"
    out.mkdir(parents=True, exist_ok=True)
    report = out / "injected.json"
    requested = time.time()
    done = subprocess.run(locked_command(tree, scenario, out, report), cwd=tree, capture_output=True, text=True)
    record = {"scenario": scenario, "index": index, "exit_code": done.returncode, "requested": requested,
              "injected": json.loads(report.read_text()) if report.exists() else {"kind": "none"},
              "last_line": (done.stdout.strip().splitlines() or [""])[-1]}
    try:
        result = json.loads((out / "gate.json").read_text())
    except (OSError, ValueError):
        record.update(error=done.stderr[-2000:])
        return record
    record.update(wall_s=result.get("wall_seconds"), phases=result.get("phases"), load=result.get("load"),
                  pairs=result.get("settings", {}).get("pairs_used"), benchmarks={})
    for e in result["benchmarks"]:
        t = e.get("time", {})
        if e["problem"].get("seq_len") != PROBLEM["seq_len"] or e["problem"].get("mode") != "fwd":
            continue  # one cell per implementation: its default one
        record["benchmarks"][e["impl"]] = {
            "verdict": e["verdict"], "time": t.get("verdict"), "change": t.get("change"), "interval": t.get("interval"),
            "p_adjusted": t.get("p_adjusted"), "mde": t.get("mde"), "confirmed": t.get("confirmation", {}).get("confirmed"),
            "memory": e.get("memory", {}).get("verdict"), "error": e.get("error", {}).get("verdict")}
    return record


def flagged(record: dict, impl: str | None = None) -> bool:
    return any(b["verdict"] == "regression" for name, b in record.get("benchmarks", {}).items() if impl in (None, name))


REACH = """
import importlib, json, sys
from gate.selection import auto_device, first_runnable
from impls import registry
cls = getattr(importlib.import_module(sys.argv[1]), sys.argv[2])
original, calls = cls.build, []
cls.build = lambda self, *args: calls.append(1) or original(self, *args)
found = []
for impl in registry():
    problem, _ = first_runnable(impl, auto_device())
    if problem is not None and "flex" not in impl.name:  # flex kernels compile; none of them builds on another class
        calls.clear()
        impl.build(problem, *problem.make_inputs(0))
        found += [impl.full_name] if calls else []
print(json.dumps(found))
"""


def reached(scenario: str, cache: dict = {}) -> set[str]:  # noqa: B006 - a cache for the life of the script
    """The implementations an injection reaches: those whose build calls the injected class's build (its own
    subclasses, and implementations built on it, as bigbird, fixed and strided are on block-sparse)."""
    target = scenario_target(scenario)
    if target is None or target_of(scenario) is None:
        return set()
    impl, cls, module = target
    if cls not in cache:
        dotted = str(module.with_suffix("")).replace("/", ".")
        done = subprocess.run([sys.executable, "-c", REACH, dotted, cls], cwd=ROOT, capture_output=True, text=True, check=True)
        cache[cls] = set(json.loads(done.stdout.strip().splitlines()[-1]))
    return cache[cls]


def target_of(scenario: str) -> str | None:
    target = scenario_target(scenario)
    return target[0] if target and not scenario.startswith("aa") and scenario != "history" else None


def summarize(records: list[dict]) -> dict:
    summary = {}
    for scenario in sorted({r["scenario"] for r in records}, key=_scenario_order):
        runs = [r for r in records if r["scenario"] == scenario]
        impl = target_of(scenario)
        target = [r.get("benchmarks", {}).get(impl, {}) for r in runs] if impl else []
        changes = [t["change"] for t in target if t.get("change") is not None]
        injected = [r["injected"]["measured_injected"] for r in runs if "measured_injected" in r["injected"]]
        walls = [r["wall_s"] for r in runs if r.get("wall_s")]
        loads = [r["load"]["before"][0] for r in runs if (r.get("load") or {}).get("before")]
        summary[scenario] = {
            "target": impl, "runs": len(runs), "exit_codes": _count([r["exit_code"] for r in runs]),
            "target_flagged": sum(flagged(r, impl) for r in runs) if impl else None,
            "reached_by_the_injection": sorted(reached(scenario) - {impl}),
            "reached_flagged": sum(flagged(r, name) for r in runs for name in r.get("benchmarks", {})
                                   if name != impl and name in reached(scenario)),
            "other_cells_flagged": sum(flagged(r, name) for r in runs for name in r.get("benchmarks", {})
                                       if name != impl and name not in reached(scenario)),
            "runs_with_any_regression": sum(flagged(r) for r in runs),
            "cells_per_run": statistics.median(len(r.get("benchmarks", {})) for r in runs),
            "runs_with_a_confirmation_step": sum(any(b.get("confirmed") is not None for b in r.get("benchmarks", {}).values()) for r in runs),
            "target_verdicts": _count([t.get("verdict") for t in target]),
            "target_parts": _count(["+".join(k for k in ("error", "memory", "time") if t.get(k) == "regression") or None
                                    for t in target]),
            "target_change_median": statistics.median(changes) if changes else None,
            "target_change_range": [min(changes), max(changes)] if changes else None,
            "measured_injected_median": statistics.median(injected) if injected else None,
            "measured_injected_range": [min(injected), max(injected)] if injected else None,
            "wall_s_median": statistics.median(walls) if walls else None, "wall_s_max": max(walls) if walls else None,
            "load_1min_median": round(statistics.median(loads), 1) if loads else None, "load_1min_max": max(loads) if loads else None,
            "failed_runs": sum("error" in r for r in runs)}
    return summary


def _count(values: list) -> dict:
    return {str(v): values.count(v) for v in sorted(set(values), key=str)}


def _scenario_order(name: str) -> tuple:
    order = ["aa", "aa-busy", "sparse-10", "sparse-25", "linear-10", "linear-25", "linear-accuracy", "memory", "history"]
    return (order.index(name) if name in order else len(order), name)


def _pct_range(median, span) -> str:
    return f"{median:+.1%} [{span[0]:+.1%}, {span[1]:+.1%}]" if span else "-"


def markdown(summary: dict, started: str, commit: str, total_s: float) -> str:
    lines = [f"# Gate validation {started} (commit {commit})", "",
             f"{os.cpu_count()} cores shared with other jobs; each gate run (and its injection's calibration) under "
             f"`flock {LOCK}`. The gate's default selection (every runnable implementation, one cell each), 1 thread per "
             f"worker. Total {total_s / 60:.1f} min.", "",
             "| scenario | target | runs | exit codes | target flagged | built on the target, flagged | other cells flagged (false alarms) "
             "| target verdicts (part) | target change: median [range] | injected (measured) | cells | wall s median (max) "
             "| load 1 min median (max) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        wall = f"{s['wall_s_median']:.0f} ({s['wall_s_max']:.0f})" if s["wall_s_median"] else "-"
        hit = f"{s['target_flagged']}/{s['runs']}" if s["target"] else "-"
        reach = f"{s['reached_flagged']} ({', '.join(n.split('[')[0] for n in s['reached_by_the_injection'])})" \
            if s["reached_by_the_injection"] else "-"
        lines.append(f"| {name} | {s['target'] or '-'} | {s['runs']} | {s['exit_codes']} | {hit} | {reach} | {s['other_cells_flagged']} | "
                     f"{s['target_verdicts']} {s['target_parts'] if s['target'] else ''} | "
                     f"{_pct_range(s['target_change_median'], s['target_change_range'])} | "
                     f"{_pct_range(s['measured_injected_median'], s['measured_injected_range'])} | {s['cells_per_run']} | {wall} | "
                     f"{s['load_1min_median']} ({s['load_1min_max']}) |")
    return "\n".join(lines) + "\n"


def write_summary(records: list[dict], out_root: Path, started: str, commit: str, seconds: float) -> str:
    summary = summarize(records)
    (out_root / "summary.json").write_text(json.dumps(summary, indent=1))
    text = markdown(summary, started, commit, seconds)
    (out_root / "summary.md").write_text(text)
    return text


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10, help="rounds: each injected scenario once per round (default 10)")
    parser.add_argument("--aa-per-round", type=int, default=3, help="A/A runs per round (default 3: 30 in 10 rounds)")
    parser.add_argument("--levels", type=lambda s: [int(x) for x in s.split(",")], default=list(SLOWDOWNS),
                        help="slowdowns in percent injected into block-sparse and into linear (default 10,25)")
    parser.add_argument("--accuracy", type=int, default=5, help="runs of the linear accuracy injection (default 5)")
    parser.add_argument("--memory", type=int, default=0, help="runs of the naive memory injection (default 0)")
    parser.add_argument("--busy", type=int, default=0, help="A/A runs with a busy loop competing (default 0)")
    parser.add_argument("--history", type=int, default=0, help="history-mode runs against a baseline written first (default 0)")
    parser.add_argument("--quick", action="store_true", help="one round, one A/A run")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scenario order")
    parser.add_argument("--out", type=Path, default=None, help="default results/gate-validation/<stamp>")
    parser.add_argument("--summarize", type=Path, default=None, metavar="DIR",
                        help="only rewrite DIR's summary from its runs.jsonl (e.g. of a validation still running)")
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.aa_per_round = 1, 1
    return args


def main() -> None:
    args = parse_args()
    if args.summarize:
        records = [json.loads(line) for line in (args.summarize / "runs.jsonl").read_text().splitlines() if line.strip()]
        print(write_summary(records, args.summarize, args.summarize.name, "(see runs.jsonl)", 0.0))
        return
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind: remove the worktree
    started = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out_root = args.out or ROOT / "results" / "gate-validation" / started
    out_root.mkdir(parents=True, exist_ok=True)
    parent = Path(tempfile.mkdtemp(prefix="attnbench-gate-validate-"))
    tree = parent / "tree"
    git("worktree", "add", "--detach", "--quiet", str(tree), "HEAD")
    commit = git("rev-parse", "--short=12", "HEAD", cwd=tree)
    begin = time.perf_counter()
    records = []
    try:
        runs = plan(args, random.Random(args.seed))
        if args.history:
            write = [sys.executable, "-m", "gate", "--write-baseline", str(out_root / BASELINE), "--pairs", "40", "--max-pairs", "40"]
            print(subprocess.run(["flock", LOCK, *write], cwd=tree, capture_output=True, text=True, check=True).stdout.strip())
        print(f"{len(runs)} gate runs in worktree {tree} at {commit}", flush=True)
        with open(out_root / "runs.jsonl", "a") as log:
            for n, (scenario, index) in enumerate(runs, 1):
                record = run_once(tree, scenario, index, out_root)
                records.append(record)
                log.write(json.dumps(record) + "\n")
                log.flush()
                write_summary(records, out_root, started, commit, time.perf_counter() - begin)
                impl = target_of(scenario)
                target = record.get("benchmarks", {}).get(impl, {}) if impl else {}
                injected = record["injected"].get("measured_injected")
                others = [name for name, b in record.get("benchmarks", {}).items() if b["verdict"] == "regression" and name != impl]
                print(f"[{n}/{len(runs)}] {scenario:15s} exit {record['exit_code']} {impl or 'any'}: {target.get('verdict')} "
                      f"{(target.get('change') or 0):+.2%}" + (f" (injected {injected:+.2%})" if injected is not None else "")
                      + f" others flagged {others} wall {record.get('wall_s') or 0:.0f}s | {record['last_line'][:100]}", flush=True)
    finally:
        git("worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        git("worktree", "prune")
    print(write_summary(records, out_root, started, commit, time.perf_counter() - begin))
    print(f"wrote {out_root}")


if __name__ == "__main__":
    main()
