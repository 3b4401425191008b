"""The answer at the top of the report: picks per problem and length that never ignore error, judged on the most
realistic inputs, reproduced here from cells.csv alone with pandas (written independently of reports/answer.py),
and the run summary printed as the last thing a sweep prints."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_reports_synthetic import record, write_run

from reports.build import build_report

ROOT = Path(__file__).resolve().parents[1]
CAPTURED = "captured:charlm"


def captured(impl: str, n: int, **fields) -> dict:
    rec = record(impl, n, inputs=CAPTURED, **fields)
    rec["cell_id"] += "-captured-charlm"  # as Problem.id() names a non-gaussian distribution
    return rec


def realistic_sweep() -> list[dict]:
    """A causal problem at two lengths: exact kernels on gaussian inputs (sdpa also on captured ones), and two
    approximations on both, which look broken on gaussian inputs and good on captured ones."""
    records = []
    for n in (1024, 2048):
        scale = (n / 1024) ** 2
        records += [
            record("sdpa", n, time=1.0e-3 * scale, memory=300 * n),
            captured("sdpa", n, time=1.05e-3 * scale, memory=300 * n),
            record("sdpa-flash", n, time=0.8e-3 * scale, memory=280 * n),
            record("naive", n, time=3.0e-3 * scale, memory=4 * n * n),
            record("sliding-window[w=256]", n, time=0.4e-3 * n / 1024, memory=200 * n, error=0.3, family="sparse", exact=False),
            captured("sliding-window[w=256]", n, time=0.4e-3 * n / 1024, memory=200 * n, error=4e-3, family="sparse", exact=False),
            record("performer[m=256]", n, time=0.2e-3 * n / 1024, memory=100 * n, error=0.8, family="linear", exact=False),
            captured("performer[m=256]", n, time=0.2e-3 * n / 1024, memory=100 * n, error=2e-2, family="linear", exact=False),
        ]
    # A second problem with exact kernels only: every budget repeats the first column.
    records += [record("sdpa", 1024, mask="none", time=0.9e-3), record("naive", 1024, mask="none", time=2.5e-3)]
    return records


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("answer")
    return build_report([write_run(root / "run", realistic_sweep())], root / "report")


class AnswerTable(HTMLParser):
    """The answer tables' cells as raw HTML, one list per row (header rows left out)."""

    def __init__(self):
        super().__init__()
        self.rows: list[list[str]] = []
        self.depth = 0  # > 0 inside an answer table
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table" and ("class", "answer") in attrs:
            self.depth = 1
        elif self.depth and tag == "tr":
            self.rows.append([])
        elif self.depth and tag == "td":
            self.cell = []
        elif self.cell is not None:
            self.cell.append(self.get_starttag_text())

    def handle_endtag(self, tag):
        if self.depth and tag == "table":
            self.depth = 0
        elif self.cell is not None and tag == "td":
            self.rows[-1].append("".join(self.cell))
            self.cell = None
        elif self.cell is not None:
            self.cell.append(f"</{tag}>")

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


BUDGETS = ("fastest exact", "fastest, error ≤ 0.001", "fastest, error ≤ 0.01", "least memory (exact)")


def page_picks(index: Path) -> dict[tuple[str, int], dict[str, str]]:
    """{(problem, L): {budget: implementation or 'same as <budget>'}} as the page shows them."""
    parser = AnswerTable()
    parser.feed(index.read_text())
    picks, problem = {}, None
    for cells in (row for row in parser.rows if row):
        problem = re.sub("<[^>]+>", "", cells[0]) or problem
        by_budget = {}
        for budget, cell in zip(BUDGETS, cells[3:], strict=True):
            same = re.search(r"same as ([^<]+)", cell)
            chosen = re.search(r"<b>([^<]+)</b>", cell)
            by_budget[budget] = f"same as {same.group(1)}" if same else chosen.group(1) if chosen else "none"
        picks[(problem, int(cells[1]))] = by_budget
    return picks


def realism(inputs: str) -> int:
    return 0 if inputs.startswith("captured") else 2 if inputs == "gaussian" else 1


def csv_picks(csv: pd.DataFrame) -> dict[tuple[str, int], dict[str, str]]:
    """The answer's rule applied to cells.csv (see reports/answer.py's docstring), with nothing but pandas."""
    counted = csv[csv["counted"]].copy()
    counted["realism"] = counted["inputs"].map(realism)
    tolerance = counted.groupby("problem.dtype")["tolerance.rel_l2"].max().fillna(0.0)
    picks = {}
    for (_, question), cells in counted.groupby(["device_label", "question"]):
        exact = cells[cells["exact"]].sort_values(["realism", "impl"]).drop_duplicates("impl")
        approximate = cells[~cells["exact"]]
        approximate = approximate[approximate["realism"] == approximate["realism"].min()]
        rounding = tolerance[cells["problem.dtype"].iloc[0]]
        fastest = lambda pool: pool.sort_values(["time_s", "impl"]).iloc[0] if len(pool) else None  # noqa: E731
        chosen = [fastest(exact)]
        for e in (1e-3, 1e-2):
            limit = max(e, rounding)
            pool = pd.concat([exact[exact["error"].isna() | (exact["error"] <= limit)], approximate[approximate["error"] <= limit]])
            chosen.append(fastest(pool))
        chosen.append(exact.sort_values(["memory_bytes", "time_s", "impl"]).iloc[0])
        series = re.sub(r"-L\d+", "", question)
        row = {}
        for i, (budget, pick) in enumerate(zip(BUDGETS, chosen, strict=True)):
            earlier = [b for b, p in zip(BUDGETS[:i], chosen[:i]) if p is not None and pick is not None
                       and (p["impl"], p["inputs"]) == (pick["impl"], pick["inputs"])]
            row[budget] = f"same as {earlier[0]}" if earlier else "none" if pick is None else pick["impl"]
        picks[(series, int(cells["problem.seq_len"].iloc[0]))] = row
    return picks


def test_the_csv_alone_reproduces_the_answer_on_the_page(built):
    csv = pd.read_csv(built.parent / "cells.csv")
    expected = csv_picks(csv)
    assert page_picks(built) == expected
    # The numbers behind it: approximations count only on the captured inputs, where their error means something.
    causal = expected[("b1-h8-d64-float32-causal-fwd", 2048)]
    assert causal == {"fastest exact": "sdpa-flash", "fastest, error ≤ 0.001": "same as fastest exact",
                      "fastest, error ≤ 0.01": "sliding-window[w=256]", "least memory (exact)": "same as fastest exact"}
    assert expected[("b1-h8-d64-float32-nomask-fwd", 1024)] == {"fastest exact": "sdpa", **{
        b: "same as fastest exact" for b in BUDGETS[1:]}}


def test_cells_csv_front_is_the_non_dominated_set_of_each_shape(built):
    csv = pd.read_csv(built.parent / "cells.csv")
    counted = csv[csv["counted"]]
    tolerance = counted["tolerance.rel_l2"].max()
    for _, cells in counted.groupby("group"):
        points = np.column_stack([cells["time_s"], cells["memory_bytes"], np.maximum(cells["error"], tolerance)])
        dominated = [any((other <= point).all() and (other < point).any() for other in points) for point in points]
        assert cells["front"].tolist() == [not d for d in dominated]
    assert not csv.loc[~csv["counted"], "front"].any()


def test_fastest_never_ignores_error_and_repeats_say_same_as(built):
    html = built.read_text()
    recommendations = html[html.index('<section id="recommendations">'):html.index('<section id="fronts">')]
    assert "same as fastest" in recommendations
    # performer is the fastest cell of the gaussian causal shapes, but 80% off the exact answer: never "fastest".
    rows = [row for row in recommendations.split("<tr>") if "causal-fwd" in row and "captured" not in row]
    assert rows and all("<b>performer" not in row.split("</td>")[5] for row in rows)


def test_the_answer_and_the_scaling_plots_come_before_the_fronts(built):
    html = built.read_text()
    order = [html.index(f'<section id="{name}">') for name in ("answer", "scaling", "fronts")]
    assert order == sorted(order)
    verdict = (built.parent / "summary.txt").read_text()
    assert "use sdpa-flash at every length measured" in verdict and "sliding-window[w=256]" in verdict


def test_the_run_summary_is_the_last_thing_a_sweep_prints(tmp_path):
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", "-p", "no:cacheprovider",
               "--attn-results", str(tmp_path / "results"), "--attn-preset", "smoke", "--attn-impls", "sdpa,naive",
               "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
               "--attn-masks", "causal", "--attn-modes", "fwd", "-rA"]  # -rA: pytest's short summary lists every test
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    lines = result.stdout.splitlines()
    table = next(i for i, line in enumerate(lines) if line.startswith("Name (time in"))  # pytest-benchmark's table
    report = next(i for i, line in enumerate(lines) if line.startswith("report: "))
    verdict = next(i for i, line in enumerate(lines) if "use " in line and "at every length measured" in line)
    short_summary = next(i for i, line in enumerate(lines) if "short test summary info" in line)
    assert table < short_summary < report < verdict
    # After the verdict only pytest's own closing line ("2 passed in ...").
    assert [line for line in lines[verdict + 1:] if line.strip() and " passed" not in line] == []
