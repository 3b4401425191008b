"""History mode: this run against a committed baseline, times normalized by an in-run reference kernel.

A stored absolute time from another run cannot gate a noisy machine (the same code moves about
±10% between runs). Dividing every block's times by a fixed matmul measured in the same block
removes much of what moves them together (machine speed, load, frequency), so a baseline can be
compared across runs and, more loosely, across machines. It is for tracking history; a pull
request is gated by the paired mode, which needs no baseline at all.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import random
import statistics
import tempfile
import time
from pathlib import Path

from . import judge
from .paired import MIN_PAIRS, load_average
from .roots import import_root
from .sampling import iterations_for, measure_single
from .settings import GateSettings
from .sides import NothingSelected, judge_errors, prepare, select_cells
from .stats import adjust, compare_unpaired
from .trees import describe, temp_prefix, working_tree
from .workers import Worker

BASELINE_KIND = "attnbench-gate-baseline"
REFERENCE_SIZE = 256
REFERENCE_ID = f"@reference-matmul-{REFERENCE_SIZE}"
KEPT_DIGITS = 5  # normalized log-times are stored rounded: 1e-5 is far below any effect the gate can see


class BaselineError(Exception):
    """The baseline file is missing or unreadable (exit code 3)."""


def measure_normalized(settings: GateSettings, cells: list[dict] | None, rng: random.Random) -> dict:
    """One worker on the working tree (its own yardstick): setup, then blocks of every cell plus the reference kernel."""
    tree = working_tree()
    with tempfile.TemporaryDirectory(prefix=temp_prefix("scratch")) as scratch, \
            Worker(import_root(tree, tree, Path(scratch) / "root"), tree, "head", settings.threads) as head:
        head.wait_ready()
        data = Path(scratch) / "data"
        data.mkdir()
        cells = cells if cells is not None else select_cells(head, settings)[0]
        prepared = prepare(head, cells, settings.seed, data)
        reference = {"id": REFERENCE_ID, "reference": REFERENCE_SIZE}
        setups = {c["id"]: c for c in head.request("setup", cells=[*cells, reference], data=str(data), side="head")["cells"]}
        judge_errors(head, cells, data, {"head": setups}, prepared)
        ok = [c["id"] for c in cells if setups[c["id"]]["status"] == "ok"]
        if not ok:
            raise NothingSelected(f"none of the {len(cells)} selected cells runs here")
        ids = [*ok, REFERENCE_ID]
        iterations = {i: iterations_for([setups[i]["single_s"]]) for i in ids}
        block_seconds = sum(setups[i]["single_s"] * (1 + settings.calls * iterations[i]) for i in ids)
        blocks = max(MIN_PAIRS, min(settings.pairs, int(settings.budget_seconds / max(block_seconds, 1e-9))))
        times = measure_single(head, ids, iterations, blocks, rng, settings.calls)
        normalized = {i: [math.log(t) - math.log(r) for t, r in zip(times[i], times[REFERENCE_ID])] for i in ok}
        return {"tree": tree, "hello": head.hello, "cells": cells, "setups": setups, "normalized": normalized,
                "medians": {i: statistics.median(times[i]) for i in ids}, "blocks": blocks}


def write_baseline(settings: GateSettings, path: Path) -> dict:
    run = measure_normalized(settings, None, random.Random(settings.shuffle_seed))
    cells = []
    for cell in run["cells"]:
        setup = run["setups"][cell["id"]]
        record = {"id": cell["id"], "index": cell["index"], "impl": cell["impl"], "problem": cell["problem"], "status": setup["status"],
                  "reason": setup.get("reason")}
        if setup["status"] == "ok":
            record.update(peak_bytes=setup["peak_bytes"], peak_method=setup["peak_method"], error=setup["error"],
                          tolerance=setup["tolerance"], median_s=run["medians"][cell["id"]],
                          normalized_log=[round(x, KEPT_DIGITS) for x in run["normalized"][cell["id"]]])
        cells.append(record)
    baseline = {"schema": 1, "kind": BASELINE_KIND, "created": _dt.datetime.now().isoformat(timespec="seconds"),
                "commit": describe(run["tree"]), "machine": run["hello"]["machine"], "selection": settings.selection,
                "seed": settings.seed, "calls": settings.calls, "blocks": run["blocks"],
                "reference": {"size": REFERENCE_SIZE, "median_s": run["medians"][REFERENCE_ID]}, "cells": cells}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(baseline, indent=1) + "\n", encoding="utf-8")
    return {"mode": "baseline-written", "benchmarks": [],
            "reason": f"wrote {path} ({sum(c['status'] == 'ok' for c in cells)} cells, {run['blocks']} blocks)"}


def load_baseline(path: Path) -> dict:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise BaselineError(f"cannot read baseline {path}: {exc} (write one with --write-baseline {path})") from None
    if not isinstance(data, dict) or data.get("kind") != BASELINE_KIND:
        kind = data.get("kind") if isinstance(data, dict) else type(data).__name__
        raise BaselineError(f"{path} is not a gate baseline (kind {kind!r}, expected {BASELINE_KIND!r})")
    problem = baseline_problem(data)
    if problem:
        raise BaselineError(f"{path} is a damaged gate baseline: {problem} (write a new one with --write-baseline {path})")
    return data


def baseline_problem(data: dict) -> str | None:
    """What a baseline lacks that the comparison reads, checked before any worker starts; None when whole."""
    for key, kind in (("machine", dict), ("selection", dict), ("reference", dict), ("cells", list)):
        if not isinstance(data.get(key), kind):
            return f"'{key}' is missing or not a {'JSON object' if kind is dict else 'list'}"
    if not is_number(data["reference"].get("median_s")):
        return "'reference.median_s' is missing or not a number"
    for index, cell in enumerate(data["cells"]):
        if not isinstance(cell, dict) or not isinstance(cell.get("id"), str):
            return f"cells[{index}] has no 'id'"
        if not isinstance(cell.get("status"), str):
            return f"cell {cell['id']} has no 'status'"
        if cell["status"] != "ok":
            continue
        log = cell.get("normalized_log")
        if not isinstance(log, list) or not log or not all(is_number(x) for x in log):
            return f"cell {cell['id']} has no 'normalized_log' (a list of numbers)"
        if not is_number(cell.get("median_s")):
            return f"cell {cell['id']} has no 'median_s'"
    return None


def is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def run_history(settings: GateSettings, path: Path, use_stored_selection: bool) -> dict:
    started = time.perf_counter()
    baseline = load_baseline(path)
    if use_stored_selection:
        settings.selection, settings.seed = baseline["selection"], baseline.get("seed", 0)
    rng = random.Random(settings.shuffle_seed)
    load_before = load_average()
    stored = {c["id"]: c for c in baseline["cells"]}
    run = measure_normalized(settings, None, rng)
    entries = [judge.entry(c, stored.get(c["id"]), run["setups"][c["id"]]) for c in run["cells"]]
    timed = [e for e in judge.comparable(entries) if e["id"] in run["normalized"]]
    comparisons = [_compare(e["id"], run, stored, rng) for e in timed]
    floors = [settings.floor_for(e["problem"]["device"], history=True) for e in timed]
    flagged = judge.judge_timing(timed, comparisons, floors, settings.alpha)
    if flagged and settings.confirm:
        cells = [{"id": e["id"], "index": e["index"], "impl": e["impl"], "problem": e["problem"]} for e in flagged]
        again = measure_normalized(settings, cells, rng)
        found = [e for e in flagged if e["id"] in again["normalized"]]
        judged = [_compare(e["id"], again, stored, rng) for e in found]
        adjust(judged, settings.alpha)
        for e, c in zip(found, judged):
            judge.settle_confirmation(e, c, settings.alpha)
        for e in flagged:
            if e not in found:
                judge.settle_unmeasured(e)
    machine = run["hello"]["machine"]
    selected = {c["id"] for c in run["cells"]}
    missing = [{"id": c["id"], "impl": c["impl"], "problem": c["problem"]} for c in baseline["cells"] if c["id"] not in selected]
    notes = [f"{len(missing)} baseline cell(s) missing from this run's selection: "
             + ", ".join(m["id"] for m in missing[:5]) + (" ..." if len(missing) > 5 else "")] if missing else []
    if machine.get("cpu") != baseline["machine"].get("cpu") or machine.get("torch") != baseline["machine"].get("torch"):
        notes.append(f"baseline from {baseline['machine'].get('cpu')} / torch {baseline['machine'].get('torch')}; this run on "
                     f"{machine.get('cpu')} / torch {machine.get('torch')}: normalized times compare loosely, memory and error may differ")
    return {"schema": 1, "mode": "history", "baseline": {"path": str(path), "commit": baseline.get("commit"),
            "created": baseline.get("created"), "machine": baseline["machine"]},
            "head": {"ref": "working tree", "commit": describe(run["tree"])}, "selection": settings.selection,
            "settings": {**settings.to_dict(), "blocks_used": run["blocks"]}, "machine": machine,
            "reference": {"size": REFERENCE_SIZE, "median_s": run["medians"][REFERENCE_ID],
                          "baseline_median_s": baseline["reference"]["median_s"]},
            "load": {"before": load_before, "after": load_average()}, "notes": notes, "benchmarks": entries,
            "missing_from_selection": missing,
            "wall_seconds": time.perf_counter() - started}


def _compare(cell_id: str, run: dict, stored: dict, rng: random.Random):
    c = compare_unpaired(run["normalized"][cell_id], stored[cell_id]["normalized_log"], seed=rng.randrange(2**31))
    c.extra = {"base_median_s": stored[cell_id]["median_s"], "head_median_s": run["medians"][cell_id], "normalized": True}
    return c
