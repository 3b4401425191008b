"""Run a small sweep at each of the last N commits of a ref, each in a temporary git worktree, to build a history.

    python scripts/sweep_commits.py --commits 14 --threads 1 --out /tmp/history-runs -- --attn-preset smoke --attn-impls naive,sdpa
    python -m reports ingest /tmp/history-runs --store sqlite:////tmp/history.sqlite
    python -m reports history --store sqlite:////tmp/history.sqlite --out /tmp/history-page

Each commit's sweep runs with that commit's own suites and conftest options (the arguments after ``--``),
from inside its worktree, so it measures the code as it was. A commit whose sweep fails is reported and
skipped; its worktree is removed however the script ends.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout.strip()


def knows_option(tree: Path, option: str) -> bool:
    """Whether this commit's sweep has ``option`` (options were added over time)."""
    return any(option in path.read_text(encoding="utf-8", errors="replace")
               for folder in ("bench", "suites") if (tree / folder).is_dir() for path in (tree / folder).rglob("*.py"))


def sweep_at(repo: Path, commit: str, out: Path, sweep_args: list[str], lock: Path | None = None,
             threads: int | None = None) -> tuple[int, float]:
    parent = Path(tempfile.mkdtemp(prefix="attnbench-history-"))
    tree = parent / "tree"
    git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    started = time.perf_counter()
    try:
        command = [sys.executable, "-m", "pytest", "suites", "--benchmark-only", "-q", "-p", "no:cacheprovider",
                   f"--attn-results={out}", "--attn-no-report", *sweep_args]
        env = dict(os.environ)
        if threads is not None:  # older commits read the environment; newer ones set torch's threads from --attn-threads
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
            command += [f"--attn-threads={threads}"] if knows_option(tree, "--attn-threads") else []
        if lock is not None:  # a machine shared with other benchmark jobs: one measurement at a time
            command = ["flock", str(lock), *command]
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(f"  {commit[:12]}: sweep exited {done.returncode}: {done.stdout.strip().splitlines()[-1:]}", flush=True)
        return done.returncode, time.perf_counter() - started
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=repo, capture_output=True)
        shutil.rmtree(parent, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    own, sweep_args = (argv[:argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    parser = argparse.ArgumentParser(description="A sweep at each of the last N commits (temporary worktrees).")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="repository (default: the current directory)")
    parser.add_argument("--ref", default="HEAD", help="last commit of the range (default HEAD)")
    parser.add_argument("--commits", type=int, default=10, help="how many commits, oldest first (default 10)")
    parser.add_argument("--out", type=Path, required=True, help="results folder the run folders are written into")
    parser.add_argument("--lock", type=Path, default=None, help="hold this flock file during each sweep (shared benchmark machines)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads for every commit's sweep (1 on a shared machine: a loaded core stalls multi-threaded kernels)")
    args = parser.parse_args(own)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))  # unwind: the worktree is removed
    commits = git(args.repo, "rev-list", "--first-parent", f"-{args.commits}", "--reverse", args.ref).split()
    args.out.mkdir(parents=True, exist_ok=True)
    for index, commit in enumerate(commits, 1):
        subject = git(args.repo, "log", "-1", "--format=%s", commit)[:70]
        print(f"[{index}/{len(commits)}] {commit[:12]} {subject}", flush=True)
        code, seconds = sweep_at(args.repo, commit, args.out.resolve(), sweep_args, args.lock, args.threads)
        print(f"  exit {code} in {seconds:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
