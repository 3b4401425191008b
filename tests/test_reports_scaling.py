"""Power-law fits on synthetic data with known exponents, and crossovers on synthetic curves."""

from __future__ import annotations

import math

import numpy as np
import pytest

from reports.scaling import EXTRAPOLATE_MAX, crossover, fit_power_law

LENGTHS = np.array([256, 512, 1024, 2048, 4096, 8192], dtype=float)


@pytest.mark.parametrize("exponent", [1.0, 1.5, 2.0, 2.7])
def test_exact_power_laws_give_their_exponent(exponent):
    fit = fit_power_law(LENGTHS, 3e-9 * LENGTHS ** exponent)
    assert fit.exponent == pytest.approx(exponent, abs=1e-9)
    assert fit.prefactor == pytest.approx(3e-9, rel=1e-6)
    assert fit.stderr == pytest.approx(0.0, abs=1e-9)
    assert fit.points == len(LENGTHS)


def test_noisy_fits_recover_the_exponent_and_their_stderr_is_calibrated():
    rng = np.random.default_rng(3)
    sigma, true = 0.05, 1.8
    exponents, stderrs = [], []
    for _ in range(400):
        y = 2e-8 * LENGTHS ** true * np.exp(rng.normal(0, sigma, len(LENGTHS)))
        fit = fit_power_law(LENGTHS, y)
        exponents.append(fit.exponent)
        stderrs.append(fit.stderr)
    # The estimate is unbiased and the reported standard error matches the spread of the estimates.
    assert np.mean(exponents) == pytest.approx(true, abs=0.01)
    theoretical = sigma / math.sqrt(((np.log(LENGTHS) - np.log(LENGTHS).mean()) ** 2).sum())
    assert np.std(exponents) == pytest.approx(theoretical, rel=0.15)
    assert np.mean(stderrs) == pytest.approx(theoretical, rel=0.15)


def test_fit_edge_cases():
    assert fit_power_law([1024], [1.0]) is None
    assert fit_power_law([1024, 1024], [1.0, 1.1]) is None
    two = fit_power_law([1000, 2000], [1.0, 4.0])
    assert two.exponent == pytest.approx(2.0) and math.isnan(two.stderr)
    # Non-positive and missing values are left out, not fitted.
    fit = fit_power_law([0, 100, 200, 400, float("nan")], [5.0, 1.0, 2.0, 4.0, 1.0])
    assert fit.exponent == pytest.approx(1.0) and fit.points == 3


def test_crossover_between_measured_lengths_is_exact_for_power_laws():
    # impl ∝ L (1e-6 L), baseline ∝ L² (1e-9 L²): equal at L = 1000.
    impl, base = 1e-6 * LENGTHS, 1e-9 * LENGTHS ** 2
    found = crossover(LENGTHS, impl, base)
    assert found.kind == "measured"
    assert found.length == pytest.approx(1000.0, rel=1e-9)


def test_crossover_kinds():
    base = 1e-9 * LENGTHS ** 2
    assert crossover(LENGTHS, base / 2, base).kind == "always"
    assert crossover(LENGTHS, base * 2, base).kind == "never"
    # Faster at small L, slower at large L: it never overtakes for good.
    assert crossover(LENGTHS, 1e-8 * LENGTHS ** 2.5, base).kind == "never"
    assert crossover([1024], [1.0], [2.0]).kind == "insufficient"
    # Crossing beyond the data, within reach: extrapolated from both fits (at L = 16000, about 2× the largest length).
    found = crossover(LENGTHS, 1.6e-5 * LENGTHS, base)
    assert found.kind == "extrapolated" and found.length == pytest.approx(16000.0, rel=1e-6)
    # Too far beyond the data to say.
    far = LENGTHS[-1] * EXTRAPOLATE_MAX * 4 * 1e-9
    assert crossover(LENGTHS, far * LENGTHS, base).kind == "never"


def test_crossover_ignores_order_and_noise_in_the_input():
    rng = np.random.default_rng(0)
    order = rng.permutation(len(LENGTHS))
    impl = 1e-6 * LENGTHS * np.exp(rng.normal(0, 0.01, len(LENGTHS)))
    base = 1e-9 * LENGTHS ** 2
    found = crossover(LENGTHS[order], impl[order], base[order])
    assert found.kind == "measured" and 900 < found.length < 1100
