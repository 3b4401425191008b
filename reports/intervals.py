"""Confidence intervals for a cell's median time and for a speed-up.

- **Repeats** (``--attn-repeat N``, N ≥ 2): the grid was measured N times, in different orders. Each
  repeat gives a median; the interval is Student's t interval on their logarithms
  (mean ± t₀.₉₇₅,N−1 · s/√N, back-transformed), widened if need be to hold the reported median (the
  median of the repeats' medians). It covers what changes from one pass over the grid to the next:
  the neighbours a cell was measured after, and the machine's load at the time. With N=2 or 3 it is
  wide, on purpose: two or three repeats say little about the spread.
- **One measurement** (N = 1): the distribution-free interval of the median of the cell's timed
  rounds (binomial order statistics). It only covers the noise between rounds of one process and
  is narrower than what another run would see; the page says so.

A speed-up is base / impl; its interval is [base low / impl high, base high / impl low], so it
contains 1 exactly when the two intervals overlap — which is what "≈" means on the page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

CONFIDENCE = 0.95
REPEATS_METHOD = "t interval over {n} repeats"
ROUNDS_METHOD = "rounds of one process"
MIN_ROUNDS_FOR_ORDER_STATISTICS = 6


def repeats_interval(medians: Sequence[float], reported: float) -> tuple[float, float]:
    """Interval for the cell's time from the medians of N ≥ 2 repeats."""
    from scipy import stats

    logs = [math.log(m) for m in medians]
    n = len(logs)
    mean = sum(logs) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in logs) / (n - 1))
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * sd / math.sqrt(n)
    return min(math.exp(mean - half), reported), max(math.exp(mean + half), reported)


def rounds_interval(samples: Sequence[float]) -> tuple[float, float]:
    """Distribution-free interval for the median of one process's rounds (order statistics)."""
    from scipy import stats

    ordered = sorted(samples)
    n = len(ordered)
    if n < MIN_ROUNDS_FOR_ORDER_STATISTICS:
        return ordered[0], ordered[-1]
    # ranks j..n-j+1 (1-based) hold the median with probability ≥ CONFIDENCE
    j = max(int(stats.binom.ppf((1 - CONFIDENCE) / 2, n, 0.5)), 1)
    return ordered[j - 1], ordered[n - j]


def median_interval(repeat_medians: Sequence[float], samples: Sequence[float], reported: float) -> tuple[float, float, str]:
    """(low, high, method) for a cell: over repeats when there are two or more, else over one process's rounds.

    A repeats' interval is cut to the fastest and slowest round measured: with two repeats that
    differ tenfold, t₀.₉₇₅,₁ = 12.7 would otherwise reach from 1e-22 s to 1e15 s, which says nothing
    the rounds do not already say."""
    medians = [m for m in repeat_medians if m and m > 0]
    if len(medians) >= 2:
        low, high = repeats_interval(medians, reported)
        rounds = [s for s in samples if s is not None and s > 0]
        if rounds:
            low, high = max(low, min(rounds + medians)), min(high, max(rounds + medians))
        return low, high, REPEATS_METHOD.format(n=len(medians))
    values = [s for s in samples if s is not None and s > 0]
    if not values:
        return reported, reported, "none"
    low, high = rounds_interval(values)
    return min(low, reported), max(high, reported), ROUNDS_METHOD


def speedup_interval(base: tuple[float, float], impl: tuple[float, float]) -> tuple[float, float]:
    """Interval of base / impl from the two time intervals (low, high)."""
    return base[0] / impl[1], base[1] / impl[0]


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return a[0] <= b[1] and b[0] <= a[1]
