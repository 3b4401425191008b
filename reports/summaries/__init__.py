"""Suite summaries computed from records: ``python -m reports summary sparse|linear RUN...``.

Each suite with a summary has a module here with ``summarize(records)`` (plain data, JSON-ready)
and ``markdown(summary)`` (the tables printed). A cell measured more than once counts once, its
latest measurement (reports.frame.latest_measurements). The sweep prints the same tables at its end,
computed here from the records it just wrote.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType

from . import linear, sparse

SUMMARIES: dict[str, ModuleType] = {"sparse": sparse, "linear": linear}


def summary_text(suite: str, records: list[dict], out_dir: str | Path | None = None) -> str | None:
    """The suite's tables as markdown, or None when the records hold nothing to summarize.

    With ``out_dir``, also writes ``<suite>_summary.md`` and ``<suite>_summary.json`` there.
    """
    module = SUMMARIES[suite]
    summary = module.summarize(records)
    if not summary:
        return None
    text = module.markdown(summary)
    if out_dir is not None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{suite}_summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
        (out_dir / f"{suite}_summary.md").write_text(text + "\n")
    return text


class TerminalSummary:
    """A pytest plugin object (no pytest import needed) that prints a suite's summary of one run folder
    in pytest's terminal summary, after every cell has been written, and writes it beside the run."""

    def __init__(self, suite: str, run_dir: str | Path) -> None:
        self.suite, self.run_dir = suite, Path(run_dir)

    def pytest_terminal_summary(self, terminalreporter) -> None:
        from ..load import ResultFileError, load_results

        try:
            text = summary_text(self.suite, load_results([self.run_dir]).records, self.run_dir)
        except ResultFileError:
            return  # nothing was written (every cell deselected): nothing to summarize
        if text is None:
            return
        terminalreporter.write_sep("-", f"{self.suite} suite summary")
        for line in text.splitlines():
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"again, over any runs: python -m reports summary {self.suite} {self.run_dir} [RUN ...]")
