"""What every section of the page works from: the tidy frame, the measured cells with their fronts, the baseline."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .frame import measured
from .pareto import non_dominated

# Rounding tolerances (relative L2) per dtype, mirroring impls.reference.TOLERANCES (reports never import torch).
# Used only when a group has no exact cell that recorded its tolerance.
DTYPE_REL_L2 = {"float64": 1e-11, "float32": 1e-5, "float16": 3e-3, "bfloat16": 1.5e-2}


@dataclass
class ReportContext:
    frame: pd.DataFrame  # every cell
    ran: pd.DataFrame  # cells that ran, with pareto columns (front, error_rank)
    runs: list[dict]
    baseline: str
    colours: dict[str, str]
    out_dir: Path
    notes: list[str] = field(default_factory=list)

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
        tolerance = group_tolerance(group)
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


def group_tolerance(group: pd.DataFrame) -> float:
    if "tolerance.rel_l2" in group and group["tolerance.rel_l2"].notna().any():
        return float(pd.to_numeric(group["tolerance.rel_l2"], errors="coerce").max())
    dtype = str(group["problem.dtype"].iloc[0]) if "problem.dtype" in group else ""
    return DTYPE_REL_L2.get(dtype, 0.0)


def latest_per_impl(ran: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """One measurement per (shape group, implementation): the latest, when several runs or suites measured the same cell.

    Returns the kept rows and how many were left out (they stay in the CSV).
    """
    order = ran.assign(_stamp=pd.to_numeric(ran["timestamp"], errors="coerce").fillna(0.0))
    order = order.sort_values(["_stamp", "run_id", "suite"], kind="mergesort", na_position="first")
    kept = order.drop_duplicates(["group", "impl"], keep="last").drop(columns="_stamp")
    kept = ran.loc[ran.index.isin(kept.index)]  # back in the frame's order
    return kept, len(ran) - len(kept)


def make_context(frame: pd.DataFrame, runs: list[dict], baseline: str, colours: dict[str, str], out_dir: Path,
                 notes: list[str]) -> ReportContext:
    ran, repeated = latest_per_impl(measured(frame))
    notes = list(notes)
    if repeated:
        notes.append(f"{repeated} cell(s) were measured more than once (several runs or suites on the same device and shape): "
                     "fronts, scaling and speed-ups use the latest measurement of each; all are in cells.csv.")
    return ReportContext(frame, with_fronts(ran), runs, baseline, colours, out_dir, notes)
