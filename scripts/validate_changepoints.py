"""How well the history page's change-point detection works on this machine's noise, on synthetic histories.

Noise: each commit's time is a true time multiplied by exp(e), e drawn from the model in
reports/history/changepoints.py (Student t, fitted so that two identical runs differ per cell by a
median 2.4% and a 90th percentile of 7%, as two identical cpu-preset runs did here; its tail is printed
against the measured 30% maximum). Then, for each penalty:
- false steps per 100 unchanged commits (histories of 100 commits without any change);
- detection rate of an injected step of 5%, 10% and 25% in the middle of a history (found within
  ±2 commits of where it was injected, with the right sign), and of the same steps with fewer commits.

    python scripts/validate_changepoints.py                   # the figures in docs/history.md
    python scripts/validate_changepoints.py --trials 50 --penalties 8,12,16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from reports.history.changepoints import PENALTY, detect, synthetic_noise  # noqa: E402

STEPS = (0.05, 0.10, 0.25)


def noise_fit(rng: np.random.Generator, cells: int = 300) -> str:
    pairs = np.abs(np.expm1(synthetic_noise((2000, cells), rng) - synthetic_noise((2000, cells), rng)))
    median, p90 = np.quantile(pairs, [0.5, 0.9])
    typical_max = float(np.median(pairs.max(axis=1)))
    return (f"noise model: two identical runs differ per cell by median {median:.1%}, p90 {p90:.1%}, "
            f"max over {cells} cells {typical_max:.0%} (typical); measured here: 2.4%, 7%, 30%")


def false_steps(penalty: float, trials: int, commits: int, rng: np.random.Generator) -> float:
    found = sum(len(detect(np.exp(synthetic_noise(commits, rng)), penalty=penalty, seed=t)) for t in range(trials))
    return 100.0 * found / (trials * commits)


def detection_rate(penalty: float, size: float, side: int, trials: int, rng: np.random.Generator) -> float:
    hits = 0
    for t in range(trials):
        truth = np.r_[np.ones(side), np.full(side, 1 + size)]
        steps = detect(truth * np.exp(synthetic_noise(2 * side, rng)), penalty=penalty, seed=t)
        hits += any(abs(s.position - side) <= 2 and s.change > 0 for s in steps)
    return hits / trials


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200, help="synthetic histories per figure (default 200)")
    parser.add_argument("--penalties", default=f"2,3,{PENALTY:g},6", help="penalties to compare (default: 2,3,the default,6)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    started = time.perf_counter()
    print(noise_fit(rng))
    header = "penalty  false steps/100 commits  " + "  ".join(f"{s:.0%} step (20+20 / 8+8)" for s in STEPS)
    print(header)
    for penalty in (float(p) for p in args.penalties.split(",")):
        false = false_steps(penalty, args.trials, 100, rng)
        rates = [(detection_rate(penalty, s, 20, args.trials, rng), detection_rate(penalty, s, 8, args.trials, rng)) for s in STEPS]
        mark = " (default)" if penalty == PENALTY else ""
        print(f"{penalty:7g}  {false:23.2f}  " + "  ".join(f"{a:10.0%} / {b:4.0%}      " for a, b in rates) + mark, flush=True)
    print(f"{args.trials} histories per figure; {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
