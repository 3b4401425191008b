"""The pytest plugin: installed through the package's entry point, inert in a run that asks for no sweep."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_plugin_is_registered_as_an_entry_point():
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("attnbench") == "bench.plugin"


def test_importing_the_plugin_imports_no_torch():
    code = "import sys, bench.plugin, bench.options, bench.hookspecs, store.records; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "ATTNBENCH_RUN_ID"}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def test_a_run_outside_the_repository_stays_inert_and_takes_attn_results_with_a_space(tmp_path):
    (tmp_path / "conftest.py").write_text(textwrap.dedent('''
        import sys

        def pytest_sessionfinish(session):
            from bench.stash import SESSION_KEY

            marker = "session" if session.config.stash.get(SESSION_KEY, None) is not None else "none"
            print(f"ATTN:{marker}:torch={'torch' in sys.modules}")
    '''))
    (tmp_path / "test_plain.py").write_text("def test_plain():\n    assert True\n")
    plain = _pytest(tmp_path, "-s")
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "ATTN:none:torch=False" in plain.stdout  # no sweep asked: no session, no torch
    benchmarks = _pytest(tmp_path, "-s", "--benchmark-only")  # another project's benchmarks are not a sweep
    assert benchmarks.returncode == 0 and "ATTN:none:torch=False" in benchmarks.stdout, benchmarks.stdout + benchmarks.stderr
    results = tmp_path / "elsewhere"
    asked = _pytest(tmp_path, "-s", "--attn-results", str(results), "--attn-preset", "smoke")
    assert asked.returncode == 0, asked.stdout + asked.stderr
    assert "ATTN:session" in asked.stdout
    bad = _pytest(tmp_path, "--attn-preset", "nope")
    assert bad.returncode == 4 and "--attn-preset: unknown preset 'nope'" in bad.stderr
