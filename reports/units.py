"""Unit formatters: seconds, bytes, FLOP/s, percentages, ratios and plain numbers, as people read them.

The one set of formatters for everything attnbench prints: the HTML report, its figures' axes,
the suite summaries (``python -m reports summary``) and the regression gate's tables
(``from reports.units import format_seconds, format_percent``). Plain Python only: no torch,
numpy or matplotlib, so any torch-free tool can import it.

Every formatter takes ``missing`` (default "—"), returned for None, NaN or infinity, so a table
says "not measured" the same way everywhere.
"""

from __future__ import annotations

import math

MISSING = "—"


def is_missing(value: object) -> bool:
    """True for None and for a number that is NaN or infinite (what a table shows as ``missing``)."""
    if value is None:
        return True
    try:
        return not math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


def _scaled(value: float, units: tuple[tuple[str, float], ...], smallest: str) -> str:
    for unit, scale in units:
        if abs(value) >= scale * 0.9999:
            return f"{value / scale:.3g} {unit}"
    return smallest


def format_seconds(value: float | None, missing: str = MISSING) -> str:
    """``12.3 ms``, ``4.56 µs``, ``1.2 s`` (three significant figures); 0 counts as not measured."""
    if is_missing(value) or not value:
        return missing
    return _scaled(value, (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)), f"{value / 1e-9:.3g} ns")


def format_bytes(value: float | None, missing: str = MISSING) -> str:
    """``1.5 GiB``, ``12 MiB``, ``3 KiB``, ``512 B`` (binary units, three significant figures)."""
    if is_missing(value):
        return missing
    return _scaled(value, (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)), f"{value:.0f} B")


def format_flops(value: float | None, missing: str = MISSING) -> str:
    """``1.23 TFLOP/s``, ``456 GFLOP/s``, ``7.8 MFLOP/s`` (three significant figures)."""
    if is_missing(value):
        return missing
    return _scaled(value, (("TFLOP/s", 1e12), ("GFLOP/s", 1e9), ("MFLOP/s", 1e6)), f"{value:.3g} FLOP/s")


def format_percent(fraction: float | None, signed: bool = False, digits: int = 1, missing: str = MISSING) -> str:
    """A fraction as a percentage: ``12.3 %``; ``signed=True`` for a change: ``+4.0 %``, ``-2.5 %``."""
    if is_missing(fraction):
        return missing
    return f"{100 * fraction:{'+' if signed else ''}.{digits}f} %"


def format_ratio(value: float | None, digits: int = 2, missing: str = MISSING) -> str:
    """A speed-up or any other ratio: ``3.47×``."""
    if is_missing(value):
        return missing
    return f"{value:.{digits}f}×"


def format_number(value: float | None, spec: str = ".3g", missing: str = MISSING) -> str:
    """A unitless number (an error, an exponent) with a format spec: ``format_number(0.0123)`` → ``0.0123``."""
    if is_missing(value):
        return missing
    return format(value, spec)
