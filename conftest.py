"""pytest wiring for attnbench: --attn-* options, the sweep session, collection rules, the report at the end.

Collection: testpaths is tests/, so a plain ``pytest`` runs the tests; ``pytest --benchmark-only``
without paths runs the sweep suites in suites/ instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# Feature plugins own their options and register hooks on the sweep session (trylast configure).
pytest_plugins = ["suites.profiling_plugin", "suites.device_plugin"]
SUITES_DIR = ROOT / "suites"
TESTS_DIR = ROOT / "tests"

_AXES = ("impls", "seq-lens", "kv-seq-lens", "heads", "kv-heads", "head-dims", "batch", "dtypes", "masks", "modes")
_AXIS_HELP = {
    "impls": "implementations: names, name[param=value] or globs (sdpa*), comma-separated",
    "seq-lens": "query sequence lengths, e.g. 1024,4096",
    "kv-seq-lens": "key/value sequence lengths (default: same as seq-lens)",
    "heads": "query heads",
    "kv-heads": "key/value heads: integers dividing heads, h (=heads) or h/N",
    "head-dims": "head dimensions",
    "batch": "batch sizes",
    "dtypes": "float32, float16, bfloat16, float64 (or fp32, fp16, bf16)",
    "masks": "none, causal, padding, padding[lengths=a/b], a+b, and the sparse family's masks",
    "modes": "fwd, fwd+bwd",
}


def pytest_addoption(parser):
    group = parser.getgroup("attnbench", "attnbench sweep")
    group.addoption("--attn-preset", default=None,
                    help="named sweep: smoke, cpu, gpu, full, sparse, linear, design (default: gpu with CUDA, else cpu)")
    for axis in _AXES:
        group.addoption(f"--attn-{axis}", default=None, help=f"override every grid's {_AXIS_HELP[axis]}")
    group.addoption("--attn-devices", default=None, help="cpu, cuda, cuda:N, comma-separated, or all")
    group.addoption("--attn-seed", type=int, default=0, help="seed for inputs and random parameters (default 0)")
    group.addoption("--attn-results", default=str(ROOT / "results"), help="results directory (default: results/)")
    group.addoption("--attn-ignore-budget", action="store_true", help="run cells predicted to exceed the preset's budget")
    group.addoption("--attn-no-report", action="store_true", help="do not build the HTML report at the end")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def pytest_configure(config):
    from suites.records import RUN_ID_ENV, new_run_id
    from suites.session import SweepSession

    if config.getoption("benchmark_only", False):
        if config.args_source == pytest.Config.ArgsSource.TESTPATHS:
            config.args[:] = [str(SUITES_DIR)]  # `pytest --benchmark-only` means the sweep, not tests/
        # Save pytest-benchmark's own JSON beside our records (readable by `pytest-benchmark compare`).
        if not config.option.benchmark_autosave and not config.option.benchmark_save:
            config.option.benchmark_autosave = True
        if config.option.benchmark_storage in ("file://./.benchmarks", "./.benchmarks"):
            config.option.benchmark_storage = f"file://{Path(config.getoption('attn_results')) / 'benchmarks'}"
    if _is_worker(config) and os.environ.get(RUN_ID_ENV):
        run_id = os.environ[RUN_ID_ENV]
    else:
        run_id = new_run_id()
        os.environ[RUN_ID_ENV] = run_id  # xdist workers inherit it, so all workers write one run
    worker = config.workerinput["workerid"] if _is_worker(config) else None
    options = {"preset": config.getoption("attn_preset"), "devices": config.getoption("attn_devices")}
    options.update({axis.replace("-", "_"): config.getoption(f"attn_{axis.replace('-', '_')}") for axis in _AXES})
    try:
        session = SweepSession(options, Path(config.getoption("attn_results")), run_id, worker,
                               seed=config.getoption("attn_seed"), ignore_budget=config.getoption("attn_ignore_budget"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    config._attn_session = session
    config.addinivalue_line("markers", "suite(name): an attnbench sweep suite")


_NO_CELLS = "no-cells-in-this-preset"


def pytest_generate_tests(metafunc):
    if "cell" not in metafunc.fixturenames:
        return
    session = metafunc.config._attn_session
    module = metafunc.module
    suite = getattr(module, "SUITE", module.__name__.rsplit(".", 1)[-1].removeprefix("test_"))
    try:
        cells = session.cells(suite, getattr(module, "GRIDS", None))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    if cells:
        metafunc.parametrize("cell", cells, ids=[c.id for c in cells])
    else:
        metafunc.parametrize("cell", [None], ids=[_NO_CELLS])


def pytest_collection_modifyitems(config, items):
    empty = [item for item in items if item.name.endswith(f"[{_NO_CELLS}]")]
    if empty:
        config.hook.pytest_deselected(items=empty)
        items[:] = [item for item in items if item not in empty]


@pytest.fixture(scope="session")
def attn(request):
    """The sweep session: preset, budgets, run writer, oracle cache, hooks."""
    session = request.config._attn_session
    if not session.writer.run_dir.joinpath("run.json").exists():
        session.writer.write_run_info(session.run_info())
    return session


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    session = getattr(config, "_attn_session", None)
    if session is None or _is_worker(config):
        return
    run_dir = session.writer.run_dir
    if not run_dir.exists() or not any(run_dir.glob("cells*.jsonl")):
        return
    terminalreporter.write_sep("-", "attnbench")
    terminalreporter.write_line(f"results: {run_dir}")
    if config.getoption("attn_no_report"):
        return
    try:
        from reports.build import build_report
    except ImportError:
        terminalreporter.write_line("report: the reports package is not available; results are in the folder above")
        return
    out_dir = ROOT / "reports" / "generated" / session.writer.run_id
    try:
        index = build_report([run_dir], out_dir)
    except Exception as exc:  # noqa: BLE001 - a failed report must not lose the run's results
        terminalreporter.write_line(f"report: not built ({type(exc).__name__}: {exc})")
        return
    terminalreporter.write_line(f"report: {index}")
