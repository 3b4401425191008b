"""The run's verdict: one paragraph per device, in words, from the answer's picks (reports.answer).

Printed as the last thing a sweep prints and written beside the page (``summary.txt``): per problem, which
exact implementation to use at each length (and whether anything else was told apart from it beyond noise),
and where an approximation within error 1e-2 is faster than the exact pick.
"""

from __future__ import annotations

from collections import defaultdict

from .answer import ANSWER_BUDGETS, AnswerRow
from .pareto import within_noise

LOOSEST = ANSWER_BUDGETS[-2]  # fastest, error ≤ 1e-2


def _lengths(lengths: list[int]) -> str:
    lengths = sorted(set(lengths))
    return f"L={lengths[0]}" if len(lengths) == 1 else "L=" + ", ".join(map(str, lengths))


def exact_clause(rows: list[AnswerRow]) -> str:
    by_impl: dict[str, list[int]] = defaultdict(list)
    ties: set[str] = set()
    for row in rows:
        pick = row.picks[0]
        if pick.row is None:
            continue
        by_impl[pick.impl].append(row.seq_len)
        ties.update(within_noise(pick.pool, pick.impl))
    if not by_impl:
        return "no exact implementation ran"
    if len(by_impl) == 1:
        impl, lengths = next(iter(by_impl.items()))
        text = f"use {impl} at every length measured ({_lengths(lengths)})"
    else:
        text = "use " + ", ".join(f"{impl} at {_lengths(lengths)}" for impl, lengths in by_impl.items())
    if ties:
        return text + f" (≈ {', '.join(sorted(ties))}: not told apart from it on these data)"
    others = any(len(row.picks[0].pool) > 1 for row in rows)
    return text + (": nothing else exact is faster beyond noise" if others else "")


def approximate_clause(rows: list[AnswerRow]) -> str:
    """Where the fastest pick within error 1e-2 is an approximation faster than the fastest exact one beyond noise."""
    faster: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
    measured = any(row.inputs is not None for row in rows)  # an approximation of this problem ran
    for row in rows:
        exact, loose = row.picks[0], next(p for p in row.picks if p.budget == LOOSEST)
        if loose.row is None or exact.row is None or bool(loose.row["exact"]) or loose.impl in within_noise(loose.pool, exact.impl):
            continue
        faster[(loose.impl, str(loose.row["inputs"]))].append((row.seq_len, float(exact.row["time_s"] / loose.row["time_s"])))
    if not faster:
        return "no approximation within error 1e-2 is faster" if measured else ""
    parts = []
    for (impl, inputs), points in faster.items():
        best = max(points, key=lambda p: p[1])
        parts.append(f"{impl} at {_lengths([n for n, _ in points])} (up to {best[1]:.1f}× at L={best[0]}, error measured on "
                     f"{inputs} inputs)")
    return "within error 1e-2, faster: " + "; ".join(parts)


def device_verdict(device: str, rows: list[AnswerRow]) -> str:
    """One paragraph: per series (most implementations first), the exact pick and the approximations that beat it."""
    series: dict[str, list[AnswerRow]] = defaultdict(list)
    for row in rows:
        series[row.series].append(row)
    sentences = []
    for name, members in series.items():
        clauses = [c for c in (exact_clause(members), approximate_clause(members)) if c]
        sentences.append(f"{name}: " + "; ".join(clauses))
    return f"{device}: " + ". ".join(sentences) + "."


def verdicts(rows: list[AnswerRow]) -> list[str]:
    """One paragraph per device, in the rows' order (reports.answer.reading_order)."""
    devices: dict[str, list[AnswerRow]] = defaultdict(list)
    for row in rows:
        devices[row.device].append(row)
    return [device_verdict(device, members) for device, members in devices.items()]

