"""Plan a fleet run: expand the sweep's selection into cells, predict each cell's cost, deal them into shards.

The expansion is pytest's own collection (``--collect-only`` with the sweep's options and the
bench.fleet.collect plugin), so a shard runs exactly the cells a single process would. A shard
has one slot per device it drives (its GPUs, or the CPU); the cells are balanced over all
shards × slots, and each cell is addressed to its slot's device, so the workers of a shard's
pytest-xdist run (one per GPU, as on one host) split the shard's cells between them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..resume import write_cell_selection
from .balance import balance, loads
from .collect import ENV as COLLECT_ENV

ROOT = Path(__file__).resolve().parents[2]
PLAN_FILE = "plan.json"


class FleetError(ValueError):
    """A fleet that cannot be planned or run as asked; the message is one line."""


@dataclass
class PlannedCell:
    suite: str
    ids: dict[str, str]  # slot device → the cell's id on that device
    impl: str
    cost: float


@dataclass
class ShardPlan:
    index: int
    name: str  # s0, s1, ...: the shard's files in the run are cells-<name>*.jsonl
    cells: list[tuple[str, str]]  # (suite, cell id), ids addressed to the shard's slot devices
    predicted_s: float
    slot_predicted_s: list[float]


@dataclass
class Plan:
    run_id: str
    preset: str
    slots: list[str]  # the devices each shard drives: cuda:0..G-1, or cpu
    sweep_args: list[str]
    shards: list[ShardPlan] = field(default_factory=list)

    @property
    def total_predicted_s(self) -> float:
        return sum(s.predicted_s for s in self.shards)

    def save(self, fleet_dir: Path) -> None:
        fleet_dir.mkdir(parents=True, exist_ok=True)
        for shard in self.shards:
            write_cell_selection(cells_path(fleet_dir, shard), shard.cells)
        (fleet_dir / PLAN_FILE).write_text(json.dumps(asdict(self), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, fleet_dir: Path) -> Plan:
        data = json.loads((fleet_dir / PLAN_FILE).read_text(encoding="utf-8"))
        shards = [ShardPlan(**{**s, "cells": [tuple(c) for c in s["cells"]]}) for s in data.pop("shards")]
        return cls(**data, shards=shards)


def cells_path(fleet_dir: Path, shard: ShardPlan) -> Path:
    return fleet_dir / f"{shard.name}.cells"


def slot_devices(gpus_per_shard: int) -> list[str]:
    return [f"cuda:{i}" for i in range(gpus_per_shard)] if gpus_per_shard > 0 else ["cpu"]


def collect_cells(preset: str, slots: list[str], sweep_args: list[str], results_dir: Path) -> list[PlannedCell]:
    """Every cell of the selection, in collection order, with ids for each slot device and a predicted cost."""
    with tempfile.TemporaryDirectory(prefix="attnbench-plan-") as tmp:
        out = Path(tmp) / "cells.jsonl"
        env = {**os.environ, COLLECT_ENV: json.dumps({"out": str(out), "devices": slots})}
        command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "--benchmark-only", "-p", "bench.fleet.collect",
                   f"--rootdir={ROOT}", f"--attn-preset={preset}", "--attn-devices=cpu", f"--attn-results={results_dir}", *sweep_args]
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if done.returncode not in (0, 5) or not out.exists():
            raise FleetError(f"the sweep's options were refused: {_pytest_error(done.stdout + done.stderr)}")
        cells = [PlannedCell(**json.loads(line)) for line in out.read_text(encoding="utf-8").splitlines() if line]
    if not cells:
        raise FleetError(f"the selection has no cells (preset {preset}, options: {' '.join(sweep_args) or 'none'})")
    return cells


def _pytest_error(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [line.removeprefix("ERROR:").strip() for line in lines if line.startswith(("ERROR", "E "))]
    return (errors or lines or ["pytest exited without a message"])[-1].removeprefix("E ").strip()


def make_plan(run_id: str, preset: str, shards: int, slots: list[str], sweep_args: list[str],
              cells: list[PlannedCell]) -> Plan:
    """Balance ``cells`` over shards × slots by predicted cost."""
    bins = shards * len(slots)
    weights = [c.cost for c in cells]
    assignment = balance(weights, bins)
    bin_loads = loads(weights, assignment)
    plan = Plan(run_id, preset, slots, list(sweep_args))
    for index in range(shards):
        members, slot_loads = [], []
        for slot, device in enumerate(slots):
            b = index * len(slots) + slot
            members.extend((i, device) for i in assignment[b])
            slot_loads.append(bin_loads[b])
        members.sort()
        plan.shards.append(ShardPlan(index, f"s{index}", [(cells[i].suite, cells[i].ids[d]) for i, d in members],
                                     sum(slot_loads), slot_loads))
    return plan
