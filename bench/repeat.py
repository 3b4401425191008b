"""``--attn-repeat N``: the grid measured N times, each repeat in its own shuffled order.

One measurement of a cell cannot tell its own noise: a cell measured right after a large one, or
while another job had the cores, is off by more than its rounds' spread says. Repeating the grid
in a different order each time spreads such disturbances over different cells, and the report
turns the repeats into a confidence interval per cell (reports/intervals.py).

Order: repeat 1 entirely, then repeat 2, ... Within a repeat the problems are shuffled, and the
implementations of one problem stay together in a shuffled order, so the float64 oracle computed
for a problem is still reused by every implementation of it. The shuffle is seeded (``--attn-seed``
and the repeat number), so every xdist worker collects the same order.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Hashable, Sequence
from typing import TypeVar

Item = TypeVar("Item")


def parse_repeat(value: int | str | None) -> int:
    try:
        count = int(value if value is not None else 1)
    except (TypeError, ValueError):
        raise ValueError(f"--attn-repeat: {value!r} is not a count (expected a positive integer, e.g. 3)") from None
    if count < 1:
        raise ValueError(f"--attn-repeat: {count} must be at least 1")
    return count


def repeat_ids(count: int) -> list[str]:
    return [f"r{index}" for index in range(1, count + 1)]


def shuffled_order(items: Sequence[Item], repeat_of: Callable[[Item], int], block_of: Callable[[Item], Hashable],
                   seed: int) -> list[Item]:
    """``items`` repeat by repeat; within a repeat, blocks (problems) shuffled and items within a block shuffled."""
    by_repeat: dict[int, dict[Hashable, list[Item]]] = {}
    for item in items:
        by_repeat.setdefault(repeat_of(item), {}).setdefault(block_of(item), []).append(item)
    ordered: list[Item] = []
    for repeat in sorted(by_repeat):
        rng = random.Random(f"{seed}-{repeat}")  # a string seed hashes the same in every process
        blocks = list(by_repeat[repeat].values())
        rng.shuffle(blocks)
        for block in blocks:
            rng.shuffle(block)
            ordered.extend(block)
    return ordered


def reorder_in_place(items: list, selected: Callable[[object], bool], order: Callable[[list], list]) -> None:
    """Reorder the ``selected`` items among the slots they occupy; other items keep their places."""
    slots = [index for index, item in enumerate(items) if selected(item)]
    chosen = order([items[index] for index in slots])
    for index, item in zip(slots, chosen):
        items[index] = item
