"""Bisection on a temporary repository: 16 commits after a good one, a slowdown injected at a known commit.

The repository is a copy of this tree (its HEAD) committed once as the good commit, then 16 commits
that each touch a small file; commit ``--slow-at`` also appends a pure-Python loop after every call
of the naive kernel (scripts/gate_inject.py), and commit ``--broken-at`` (if given) breaks the import
of impls for one commit (fixed by the next), which bisection must skip. Then

    python -m reports gate bisect --good GOOD --bad HEAD --repo TMP --attn-impls naive ...

runs and the script reports whether it named the injected commit and how many gate runs it took.

    python scripts/validate_bisect.py --slow-at 11 --broken-at 6
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))

from gate_inject import inject  # noqa: E402

GATE_OPTIONS = ["--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-masks", "none", "--attn-modes", "fwd",
                "--pairs", "10", "--max-pairs", "20", "--workers", "1"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=attnbench", "-c", "user.email=attnbench@localhost", *args], cwd=repo,
                          capture_output=True, text=True, check=True).stdout.strip()


def make_repository(path: Path, commits: int, slow_at: int, loops: int, broken_at: int | None) -> list[str]:
    path.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(path)], input=archive, check=True)
    git(path, "init", "-q")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "good: the tree as it is")
    shas = [git(path, "rev-parse", "HEAD")]
    init = path / "impls" / "__init__.py"
    for number in range(1, commits + 1):
        (path / "docs" / "bisect-demo.txt").write_text(f"commit {number}\n")
        subject = f"commit {number}: docs only"
        if number == slow_at:
            inject(path / "impls" / "exact" / "naive.py", "Naive", "slowdown", loops)
            subject = f"commit {number}: naive gets slower (injected loop of {loops})"
        if broken_at is not None and number == broken_at:
            init.write_text(init.read_text() + "\nraise ImportError('broken on purpose')\n")
            subject = f"commit {number}: impls does not import"
        if broken_at is not None and number == broken_at + 1:
            init.write_text(init.read_text().replace("\nraise ImportError('broken on purpose')\n", ""))
            subject = f"commit {number}: impls imports again"
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", subject)
        shas.append(git(path, "rev-parse", "HEAD"))
    return shas


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=16)
    parser.add_argument("--slow-at", type=int, default=11, help="the commit (1..commits) that makes naive slower")
    parser.add_argument("--loops", type=int, default=3000, help="iterations of the injected loop per call (default 3000)")
    parser.add_argument("--broken-at", type=int, default=None, help="a commit whose impls does not import (fixed by the next)")
    args = parser.parse_args(argv)
    parent = Path(tempfile.mkdtemp(prefix="attnbench-bisect-demo-"))
    try:
        shas = make_repository(parent / "repo", args.commits, args.slow_at, args.loops, args.broken_at)
        started = time.perf_counter()
        command = [sys.executable, "-m", "reports", "gate", "bisect", "--good", shas[0], "--bad", shas[-1],
                   "--repo", str(parent / "repo"), *GATE_OPTIONS]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        print(done.stdout + done.stderr)
        found = re.search(r"first bad commit: ([0-9a-f]{40})", done.stdout)
        runs = re.search(r"gate bisect: (\d+) gate runs for", done.stdout)
        named = found.group(1) if found else None
        print(f"injected at commit {args.slow_at} ({shas[args.slow_at][:12]}); bisect named "
              f"{named[:12] if named else 'nothing'} ({'right' if named == shas[args.slow_at] else 'WRONG'}) with "
              f"{runs.group(1) if runs else '?'} gate runs in {time.perf_counter() - started:.0f} s (exit {done.returncode})")
        return 0 if named == shas[args.slow_at] else 1
    finally:
        subprocess.run(["git", "worktree", "prune"], cwd=parent / "repo", capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
