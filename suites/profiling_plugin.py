"""pytest plugin: --attn-profile and --attn-memory-snapshot for the sweep.

Profiling is a post-timing hook on the sweep session (see suites/profiling.py): each selected cell
is timed first, then profiled, so a profile never changes the timing statistics.
"""

from __future__ import annotations

from pathlib import Path

import pytest


def pytest_addoption(parser):
    group = parser.getgroup("attnbench", "attnbench sweep")
    group.addoption("--attn-profile", action="store_true",
                    help="after timing each cell, profile it with torch.profiler: a trace per cell under "
                         "<results>/traces/<run>/ (TensorBoard with torch-tb-profiler, or Perfetto), top operators, "
                         "kernel count, memory peak and memory timeline in the record")
    group.addoption("--attn-profile-steps", default="1,1,3",
                    help="profiler schedule: ACTIVE or WAIT,WARMUP,ACTIVE calls (default 1,1,3)")
    group.addoption("--attn-memory-snapshot", action="store_true",
                    help="on CUDA, save a caching-allocator snapshot per cell (memory_snapshot.pickle, for "
                         "https://pytorch.org/memory_viz); CPU cells record why there is none")


@pytest.hookimpl(trylast=True)  # after conftest's pytest_configure has made the sweep session
def pytest_configure(config):
    from suites.profiling import ProfileOptions, ProfileSchedule, ProfilingHook

    session = getattr(config, "_attn_session", None)
    trace, snapshot = config.getoption("attn_profile"), config.getoption("attn_memory_snapshot")
    if session is None or not (trace or snapshot):
        return
    try:
        steps = ProfileSchedule.parse(config.getoption("attn_profile_steps"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    options = ProfileOptions(results_dir=Path(session.writer.run_dir).parent, run_id=session.writer.run_id,
                             trace=trace, memory_snapshot=snapshot, steps=steps)
    session.post_timing_hooks.append(ProfilingHook(options))
    config._attn_profile_options = options


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    options = getattr(config, "_attn_profile_options", None)
    if options is None or hasattr(config, "workerinput") or not options.trace_root.exists():
        return
    terminalreporter.write_sep("-", "attnbench profiles")
    terminalreporter.write_line(f"traces: {options.trace_root}")
    terminalreporter.write_line(f"  tensorboard --logdir {options.trace_root}   (needs: pip install 'attnbench[profile]')")
    terminalreporter.write_line("  or open a cell's *.pt.trace.json at https://ui.perfetto.dev")
