"""The sweep's end: its run folder goes into the results store (``--attn-store URL``, ``$ATTNBENCH_STORE``, or
``<--attn-results>/attnbench.sqlite``). The JSONL written cell by cell stays the record of truth; whatever
happens to the store, one line in the summary says what was stored or how to ingest the run later."""

from __future__ import annotations

from pathlib import Path

import pytest

from .options import add_option
from .stash import SESSION_KEY


def pytest_addoption(parser):
    group = parser.getgroup("attnbench", "attnbench sweep")
    add_option(group, "--attn-store", default=None, metavar="URL",
               help="results database the run is stored in at its end: an SQLite path or postgresql://USER@HOST/DB "
                    "(default: $ATTNBENCH_STORE, else <--attn-results>/attnbench.sqlite)")
    add_option(group, "--attn-no-store", action="store_true", help="do not put the run into the results database")


@pytest.hookimpl(trylast=True)  # after the plugin's own summary (results folder, report)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = config.stash.get(SESSION_KEY, None)
    if session is None or hasattr(config, "workerinput") or config.getoption("attn_no_store"):
        return
    run_dir = session.writer.run_dir
    if not run_dir.exists() or not any(run_dir.glob("cells*.jsonl")):
        return
    from store.finish import store_finished_run

    terminalreporter.write_line(store_finished_run(run_dir, config.getoption("attn_store"), default_dir=Path(config.getoption("attn_results"))))
