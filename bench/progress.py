"""A live progress line for long measurements: cells done / total, skipped and failed so far, and an ETA.

The bar advances by each cell's *predicted* wall time rather than by one per cell, so the ETA
(tqdm's rate × what is left) weights the 8-second cells ahead as 8-second cells, not as the
millisecond cells behind: remaining predicted time × (elapsed / predicted time done so far).
Where no prediction is known a cell counts as the mean of the known ones.

Torch-free (tqdm only), so the gate's driver can use it too::

    progress = Progress(total=len(cells), predicted=[...], label="gate", enabled=is_live(stream))
    progress.advance("ok", predicted_seconds)       # or "skipped" / "failed"
    progress.close()
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TextIO

STATUS_COUNTED = ("skipped", "failed")
MIN_CELL_SECONDS = 0.01  # even a skipped cell costs its collection and record
BAR_FORMAT = "{desc} {percentage:3.0f}%|{bar:20}| [{elapsed}<{remaining}]{postfix}"


def is_live(stream: TextIO | None = None, quiet: bool = False) -> bool:
    """A live line only on a terminal, not under -q, not when ATTNBENCH_PROGRESS=0, not in CI logs."""
    stream = stream or sys.stderr
    if quiet or os.environ.get("ATTNBENCH_PROGRESS", "").strip() == "0":
        return False
    if os.environ.get("ATTNBENCH_PROGRESS", "").strip() == "1":
        return True
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


class Progress:
    """Counts cells by status and, when enabled, draws one tqdm line on ``stream``."""

    def __init__(self, total: int, predicted: Sequence[float | None] | None = None, label: str = "attnbench",
                 enabled: bool = True, stream: TextIO | None = None, unit: str = "cells") -> None:
        self.total, self.label, self.unit = total, label, unit
        known = [p for p in (predicted or []) if p is not None]
        self.default_seconds = sum(known) / len(known) if known else 1.0
        self.total_predicted = sum(self.weight(p) for p in predicted) if predicted else total * self.default_seconds
        self.done = 0
        self.counts = {status: 0 for status in STATUS_COUNTED}
        self.bar = None
        if enabled and total > 0:
            from tqdm import tqdm

            self.bar = tqdm(total=self.total_predicted, file=stream or sys.stderr, bar_format=BAR_FORMAT,
                            desc=self.describe(), dynamic_ncols=True, mininterval=0.5, leave=False)

    def weight(self, predicted: float | None) -> float:
        return max(predicted, MIN_CELL_SECONDS) if predicted is not None else self.default_seconds

    def describe(self) -> str:
        return f"{self.label} {self.done}/{self.total} {self.unit}"

    def postfix(self) -> str:
        """``2 skipped, 1 failed`` (tqdm puts the separating ', ' in front)."""
        return ", ".join(f"{count} {status}" for status, count in self.counts.items() if count)

    def advance(self, status: str, predicted: float | None = None) -> None:
        """One cell finished with ``status`` (ok, skipped, failed, oom...)."""
        self.done += 1
        key = "failed" if status in ("failed", "error") else "skipped" if status in ("skipped", "oom") else None
        if key:
            self.counts[key] += 1
        if self.bar is not None:
            self.bar.set_description_str(self.describe(), refresh=False)
            self.bar.set_postfix_str(self.postfix(), refresh=False)
            self.bar.update(min(self.weight(predicted), max(self.bar.total - self.bar.n, 0)))

    def extend(self, count: int, predicted: float | None = None) -> None:
        """``count`` more steps of ``predicted`` seconds each (the gate adds pairs while a benchmark is inconclusive)."""
        self.total += count
        if self.bar is not None:
            self.bar.total += count * self.weight(predicted)
            self.bar.set_description_str(self.describe())

    def summary(self) -> str:
        elapsed = self.bar.format_dict["elapsed"] if self.bar is not None else None
        took = f" in {self.bar.format_interval(elapsed)}" if elapsed is not None else ""
        counted = self.postfix()
        return f"{self.done}/{self.total} {self.unit}{', ' + counted if counted else ''}{took}"

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None
