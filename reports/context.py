"""What every section of the page works from: the tidy frame, the measured cells with their fronts, the baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .answer import AnswerRow, answer_rows, with_questions
from .frame import latest_measurements, measured
from .pareto import non_dominated


@dataclass
class ReportContext:
    frame: pd.DataFrame  # every cell
    ran: pd.DataFrame  # cells that ran, with pareto columns (front, error_rank)
    runs: list[dict]
    baseline: str
    colours: dict[str, str]
    out_dir: Path
    notes: list[str] = field(default_factory=list)
    answer: list[AnswerRow] = field(default_factory=list)  # reports.answer: the picks at the top of the page

    @property
    def has_baseline(self) -> bool:
        return bool((self.ran["impl"] == self.baseline).any())


def with_fronts(ran: pd.DataFrame) -> pd.DataFrame:
    """Adds ``error_rank`` and ``front`` (non-dominated in its group over time × memory × error).

    Errors below the dtype's rounding tolerance are ranked equal: between exact kernels their
    difference is rounding noise, not a trade-off. An axis missing for some cell of a group is
    left out of that group's front (and ``front_axes`` says which axes were used).
    """
    ran = ran.copy()
    ran["error_rank"] = np.nan
    ran["front"] = False
    ran["front_axes"] = ""
    for _, index in sorted(ran.groupby("group").groups.items()):
        group = ran.loc[index]
        tolerance = group_tolerance(group, ran)
        error_rank = group["error"].clip(lower=tolerance)
        ran.loc[index, "error_rank"] = error_rank
        axes = {"time": group["time_s"]}
        if group["memory_bytes"].notna().all():
            axes["memory"] = group["memory_bytes"]
        if error_rank.notna().all():
            axes["error"] = error_rank
        points = np.column_stack([np.asarray(v, dtype=float) for v in axes.values()])
        ran.loc[index, "front"] = non_dominated(points)
        ran.loc[index, "front_axes"] = " × ".join(axes)
    ran["front"] = ran["front"].astype(bool)
    return ran


def group_tolerance(group: pd.DataFrame, ran: pd.DataFrame | None = None) -> float:
    """The dtype's rounding tolerance (relative L2) for a group of cells of one dtype, as the records carry it.

    Exact cells record the tolerance they were held to (impls.reference.TOLERANCES, the one table);
    a group without one borrows it from an exact cell of the same dtype in ``ran``; with none, 0.
    """
    for cells in (group, ran):
        if cells is None or "tolerance.rel_l2" not in cells:
            continue
        if cells is ran and "problem.dtype" in group and "problem.dtype" in ran:
            cells = ran[ran["problem.dtype"].isin(group["problem.dtype"].unique())]
        recorded = pd.to_numeric(cells["tolerance.rel_l2"], errors="coerce").dropna()
        if len(recorded):
            return float(recorded.max())
    return 0.0


def make_context(frame: pd.DataFrame, runs: list[dict], baseline: str, colours: dict[str, str], out_dir: Path,
                 notes: list[str]) -> ReportContext:
    ran, repeated = latest_measurements(measured(frame))
    notes = list(notes)
    if repeated:
        notes.append(f"{repeated} cell(s) were measured more than once (several runs or suites on the same device and shape): "
                     "fronts, scaling and speed-ups use the latest measurement of each; all are in cells.csv.")
    ran = with_fronts(with_questions(ran))
    return ReportContext(frame, ran, runs, baseline, colours, out_dir, notes, answer_rows(ran))
