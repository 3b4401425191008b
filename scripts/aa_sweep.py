"""A/A reproducibility of a sweep: the same command run several times, per-cell run-to-run spread.

Runs ``pytest --benchmark-only`` with the given sweep options into temporary results folders,
pairs cells by id, and prints per variant the spread of each cell's median between runs
(``max/min - 1`` over the runs): median, 90th percentile and max, over all cells and over cells
slower than 1 ms. Variants (``--variant``) are run interleaved, round after round and in
alternating order, so that every variant sees the same machine load::

    python scripts/aa_sweep.py --runs 2 -- --attn-preset cpu
    python scripts/aa_sweep.py --variant 'plain: --attn-process-state none' --variant 'stable:' \\
        -- --attn-preset cpu --attn-impls sdpa,sdpa-math,naive --attn-seq-lens 512,1024

A variant is ``NAME: words``; a word ``KEY=VALUE`` sets an environment variable, any other word is
passed to pytest. With ``--attn-repeat N`` in a run, a cell's value is the median of its repeats.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # reports.intervals, the report's own interval (torch-free)
SLOW_CELL_SECONDS = 1e-3


@dataclass
class Variant:
    name: str
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    runs: list[dict[str, dict]] = field(default_factory=list)  # per run: cell id → median seconds and interval
    loads: list[tuple[float, float]] = field(default_factory=list)  # per run: 1-min load before, after
    walls: list[float] = field(default_factory=list)


def parse_variant(text: str) -> Variant:
    name, _, words = text.partition(":")
    if not name.strip():
        raise SystemExit(f"aa_sweep: --variant {text!r}: expected 'NAME: [KEY=VALUE ...] [pytest args ...]'")
    variant = Variant(name.strip())
    for word in shlex.split(words):
        key, eq, value = word.partition("=")
        if eq and not word.startswith("-") and key.isidentifier():
            variant.env[key] = value
        else:
            variant.args.append(word)
    return variant


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except OSError:
        return math.nan


def read_cells(run_dir: Path) -> dict[str, dict]:
    """Cell id → {"median": seconds per call (median over repeats), "interval": the report's 95% interval}."""
    from reports.intervals import median_interval

    medians: dict[str, list[float]] = {}
    rounds: dict[str, list[float]] = {}
    for path in sorted(run_dir.rglob("cells*.jsonl")):
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            time = record.get("time") or {}
            if record.get("status") == "ok" and time.get("median"):
                medians.setdefault(record["cell_id"], []).append(time["median"])
                rounds.setdefault(record["cell_id"], []).extend(time.get("data") or [])
    cells = {}
    for cell, values in medians.items():
        median = statistics.median(values)
        low, high, _ = median_interval(values if len(values) > 1 else [], rounds[cell], median)
        cells[cell] = {"median": median, "interval": (low, high)}
    return cells


def run_once(variant: Variant, sweep_args: list[str], python: str, verbose: bool, lock: str | None = None) -> None:
    with tempfile.TemporaryDirectory(prefix="aa-sweep-") as tmp:
        command = [python, "-m", "pytest", "--benchmark-only", "-q", "-p", "no:cacheprovider",
                   "--attn-no-report", f"--attn-results={tmp}", *sweep_args, *variant.args]
        if lock:  # hold a shared benchmark lock for this run only, so other benchmark jobs interleave
            command = ["flock", lock, *command]
        env = {**os.environ, **variant.env}
        before, start = load_average(), time.perf_counter()
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        variant.walls.append(time.perf_counter() - start)
        variant.loads.append((before, load_average()))
        medians = read_cells(Path(tmp))
        if not medians:
            tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
            raise SystemExit(f"aa_sweep: variant {variant.name!r} measured no cells (exit {done.returncode}):\n{tail}")
        variant.runs.append(medians)
        if verbose:
            print(f"  {variant.name}: run {len(variant.runs)}: {len(medians)} cells in {variant.walls[-1]:.0f} s, "
                  f"load {before:.2f} -> {variant.loads[-1][1]:.2f}", flush=True)


def spreads(runs: list[dict[str, dict]]) -> dict[str, tuple[float, float]]:
    """Cell id → (max/min - 1 over the runs, median seconds) for cells measured in every run."""
    common = set.intersection(*(set(r) for r in runs)) if runs else set()
    result = {}
    for cell in sorted(common):
        values = [r[cell]["median"] for r in runs]
        result[cell] = (max(values) / min(values) - 1.0, statistics.median(values))
    return result


def overlap_rate(runs: list[dict[str, dict]]) -> tuple[int, int]:
    """(cell pairs whose intervals overlap, cell pairs) over consecutive runs: in an A/A every pair should be '≈'."""
    overlapping = total = 0
    for first, second in zip(runs, runs[1:]):
        for cell in set(first) & set(second):
            (a_low, a_high), (b_low, b_high) = first[cell]["interval"], second[cell]["interval"]
            overlapping += a_low <= b_high and b_low <= a_high
            total += 1
    return overlapping, total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def summary(per_cell: dict[str, tuple[float, float]]) -> dict:
    def stats(values: list[float]) -> dict:
        return {"cells": len(values), "median": percentile(values, 0.5), "p90": percentile(values, 0.9),
                "max": max(values) if values else math.nan}

    every = [s for s, _ in per_cell.values()]
    slow = [s for s, seconds in per_cell.values() if seconds > SLOW_CELL_SECONDS]
    worst = sorted(per_cell.items(), key=lambda item: -item[1][0])[:5]
    return {"all": stats(every), "over_1ms": stats(slow),
            "worst": [{"cell": c, "spread": s, "median_s": t} for c, (s, t) in worst]}


def print_summary(variant: Variant, result: dict) -> None:
    loads = ", ".join(f"{a:.1f}->{b:.1f}" for a, b in variant.loads)
    print(f"\n{variant.name}  ({len(variant.runs)} runs, wall {sum(variant.walls):.0f} s, 1-min load {loads})")
    print(f"  {'cells':<10}{'n':>5}{'median':>10}{'p90':>10}{'max':>10}")
    for label, key in (("all", "all"), ("> 1 ms", "over_1ms")):
        s = result[key]
        print(f"  {label:<10}{s['cells']:>5}{100 * s['median']:>9.1f}%{100 * s['p90']:>9.1f}%{100 * s['max']:>9.1f}%")
    overlapping, total = result["overlap"]
    print(f"  '≈' (intervals overlap) between consecutive runs: {overlapping}/{total} cells")
    for item in result["worst"][:3]:
        print(f"  worst: {100 * item['spread']:6.1f}%  {item['median_s'] * 1e3:9.3f} ms  {item['cell']}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     usage="%(prog)s [--runs N] [--variant 'NAME: ...'] -- SWEEP OPTIONS")
    parser.add_argument("--runs", type=int, default=2, help="runs per variant (default 2: one A/A pair)")
    parser.add_argument("--variant", action="append", default=[],
                        help="'NAME: [KEY=VALUE ...] [pytest args ...]' (repeatable; default one variant 'as-is')")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs pytest (default: this one)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--lock", help="a lock file each run holds while it runs (flock), e.g. /tmp/attnbench-bench.lock")
    parser.add_argument("sweep", nargs="*", help="sweep options after --, e.g. -- --attn-preset cpu")
    args = parser.parse_args(argv)
    if args.runs < 2:
        parser.error("--runs must be at least 2 (a spread needs two runs)")
    variants = [parse_variant(v) for v in args.variant] or [Variant("as-is")]
    print(f"aa_sweep: {len(variants)} variant(s) x {args.runs} runs of: pytest --benchmark-only {' '.join(args.sweep)}",
          flush=True)
    for round_index in range(args.runs):
        order = variants if round_index % 2 == 0 else variants[::-1]
        for variant in order:
            run_once(variant, args.sweep, args.python, verbose=True, lock=args.lock)
    results = {}
    for variant in variants:
        results[variant.name] = summary(spreads(variant.runs))
        results[variant.name]["overlap"] = overlap_rate(variant.runs)
        results[variant.name].update(env=variant.env, args=variant.args, loads=variant.loads, walls=variant.walls)
        print_summary(variant, results[variant.name])
    if args.json:
        args.json.write_text(json.dumps({"sweep": args.sweep, "runs": args.runs, "variants": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
