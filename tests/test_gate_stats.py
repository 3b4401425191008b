"""The gate's statistics on synthetic samples whose truth is known: no false regressions, known shifts found, Holm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gate.stats import (
    adjust,
    compare_paired,
    compare_unpaired,
    holm,
    log_ratios,
    minimal_detectable_effect,
    timing_verdict,
    uncontended,
)

FLOOR, ALPHA = 0.03, 0.05


def paired_samples(rng, pairs: int, slowdown: float, noise: float, drift: float = 0.05):
    """Block medians of base and head: a shared per-pair drift (the machine's mood) plus independent noise,
    with heavy-tailed outliers (a block hit by another job), head truly ``slowdown`` slower."""
    mood = np.exp(rng.normal(0, drift, pairs))
    outliers = lambda: np.where(rng.random(pairs) < 0.1, np.exp(rng.uniform(0, 0.5, pairs)), 1.0)  # noqa: E731
    base = 1e-3 * mood * np.exp(rng.normal(0, noise, pairs)) * outliers()
    head = 1e-3 * (1 + slowdown) * mood * np.exp(rng.normal(0, noise, pairs)) * outliers()
    return base, head


def verdict_for(base, head, seed=0):
    c = compare_paired(log_ratios(base, head), seed=seed)
    adjust([c], ALPHA)
    return timing_verdict(c, FLOOR, ALPHA)[0], c


def test_identical_distributions_never_give_a_regression():
    rng = np.random.default_rng(1)
    verdicts = [verdict_for(*paired_samples(rng, 20, 0.0, 0.02), seed=i)[0] for i in range(300)]
    assert verdicts.count("regression") == 0
    assert verdicts.count("unchanged") > 150  # and identical code is mostly recognised as such


def test_wilcoxon_false_positive_rate_is_near_alpha():
    rng = np.random.default_rng(2)
    p = [compare_paired(log_ratios(*paired_samples(rng, 20, 0.0, 0.02))).p_slower for _ in range(400)]
    assert np.mean(np.array(p) < ALPHA) < 0.09


@pytest.mark.parametrize("slowdown", [0.10, 0.25])
def test_a_known_slowdown_is_detected_and_estimated(slowdown):
    rng = np.random.default_rng(3)
    covered = 0
    for i in range(40):
        verdict, c = verdict_for(*paired_samples(rng, 20, slowdown, 0.02), seed=i)
        assert verdict == "regression"
        assert abs(math.log1p(c.change) - math.log1p(slowdown)) < 0.05
        covered += c.interval[0] <= slowdown <= c.interval[1]
    assert covered >= 34  # a 95% interval, give or take the bootstrap's optimism at 20 pairs


def test_a_slowdown_below_the_floor_is_never_a_regression():
    rng = np.random.default_rng(4)
    verdicts = [verdict_for(*paired_samples(rng, 20, 0.02, 0.005), seed=i)[0] for i in range(100)]
    assert "regression" not in verdicts
    assert verdicts.count("unchanged") > 80  # significant, but smaller than the floor


def test_a_speedup_is_an_improvement():
    rng = np.random.default_rng(5)
    verdict, c = verdict_for(*paired_samples(rng, 20, -0.2, 0.02))
    assert verdict == "improvement" and c.change < -0.15


def test_too_much_noise_is_inconclusive_with_a_large_detectable_effect():
    rng = np.random.default_rng(6)
    verdict, c = verdict_for(*paired_samples(rng, 10, 0.0, 0.3))
    assert verdict == "inconclusive"
    assert c.mde > FLOOR


def test_holm_matches_a_hand_computation():
    # sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, 0.04·1 = 0.04 → monotone 0.06
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])
    assert holm([]) == []


def test_holm_controls_the_family_wise_error_over_many_benchmarks():
    rng = np.random.default_rng(7)
    runs_with_any = 0
    for _ in range(200):
        p = [compare_paired(log_ratios(*paired_samples(rng, 20, 0.0, 0.02))).p_slower for _ in range(8)]
        runs_with_any += min(holm(p)) < ALPHA
    assert runs_with_any / 200 < 0.09


def test_minimal_detectable_effect():
    # one-sided z(0.95) + z(0.8) = 1.645 + 0.842
    assert minimal_detectable_effect(0.01, 0.05) == pytest.approx(math.expm1(0.024865), rel=1e-3)
    assert minimal_detectable_effect(0.01, 0.01) > minimal_detectable_effect(0.01, 0.05)


def test_more_pairs_lower_the_detectable_effect():
    rng = np.random.default_rng(8)
    few = compare_paired(log_ratios(*paired_samples(rng, 10, 0.0, 0.05)))
    many = compare_paired(log_ratios(*paired_samples(rng, 80, 0.0, 0.05)))
    adjust([few], ALPHA)
    adjust([many], ALPHA)
    assert many.mde < few.mde


def test_history_comparison_detects_a_shift_and_not_its_absence():
    rng = np.random.default_rng(9)
    baseline = rng.normal(0.0, 0.02, 30)
    same = compare_unpaired(rng.normal(0.0, 0.02, 30), baseline)
    slower = compare_unpaired(rng.normal(math.log(1.2), 0.02, 30), baseline)
    adjust([same, slower], ALPHA)
    assert timing_verdict(same, 0.10, ALPHA)[0] == "unchanged"
    assert timing_verdict(slower, 0.10, ALPHA)[0] == "regression"
    assert slower.change == pytest.approx(0.2, abs=0.03)


def test_bad_samples_are_refused_with_a_reason():
    with pytest.raises(ValueError, match="equal 1-d lengths"):
        log_ratios([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="positive"):
        log_ratios([1.0, 0.0], [1.0, 1.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        compare_paired([0.1])


def test_all_identical_pairs_are_not_evidence():
    c = compare_paired([0.0] * 12)
    assert c.p_slower == 1.0 and c.p_faster == 1.0 and c.change == 0.0


def contended(rng, pairs: int, slowdown: float, burst: float = 0.4):
    """Block medians where another job triples a random 40% of blocks, on either side independently."""
    base, head = paired_samples(rng, pairs, slowdown, 0.01, drift=0.01)
    base = base * np.where(rng.random(pairs) < burst, 3.0, 1.0)
    head = head * np.where(rng.random(pairs) < burst, 3.0, 1.0)
    return base, head


def test_contended_pairs_are_left_out_so_a_slowdown_still_shows():
    rng = np.random.default_rng(10)
    for i in range(30):
        base, head = contended(rng, 40, 0.05)
        clean = uncontended(base, head)
        assert 0.15 < clean.mean() < 0.6  # about 0.6² of the pairs have neither block hit
        verdict, c = verdict_for(base[clean], head[clean], seed=i)
        assert verdict == "regression" and abs(c.change - 0.05) < 0.02


def test_leaving_contended_pairs_out_makes_no_regression_from_nothing():
    rng = np.random.default_rng(11)
    verdicts = []
    for i in range(200):
        base, head = contended(rng, 40, 0.0)
        clean = uncontended(base, head)
        verdicts.append(verdict_for(base[clean], head[clean], seed=i)[0])
    assert "regression" not in verdicts and verdicts.count("unchanged") > 180


def test_a_uniform_slowdown_of_the_head_is_not_mistaken_for_contention():
    rng = np.random.default_rng(12)
    base, head = paired_samples(rng, 30, 0.5, 0.01, drift=0.01)
    assert uncontended(base, head).mean() > 0.75  # what goes is the generator's own 10% outliers per side
