"""The paired gate: base and head measured in the same job, in randomized interleaved pairs of blocks."""

from __future__ import annotations

import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench.progress import Progress, is_live

from . import judge
from .roots import changed_yardstick_files, describe_changes, import_root
from .sampling import Samples, iterations_for, measure_pairs
from .settings import GateSettings
from .sides import NothingSelected, focus_map, judge_errors, prepare, probe, select_cells, setup_all, sides
from .stats import Comparison, adjust, compare_paired, log_ratios, timing_verdict, uncontended
from .trees import changed_files, checkout, describe, temp_prefix, working_tree
from .workers import Worker

MIN_PAIRS = 10
ROUND_PAIRS = 10  # pairs added per round while a benchmark is inconclusive


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
                        rng: random.Random, phases: dict, phase: str, data: Path,
                        judged_by: tuple[Worker, dict] | None = None) -> tuple[list[dict], dict, int]:
    """Set up cells on both sides (and, given the yardstick worker and its prepared cells, judge their error) and
    measure the comparable ones in pairs: at least ``settings.pairs``, then rounds of more pairs while some
    benchmark is inconclusive, up to ``settings.max_pairs`` or the time budget."""
    start = time.perf_counter()
    base_setup, head_setup = setup_all(base, head, cells, data, measure=judged_by is not None)
    if judged_by is not None:
        judge_errors(judged_by[0], cells, data, {"base": base_setup, "head": head_setup}, judged_by[1])
    phases[f"{phase}_setup_s"] = time.perf_counter() - start
    entries = [judge.entry(c, base_setup.get(c["id"]), head_setup[c["id"]]) for c in cells]
    timed = judge.comparable(entries)
    if not timed:
        return entries, {}, 0
    iterations, pair_seconds = plan_iterations(timed, base_setup, head_setup, settings)
    ids = [e["id"] for e in timed]
    pairs = max(MIN_PAIRS, min(settings.pairs, int(settings.budget_seconds / max(pair_seconds, 1e-9))))
    progress(f"{phase}: {len(ids)} of {len(cells)} cells run on both sides (set up in {phases[f'{phase}_setup_s']:.0f} s); "
             f"measuring {pairs} pairs of blocks, about {pair_seconds:.2g} s each")
    line = Progress(pairs, [pair_seconds] * pairs, label=f"gate: {phase}", enabled=is_live(sys.stderr), unit="pairs")
    samples = measure_pairs(base, head, ids, iterations, pairs, rng, settings.calls, on_pair=lambda: line.advance("ok", pair_seconds))
    comparisons = compare_samples(samples, timed, iterations, rng)
    while pairs < settings.max_pairs and undecided(timed, comparisons, settings):
        per_pair = samples.seconds / pairs
        more = min(ROUND_PAIRS, settings.max_pairs - pairs, int((settings.budget_seconds - samples.seconds) / per_pair))
        if more <= 0:
            break
        line.extend(more, per_pair)
        samples = measure_pairs(base, head, ids, iterations, more, rng, settings.calls, samples=samples,
                                on_pair=lambda: line.advance("ok", per_pair))  # noqa: B023 - called before per_pair changes
        pairs += more
        comparisons = compare_samples(samples, timed, iterations, rng)
    line.close()
    phases[f"{phase}_measure_s"] = samples.seconds
    return entries, comparisons, pairs


def progress(message: str) -> None:
    """A line on stderr while the gate works (a default run takes minutes); stdout keeps the table and the verdict."""
    print(f"gate: {message}", file=sys.stderr, flush=True)


def yardstick_notice(changed: list[str], probed: dict[str, str], accepted: bool) -> dict:
    """What the head changes in the yardstick, and with whose the run judged (one line for the top of the outputs)."""
    notice = {"files": changed, "computes_differently": probed, "judged_with": "head" if accepted else "base", "line": None}
    if changed or probed:
        judged = "judged with the head's (--accept-yardstick-change)" if accepted else "judged with the base's"
        notice["line"] = f"the head changes the yardstick: {describe_changes(changed, probed)}; {judged}"
    elif accepted:
        notice["line"] = "--accept-yardstick-change: judged with the head's yardstick (it does not differ from the base's)"
    return notice


def run_paired(settings: GateSettings, base_ref: str, head_ref: str | None) -> dict:
    started = time.perf_counter()
    phases: dict = {}
    shuffle_seed = settings.shuffle_seed if settings.shuffle_seed is not None else random.randrange(2**31)
    rng = random.Random(shuffle_seed)
    repo = working_tree()
    load_before = load_average()
    with contextlib.ExitStack() as stack:
        base_tree, base_commit = stack.enter_context(checkout(repo, base_ref, "base"))
        if head_ref is None:
            head_tree, head_commit = repo, describe(repo)
        else:
            head_tree, head_commit = stack.enter_context(checkout(repo, head_ref, "head"))
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=temp_prefix("scratch"))))
        trees = {"base": base_tree, "head": head_tree}
        base_has_gate = (base_tree / "gate" / "worker.py").is_file()  # older bases kept the gate elsewhere
        yard_label = "head" if settings.accept_yardstick_change or not base_has_gate else "base"
        roots = {label: import_root(trees[yard_label], tree, scratch / f"{label}-root") for label, tree in trees.items()}
        data = scratch / "data"
        data.mkdir()
        changed = changed_files(repo, base_commit, None if head_ref is None else head_commit)
        with sides(roots, trees, settings) as (base, head):
            phases["start_s"] = time.perf_counter() - started
            yard, other = (base[0], head[0]) if yard_label == "base" else (head[0], base[0])
            focus = focus_map([base[0], head[0]], changed) if not settings.explicit_selection else {}
            cells, not_gated = select_cells(yard, settings, focus, other)
            progress(f"{len(cells)} cells selected by the {yard_label}'s yardstick"
                     + (f", more for {len(focus)} implementation(s) the change touches" if focus else "")
                     + (f"; {len(not_gated)} implementation(s) cannot run here" if not_gated else ""))
            prepared = prepare(yard, cells, settings.seed, data)
            notice = yardstick_notice(changed_yardstick_files(base_tree, head_tree),
                                      probe(other, cells, settings.seed, data, prepared), yard_label == "head")
            if not base_has_gate:
                notice["line"] = "the base has no gate/ package (it predates it): judged with the head's yardstick"
            entries, comparisons, pairs = measure_and_compare(base, head, cells, settings, rng, phases, "first", data,
                                                              judged_by=(yard, prepared))
            machine = head[0].hello["machine"]
            versions = {"base": base[0].hello["torch"], "head": head[0].hello["torch"]}
        for e in entries:
            e["inputs"] = {"hash": prepared[e["id"]]["input_hash"], "oracle_hash": prepared[e["id"]]["oracle_hash"],
                           "why": next(c["why"] for c in cells if c["id"] == e["id"])}
        timed = [e for e in entries if e["id"] in comparisons]
        if not timed:
            reasons = sorted({r for e in entries for r in (e["reason"]["head"], e["reason"]["base"]) if r})
            raise NothingSelected(f"none of the {len(entries)} selected cells runs on both sides ({reasons[0] if reasons else 'no reason given'})")
        floors = [settings.floor_for(e["problem"]["device"]) for e in timed]
        flagged = judge.judge_timing(timed, [comparisons[e["id"]] for e in timed], floors, settings.alpha)
        if flagged and settings.confirm:
            progress(f"re-measuring {len(flagged)} flagged benchmark(s) with fresh worker processes")
            confirm_in_fresh_processes(flagged, roots, trees, settings, rng, phases, data)
    return {
        "schema": 2, "mode": "paired", "base": {"ref": base_ref, "commit": base_commit},
        "head": {"ref": head_ref or "working tree", "commit": head_commit, "tree": str(head_tree)},
        "yardstick": notice, "changed_files": changed, "focus": focus, "not_gated": not_gated,
        "selection": settings.selection, "settings": {**settings.to_dict(), "shuffle_seed": shuffle_seed, "pairs_used": pairs},
        "machine": machine, "torch": versions, "load": {"before": load_before, "after": load_average()},
        "benchmarks": entries, "phases": phases, "wall_seconds": time.perf_counter() - started,
    }


def confirm_in_fresh_processes(flagged: list[dict], roots: dict, trees: dict, settings: GateSettings,
                               rng: random.Random, phases: dict, data: Path) -> None:
    """Measure the flagged benchmarks again with new worker processes on both sides; judge them among themselves."""
    start = time.perf_counter()
    cells = [{"id": e["id"], "index": e["index"], "impl": e["impl"], "problem": e["problem"]} for e in flagged]
    with sides(roots, trees, settings) as (base, head):
        _, comparisons, _ = measure_and_compare(base, head, cells, settings, rng, phases, "confirm", data)
    found = [e for e in flagged if e["id"] in comparisons]
    judged = [comparisons[e["id"]] for e in found]
    adjust(judged, settings.alpha)
    for e, c in zip(found, judged):
        judge.settle_confirmation(e, c, settings.alpha)
    for e in flagged:
        if e["id"] not in comparisons:
            judge.settle_unmeasured(e)
    phases["confirm_s"] = time.perf_counter() - start


def load_average() -> list[float] | None:
    """The 1, 5 and 15-minute load averages (recorded beside every run), None where the OS has none."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None
