"""Keys of what the attnbench plugins keep on pytest's config (``config.stash[KEY]``), published for plugins and suites."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The sweep session of this process (a bench.session.SweepSession), once made: ``config.stash.get(SESSION_KEY, None)``.
SESSION_KEY = pytest.StashKey[object]()
# True when this process is part of a sweep under pytest-xdist (set before pytest_configure by the device plugin).
XDIST_SWEEP = pytest.StashKey[bool]()


def in_this_project(config) -> bool:
    """Whether pytest runs in attnbench's own tree, where a bare ``--benchmark-only`` means the sweep.

    Elsewhere (another project in the same environment) only an explicit ``--attn-*`` option does.
    """
    return Path(config.rootpath).resolve() == ROOT
