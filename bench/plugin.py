"""The pytest plugin of attnbench (entry point ``attnbench``): --attn-* options, the sweep session, collection, the report.

It is loaded by every pytest run of an environment where attnbench is installed, so it stays inert
(no torch, no session) unless a sweep is asked for: ``--benchmark-only`` in this project, any
``--attn-*`` option, or a suite that asks for a ``cell``. Collection: testpaths is tests/, so a plain ``pytest`` runs the
tests; ``pytest --benchmark-only`` without paths runs the sweep suites in suites/ instead.
"""

from __future__ import annotations

import os
import signal
import threading
import warnings
from pathlib import Path

import pytest

from . import hookspecs
from .options import OPTION_DEFAULTS, add_sweep_options, parse_seed, session_options
from .stash import ROOT, SESSION_KEY, XDIST_SWEEP, in_this_project

SUITES_DIR = ROOT / "suites"
NO_CELLS = "no-cells-in-this-preset"
PREVIOUS_SIGTERM = pytest.StashKey[object]()
OPTION_ERRORS = pytest.StashKey[list]()  # options that a suite's grids reject (found while collecting)
# Each cell's axes as named pytest parameters (--benchmark-group-by=param:impl, param:seq_len, ...).
CELL_PARAMS = ("impl", "batch", "seq_len", "kv_seq_len", "heads", "kv_heads", "head_dim", "dtype", "mask", "mode", "device")


def pytest_addhooks(pluginmanager):
    from . import conditions, resume_plugin, store_hook
    from .devices import plugin as devices_plugin
    from .profiling import plugin as profiling_plugin

    pluginmanager.add_hookspecs(hookspecs)
    # pluggy calls the last-registered first: with devices registered before profiling, profiling's session hook
    # registers its post-timing hook first, so the device metrics (CUDA events) run before the profiler's extra calls.
    for name, module in (("attnbench-devices", devices_plugin), ("attnbench-profiling", profiling_plugin),
                         ("attnbench-conditions", conditions), ("attnbench-resume", resume_plugin), ("attnbench-store", store_hook)):
        if not pluginmanager.is_registered(module):
            pluginmanager.register(module, name)


def pytest_addoption(parser):
    add_sweep_options(parser.getgroup("attnbench", "attnbench sweep"), str(ROOT / "results"))


def is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def sweep_asked(config) -> bool:
    """--benchmark-only in this project, or any --attn-* option away from its default."""
    if config.stash.get(XDIST_SWEEP, False) or (config.getoption("benchmark_only", False) and in_this_project(config)):
        return True
    return any(config.getoption(dest, default) != default for dest, default in OPTION_DEFAULTS.items())


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark reads its options
def pytest_configure(config):
    config.addinivalue_line("markers", "suite(name): an attnbench sweep suite")
    session = sweep_session(config) if sweep_asked(config) else None  # options are checked now, before collection
    if config.getoption("benchmark_only", False) and in_this_project(config):
        if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
            config.args[:] = [str(SUITES_DIR)]  # `pytest --benchmark-only` means the sweep, not tests/
        # Save pytest-benchmark's own JSON beside our records (readable by `pytest-benchmark compare`), named by the run.
        if not config.option.benchmark_save and session is not None:
            config.option.benchmark_save = session.writer.run_id
            config.option.benchmark_autosave = False
        if config.option.benchmark_storage in ("file://./.benchmarks", "./.benchmarks"):
            config.option.benchmark_storage = f"file://{Path(config.getoption('attn_results')) / 'benchmarks'}"
    if session is not None:
        place_histograms(config, session.writer.run_dir)
        if threading.current_thread() is threading.main_thread() and not is_worker(config):
            config.stash[PREVIOUS_SIGTERM] = signal.signal(signal.SIGTERM, interrupt_on_sigterm)


def interrupt_on_sigterm(signum, frame):
    """SIGTERM (a CI cancel, ``kill``, a batch system's time limit) ends the sweep as Ctrl-C does: the finished
    cells and pytest-benchmark's JSON are saved."""
    raise KeyboardInterrupt("terminated (SIGTERM)")


def place_histograms(config, run_dir: Path) -> None:
    """``--benchmark-histogram`` without a folder writes into the run folder, not into the working directory."""
    prefixes = getattr(config.option, "benchmark_histogram", None)
    if prefixes:
        config.option.benchmark_histogram = [p if "/" in p else str(run_dir / p) for p in prefixes]


def pytest_unconfigure(config):
    previous = config.stash.get(PREVIOUS_SIGTERM, None)
    if previous is not None:
        signal.signal(signal.SIGTERM, previous)
    session = config.stash.get(SESSION_KEY, None)
    if session is not None and not is_worker(config):
        session.writer.release_if_empty()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_sessionfinish(session, exitstatus):
    """pytest-benchmark saves its JSON here: on a full disk, say so in one line rather than an INTERNALERROR."""
    try:
        with warnings.catch_warnings():
            # A sweep stopped by a usage error, or run with --collect-only, has nothing to save: no need to warn.
            warnings.filterwarnings("ignore", message="Not saving anything, no benchmarks have been run")
            return (yield)
    except OSError as exc:
        if session.config.stash.get(SESSION_KEY, None) is None:
            raise
        reporter = session.config.pluginmanager.get_plugin("terminalreporter")
        line = f"attnbench: pytest-benchmark's JSON was not saved: {exc.strerror or exc}"
        if reporter is None:
            print(line)
        else:
            reporter.ensure_newline()
            reporter.write_line(line)
        session.exitstatus = session.exitstatus or pytest.ExitCode.INTERRUPTED
        return None


def sweep_session(config):
    """This process's sweep session, made on first use from the --attn-* options."""
    session = config.stash.get(SESSION_KEY, None)
    if session is None:
        session = new_session(config)
        config.stash[SESSION_KEY] = session
        config.hook.pytest_attn_session_created(session=session, config=config)
    return session


def new_session(config):
    from .peaks import measure_matmul_peak
    from .resume_plugin import run_identity, writer_tag
    from .session import SweepSession
    from .writer import RUN_ID_ENV, ResultsWriteError, new_run_id

    requested_run_id, results_dir = run_identity(config, Path(config.getoption("attn_results")))  # --attn-run-id, --resume
    joins_run = is_worker(config) and os.environ.get(RUN_ID_ENV)
    run_id = os.environ[RUN_ID_ENV] if joins_run else (requested_run_id or new_run_id())
    worker = writer_tag(config, config.workerinput["workerid"] if is_worker(config) else None)  # with --attn-shard

    def matmul_peak(device, dtype):
        return config.hook.pytest_attn_matmul_peak(device=device, dtype=dtype) or measure_matmul_peak(device, dtype)

    try:
        session = SweepSession(session_options(config.getoption), results_dir, run_id, worker,
                               seed=parse_seed(config.getoption("attn_seed")), ignore_budget=config.getoption("attn_ignore_budget"),
                               matmul_peak=matmul_peak, post_timing=lambda run: config.hook.pytest_attn_post_timing(run=run))
        if not joins_run:  # a new run gets a folder of its own; --attn-run-id and --resume name a shared one
            session.writer.reserve(shared=requested_run_id is not None)
            os.environ[RUN_ID_ENV] = session.writer.run_id  # xdist workers inherit it, so all workers write one run
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    except ResultsWriteError as exc:
        raise pytest.UsageError(f"--attn-results: {exc}") from None
    return session


def pytest_generate_tests(metafunc):
    if "cell" not in metafunc.fixturenames:
        return
    session = sweep_session(metafunc.config)
    module = metafunc.module
    suite = getattr(module, "SUITE", module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    try:
        cells = session.cells(suite, getattr(module, "GRIDS", None))
    except ValueError as exc:  # said once, as a usage error, when collection ends (raised here it is an error per module)
        metafunc.config.stash.setdefault(OPTION_ERRORS, []).append(str(exc))
        cells = []
    if cells:
        # Every axis a parameter of its own (pytest-benchmark's --benchmark-group-by=param:impl, param:seq_len ...);
        # the test id stays the cell's one readable label.
        axes = [name for name in CELL_PARAMS if name not in metafunc.fixturenames]
        metafunc.fixturenames.extend(axes)
        metafunc.parametrize(["cell", *axes], [(c, *cell_params(c, axes)) for c in cells], ids=[c.id for c in cells])
    else:
        metafunc.parametrize("cell", [None], ids=[NO_CELLS])


def cell_params(cell, axes: list[str]) -> list:
    fields = {"impl": cell.impl.full_name, **cell.problem.to_dict()}
    return [fields.get(name) for name in axes]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    errors = config.stash.get(OPTION_ERRORS, [])
    if errors:
        raise pytest.UsageError(errors[0])
    empty = [item for item in items if item.name.endswith(f"[{NO_CELLS}]")]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]


@pytest.fixture(scope="session")
def attn(request):
    """The sweep session: preset, budgets, run writer, oracle cache."""
    from .writer import ResultsWriteError

    session = sweep_session(request.config)
    if not session.writer.info_written:
        try:
            session.writer.write_run_info(session.run_info())
        except ResultsWriteError as exc:
            pytest.exit(f"attnbench: {exc}; the sweep stopped before its first cell", returncode=pytest.ExitCode.INTERRUPTED)
    return session


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """The run summary, the last thing a sweep prints: after pytest-benchmark's tables, the suites' summaries and
    pytest's own short summary (the outermost wrapper of the hook runs its second half last), the results folder,
    the report's path and the verdict per device (the report's summary.txt)."""
    result = yield
    print_run_summary(terminalreporter, config)
    return result


def print_run_summary(terminalreporter, config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is None or is_worker(config):
        return
    run_dir = session.writer.run_dir
    if not run_dir.exists() or not any(run_dir.glob("cells*.jsonl")):
        return
    terminalreporter.write_sep("-", "attnbench")
    terminalreporter.write_line(f"results: {run_dir}")
    if not config.getoption("attn_no_report"):
        for line in build_report_lines(run_dir, session.writer.run_id):
            terminalreporter.write_line(line)


def build_report_lines(run_dir: Path, run_id: str) -> list[str]:
    """``report: PATH`` and the verdict paragraphs, or one line saying why no report was built."""
    try:
        from reports.build import SUMMARY, build_report
    except ImportError:
        return ["report: the reports package is not available; results are in the folder above"]
    try:
        index = build_report([run_dir], ROOT / "reports" / "generated" / run_id)
    except Exception as exc:  # noqa: BLE001 - a failed report must not lose the run's results
        return [f"report: not built ({type(exc).__name__}: {exc})"]
    summary = index.parent / SUMMARY
    verdict = summary.read_text(encoding="utf-8").strip() if summary.exists() else ""
    return [f"report: {index}", *([""] + verdict.splitlines() if verdict else [])]
