"""pytest plugin: --attn-profile and --attn-memory-snapshot for the sweep.

Profiling is a post-timing hook of the sweep session (see bench/profiling/profile.py): each
selected cell is timed first, then profiled, so a profile never changes the timing statistics.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ..options import add_option

OPTIONS_KEY = pytest.StashKey[object]()  # the ProfileOptions of this sweep, when profiling is on


def pytest_addoption(parser):
    group = parser.getgroup("attnbench", "attnbench sweep")
    add_option(group, "--attn-profile", action="store_true",
               help="after timing each cell, profile it with torch.profiler: a trace per cell under "
                    "<results>/traces/<run>/ (TensorBoard with torch-tb-profiler, or Perfetto), top operators, "
                    "kernel count, memory peak and memory timeline in the record")
    add_option(group, "--attn-profile-steps", default="1,1,3",
               help="profiler schedule: ACTIVE or WAIT,WARMUP,ACTIVE calls (default 1,1,3)")
    add_option(group, "--attn-memory-snapshot", action="store_true",
               help="on CUDA, save a caching-allocator snapshot per cell (memory_snapshot.pickle, for "
                    "https://pytorch.org/memory_viz); CPU cells record why there is none")


class ProfilingHooks:
    """Registered per sweep session when profiling is on: a profile of every timed cell."""

    def __init__(self, hook) -> None:
        self.hook = hook

    def pytest_attn_post_timing(self, run):
        return self.hook(run)


def pytest_attn_session_created(session, config):
    trace, snapshot = config.getoption("attn_profile"), config.getoption("attn_memory_snapshot")
    if not (trace or snapshot):
        return
    from .profile import ProfileOptions, ProfileSchedule, ProfilingHook

    try:
        steps = ProfileSchedule.parse(config.getoption("attn_profile_steps"))
    except ValueError as exc:
        raise pytest.UsageError(str(exc)) from None
    options = ProfileOptions(results_dir=Path(session.writer.run_dir).parent, run_id=session.writer.run_id,
                             trace=trace, memory_snapshot=snapshot, steps=steps)
    config.pluginmanager.register(ProfilingHooks(ProfilingHook(options)), "attnbench-profiling-hooks")
    config.stash[OPTIONS_KEY] = options


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    options = config.stash.get(OPTIONS_KEY, None)
    if options is None or hasattr(config, "workerinput") or not options.trace_root.exists():
        return
    terminalreporter.write_sep("-", "attnbench profiles")
    terminalreporter.write_line(f"traces: {options.trace_root}")
    terminalreporter.write_line(f"  tensorboard --logdir {options.trace_root}   (needs: pip install 'attnbench[profile]')")
    terminalreporter.write_line("  or open a cell's *.pt.trace.json at https://ui.perfetto.dev")
