"""Test plugin: one shard of a fleet kills its own pytest (SIGKILL, no warning, like a node lost) after N cells.

ATTNBENCH_TEST_KILL_SHARD names the shard (--attn-shard), ATTNBENCH_TEST_KILL_AFTER the number
of cells it finishes first, ATTNBENCH_TEST_KILL_ONCE a file created before the kill, so that a
rerun of the shard runs to its end.
"""

import os
import signal
from pathlib import Path

_state = {"shard": None, "done": 0}


def pytest_configure(config):
    _state["shard"] = config.getoption("attn_shard", None)


def pytest_runtest_logfinish(nodeid, location):
    if _state["shard"] is None or _state["shard"] != os.environ.get("ATTNBENCH_TEST_KILL_SHARD", "-"):
        return
    _state["done"] += 1
    once = Path(os.environ["ATTNBENCH_TEST_KILL_ONCE"])
    if _state["done"] >= int(os.environ.get("ATTNBENCH_TEST_KILL_AFTER", "1")) and not once.exists():
        once.write_text("killed")
        os.kill(os.getpid(), signal.SIGKILL)
