"""Interleaved measurement: randomized pairs of blocks, base and head alternating.

A pair visits every cell (in a shuffled order) and, for each, measures a few timed samples on one
side and then on the other, back to back, each reduced to a median: the two halves of a cell's
pair are milliseconds apart, not a whole block of cells apart, so whatever the machine does at
that moment (another job on the sibling hyperthread, a frequency change) hits both sides and the
paired log-ratio cancels it. Which side goes first alternates from cell to cell and is balanced
across pairs.

Each side has several worker processes, and the pairs go round every (base worker, head worker)
combination: a process's own luck (where its buffers landed in physical memory, its address
layout) shifts its times by about 1% for as long as it lives; spread over several processes it
becomes noise the statistics can see instead of a bias they cannot.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
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
    workers: list[tuple[int, int]] = field(default_factory=list)  # (base worker, head worker) index of each pair
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


def worker_combinations(base: Sequence[Worker], head: Sequence[Worker], pairs: int, rng: random.Random) -> list[tuple[Worker, Worker]]:
    """``pairs`` (base, head) worker pairs going round every combination, each round in a shuffled order."""
    every = [(b, h) for b in base for h in head]
    chosen: list[tuple[Worker, Worker]] = []
    while len(chosen) < pairs:
        round_ = list(every)
        rng.shuffle(round_)
        chosen.extend(round_)
    return chosen[:pairs]


def measure_pairs(base: Sequence[Worker], head: Sequence[Worker], cell_ids: list[str], iterations: dict[str, int], pairs: int,
                  rng: random.Random, calls: int = DEFAULT_CALLS, samples: Samples | None = None,
                  on_pair: Callable[[], None] | None = None) -> Samples:
    """Add ``pairs`` pairs to ``samples`` (a new one, after warm-up pairs that visit every worker, when None);
    ``on_pair`` is called after each measured pair (the progress line)."""
    import time

    warmup = max(len(base), len(head)) * WARMUP_PAIRS if samples is None else 0
    samples = samples or Samples(base={c: [] for c in cell_ids}, head={c: [] for c in cell_ids})
    start = time.perf_counter()
    workers = [(base[i % len(base)], head[i % len(head)]) for i in range(warmup)] + worker_combinations(base, head, pairs, rng)
    for index, (base_first, (base_worker, head_worker)) in enumerate(zip(balanced_orders(pairs + warmup, rng), workers)):
        order = list(cell_ids)
        rng.shuffle(order)
        sides = [(base_worker, samples.base), (head_worker, samples.head)]
        for position, cell_id in enumerate(order):
            first_is_base = base_first == (position % 2 == 0)  # the order alternates cell by cell, too
            for worker, store in sides if first_is_base else reversed(sides):
                seconds = worker.request("block", order=[cell_id], calls=calls, iterations=iterations)["seconds"]
                if index >= warmup:
                    store[cell_id].append(seconds[cell_id])
        if index >= warmup:
            samples.workers.append((list(base).index(base_worker), list(head).index(head_worker)))
            if on_pair is not None:
                on_pair()
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
