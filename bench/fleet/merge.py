"""After the shards: which planned cells have records, which shards left work undone and why, one run.json.

The shards have written into one run folder (``cells-<shard>*.jsonl``), so the run already loads
as one run in reports and the store; this adds to its run.json every node with its devices and
the fleet's shards: where each ran, its status, and for a shard that failed or never started, the
reason and the cells it left undone. Torch-free.
"""

from __future__ import annotations

import json
import signal
from dataclasses import dataclass, field
from pathlib import Path

from store.records import read_run

from .plan import Plan

PYTEST_EXIT = {0: "all cells passed", 1: "some cells failed", 2: "interrupted", 3: "internal error",
               4: "usage error", 5: "no cells to run"}


@dataclass
class ShardSummary:
    shard: str
    status: str  # complete, incomplete, not-started
    planned: int
    done: int
    undone: list[str]  # "<suite> <cell id>" of each planned cell without a record
    host: str | None = None
    exit_code: int | None = None
    wall_s: float | None = None
    predicted_s: float | None = None
    reason: str | None = None
    failed_cells: int = 0


@dataclass
class FleetSummary:
    run_dir: Path
    shards: list[ShardSummary]
    nodes: list[dict] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(s.status == "complete" for s in self.shards)

    @property
    def failed_cells(self) -> int:
        return sum(s.failed_cells for s in self.shards)


def explain_exit(outcome: dict) -> str | None:
    """Why a shard stopped, in one line; None when pytest ran to its end."""
    if outcome.get("error"):
        return str(outcome["error"])
    code = outcome.get("exit_code")
    if code is None:
        return "never started"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"pytest was killed by {name}"
    if code in (0, 1, 5):
        return None
    return f"pytest exited with code {code} ({PYTEST_EXIT.get(code, 'unknown')})"


def summarize(run_dir: Path, plan: Plan, outcomes: dict[str, dict]) -> FleetSummary:
    _info, records, _notes = read_run(run_dir)
    recorded = {(r.suite, r.cell_id): r for r in records}
    shards = []
    for shard in plan.shards:
        outcome = outcomes.get(shard.name) or {}
        undone = [f"{suite} {cell_id}" for suite, cell_id in shard.cells if (suite, cell_id) not in recorded]
        failed = sum(1 for key in shard.cells if key in recorded and recorded[key].status == "failed")
        reason = explain_exit(outcome) if outcome else "never started"
        status = "complete" if not undone else ("not-started" if not outcome or outcome.get("exit_code") is None and
                                                len(undone) == len(shard.cells) else "incomplete")
        if undone and reason is None:
            reason = "pytest ended without recording every planned cell (see the shard's log)"
        shards.append(ShardSummary(shard.name, status, len(shard.cells), len(shard.cells) - len(undone), undone,
                                   outcome.get("host"), outcome.get("exit_code"), outcome.get("wall_s"), shard.predicted_s,
                                   reason if undone else None, failed))
    return FleetSummary(run_dir, shards, nodes_of(records))


def nodes_of(records) -> list[dict]:
    """Each host with the devices its records were measured on (name and cell count)."""
    hosts: dict[str, dict[str, dict]] = {}
    for record in records:
        devices = hosts.setdefault(record.host or "?", {})
        entry = devices.setdefault(record.device or "?", {"device": record.device, "device_name": record.device_name, "cells": 0})
        entry["cells"] += 1
    return [{"host": host, "devices": sorted(devices.values(), key=lambda d: str(d["device"]))} for host, devices in sorted(hosts.items())]


def write_run_info(summary: FleetSummary, plan: Plan, engine: str) -> Path:
    """Add the nodes and the fleet's shards to run.json (keeping what the shards wrote there)."""
    path = summary.run_dir / "run.json"
    info = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"schema": 1, "run_id": plan.run_id}
    info["run_id"] = plan.run_id
    info.setdefault("preset", plan.preset)
    info["devices"] = sorted({d["device"] for node in summary.nodes for d in node["devices"] if d["device"]})
    info["nodes"] = summary.nodes
    info["fleet"] = {"engine": engine, "slots": plan.slots, "sweep_args": plan.sweep_args, "complete": summary.complete,
                     "shards": [vars(s) for s in summary.shards]}
    path.write_text(json.dumps(info, indent=2, default=str), encoding="utf-8")
    return path


def format_summary(summary: FleetSummary) -> list[str]:
    lines = [f"{'shard':<6} {'host':<24} {'status':<12} {'cells':>11} {'failed':>6} {'wall s':>8} {'predicted s':>11}  reason"]
    for s in summary.shards:
        wall = f"{s.wall_s:.1f}" if s.wall_s is not None else "-"
        lines.append(f"{s.shard:<6} {str(s.host or '-')[:24]:<24} {s.status:<12} {f'{s.done}/{s.planned}':>11} {s.failed_cells:>6} "
                     f"{wall:>8} {s.predicted_s or 0:>11.1f}  {s.reason or ''}")
        for cell in s.undone[:5]:
            lines.append(f"    undone: {cell}")
        if len(s.undone) > 5:
            lines.append(f"    ... and {len(s.undone) - 5} more undone (run.json: fleet.shards)")
    return lines
