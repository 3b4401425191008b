"""Gate bisection: the first bad commit among 16, in about log2(16) + 1 paired gate runs, skipping commits that do not import."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from gate.bisect import GateRun, bisect, commit_range, next_to_test

ROOT = Path(__file__).resolve().parent.parent


def fake_runner(commits: list[str], first_bad: int, broken: set[int] = frozenset()):
    """A gate that calls every commit from ``first_bad`` on a regression and cannot import the ``broken`` ones."""
    def run(good: str, commit: str, number: int) -> GateRun:
        index = commits.index(commit)
        if index in broken:
            return GateRun(commit, 3, None, "gate: 3 INFRASTRUCTURE ERROR: head does not import")
        code = 1 if index >= first_bad else 0
        return GateRun(commit, code, {"benchmarks": []}, f"gate: {code}")
    return run


@pytest.mark.parametrize("first_bad", range(16))
def test_finds_the_first_bad_commit_in_log2_runs(first_bad):
    commits = [f"{i:040x}" for i in range(1, 17)]
    index, runs = bisect(commits, "0" * 40, fake_runner(commits, first_bad), say=lambda _: None)
    assert index == first_bad
    assert len(runs) <= math.ceil(math.log2(16)) + 1


def test_skips_commits_that_do_not_import():
    commits = [f"{i:040x}" for i in range(1, 17)]
    said = []
    index, runs = bisect(commits, "0" * 40, fake_runner(commits, 9, broken={7, 8}), say=said.append)
    assert index == 9 and sum(r.outcome == "skip" for r in runs) >= 1
    index, _ = bisect(commits, "0" * 40, fake_runner(commits, 9, broken={8}), say=said.append)
    assert index == 9


def test_a_bad_commit_that_is_not_slower_stops_at_once():
    commits = [f"{i:040x}" for i in range(1, 9)]
    index, runs = bisect(commits, "0" * 40, fake_runner(commits, 99), say=lambda _: None)
    assert index is None and len(runs) == 1


def test_next_to_test_avoids_skipped_commits():
    assert next_to_test(list("abcdefgh"), -1, 7, set()) == 3
    assert next_to_test(list("abcdefgh"), -1, 7, {3}) == 2
    assert next_to_test(list("abcdefgh"), 2, 4, {3}) is None


def test_bad_ranges_say_so_in_one_line(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    for index in range(3):
        subprocess.run(git + ["commit", "-q", "--allow-empty", "-m", f"c{index}"], check=True)
    assert len(commit_range(repo, "HEAD~2", "HEAD")) == 2
    done = subprocess.run([sys.executable, "-m", "reports", "gate", "bisect", "--good", "HEAD", "--bad", "HEAD~2", "--repo", str(repo)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 3 and "is not an ancestor" in done.stderr and done.stderr.count("\n") == 1
