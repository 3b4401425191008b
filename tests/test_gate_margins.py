"""The deterministic gates (peak memory, error) and how verdicts become one exit code."""

from __future__ import annotations

import math

import pytest

from gate import judge
from gate.margins import MiB, error_verdict, memory_verdict

FP32 = {"max_abs": 2e-4, "rel_l2": 2e-5}


def err(max_abs, rel_l2, finite=True, **grads):
    return {"output": {"max_abs": max_abs, "rel_l2": rel_l2, "finite": finite}, "rows_checked": 8, **grads}


@pytest.mark.parametrize("base,head,verdict", [
    (100 * MiB, 100 * MiB, "unchanged"),
    (100 * MiB, 100 * MiB + 2 * MiB, "unchanged"),  # limit: 100 · 1.01 + 1 = 102 MiB
    (100 * MiB, 102 * MiB + 1, "regression"),
    (0, MiB, "unchanged"),  # the absolute MiB keeps tiny cells from flapping
    (0, MiB + 1, "regression"),
    (100 * MiB, 97 * MiB, "improvement"),
    (None, MiB, "unmeasured"),
])
def test_memory_margin(base, head, verdict):
    assert memory_verdict(base, head)[0] == verdict


def test_memory_regression_says_both_sides_and_the_limit():
    verdict, why = memory_verdict(4 * MiB, 7 * MiB)
    assert verdict == "regression" and "4.00 MiB → 7.00 MiB" in why and "1% + 1 MiB" in why


def test_error_within_the_dtype_tolerance_is_not_a_regression_even_if_it_grows():
    # an exact float32 kernel whose rounding moved from 1e-7 to 1e-6: still far inside the tolerance
    assert error_verdict(err(1e-7, 1e-8), err(1e-6, 1e-7), FP32)[0] == "unchanged"


def test_error_above_the_tolerance_and_above_base_is_a_regression():
    verdict, why = error_verdict(err(1e-7, 1e-8), err(3e-3, 1.6e-3), FP32)
    assert verdict == "regression" and "max(1.1 × base" in why


def test_an_approximation_may_keep_its_error_but_not_grow_it_by_more_than_ten_percent():
    base = err(0.2, 0.1)
    assert error_verdict(base, err(0.21, 0.105), FP32)[0] == "unchanged"
    assert error_verdict(base, err(0.2, 0.111), FP32)[0] == "regression"


def test_nan_is_always_a_regression():
    assert error_verdict(err(1e-7, 1e-8), err(math.nan, math.nan, finite=False), FP32)[0] == "regression"


def test_gradients_are_gated_with_the_harness_factor():
    grads = lambda rel: {"dq": {"max_abs": 1e-6, "rel_l2": rel, "finite": True}}  # noqa: E731
    base, tolerance_4x = err(1e-7, 1e-8, **grads(1e-7)), 4 * FP32["rel_l2"]
    assert error_verdict(base, err(1e-7, 1e-8, **grads(tolerance_4x * 0.9)), FP32)[0] == "unchanged"
    verdict, why = error_verdict(base, err(1e-7, 1e-8, **grads(tolerance_4x * 1.5)), FP32)
    assert verdict == "regression" and why.startswith("dq rel_l2")


def _setup(status="ok", peak=MiB, error=None, reason=None):
    return {"status": status, "reason": reason, "peak_bytes": peak, "peak_method": "test",
            "error": error or err(1e-7, 1e-8), "tolerance": FP32}


CELL = {"id": "naive-x", "impl": "naive", "problem": {"device": "cpu"}}


def test_a_cell_that_fails_only_in_head_is_a_regression_and_exits_1():
    entries = [judge.entry(CELL, _setup(), _setup("failed", reason="RuntimeError: boom"))]
    code, reason = judge.decide(entries, strict=False)
    assert code == judge.REGRESSION and "head failed: RuntimeError: boom" in reason


def test_a_cell_new_in_head_is_reported_not_gated():
    entries = [judge.entry(CELL, _setup("missing", reason="unknown implementation"), _setup())]
    code, _ = judge.decide(entries, strict=True)
    assert code == judge.PASS and entries[0]["verdict"] == "new"


def test_memory_and_error_regressions_fail_the_gate_without_statistics():
    memory = judge.entry(CELL, _setup(peak=4 * MiB), _setup(peak=7 * MiB))
    accuracy = judge.entry({**CELL, "id": "naive-y"}, _setup(), _setup(error=err(3e-3, 1.6e-3)))
    code, reason = judge.decide([memory, accuracy], strict=False)
    assert code == judge.REGRESSION and reason.startswith("2 confirmed regression(s); first: naive-x: memory:")


def test_inconclusive_exits_2_only_under_strict():
    e = judge.entry(CELL, _setup(), _setup())
    e["time"] = {"verdict": "inconclusive", "why": "noise"}
    assert judge.decide([e], strict=False)[0] == judge.PASS
    assert judge.decide([e], strict=True)[0] == judge.INCONCLUSIVE


def _comparison(change: float, p_slower: float, p_faster: float):
    from gate.stats import Comparison

    c = Comparison(samples=20, change=change, interval=(change - 0.01, change + 0.01), p_slower=p_slower, p_faster=p_faster,
                   standard_error=0.005)
    c.p_slower_adjusted, c.p_faster_adjusted, c.mde = p_slower, p_faster, 0.02
    return c


@pytest.mark.parametrize("first,again,verdict", [
    ((0.08, 1e-4, 1.0), (0.07, 1e-4, 1.0), "regression"),  # reproduced
    ((0.08, 1e-4, 1.0), (0.005, 0.3, 0.7), "inconclusive"),  # one process set's luck
    ((-0.08, 1.0, 1e-4), (-0.07, 1.0, 1e-4), "improvement"),
    ((-0.08, 1.0, 1e-4), (0.0, 0.5, 0.5), "inconclusive"),
])
def test_a_flagged_change_must_be_reproduced_by_fresh_processes(first, again, verdict):
    e = judge.entry(CELL, _setup(), _setup())
    flagged = judge.judge_timing([e], [_comparison(*first)], [0.03], 0.05)
    assert flagged == [e]
    judge.settle_confirmation(e, _comparison(*again), 0.05)
    assert e["time"]["verdict"] == verdict
    assert e["time"]["confirmation"]["confirmed"] == (verdict != "inconclusive")
