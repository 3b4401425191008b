"""The fleet's pure parts: balancing against an exhaustive optimum, plans, cell files, the merge's verdicts, option errors."""

from __future__ import annotations

import itertools
import json
import random

import pytest

from bench.fleet import cli, merge
from bench.fleet.balance import balance, loads
from bench.fleet.plan import FleetError, PlannedCell, make_plan, slot_devices
from bench.resume import ResumeError, read_cell_selection, write_cell_selection


def best_makespan(weights: list[float], bins: int) -> float:
    """The optimum by trying every assignment (small inputs only)."""
    best = float("inf")
    for assignment in itertools.product(range(bins), repeat=len(weights)):
        totals = [0.0] * bins
        for weight, b in zip(weights, assignment):
            totals[b] += weight
        best = min(best, max(totals))
    return best


@pytest.mark.parametrize("seed", range(6))
def test_balance_is_within_four_thirds_of_the_optimum(seed):
    rng = random.Random(seed)
    weights = [rng.choice([0.01, 0.5, 1, 3, 10]) * rng.random() for _ in range(8)]
    for bins in (2, 3):
        assignment = balance(weights, bins)
        assert sorted(i for b in assignment for i in b) == list(range(len(weights)))
        assert all(b == sorted(b) for b in assignment)  # collection order kept within a shard
        assert max(loads(weights, assignment)) <= 4 / 3 * best_makespan(weights, bins) + 1e-12


def test_balance_of_equal_cells_differs_by_at_most_one_cell():
    assert sorted(len(b) for b in balance([1.0] * 10, 3)) == [3, 3, 4]
    with pytest.raises(ValueError, match="bins=0"):
        balance([1.0], 0)


def test_plan_addresses_each_cell_to_one_slot_of_one_shard():
    slots = slot_devices(2)
    cells = [PlannedCell("core", {d: f"c{i}-{d}" for d in slots}, "naive", cost) for i, cost in enumerate([5, 1, 1, 1, 4, 2, 2, 0.5])]
    plan = make_plan("run", "gpu", 2, slots, ["--attn-impls", "naive"], cells)
    listed = [cell_id for shard in plan.shards for _suite, cell_id in shard.cells]
    assert sorted(c.rsplit("-", 1)[0] for c in listed) == sorted(f"c{i}" for i in range(8))  # each cell once
    assert {c.rsplit("-", 1)[1] for c in listed} == {"cuda:0", "cuda:1"}
    assert abs(plan.total_predicted_s - 16.5) < 1e-9
    assert max(s.predicted_s for s in plan.shards) <= 4 / 3 * 16.5 / 2
    assert slot_devices(0) == ["cpu"]


def test_cell_selection_file(tmp_path):
    path = tmp_path / "cells"
    write_cell_selection(path, [("core", "naive-b1-cpu"), ("sparse", "x-cpu")])
    path.write_text(path.read_text() + "# a comment\n\nsdpa-b1-cpu\n")
    selection = read_cell_selection(path)
    assert ("core", "naive-b1-cpu") in selection and ("sparse", "naive-b1-cpu") not in selection
    assert ("linear", "sdpa-b1-cpu") in selection and len(selection) == 3
    path.write_text("a b c\n")
    with pytest.raises(ResumeError, match=r"line 1: 'a b c' \(expected '<suite> <cell id>' or '<cell id>'\)"):
        read_cell_selection(path)
    with pytest.raises(ResumeError, match="cannot read"):
        read_cell_selection(tmp_path / "missing")


@pytest.mark.parametrize(("outcome", "reason"), [
    ({"exit_code": 0}, None), ({"exit_code": 1}, None), ({"exit_code": 5}, None),
    ({"exit_code": -9}, "pytest was killed by SIGKILL"), ({"exit_code": 4}, "pytest exited with code 4 (usage error)"),
    ({"exit_code": None}, "never started"), ({"exit_code": None, "error": "job 7 did not finish"}, "job 7 did not finish"),
])
def test_why_a_shard_stopped(outcome, reason):
    assert merge.explain_exit(outcome) == reason


def test_merge_lists_undone_cells_and_nodes(tmp_path):
    slots = ["cpu"]
    cells = [PlannedCell("core", {"cpu": f"c{i}-cpu"}, "naive", 1.0) for i in range(4)]
    plan = make_plan("run", "smoke", 2, slots, [], cells)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    record = {"impl": "naive", "status": "ok", "suite": "core", "run_id": "run", "device_name": "EPYC", "machine": {"host": "node7"}}
    done = [plan.shards[0].cells[0], *plan.shards[1].cells]
    (run_dir / "cells-s0.jsonl").write_text(json.dumps({**record, "cell_id": done[0][1], "problem": {"device": "cpu"}}) + "\n")
    (run_dir / "cells-s1.jsonl").write_text("".join(json.dumps({**record, "cell_id": c, "problem": {"device": "cpu"}}) + "\n"
                                                    for _suite, c in done[1:]))
    summary = merge.summarize(run_dir, plan, {"s0": {"shard": "s0", "exit_code": -15, "host": "node7"},
                                              "s1": {"shard": "s1", "exit_code": 0, "host": "node8"}})
    s0, s1 = summary.shards
    assert (s0.status, s0.done, s0.reason) == ("incomplete", 1, "pytest was killed by SIGTERM")
    assert s0.undone == [f"core {plan.shards[0].cells[1][1]}"]
    assert (s1.status, s1.undone, s1.reason) == ("complete", [], None) and not summary.complete
    assert summary.nodes == [{"host": "node7", "devices": [{"device": "cpu", "device_name": "EPYC", "cells": 3}]}]
    info = json.loads(merge.write_run_info(summary, plan, "local").read_text())
    assert info["fleet"]["shards"][0]["undone"] == s0.undone and info["devices"] == ["cpu"]
    never = merge.summarize(run_dir, plan, {"s1": {"shard": "s1", "exit_code": 0}})
    assert never.shards[0].reason == "never started"


def test_fleet_options_are_checked_with_one_line_errors(monkeypatch, capsys):
    assert cli.split_sweep_args(["--attn-impls", "naive", "suites/test_core.py"]) == ["--attn-impls", "naive", "suites/test_core.py"]
    with pytest.raises(FleetError, match="--attn-devices is set by the fleet"):
        cli.split_sweep_args(["--attn-devices=cuda:0"])
    with pytest.raises(FleetError, match="unknown option --nodes"):
        cli.split_sweep_args(["--nodes", "2"])
    assert cli.preset_of(["--attn-preset", "smoke", "--attn-impls", "naive"], 0) == ("smoke", ["--attn-impls", "naive"])
    assert cli.preset_of([], 8) == ("gpu", []) and cli.preset_of([], 0) == ("cpu", [])
    monkeypatch.setattr(cli.importlib.util, "find_spec", lambda name: None)
    from bench.fleet.driver import main

    assert main(["--engine", "ray", "--shards", "2"]) == 2
    assert capsys.readouterr().err == 'fleet: --engine ray needs ray: pip install -e ".[ray]"\n'
    assert main(["--engine", "slurm", "--shards", "2"]) == 2
    assert capsys.readouterr().err == 'fleet: --engine slurm needs submitit: pip install -e ".[slurm]"\n'


def test_report_lists_each_shard_and_what_a_failed_one_left_undone():
    from types import SimpleNamespace

    from reports.sections import fleet as fleet_section

    shards = [{"shard": "s0", "host": "node1", "status": "complete", "planned": 2, "done": 2, "undone": [], "wall_s": 30.0,
               "predicted_s": 25.0, "reason": None},
              {"shard": "s1", "host": None, "status": "not-started", "planned": 5, "done": 0, "wall_s": None, "predicted_s": 26.0,
               "undone": [f"core c{i}-cuda:0" for i in range(5)], "reason": "job 7_1 did not finish: UncompletedJobError"}]
    section = fleet_section.render(SimpleNamespace(runs=[{"run_id": "r1", "fleet": {"shards": shards}}, {"run_id": "r0"}]))
    assert "2 shards; 1 left cells undone" in section.body
    assert "job 7_1 did not finish: UncompletedJobError" in section.body
    assert "c0-cuda:0, c1-cuda:0, c2-cuda:0 and 2 more" in section.body and "0/5" in section.body
    assert fleet_section.render(SimpleNamespace(runs=[{"run_id": "r0"}])) is None
