"""pytest plugin: run only listed cells, write into a given run, skip cells a run already finished.

Options (see bench/resume.py for the rules):
  --attn-cells FILE          only these cells
  --attn-run-id ID           write into results/ID (a fleet's shards all write one run)
  --attn-resume RUN, --resume RUN
                             skip the cells RUN already finished; write into RUN unless --attn-run-id says otherwise
  --attn-shard NAME          name this process's files in the run (cells-NAME.jsonl, cells-NAME-gw0.jsonl under xdist)
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .resume import ResumeError, cell_key, locate_run, read_cell_selection, read_run
from .stash import SESSION_KEY

_SHARD_NAME = re.compile(r"^[A-Za-z0-9_.]+$")
_RESUME = pytest.StashKey[object]()
_ALL_FINISHED = pytest.StashKey[bool]()


def pytest_addoption(parser):
    group = parser.getgroup("attnbench")
    group.addoption("--attn-cells", default=None, metavar="FILE",
                    help="run only the cells listed in FILE ('<suite> <cell id>' or '<cell id>' per line)")
    group.addoption("--attn-run-id", default=None, metavar="ID", help="write into this run (results/ID) instead of a new one")
    group.addoption("--attn-resume", "--resume", dest="attn_resume", default=None, metavar="RUN",
                    help="continue RUN (a run id or folder): skip the cells it already finished (same problem, "
                         "implementation, device and commit) and write the rest into it")
    group.addoption("--attn-shard", default=None, metavar="NAME",
                    help="name of this process's cells file in the run (cells-NAME.jsonl); used by `python -m bench fleet`")


def run_identity(config, results_dir: Path) -> tuple[str | None, Path]:
    """The run to write into (None: a new one) and the results folder that holds it."""
    run_id = config.getoption("attn_run_id")
    if run_id is not None and (not run_id or "/" in run_id or run_id in (".", "..")):
        raise pytest.UsageError(f"--attn-run-id: {run_id!r} is not a run id (expected a folder name, e.g. 20260101-120000-host)")
    resume = config.getoption("attn_resume")
    if resume is None:
        return run_id, results_dir
    try:
        state = read_run(locate_run(resume, results_dir))
    except ResumeError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[_RESUME] = state
    if run_id is None:
        return state.run_dir.name, state.run_dir.parent
    return run_id, results_dir


def writer_tag(config, worker: str | None) -> str | None:
    """The suffix of this process's cells file: the shard name and the xdist worker, when there are."""
    shard = config.getoption("attn_shard")
    if shard is not None and not _SHARD_NAME.match(shard):
        raise pytest.UsageError(f"--attn-shard: {shard!r} (expected letters, digits, '_' or '.')")
    return "-".join(part for part in (shard, worker) if part) or None


def _cell_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("cell") if callspec is not None else None


def _repeat_of(item) -> int | None:
    """The item's --attn-repeat number; None without repeats (records then carry no repeat either)."""
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("attn_repeat") if callspec is not None else None


def pytest_collection_modifyitems(session, config, items):  # before conditions' (trylast) ordering and progress totals
    cells_file = config.getoption("attn_cells")
    resume = config.stash.get(_RESUME, None)
    if cells_file is None and resume is None:
        return
    try:
        wanted = read_cell_selection(cells_file) if cells_file else None
    except ResumeError as exc:
        raise pytest.UsageError(str(exc)) from None
    commit = sweep_commit(config)
    keep, not_listed, finished = [], [], []
    for item in items:
        cell = _cell_of(item)
        if cell is None:  # not a sweep cell: a listed selection leaves it out, a resumed run keeps it
            (keep if wanted is None else not_listed).append(item)
        elif wanted is not None and (cell.suite, cell.id) not in wanted:
            not_listed.append(item)
        elif resume is not None and cell_key(cell.suite, cell.impl.full_name, cell.problem.to_dict(), commit,
                                             _repeat_of(item)) in resume.finished:
            finished.append(item)
        else:
            keep.append(item)
    if not_listed or finished:
        config.hook.pytest_deselected(items=not_listed + finished)
        items[:] = keep
    config.stash[_ALL_FINISHED] = bool(finished) and not keep
    _say(config, _summary(wanted, resume, commit, len(items), len(not_listed), len(finished)))


def _summary(wanted, resume, commit, kept: int, not_listed: int, finished: int) -> str:
    parts = []
    if wanted is not None:
        parts.append(f"{len(wanted)} cells listed, {not_listed} collected cells not listed")
    if resume is not None:
        parts.append(f"resuming {resume.run_id}: {finished} cells already finished")
        others = sorted(str(c) for c in resume.commits if c != commit)
        if others:
            parts.append(f"its records from other commits ({', '.join(others)}) do not count for commit {commit}")
    return "attnbench: " + "; ".join(parts) + f"; {kept} cells to run"


def _say(config, line: str) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None and not hasattr(config, "workerinput"):
        reporter.write_line(line)


def sweep_commit(config) -> str | None:
    return getattr(config.stash.get(SESSION_KEY, None), "commit", None)


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """A resumed run with nothing left to measure is complete, not a run that collected nothing (exit 5)."""
    if session.config.stash.get(_ALL_FINISHED, False) and exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED:
        session.exitstatus = pytest.ExitCode.OK
