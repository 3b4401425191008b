"""Steps in a cell's history: a robust piecewise-constant fit of log time across commits.

The method (asv's idea, with a kept library doing the search):
- work on log(median time) per commit, so a step is a ratio and noise is relative;
- divide by the noise scale: the larger of this machine's measured run-to-run spread (``NOISE_SCALE``)
  and a robust estimate from the series itself (MAD of successive differences), so a series noisier
  than the machine's usual is judged on its own noise;
- ``ruptures.Pelt`` with the L1 cost (medians, not means: one run that another job slowed by 30% does
  not pull a segment), segments of at least ``MIN_SIZE`` commits, and a penalty per step;
- keep a step only when its size (ratio of the medians of the segments either side) is at least the
  floor and its 95% bootstrap interval excludes no change.

The penalty and floor are tuned by ``scripts/validate_changepoints.py`` on synthetic histories whose
noise is drawn from this machine's measured spread (docs/history.md has the figures).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

# Two identical cpu-preset runs on this project's 2-core machine differ per cell by a median 2.4%, 90th
# percentile 7%, at most 30%: a Student t with 2.7 degrees of freedom and this scale reproduces that.
NOISE_SCALE = 0.0193
NOISE_DOF = 2.7
PENALTY = 4.0      # per step, in units of the noise scale (L1 cost); tuned by scripts/validate_changepoints.py
MIN_SIZE = 3       # commits on each side of a step
FLOOR = 0.03       # smallest step reported (3%, the gate's CPU floor)
BOOTSTRAP = 400
MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Step:
    position: int            # index of the first commit after the step
    change: float            # after / before - 1
    low: float               # 95% interval of the change
    high: float
    before: float            # median time of the segment before (seconds, or whatever the series holds)
    after: float


def noise_scale(log_values: np.ndarray) -> float:
    """The larger of the machine's measured noise and this series' own (robust, from successive differences)."""
    if len(log_values) < 3:
        return NOISE_SCALE
    diffs = np.diff(log_values)
    own = MAD_TO_SIGMA * float(np.median(np.abs(diffs - np.median(diffs)))) / math.sqrt(2)
    return max(NOISE_SCALE, own)


def _segments(scaled: np.ndarray, penalty: float, min_size: int) -> list[int]:
    import ruptures

    if len(scaled) < 2 * min_size:
        return []
    ends = ruptures.Pelt(model="l1", min_size=min_size, jump=1).fit(scaled.reshape(-1, 1)).predict(pen=penalty)
    return [end for end in ends if end < len(scaled)]


def _interval(before: np.ndarray, after: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
    b = rng.choice(before, size=(BOOTSTRAP, len(before)))
    a = rng.choice(after, size=(BOOTSTRAP, len(after)))
    shifts = np.median(a, axis=1) - np.median(b, axis=1)
    low, high = np.quantile(shifts, [0.025, 0.975])
    return math.expm1(low), math.expm1(high)


def detect(values, penalty: float = PENALTY, floor: float = FLOOR, min_size: int = MIN_SIZE, seed: int = 0) -> list[Step]:
    """Steps in ``values`` (positive, one per commit, in commit order); deterministic for a seed."""
    values = np.asarray(values, dtype=float)
    if np.any(~np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("a history's values must be positive and finite (times per commit)")
    logs = np.log(values)
    ends = _segments(logs / noise_scale(logs), penalty, min_size)
    bounds = [0, *ends, len(logs)]
    rng = np.random.default_rng(seed)
    steps = []
    for left, cut, right in zip(bounds, bounds[1:], bounds[2:]):
        before, after = logs[left:cut], logs[cut:right]
        change = math.expm1(float(np.median(after) - np.median(before)))
        low, high = _interval(before, after, rng)
        if abs(change) >= floor and (low > 0 or high < 0):
            steps.append(Step(cut, change, low, high, float(np.exp(np.median(before))), float(np.exp(np.median(after)))))
    return steps


def synthetic_noise(size, rng: np.random.Generator, scale: float = NOISE_SCALE, dof: float = NOISE_DOF) -> np.ndarray:
    """Relative run-to-run noise as measured on this machine (multiply a true time by exp of it)."""
    return scale * rng.standard_t(dof, size=size)
