"""Hooks through which plugins extend a sweep session (pytest calls them; implement them in any plugin or conftest)."""

from __future__ import annotations

import pytest


def pytest_attn_session_created(session, config) -> None:
    """A sweep session was made for this process: configure it (devices this xdist worker owns, ...)."""


@pytest.hookspec(firstresult=True)
def pytest_attn_matmul_peak(device: str, dtype) -> float | None:
    """FLOP/s of a large matmul on ``device`` and ``dtype`` (the denominator of 'fraction of peak');
    None to leave it to the next plugin or the host-timed default. Called once per device and dtype."""


def pytest_attn_post_timing(run) -> dict | None:
    """After a cell's timed rounds: fields to add to its record. ``run`` is a ``bench.cell.CellRun``."""
