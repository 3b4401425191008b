"""The answer: per device, problem and sequence length, the implementation to use under each budget.

A *question* is a problem without its input distribution (``question``: the problem's label without the
device and the inputs), asked on one device. Its cells are the measurements the page counts (``counted``
in cells.csv: ran, timed, the latest of a cell measured more than once). The rule, which cells.csv alone
reproduces:

- the exact pool: the question's cells of exact implementations, each implementation once (its cell on
  the most realistic inputs it was measured on: captured > synthetic and other structured inputs > gaussian);
- the approximate pool: the question's cells of approximate implementations on the most realistic inputs
  any approximate cell of the question was measured on (an error means something only there);
- a cell is within an error budget ``e`` when its relative L2 error is at most ``max(e, tolerance)``
  (errors below the dtype's rounding tolerance count as equal); an exact cell whose error was not
  measured counts as within it; an approximate one does not;
- fastest exact: the exact pool's lowest median time; fastest, error ≤ e: the lowest median time among
  the exact pool and the approximate pool's cells within ``e``; least memory: the exact pool's lowest
  peak memory (ties: faster, then by name). A pick never ignores error: only exact cells answer the
  budgets that state none. Ties in time go to the name first in alphabetical order.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from store.records import problem_label

DEFAULT_INPUTS = "gaussian"
ANSWER_ERROR_BUDGETS = (1e-3, 1e-2)
FASTEST_EXACT, LEAST_MEMORY = "fastest exact", "least memory (exact)"
ANSWER_BUDGETS = (FASTEST_EXACT, *(f"fastest, error ≤ {e:g}" for e in ANSWER_ERROR_BUDGETS), LEAST_MEMORY)


def realism(inputs: str | None) -> int:
    """How close to a real model's q, k, v an input distribution is: 0 captured, 1 structured (synthetic...), 2 gaussian."""
    inputs = inputs or DEFAULT_INPUTS
    if inputs.startswith("captured"):
        return 0
    return 2 if inputs == DEFAULT_INPUTS else 1


def _plain(value):
    """A frame value as the record had it (pandas turns integers of a column with gaps into floats)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def question_label(row: pd.Series, length: bool = True) -> str:
    """The problem's label without its device and its input distribution (without ``length``: its series)."""
    fields = {}
    for column, value in row.items():
        if column.startswith("problem.") and column != "problem.inputs":
            if value is None or (isinstance(value, float) and math.isnan(value)):
                continue
            fields[column.removeprefix("problem.")] = _plain(value)
    return problem_label(fields, length=length, device=False)


def with_questions(cells: pd.DataFrame) -> pd.DataFrame:
    """Adds ``question`` and ``inputs`` (gaussian where not recorded) to a frame of cells."""
    cells = cells.copy()
    if "inputs" not in cells:
        cells["inputs"] = cells["problem.inputs"] if "problem.inputs" in cells else DEFAULT_INPUTS
    cells["inputs"] = cells["inputs"].fillna(DEFAULT_INPUTS).astype(str)
    cells["question"] = cells.apply(question_label, axis=1) if len(cells) else pd.Series(dtype=str)
    return cells


@dataclass(frozen=True)
class AnswerPick:
    budget: str
    row: pd.Series | None  # None: nothing measured meets the budget
    pool: pd.DataFrame  # the cells the pick was chosen from (for ties within noise)
    same_as: str | None = None  # an earlier budget of the same question with the same pick

    @property
    def impl(self) -> str | None:
        return None if self.row is None else str(self.row["impl"])


def _tolerance(cells: pd.DataFrame) -> float:
    recorded = pd.to_numeric(cells.get("tolerance.rel_l2", pd.Series(dtype=float)), errors="coerce").dropna()
    return float(recorded.max()) if len(recorded) else 0.0


def pools(cells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(exact pool, approximate pool) of one question's counted cells (see the module's rule)."""
    cells = cells.assign(_realism=cells["inputs"].map(realism))
    is_exact = cells["exact"].fillna(False).astype(bool)
    exact = cells[is_exact].sort_values(["_realism", "impl"], kind="mergesort").drop_duplicates("impl")
    approximate = cells[~is_exact]
    if len(approximate):
        approximate = approximate[approximate["_realism"] == approximate["_realism"].min()]
    return exact.drop(columns="_realism"), approximate.drop(columns="_realism")


def _first(pool: pd.DataFrame, order: list[str]) -> pd.Series | None:
    pool = pool.dropna(subset=[order[0]])
    return None if pool.empty else pool.sort_values([*order, "impl"], kind="mergesort").iloc[0]


def question_picks(cells: pd.DataFrame, tolerance: float | None = None) -> list[AnswerPick]:
    """The picks of one question (its counted cells, all inputs), in ANSWER_BUDGETS order."""
    exact, approximate = pools(cells)
    tolerance = _tolerance(cells) if tolerance is None else tolerance
    picks = [AnswerPick(FASTEST_EXACT, _first(exact, ["time_s"]), exact)]
    for budget, limit in zip(ANSWER_BUDGETS[1:-1], ANSWER_ERROR_BUDGETS, strict=True):
        within = approximate[approximate["error"] <= max(limit, tolerance)]
        exact_within = exact[exact["error"].isna() | (exact["error"] <= max(limit, tolerance))]
        pool = pd.concat([exact_within, within])
        picks.append(AnswerPick(budget, _first(pool, ["time_s"]), pool))
    picks.append(AnswerPick(LEAST_MEMORY, _first(exact, ["memory_bytes", "time_s"]), exact))
    return [mark_repeats(picks, i) for i in range(len(picks))]


def _same_cell(a: pd.Series | None, b: pd.Series | None) -> bool:
    return a is not None and b is not None and a["impl"] == b["impl"] and a["inputs"] == b["inputs"]


def mark_repeats(picks: list[AnswerPick], index: int) -> AnswerPick:
    pick = picks[index]
    for earlier in picks[:index]:
        if _same_cell(earlier.row, pick.row):
            return AnswerPick(pick.budget, pick.row, pick.pool, same_as=earlier.budget)
    return pick


@dataclass(frozen=True)
class AnswerRow:
    device: str
    series: str  # the question without its length
    seq_len: int
    question: str
    picks: list[AnswerPick]
    inputs: str | None  # the inputs the approximations' errors were judged on (None: no approximation measured)


def answer_rows(ran: pd.DataFrame) -> list[AnswerRow]:
    """One row per device and question (ran: the counted cells with ``question`` and ``inputs``), in reading order."""
    rows = []
    tolerances = {dtype: _tolerance(cells) for dtype, cells in ran.groupby("problem.dtype")} if "problem.dtype" in ran else {}
    for (device, question), cells in ran.groupby(["device_label", "question"], sort=False):
        first = cells.iloc[0]
        series = question_label(first, length=False)
        tolerance = tolerances.get(first.get("problem.dtype"), _tolerance(cells))
        approximate = pools(cells)[1]
        inputs = str(approximate["inputs"].iloc[0]) if len(approximate) else None
        rows.append(AnswerRow(device, series, int(first["problem.seq_len"]), question, question_picks(cells, tolerance), inputs))
    return rows


def reading_order(rows: list[AnswerRow]) -> list[AnswerRow]:
    """Device, then the series with the most implementations first (the headline problems), then by length."""
    width: dict[tuple[str, str], int] = {}
    for row in rows:
        count = sum(len(p.pool) for p in row.picks[1:2])
        width[(row.device, row.series)] = max(width.get((row.device, row.series), 0), count)
    return sorted(rows, key=lambda r: (r.device, -width[(r.device, r.series)], r.series, r.seq_len))
