"""pytest plugin for the fleet's planner: write every collected cell, with its predicted cost, as JSON lines.

Loaded with ``-p bench.fleet.collect`` into ``pytest --collect-only --benchmark-only`` with the
sweep's options; ``ATTNBENCH_FLEET_COLLECT`` names the output file and the devices the shards
will use. Collection happens on the submitting machine, which may have no GPU: cells are expanded
on the CPU and re-addressed to each target device, so the cell ids are the ones the shards'
workers will collect.
"""

from __future__ import annotations

import json
import os

import pytest

from ..stash import SESSION_KEY
from .costs import cell_cost

ENV = "ATTNBENCH_FLEET_COLLECT"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(session, config, items):
    request = json.loads(os.environ[ENV])
    sweep = config.stash[SESSION_KEY]
    with open(request["out"], "w", encoding="utf-8") as out:
        for item in items:
            cell = getattr(item, "callspec", None) and item.callspec.params.get("cell")
            if cell is None:
                continue
            on_device = {device: type(cell)(cell.suite, cell.problem.with_(device=device), cell.impl) for device in request["devices"]}
            cost = cell_cost(on_device[request["devices"][0]], sweep.budget, sweep.ignore_budget)
            out.write(json.dumps({"suite": cell.suite, "ids": {d: c.id for d, c in on_device.items()},
                                  "impl": cell.impl.full_name, "cost": cost}) + "\n")
