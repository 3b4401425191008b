"""pytest plugin: the conditions a sweep measures under, and what it shows while it runs.

Registered by ``bench.plugin``. It adds:

- ``--attn-threads N|all``: torch's intra-op threads for the whole run (default all available CPUs), and
  ``--attn-allocator pinned|glibc`` (bench/process_state.py); both recorded in run.json ``process_state``;
- the load around the run (run.json ``load``, bench/load.py; each cell's own ``load`` is recorded by
  bench/run_cell.py around its timed rounds);
- ``--attn-repeat N``: every cell N times, repeat after repeat, each in a shuffled order
  (bench/repeat.py); each record carries its ``repeat``;
- a live progress line on a terminal (bench/progress.py): cells done / total, skipped, failed, ETA.
"""

from __future__ import annotations

import json
import sys

import pytest

from .options import add_option
from .progress import Progress, is_live
from .repeat import parse_repeat, reorder_in_place, repeat_ids, shuffled_order
from .stash import SESSION_KEY

LOAD_KEY = pytest.StashKey[object]()
PREDICTED_KEY = pytest.StashKey[dict]()


def pytest_addoption(parser):
    group = parser.getgroup("attnbench")
    add_option(group, "--attn-threads", default=None,
               help="torch intra-op threads for the whole sweep: a number or 'all' (default: all CPUs this process may use)")
    # glibc by default: pinning helped the gate's workers, but sweeps' A/A runs here did not show it (docs/reproducibility.md)
    add_option(group, "--attn-allocator", default="glibc", choices=("glibc", "pinned"),
               help="glibc (default): glibc's moving malloc thresholds; pinned: mmap/trim thresholds fixed for the whole sweep")
    add_option(group, "--attn-repeat", default=None,
               help="measure the grid N times, each repeat in a shuffled cell order; the report shows confidence intervals")


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def repeats(config) -> int:
    return parse_repeat(config.getoption("attn_repeat"))


def pytest_attn_session_created(session, config):
    from .load import LoadRecorder
    from .process_state import apply_process_state, parse_threads

    try:
        threads, count = parse_threads(config.getoption("attn_threads")), repeats(config)
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    state = apply_process_state(threads, allocator=config.getoption("attn_allocator") == "pinned")
    session.run_notes.update(process_state=state, repeats=count)
    if not is_worker(config):
        config.stash[LOAD_KEY] = LoadRecorder(state["threads"])


# --- repeats ------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def attn_repeat(request):
    """The repeat a sweep cell belongs to (1 without --attn-repeat); tags the cell's record."""
    repeat = getattr(request, "param", 1)
    session = request.config.stash.get(SESSION_KEY, None)
    if session is not None and "cell" in request.fixturenames:
        session.record_tags = {"repeat": repeat} if repeats(request.config) > 1 else {}
    return repeat


@pytest.hookimpl(trylast=True)
def pytest_generate_tests(metafunc):
    config = metafunc.config
    session = config.stash.get(SESSION_KEY, None)
    if session is None or "cell" not in metafunc.fixturenames or repeats(config) < 2:
        return
    module = metafunc.module
    suite = getattr(module, "SUITE", module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    if session.cells(suite, getattr(module, "GRIDS", None)):
        count = repeats(config)
        metafunc.parametrize("attn_repeat", range(1, count + 1), ids=repeat_ids(count), indirect=True)


def sweep_cell(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("cell") if callspec is not None else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        return
    if repeats(config) > 1:
        def order(selected):
            return shuffled_order(selected, lambda item: item.callspec.params.get("attn_repeat", 1),
                                  lambda item: (item.module.__name__, sweep_cell(item).problem), session.seed)

        reorder_in_place(items, lambda item: sweep_cell(item) is not None, order)
    if not is_worker(config):
        budget = session.budget
        config.stash[PREDICTED_KEY] = {item.nodeid: predicted_cell_seconds(sweep_cell(item), budget, session.ignore_budget)
                                       for item in items if sweep_cell(item) is not None}


def predicted_cell_seconds(cell, budget, ignore_budget: bool = False) -> float:
    """Wall seconds a cell is expected to take: its timed rounds plus warm-up, memory and oracle calls; 0 when skipped."""
    from .reference_rates import reference_rate

    problem, impl = cell.problem, cell.impl
    if impl.not_supported_reasons(problem):
        return 0.0
    call = impl.time_estimate(problem, reference_rate(problem.device, problem.dtype, budget.reference_flops))
    if not ignore_budget and (call > budget.max_call_seconds or impl.memory_estimate(problem) > budget.max_bytes):
        return 0.0
    timed = min(max(budget.target_cell_seconds, budget.min_rounds * call), budget.max_rounds * call)
    return timed + 5 * call  # warm-up, error check, oracle, peak memory, the round-sizing call


# --- progress and the run's load ---------------------------------------------------------------------------
def pytest_configure(config):
    if not is_worker(config):
        config.pluginmanager.register(RunWatcher(config), "attnbench-run-watcher")


class RunWatcher:
    """In the process that reports (not an xdist worker): the progress line, and the load written at the end."""

    def __init__(self, config) -> None:
        self.config = config
        self.progress: Progress | None = None
        self.collected: dict[str, int] = {}
        self.summary: str | None = None  # the last state of a live line, repeated in the terminal summary

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node, ids):
        self.collected[node.workerinput["workerid"]] = len(ids)

    def progress_line(self) -> Progress | None:
        """Started at the first finished cell, when the number of cells is known."""
        config = self.config
        if self.progress is None and config.stash.get(SESSION_KEY, None) is not None:
            predicted = config.stash.get(PREDICTED_KEY, {})
            total = sum(self.collected.values()) or len(predicted)
            # -q: quiet; -v: pytest's line per cell is the progress
            live = config.getoption("benchmark_only", False) and is_live(sys.stderr, quiet=config.get_verbosity() != 0)
            self.progress = Progress(total, list(predicted.values()) or None, enabled=live)
        return self.progress

    @pytest.hookimpl(tryfirst=True)
    def pytest_report_teststatus(self, report, config):
        """While the live line shows a sweep, pytest's per-cell letters would break it: counted, not printed."""
        progress = self.progress_line() if report.when == "call" or report.failed or report.skipped else self.progress
        if progress is None or progress.bar is None or (report.when != "call" and report.passed):
            return None
        category = "passed" if report.passed else "skipped" if report.skipped else "failed" if report.when == "call" else "error"
        return category, "", category.upper()  # no letter; the word keeps pytest's [ NN%] count (it shows only under -v)

    def pytest_runtest_logreport(self, report):
        if report.when == "teardown" or (report.when == "setup" and report.passed):
            return
        progress = self.progress_line()
        if progress is not None:
            status = "ok" if report.passed else "skipped" if report.skipped else "failed"
            progress.advance(status, self.config.stash.get(PREDICTED_KEY, {}).get(report.nodeid))
            if progress.done >= progress.total:
                self.close_progress()

    def close_progress(self) -> None:
        if self.progress is not None and self.progress.bar is not None:
            self.summary = self.progress.summary()
            self.progress.close()

    def pytest_terminal_summary(self, terminalreporter):
        if self.summary:  # the live line is gone: what it said last
            terminalreporter.write_line(f"attnbench: {self.summary}")

    def pytest_sessionfinish(self, session):
        self.close_progress()
        recorder, attn = self.config.stash.get(LOAD_KEY, None), self.config.stash.get(SESSION_KEY, None)
        path = attn.writer.run_dir / "run.json" if attn is not None else None
        if recorder is not None and path is not None and path.exists():  # a run that measured: add its load
            info = json.loads(path.read_text())
            info["load"] = recorder.finish()
            path.write_text(json.dumps(info, indent=2, default=str))
