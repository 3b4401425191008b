"""Pareto fronts against a brute-force definition, and the budget picks built on them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from reports.context import with_fronts
from reports.pareto import budget_picks, frontier_steps, non_dominated


def brute_force_front(points) -> list[bool]:
    """Point i is on the front unless some j is <= on every axis and < on one (written out, loops only)."""
    result = []
    for i, p in enumerate(points):
        dominated = False
        for j, q in enumerate(points):
            if j != i and all(a <= b for a, b in zip(q, p)) and any(a < b for a, b in zip(q, p)):
                dominated = True
                break
        result.append(not dominated)
    return result


@pytest.mark.parametrize("axes", [2, 3])
def test_front_matches_brute_force_on_random_points_with_ties(axes):
    rng = np.random.default_rng(7)
    for trial in range(300):
        n = int(rng.integers(1, 30))
        # Few distinct values per axis: many ties and exact duplicates.
        points = rng.integers(0, 5 if trial % 2 else 50, size=(n, axes)).astype(float)
        assert non_dominated(points).tolist() == brute_force_front(points.tolist()), points


def test_front_edge_cases():
    assert non_dominated(np.zeros((0, 3))).tolist() == []
    assert non_dominated([[1.0, 2.0, 3.0]]).tolist() == [True]
    assert non_dominated([[1.0, 1.0]] * 4).tolist() == [True] * 4  # duplicates do not dominate each other
    # One point better on every axis dominates all others.
    assert non_dominated([[5, 5], [1, 1], [3, 2], [2, 3]]).tolist() == [False, True, False, False]
    # Equal on one axis, better on the other: dominated.
    assert non_dominated([[1, 2], [1, 3]]).tolist() == [True, False]
    with pytest.raises(ValueError, match="finite"):
        non_dominated([[1.0, float("nan")]])
    with pytest.raises(ValueError, match="2-D"):
        non_dominated([1.0, 2.0])


def test_frontier_steps_are_the_2d_front_sorted_by_x():
    x = [1, 2, 3, 4, 2.5]
    y = [5, 3, 4, 1, 3]
    sx, sy = frontier_steps(x, y)
    assert sx.tolist() == [1, 2, 4] and sy.tolist() == [5, 3, 1]
    assert np.all(np.diff(sy) < 0)


def _group(rows):
    frame = pd.DataFrame(rows, columns=["impl", "time_s", "memory_bytes", "error", "exact"])
    frame["group"] = "g"
    frame["problem.dtype"] = "float32"
    frame["tolerance.rel_l2"] = np.where(frame["exact"], 1e-5, np.nan)  # exact cells record float32's tolerance, as a run does
    return frame


def test_rounding_level_error_differences_do_not_put_a_slower_exact_kernel_on_the_front():
    ran = _group([("fast", 1.0, 10, 3.0e-7, True), ("slow-exact", 2.0, 20, 2.0e-7, True), ("approx", 0.5, 5, 1e-2, False)])
    fronts = with_fronts(ran)
    assert dict(zip(fronts["impl"], fronts["front"])) == {"fast": True, "slow-exact": False, "approx": True}


def test_a_group_without_an_exact_cell_borrows_its_dtypes_tolerance_from_another_group():
    ran = pd.concat([_group([("sdpa", 1.0, 10, 3e-7, True)]),
                     _group([("fast", 1.0, 10, 3e-6, False), ("slow", 2.0, 20, 2e-6, False)]).assign(group="h")], ignore_index=True)
    fronts = with_fronts(ran)
    assert dict(zip(fronts["impl"], fronts["front"])) == {"sdpa": True, "fast": True, "slow": False}
    assert fronts.loc[fronts["group"] == "h", "error_rank"].tolist() == [1e-5, 1e-5]


def test_budget_picks():
    ran = with_fronts(_group([("sdpa", 1.0, 100, 3e-7, True), ("naive", 3.0, 400, 3e-7, True), ("window", 0.4, 40, 2e-3, False),
                              ("performer", 0.2, 30, 5e-2, False)]))
    picks = {p.budget: p.impl for p in budget_picks(ran, baseline="sdpa")}
    assert picks["fastest"] == "sdpa"  # a pick never ignores error: performer is faster but 5% off the exact answer
    assert picks["fastest exact"] == "sdpa"
    assert picks["fastest, error ≤ 0.01"] == "window"
    assert picks["fastest, error ≤ 0.001"] == "sdpa"
    assert picks["fastest, error ≤ 1e-05"] == "sdpa"
    assert picks["least memory"] == "sdpa"  # the least memory with the exact answer, not performer's
    assert picks["fastest in ½ sdpa's memory"] is None  # no exact cell fits in half of sdpa's memory
    assert picks["most accurate"] == "sdpa"  # naive's equal (rounding-level) error does not beat sdpa's speed


def test_fastest_without_an_exact_answer_says_it_ignores_error():
    ran = with_fronts(_group([("window", 0.4, 40, 2e-3, False), ("performer", 0.2, 30, 5e-2, False)]))
    fastest = budget_picks(ran)[0]
    assert (fastest.budget, fastest.impl) == ("fastest", "performer")
    assert "regardless of error" in fastest.note


def test_an_approximation_within_the_rounding_tolerance_has_the_exact_answer():
    ran = with_fronts(_group([("sdpa", 1.0, 100, 3e-7, True), ("window", 0.4, 40, 4e-6, False)]))
    picks = {p.budget: p.impl for p in budget_picks(ran)}
    assert picks["fastest"] == "window" and picks["fastest exact"] == "sdpa"
