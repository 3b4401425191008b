"""The two sides of a paired run: their worker processes, and the steps that prepare cells for timing.

Torch-free: every step is a request to workers (gate/worker.py). One worker of the yardstick's side
expands the selection, writes the inputs and keeps the oracle's answer; every worker of both sides
builds the cells on those inputs; the first worker of each side also writes its outputs and
measures peak memory; the yardstick worker then measures both sides' error.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from .settings import GateSettings
from .workers import Worker, close_all


class NothingSelected(Exception):
    """The selection yields no cell both sides can run (exit code 3)."""


@contextlib.contextmanager
def sides(roots: dict[str, Path], trees: dict[str, Path], settings: GateSettings):
    """``settings.workers`` processes per side, all started at once; the base ones are checked first, so a
    base that does not import is reported as such. Closed however the block ends."""
    base = [Worker(roots["base"], trees["base"], "base", settings.threads) for _ in range(settings.workers)]
    head = [Worker(roots["head"], trees["head"], "head", settings.threads) for _ in range(settings.workers)]
    try:
        for worker in base + head:
            worker.wait_ready()
        yield base, head
    except BaseException:  # cancelled (SIGTERM) or failed: nothing more to hear from them, end them now
        close_all(base + head, grace_s=0.0)
        raise
    close_all(base + head)


def describe_selection(selection: dict) -> str:
    return " ".join(f"--attn-{k.replace('_', '-')} {v}" for k, v in selection.items() if v) or "the default selection"


def select_cells(yardstick: Worker, settings: GateSettings, focus: dict[str, list[str]] | None = None,
                 other: Worker | None = None) -> tuple[list[dict], list[dict]]:
    """The yardstick's expansion of the selection: cells (id, index, impl, problem, why) and the implementations
    it could not give a cell on this machine, with why. With ``other`` (the other side's worker) and the default
    selection, implementations only the other side registers get a cell by the same rule, chosen there."""
    reply = yardstick.request("select", options=settings.selection, focus=focus or {})
    cells, not_gated = reply["cells"], reply.get("not_gated", [])
    new = sorted(set(other.hello["impls"]) - set(yardstick.hello["impls"])) if other and not settings.explicit_selection else []
    if new:
        extra = other.request("select", options=settings.selection, focus=focus or {}, only=new)
        cells += [{**c, "index": len(cells) + i} for i, c in enumerate(extra["cells"])]
        not_gated += extra.get("not_gated", [])
    if not cells:
        raise NothingSelected(f"no cells selected by {describe_selection(settings.selection)}")
    return cells, not_gated


def prepare(yardstick: Worker, cells: list[dict], seed: int, data: Path) -> dict[str, dict]:
    """Inputs written for both sides; per cell their hash, the tolerance and the oracle answer's hash."""
    return {c["id"]: c for c in yardstick.request("prepare", cells=cells, seed=seed, data=str(data))["cells"]}


def probe(worker: Worker, cells: list[dict], seed: int, data: Path, prepared: dict[str, dict]) -> dict[str, str]:
    """What the other tree's own yardstick computes differently: {what differs: first cell where it does}."""
    found: dict[str, str] = {}
    for cell_id, own in worker.request("probe", cells=cells, seed=seed, data=str(data))["cells"].items():
        theirs = prepared[cell_id]
        if "error" in own:
            found.setdefault(f"its yardstick fails ({own['error']})", cell_id)
            continue
        for key, what in (("input_hash", "input generation differs"), ("tolerance", "tolerance differs"),
                          ("oracle_hash", "oracle answer differs")):
            if own[key] != theirs[key]:
                found.setdefault(what, cell_id)
    return found


def setup_all(base: list[Worker], head: list[Worker], cells: list[dict], data: Path, measure: bool = True) -> tuple[dict, dict]:
    """Every worker builds every cell, in parallel; the first of each side also writes outputs and measures memory."""
    for label, side in (("base", base), ("head", head)):
        for index, worker in enumerate(side):
            worker.submit("setup", cells=cells, data=str(data), side=label, measure=measure and index == 0)
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


def judge_errors(yardstick: Worker, cells: list[dict], data: Path, setups: dict[str, dict], prepared: dict[str, dict]) -> None:
    """Attach to each side's setup the yardstick's error of its outputs, the tolerance, and whether its inputs were
    the yardstick's (same hash)."""
    errors = yardstick.request("judge", cells=cells, data=str(data), sides=list(setups))["errors"]
    for label, setup in setups.items():
        for cell in cells:
            entry = setup[cell["id"]]
            entry["tolerance"] = prepared[cell["id"]]["tolerance"] if entry.get("exact", True) else None
            entry["error"] = errors[cell["id"]][label]
            if entry.get("input_hash") not in (None, prepared[cell["id"]]["input_hash"]):
                entry.update(status="failed", reason=f"its inputs differ from the yardstick's (hash {entry['input_hash']} "
                                                     f"!= {prepared[cell['id']]['input_hash']})")


def focus_map(workers: list[Worker], changed: list[str]) -> dict[str, list[str]]:
    """Implementation → the changed files among its own and its helpers' (as each side's tree has them)."""
    focus: dict[str, set[str]] = {}
    touched = set(changed)
    for worker in workers:
        for impl, files in worker.request("files")["files"].items():
            hit = touched.intersection(files)
            if hit:
                focus.setdefault(impl, set()).update(hit)
    return {impl: sorted(files) for impl, files in focus.items()}
