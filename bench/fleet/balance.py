"""Split weighted items into bins of nearly equal total weight.

Longest processing time first: items from the heaviest down, each into the bin with the least
weight so far. Its worst case is 4/3 of the optimum; with many small cells it is within one cell
of perfect. Within a bin the items keep their original order (problem-major), so a shard still
reuses the oracle's answer across the implementations of one problem.
"""

from __future__ import annotations

import heapq


def balance(weights: list[float], bins: int) -> list[list[int]]:
    """Indices of ``weights`` per bin, each bin in ascending index order."""
    if bins < 1:
        raise ValueError(f"bins={bins} must be at least 1")
    heap = [(0.0, b) for b in range(bins)]
    assigned: list[list[int]] = [[] for _ in range(bins)]
    for index in sorted(range(len(weights)), key=lambda i: (-weights[i], i)):
        load, b = heapq.heappop(heap)
        assigned[b].append(index)
        heapq.heappush(heap, (load + weights[index], b))
    return [sorted(items) for items in assigned]


def loads(weights: list[float], assignment: list[list[int]]) -> list[float]:
    return [sum(weights[i] for i in items) for items in assignment]
