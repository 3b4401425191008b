"""From the store to per-cell histories: one row per (cell, machine, device, commit), in commit order.

A cell's history is keyed by its cell id (implementation and problem, device kind included), the host
and the device's name, so two machines are never one line. Several runs at one commit are pooled:
the median of their medians, the IQR band from their raw samples, memory's median, error's maximum.
"""

from __future__ import annotations

import fnmatch
import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Engine, select

from store.schema import cells, runs

SERIES_KEY = ["cell_id", "host", "device_name"]


@dataclass
class History:
    points: pd.DataFrame                      # one row per series and commit, in order
    commits: pd.DataFrame                     # position, commit, subject, first run time
    notes: list[str] = field(default_factory=list)


def read_cells(engine: Engine, impls: list[str] | None = None, machine: str | None = None, since: str | None = None) -> pd.DataFrame:
    """Every measured cell with its run's commit, host and start, filtered; pandas reads the store directly."""
    query = (select(cells.c.run_id, cells.c.suite, cells.c.cell_id, cells.c.impl, cells.c.device, cells.c.device_name,
                    cells.c.inputs, cells.c.problem, cells.c.time_median, cells.c.time_q1, cells.c.time_q3, cells.c.samples,
                    cells.c.peak_bytes, cells.c.error_max_abs, cells.c.device_peak_flops,
                    runs.c.commit, runs.c.started, runs.c.host, runs.c.cpu)
             .join(runs, runs.c.run_id == cells.c.run_id)
             .where(cells.c.status == "ok", cells.c.time_median.is_not(None), runs.c.commit.is_not(None)))
    frame = pd.read_sql(query, engine)
    if impls:
        frame = frame[frame["impl"].map(lambda name: any(fnmatch.fnmatchcase(name, p) for p in impls))]
    if machine:
        wanted = machine.lower()
        frame = frame[frame[["host", "cpu", "device_name"]].fillna("").apply(
            lambda row: any(wanted in str(v).lower() for v in row), axis=1)]
    if since:
        start = pd.Timestamp(since)
        started = pd.to_datetime(frame["started"], utc=True)
        frame = frame[started >= (start.tz_localize("UTC") if start.tzinfo is None else start.tz_convert("UTC"))]
    return frame.reset_index(drop=True)


def git_order(repo: Path | None) -> dict[str, tuple[int, str]]:
    """Full hash → (position, subject) for every commit the repository's log reaches; empty without git."""
    if repo is None:
        return {}
    try:
        done = subprocess.run(["git", "log", "--all", "--topo-order", "--reverse", "--format=%H %s"], cwd=repo,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    if done.returncode != 0:
        return {}
    order = {}
    for position, line in enumerate(done.stdout.splitlines()):
        sha, _, subject = line.partition(" ")
        order[sha] = (position, subject)
    return order


def order_commits(frame: pd.DataFrame, repo: Path | None) -> tuple[pd.DataFrame, list[str]]:
    """The commits in order: git's where the repository knows them all, else the time of their first run."""
    first_run = frame.groupby("commit")["started"].min()
    first_run = pd.Series(pd.to_datetime(first_run, utc=True).dt.tz_convert(None).array, index=first_run.index)
    known = git_order(repo)
    by_prefix = {}
    for commit in first_run.index:
        matches = [sha for sha in known if sha.startswith(commit)] if known else []
        by_prefix[commit] = known[matches[0]] if len(matches) == 1 else None
    table = pd.DataFrame({"commit": first_run.index, "first_run": first_run.values})
    notes = []
    if known and all(by_prefix.values()):
        table["rank"] = [by_prefix[c][0] for c in table["commit"]]
        table["subject"] = [by_prefix[c][1] for c in table["commit"]]
    else:
        missing = sum(v is None for v in by_prefix.values())
        notes.append("commits ordered by the time of their first run: "
                     + (f"{missing} of {len(by_prefix)} commits are not in this repository's git log" if known else
                        "no git repository at hand"))
        table["rank"] = pd.to_datetime(table["first_run"], utc=True).rank(method="first")
        table["subject"] = [(by_prefix[c] or (None, ""))[1] for c in table["commit"]]
    table = table.sort_values(["rank", "commit"]).reset_index(drop=True)
    table["position"] = range(len(table))
    return table[["position", "commit", "subject", "first_run"]], notes


def _pooled(group: pd.DataFrame) -> pd.Series:
    samples = [s for text in group["samples"].dropna() for s in json.loads(text)]
    q1, q3 = (np.quantile(samples, [0.25, 0.75]) if len(samples) >= 4 else (group["time_q1"].median(), group["time_q3"].median()))
    return pd.Series({"median": group["time_median"].median(), "q1": q1, "q3": q3, "runs": len(group),
                      "peak_bytes": group["peak_bytes"].median(), "error_max_abs": group["error_max_abs"].max(),
                      "matmul_flops": group["device_peak_flops"].median(), "impl": group["impl"].iloc[0],
                      "device": group["device"].iloc[0], "inputs": group["inputs"].iloc[0], "problem": group["problem"].iloc[0],
                      "suite": group["suite"].iloc[0]})


def build_history(frame: pd.DataFrame, repo: Path | None, normalize: bool = False) -> History:
    if frame.empty:
        return History(pd.DataFrame(), pd.DataFrame(columns=["position", "commit", "subject", "first_run"]))
    commits, notes = order_commits(frame, repo)
    points = frame.groupby([*SERIES_KEY, "commit"], sort=False, dropna=False).apply(_pooled, include_groups=False).reset_index()
    points = points.merge(commits[["commit", "position"]], on="commit").sort_values([*SERIES_KEY, "position"]).reset_index(drop=True)
    if normalize:
        # Time in the units of the in-run reference matmul: a run whose matmul was 10% slower (a busier or
        # slower machine) has its times scaled down by that much; the scale is the history's median matmul.
        usable = points["matmul_flops"].notna()
        if not usable.all():
            notes.append(f"{int((~usable).sum())} points have no in-run reference matmul and are left out of the normalized view")
        points = points[usable].copy()
        reference = points.groupby(["host", "device_name"])["matmul_flops"].transform("median")
        for column in ("median", "q1", "q3"):
            points[column] = points[column] * points["matmul_flops"] / reference
    return History(points.reset_index(drop=True), commits, notes)
