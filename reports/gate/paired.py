"""The paired gate: base and head measured in the same job, in randomized interleaved pairs of blocks."""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import time
from pathlib import Path

from . import judge
from .sampling import Samples, iterations_for, measure_pairs
from .settings import GateSettings
from .stats import Comparison, adjust, compare_paired, log_ratios, timing_verdict, uncontended
from .trees import checkout, describe, working_tree
from .workers import Worker

MIN_PAIRS = 10
ROUND_PAIRS = 10  # pairs added per round while a benchmark is inconclusive


class NothingSelected(Exception):
    """The selection yields no cell both sides can run (exit code 3)."""


def select_cells(head: Worker, settings: GateSettings) -> list[dict]:
    cells = head.request("select", options=settings.selection)["cells"]
    if not cells:
        raise NothingSelected(f"no cells selected by {describe_selection(settings.selection)}")
    return cells


def describe_selection(selection: dict) -> str:
    return " ".join(f"--attn-{k.replace('_', '-')} {v}" for k, v in selection.items() if v) or "the default selection"


@contextlib.contextmanager
def sides(base_tree: Path, head_tree: Path, settings: GateSettings):
    """``settings.workers`` processes per side, all started at once; the base ones are checked first, so a
    base that does not import is reported as such. Closed however the block ends."""
    base = [Worker(base_tree, head_tree, "base", settings.threads) for _ in range(settings.workers)]
    head = [Worker(head_tree, head_tree, "head", settings.threads) for _ in range(settings.workers)]
    try:
        for worker in base + head:
            worker.wait_ready()
        yield base, head
    finally:
        for worker in base + head:
            worker.close()


def setup_all(base: list[Worker], head: list[Worker], cells: list[dict], seed: int) -> tuple[dict, dict]:
    """Every worker builds every cell, in parallel; the first of each side also measures error and memory."""
    for side in (base, head):
        for index, worker in enumerate(side):
            worker.submit("setup", cells=cells, seed=seed, measure=index == 0)
    replies = [[w.collect() for w in side] for side in (base, head)]
    setups = []
    for side in replies:
        first = {c["id"]: c for c in side[0]["cells"]}
        for other in side[1:]:  # a cell counts as running only if every worker of the side could build it
            for c in other["cells"]:
                if c["status"] != "ok" and first[c["id"]]["status"] == "ok":
                    first[c["id"]] = {**first[c["id"]], "status": c["status"], "reason": c["reason"]}
        setups.append(first)
    return setups[0], setups[1]


def plan_iterations(cells: list[dict], base_setup: dict, head_setup: dict, settings: GateSettings) -> tuple[dict, float]:
    """Calls per sample for each cell (the same on both sides) and the predicted seconds of one pair."""
    iterations, pair_seconds = {}, 0.0
    for cell in cells:
        singles = [base_setup[cell["id"]]["single_s"], head_setup[cell["id"]]["single_s"]]
        iterations[cell["id"]] = iterations_for(singles)
        pair_seconds += sum(singles) * (1 + settings.calls * iterations[cell["id"]])
    return iterations, pair_seconds


def compare_samples(samples: Samples, entries: list[dict], iterations: dict, rng: random.Random) -> dict[str, Comparison]:
    comparisons = {}
    for e in entries:
        base_times, head_times = samples.base[e["id"]], samples.head[e["id"]]
        clean = uncontended(base_times, head_times)
        ratios = log_ratios(base_times, head_times)[clean]
        c = compare_paired(ratios, seed=rng.randrange(2**31))
        c.samples = len(base_times)
        c.extra.update(clean_pairs=int(clean.sum()),base_median_s=statistics.median(base_times), head_median_s=statistics.median(head_times),
                       iterations=iterations[e["id"]],
                       samples={"base_s": base_times, "head_s": head_times, "workers": samples.workers})
        comparisons[e["id"]] = c
    return comparisons


def undecided(entries: list[dict], comparisons: dict[str, Comparison], settings: GateSettings) -> int:
    """How many benchmarks are still inconclusive at this many pairs."""
    judged = [comparisons[e["id"]] for e in entries]
    adjust(judged, settings.alpha)
    verdicts = [timing_verdict(c, settings.floor_for(e["problem"]["device"]), settings.alpha)[0] for e, c in zip(entries, judged)]
    return verdicts.count("inconclusive")


def measure_and_compare(base: list[Worker], head: list[Worker], cells: list[dict], settings: GateSettings,
                        rng: random.Random, phases: dict, phase: str) -> tuple[list[dict], dict, int]:
    """Set up cells on both sides and measure the comparable ones in pairs: at least ``settings.pairs``, then
    rounds of more pairs while some benchmark is inconclusive, up to ``settings.max_pairs`` or the time budget."""
    start = time.perf_counter()
    base_setup, head_setup = setup_all(base, head, cells, settings.seed)
    phases[f"{phase}_setup_s"] = time.perf_counter() - start
    entries = [judge.entry(c, base_setup.get(c["id"]), head_setup[c["id"]]) for c in cells]
    timed = judge.comparable(entries)
    if not timed:
        return entries, {}, 0
    iterations, pair_seconds = plan_iterations(timed, base_setup, head_setup, settings)
    ids = [e["id"] for e in timed]
    pairs = max(MIN_PAIRS, min(settings.pairs, int(settings.budget_seconds / max(pair_seconds, 1e-9))))
    samples = measure_pairs(base, head, ids, iterations, pairs, rng, settings.calls)
    comparisons = compare_samples(samples, timed, iterations, rng)
    while pairs < settings.max_pairs and undecided(timed, comparisons, settings):
        per_pair = samples.seconds / pairs
        more = min(ROUND_PAIRS, settings.max_pairs - pairs, int((settings.budget_seconds - samples.seconds) / per_pair))
        if more <= 0:
            break
        samples = measure_pairs(base, head, ids, iterations, more, rng, settings.calls, samples=samples)
        pairs += more
        comparisons = compare_samples(samples, timed, iterations, rng)
    phases[f"{phase}_measure_s"] = samples.seconds
    return entries, comparisons, pairs


def run_paired(settings: GateSettings, base_ref: str, head_ref: str | None) -> dict:
    started = time.perf_counter()
    phases: dict = {}
    shuffle_seed = settings.shuffle_seed if settings.shuffle_seed is not None else random.randrange(2**31)
    rng = random.Random(shuffle_seed)
    repo = working_tree()
    load_before = _load()
    with contextlib.ExitStack() as stack:
        base_tree, base_commit = stack.enter_context(checkout(repo, base_ref, "base"))
        if head_ref is None:
            head_tree, head_commit = repo, describe(repo)
        else:
            head_tree, head_commit = stack.enter_context(checkout(repo, head_ref, "head"))
        with sides(base_tree, head_tree, settings) as (base, head):
            phases["start_s"] = time.perf_counter() - started
            cells = select_cells(head[0], settings)
            entries, comparisons, pairs = measure_and_compare(base, head, cells, settings, rng, phases, "first")
            machine = head[0].hello["machine"]
            versions = {"base": base[0].hello["torch"], "head": head[0].hello["torch"]}
        timed = [e for e in entries if e["id"] in comparisons]
        if not timed:
            reasons = sorted({r for e in entries for r in (e["reason"]["head"], e["reason"]["base"]) if r})
            raise NothingSelected(f"none of the {len(entries)} selected cells runs on both sides ({reasons[0] if reasons else 'no reason given'})")
        floors = [settings.floor_for(e["problem"]["device"]) for e in timed]
        flagged = judge.judge_timing(timed, [comparisons[e["id"]] for e in timed], floors, settings.alpha)
        if flagged and settings.confirm:
            confirm_in_fresh_processes(flagged, base_tree, head_tree, settings, rng, phases)
    return {
        "schema": 1, "mode": "paired", "base": {"ref": base_ref, "commit": base_commit},
        "head": {"ref": head_ref or "working tree", "commit": head_commit, "tree": str(head_tree)},
        "selection": settings.selection, "settings": {**settings.to_dict(), "shuffle_seed": shuffle_seed, "pairs_used": pairs},
        "machine": machine, "torch": versions, "load": {"before": load_before, "after": _load()},
        "benchmarks": entries, "phases": phases, "wall_seconds": time.perf_counter() - started,
    }


def confirm_in_fresh_processes(flagged: list[dict], base_tree: Path, head_tree: Path, settings: GateSettings,
                               rng: random.Random, phases: dict) -> None:
    """Measure the flagged benchmarks again with new worker processes on both sides; judge them among themselves."""
    start = time.perf_counter()
    cells = [{"id": e["id"], "impl": e["impl"], "problem": e["problem"]} for e in flagged]
    with sides(base_tree, head_tree, settings) as (base, head):
        _, comparisons, _ = measure_and_compare(base, head, cells, settings, rng, phases, "confirm")
    found = [e for e in flagged if e["id"] in comparisons]
    judged = [comparisons[e["id"]] for e in found]
    adjust(judged, settings.alpha)
    for e, c in zip(found, judged):
        judge.settle_confirmation(e, c, settings.alpha)
    for e in flagged:
        if e["id"] not in comparisons:
            judge.settle_unmeasured(e)
    phases["confirm_s"] = time.perf_counter() - start


def _load() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
