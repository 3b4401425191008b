"""The gate's statistics: paired log-ratios, one-sided Wilcoxon, bootstrap interval, Holm, detectable effect.

Times are compared as log-ratios (log head − log base), so a change is relative and symmetric and a
2× slowdown weighs as much as a 2× speed-up. Everything here is numpy/scipy only: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy import stats

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
POWER = 0.8  # the power at which the minimal detectable effect is quoted
# A pair whose log-ratio lies this many robust standard deviations (1.4826·MAD) from the median had one of
# its blocks hit by something else (another job took the core); the rank test leaves it out, symmetrically.
OUTLIER_MADS = 5.0
# A block that took more than this many times its side's lower-quartile block was slowed by something else
# (on a shared machine another job can triple a kernel's time for seconds); its pair is left out.
CONTENDED_FACTOR = 1.3
MIN_CLEAN_PAIRS = 8  # below this many clean pairs every pair is used, and the noise shows in the interval


@dataclass
class Comparison:
    """One benchmark's timing comparison; all effects are relative changes (0.05 = head 5% slower)."""

    samples: int  # pairs (paired mode) or current-run blocks (history mode)
    change: float  # exp(median log-ratio) − 1
    interval: tuple[float, float]  # bootstrap interval of the change at CONFIDENCE
    p_slower: float  # one-sided: head slower than base
    p_faster: float  # one-sided: head faster than base
    standard_error: float  # of the median log-ratio (bootstrap)
    p_slower_adjusted: float = math.nan  # Holm across the run's benchmarks
    p_faster_adjusted: float = math.nan
    mde: float = math.nan  # smallest slowdown this run would call significant with POWER
    extra: dict = field(default_factory=dict)


def log_ratios(base_seconds: Sequence[float], head_seconds: Sequence[float]) -> np.ndarray:
    base, head = np.asarray(base_seconds, float), np.asarray(head_seconds, float)
    if base.shape != head.shape or base.ndim != 1:
        raise ValueError(f"paired samples need equal 1-d lengths (got {base.shape} and {head.shape})")
    if (base <= 0).any() or (head <= 0).any():
        raise ValueError("times must be positive seconds")
    return np.log(head) - np.log(base)


def uncontended(base_seconds: Sequence[float], head_seconds: Sequence[float]) -> np.ndarray:
    """Which pairs ran undisturbed: neither block above CONTENDED_FACTOR × its own side's lower quartile.

    Judged per side, so a real slowdown of the head (which moves all its blocks) keeps its pairs; the
    rule is the same for both sides, so under no change it removes as many pairs either way."""
    base, head = np.asarray(base_seconds, float), np.asarray(head_seconds, float)
    clean = (base <= CONTENDED_FACTOR * np.quantile(base, 0.25)) & (head <= CONTENDED_FACTOR * np.quantile(head, 0.25))
    return clean if clean.sum() >= MIN_CLEAN_PAIRS else np.ones_like(clean)


def compare_paired(ratios: Sequence[float], seed: int = 0) -> Comparison:
    """Median paired log-ratio, one-sided Wilcoxon signed-rank p-values and a bootstrap interval."""
    r = np.asarray(ratios, float)
    if r.size < 2:
        raise ValueError(f"need at least 2 pairs to compare (got {r.size})")
    kept = without_outliers(r)
    p_slower, p_faster = _wilcoxon_one_sided(kept)
    medians = _bootstrap(lambda idx: np.median(r[idx], axis=1), r.size, seed)
    comparison = _comparison(r.size, float(np.median(r)), medians, p_slower, p_faster)
    comparison.extra["outlier_pairs"] = int(r.size - kept.size)
    return comparison


def without_outliers(r: np.ndarray) -> np.ndarray:
    """The pairs within OUTLIER_MADS robust standard deviations of the median (all of them when MAD is 0).

    The signed-rank test gives its largest ranks to the largest differences, so a few blocks slowed by
    another job (heavy tails of either sign) can hide a clear shift that the median sees; trimming both
    tails alike keeps the test honest under no change."""
    center = np.median(r)
    spread = 1.4826 * np.median(np.abs(r - center))
    if spread == 0:
        return r
    return r[np.abs(r - center) <= OUTLIER_MADS * spread]


def compare_unpaired(current: Sequence[float], baseline: Sequence[float], seed: int = 0) -> Comparison:
    """History mode: normalized log-times of this run against a baseline's; Hodges–Lehmann shift, Mann–Whitney."""
    x, y = np.asarray(current, float), np.asarray(baseline, float)
    if x.size < 2 or y.size < 2:
        raise ValueError(f"need at least 2 samples on each side (got {x.size} and {y.size})")
    shift = float(np.median(np.subtract.outer(x, y)))
    p_slower = float(stats.mannwhitneyu(x, y, alternative="greater").pvalue)
    p_faster = float(stats.mannwhitneyu(x, y, alternative="less").pvalue)
    rng = np.random.default_rng(seed)
    idx_x = rng.integers(0, x.size, (BOOTSTRAP_RESAMPLES, x.size))
    idx_y = rng.integers(0, y.size, (BOOTSTRAP_RESAMPLES, y.size))
    shifts = np.median(x[idx_x], axis=1) - np.median(y[idx_y], axis=1)
    return _comparison(x.size, shift, shifts, p_slower, p_faster)


def _comparison(samples: int, estimate: float, resampled: np.ndarray, p_slower: float, p_faster: float) -> Comparison:
    tail = (1 - CONFIDENCE) / 2
    low, high = np.quantile(resampled, [tail, 1 - tail])
    return Comparison(samples=samples, change=math.expm1(estimate), interval=(math.expm1(low), math.expm1(high)),
                      p_slower=p_slower, p_faster=p_faster, standard_error=float(np.std(resampled, ddof=1)))


def _wilcoxon_one_sided(r: np.ndarray) -> tuple[float, float]:
    if r.size < 2 or not np.any(r):  # all pairs identical: no evidence either way
        return 1.0, 1.0
    slower = stats.wilcoxon(r, alternative="greater", zero_method="wilcox")
    faster = stats.wilcoxon(r, alternative="less", zero_method="wilcox")
    return float(slower.pvalue), float(faster.pvalue)


def _bootstrap(statistic, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return statistic(rng.integers(0, n, (BOOTSTRAP_RESAMPLES, n)))


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm–Bonferroni adjusted p-values (step-down, monotone, capped at 1), in the input order."""
    p = np.asarray(pvalues, float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()


def minimal_detectable_effect(standard_error: float, alpha: float, power: float = POWER) -> float:
    """The relative slowdown a one-sided test at ``alpha`` would detect with ``power``, given the noise seen."""
    z = stats.norm.ppf(1 - alpha) + stats.norm.ppf(power)
    return math.expm1(z * standard_error)


def adjust(comparisons: Sequence[Comparison], alpha: float) -> None:
    """Fill in Holm-adjusted p-values and each benchmark's minimal detectable effect (at alpha / m, Holm's worst case)."""
    if not comparisons:
        return
    for c, ps, pf in zip(comparisons, holm([c.p_slower for c in comparisons]), holm([c.p_faster for c in comparisons])):
        c.p_slower_adjusted, c.p_faster_adjusted = ps, pf
        c.mde = minimal_detectable_effect(c.standard_error, alpha / len(comparisons))


def timing_verdict(c: Comparison, floor: float, alpha: float) -> tuple[str, str]:
    """(verdict, why) before confirmation: a regression (an improvement) needs significance AND an effect at or
    above the floor; the caller re-measures both with fresh processes.

    unchanged: the interval lies inside ±floor (whatever changed is smaller than the floor);
    inconclusive: neither proven nor excluded at this noise level.
    """
    if c.p_slower_adjusted < alpha and c.change >= floor:
        return "regression", f"{c.change:+.1%} slower, adjusted p={c.p_slower_adjusted:.2g} < {alpha:g}"
    if c.p_faster_adjusted < alpha and c.change <= -floor / (1 + floor):
        return "improvement", f"{-c.change:.1%} faster, adjusted p={c.p_faster_adjusted:.2g} < {alpha:g}"
    low, high = c.interval
    if high < floor and low > -floor / (1 + floor):
        note = "significant but below the floor" if min(c.p_slower_adjusted, c.p_faster_adjusted) < alpha else "within noise"
        return "unchanged", f"interval {low:+.1%}..{high:+.1%} inside ±{floor:.0%} ({note})"
    return "inconclusive", f"interval {low:+.1%}..{high:+.1%} crosses the ±{floor:.0%} floor; detectable effect {c.mde:.1%}"
