"""Keys of what the attnbench plugins keep on pytest's config (``config.stash[KEY]``), published for plugins and suites."""

from __future__ import annotations

import pytest

# The sweep session of this process (a bench.session.SweepSession), once made: ``config.stash.get(SESSION_KEY, None)``.
SESSION_KEY = pytest.StashKey[object]()
# True when this process is part of a sweep under pytest-xdist (set before pytest_configure by the device plugin).
XDIST_SWEEP = pytest.StashKey[bool]()
