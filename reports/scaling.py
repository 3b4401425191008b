"""Scaling laws: power-law exponents fitted in log-log space, and crossover lengths."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PowerFit:
    """``y ≈ prefactor · x ** exponent``, fitted by least squares on (log x, log y)."""

    exponent: float
    stderr: float  # standard error of the exponent; NaN with only two distinct lengths
    prefactor: float
    points: int

    def __call__(self, x):
        return self.prefactor * np.asarray(x, dtype=float) ** self.exponent

    def text(self) -> str:
        if math.isnan(self.stderr):
            return f"{self.exponent:.2f} (2 points)"
        return f"{self.exponent:.2f} ± {self.stderr:.2f}"


def fit_power_law(x, y) -> PowerFit | None:
    """Exponent of y against x; None with fewer than two distinct positive x (nothing to fit).

    Repeated x values (several runs of the same length) are all used: they inform the noise.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    keep = np.isfinite(x) & np.isfinite(y) & (x > 0) & (y > 0)
    x, y = x[keep], y[keep]
    if len(np.unique(x)) < 2:
        return None
    lx, ly = np.log(x), np.log(y)
    design = np.column_stack([lx, np.ones_like(lx)])
    (slope, intercept), *_ = np.linalg.lstsq(design, ly, rcond=None)
    dof = len(x) - 2
    if dof > 0:
        residual = ly - (slope * lx + intercept)
        variance = float(residual @ residual) / dof
        stderr = math.sqrt(variance / float(((lx - lx.mean()) ** 2).sum()))
    else:
        stderr = math.nan
    return PowerFit(float(slope), stderr, float(math.exp(intercept)), int(len(x)))


# A crossover is extrapolated at most this factor beyond the largest measured length; further out a
# power-law fit says little (and a noise-level exponent difference would put it anywhere).
EXTRAPOLATE_MAX = 8.0


@dataclass(frozen=True)
class Crossover:
    """Where an implementation becomes faster than the baseline, going up in length.

    kind: ``measured`` (between two measured lengths, interpolated in log-log), ``extrapolated``
    (beyond the measured range, from both fitted power laws), ``always`` (faster at every measured
    length), ``never`` (slower at the largest length and not catching up), ``insufficient``
    (fewer than two common lengths).
    """

    kind: str
    length: float | None = None

    def text(self) -> str:
        if self.kind == "measured":
            return f"L ≈ {self.length:,.0f}"
        if self.kind == "extrapolated":
            return f"L ≈ {self.length:,.0f} (extrapolated)"
        return {"always": "faster at every measured L", "never": "not within reach (slower at the largest L)",
                "insufficient": "too few common lengths"}.get(self.kind, self.kind)


def crossover(lengths, impl_times, baseline_times) -> Crossover:
    """The length from which ``impl`` stays faster than the baseline (same lengths, one time each)."""
    x = np.asarray(lengths, dtype=float)
    a = np.asarray(impl_times, dtype=float)
    b = np.asarray(baseline_times, dtype=float)
    keep = np.isfinite(x) & np.isfinite(a) & np.isfinite(b) & (x > 0) & (a > 0) & (b > 0)
    x, a, b = x[keep], a[keep], b[keep]
    order = np.argsort(x, kind="mergesort")
    x, a, b = x[order], a[order], b[order]
    if len(np.unique(x)) < 2:
        return Crossover("insufficient")
    gap = np.log(a) - np.log(b)  # < 0: impl faster
    if (gap < 0).all():
        return Crossover("always")
    if gap[-1] < 0:
        # The last length where it was not faster, then the first after it: interpolate log L where the gap is 0.
        j = int(np.nonzero(gap >= 0)[0][-1])
        lx0, lx1 = math.log(x[j]), math.log(x[j + 1])
        t = gap[j] / (gap[j] - gap[j + 1])
        return Crossover("measured", float(math.exp(lx0 + t * (lx1 - lx0))))
    fit_a, fit_b = fit_power_law(x, a), fit_power_law(x, b)
    if fit_a is not None and fit_b is not None and fit_a.exponent < fit_b.exponent:
        log_length = (math.log(fit_a.prefactor) - math.log(fit_b.prefactor)) / (fit_b.exponent - fit_a.exponent)
        if math.log(x[-1]) < log_length <= math.log(x[-1] * EXTRAPOLATE_MAX):
            return Crossover("extrapolated", float(math.exp(log_length)))
    return Crossover("never")
