"""Interleaved measurement: randomized pairs of blocks, base and head alternating.

A block is a few timed samples of every cell on one side (cells in a shuffled order), reduced to a
median per cell; a pair is one base block and one head block back to back, in a balanced random
order (as many base-first as head-first pairs). Whatever the machine does during a pair (another
job, a frequency change) hits both sides, so the paired log-ratio cancels it.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass, field

from .workers import Worker

TARGET_SAMPLE_S = 2e-3  # a sample repeats a fast call until it takes about this long
DEFAULT_CALLS = 5  # timed samples of each cell per block
WARMUP_PAIRS = 1  # discarded: the first blocks after setup pay for cold caches and lazy init


@dataclass
class Samples:
    """Per cell, the block medians of each side (seconds per call), aligned by pair."""

    base: dict[str, list[float]] = field(default_factory=dict)
    head: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0  # wall time spent measuring


def iterations_for(single_seconds: Sequence[float]) -> int:
    """Calls per sample so that a sample lasts about TARGET_SAMPLE_S; the same count for both sides."""
    fastest = min(s for s in single_seconds if s and s > 0)
    return max(1, math.ceil(TARGET_SAMPLE_S / fastest))


def balanced_orders(pairs: int, rng: random.Random) -> list[bool]:
    """True = base block first; half the pairs each way, shuffled."""
    orders = [i % 2 == 0 for i in range(pairs)]
    rng.shuffle(orders)
    return orders


def measure_pairs(base: Worker, head: Worker, cell_ids: list[str], iterations: dict[str, int], pairs: int,
                  rng: random.Random, calls: int = DEFAULT_CALLS, samples: Samples | None = None) -> Samples:
    """Add ``pairs`` pairs to ``samples`` (a new one, after a discarded warm-up pair, when None)."""
    import time

    warmup = WARMUP_PAIRS if samples is None else 0
    samples = samples or Samples(base={c: [] for c in cell_ids}, head={c: [] for c in cell_ids})
    start = time.perf_counter()
    for index, base_first in enumerate(balanced_orders(pairs + warmup, rng)):
        order = list(cell_ids)
        rng.shuffle(order)
        sides = [(base, samples.base), (head, samples.head)]
        for worker, store in sides if base_first else reversed(sides):
            seconds = worker.request("block", order=order, calls=calls, iterations=iterations)["seconds"]
            if index >= warmup:
                for cell_id in cell_ids:
                    store[cell_id].append(seconds[cell_id])
    samples.seconds += time.perf_counter() - start
    return samples


def measure_single(worker: Worker, cell_ids: list[str], iterations: dict[str, int], blocks: int,
                   rng: random.Random, calls: int = DEFAULT_CALLS) -> dict[str, list[float]]:
    """History mode: one side only, cells (and the reference kernel among them) in a shuffled order per block."""
    store: dict[str, list[float]] = {c: [] for c in cell_ids}
    for index in range(blocks + WARMUP_PAIRS):
        order = list(cell_ids)
        rng.shuffle(order)
        seconds = worker.request("block", order=order, calls=calls, iterations=iterations)["seconds"]
        if index >= WARMUP_PAIRS:
            for cell_id in cell_ids:
                store[cell_id].append(seconds[cell_id])
    return store
