"""``python -m reports gate bisect --good A --bad B [selection]``: the first commit where the selection regressed.

Binary search over the commits from A (exclusive) to B (inclusive) on the ancestry path, as
``git bisect`` does, where each test is a paired gate run: base = the good commit A, head = the
commit tested, measured in the same job (so the machine's drift between tests does not matter).
B is tested first: if the gate does not call B a regression against A, there is nothing to look
for. A commit the gate cannot measure (it does not import, nothing runs: exit 3) is skipped, as
``git bisect skip`` would, and a neighbour is tested instead. About log2(commits) + 1 gate runs.

The gate options after the known ones (``--attn-*`` selection, ``--floor``, ``--pairs``...) are
passed to every gate run. Exit code: 0 found, 1 not found (B is not slower), 3 could not run.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from . import report

FOUND, NOT_FOUND, INFRASTRUCTURE = 0, 1, 3


@dataclass
class GateRun:
    commit: str
    exit_code: int
    result: dict | None      # gate.json, when the gate wrote one
    last_line: str

    @property
    def outcome(self) -> str:
        return {0: "good", 1: "bad"}.get(self.exit_code, "skip")


Runner = Callable[[str, str, int], GateRun]  # (good commit, tested commit, run number) → its gate run


class BisectError(Exception):
    """The range cannot be bisected (bad refs, B not after A, A itself not measurable)."""


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise BisectError(f"git {' '.join(args)}: {' '.join(done.stderr.split())[:200]}")
    return done.stdout.strip()


def commit_range(repo: Path, good: str, bad: str) -> list[str]:
    """Commits after ``good`` up to ``bad``, oldest first, on the ancestry path between them."""
    good_sha, bad_sha = (git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}") for ref in (good, bad))
    if subprocess.run(["git", "merge-base", "--is-ancestor", good_sha, bad_sha], cwd=repo).returncode != 0:
        raise BisectError(f"--good {good} is not an ancestor of --bad {bad} (accepted: an older commit of the same history)")
    commits = git(repo, "rev-list", "--reverse", "--ancestry-path", f"{good_sha}..{bad_sha}").split()
    if not commits:
        raise BisectError(f"no commit between --good {good} and --bad {bad}")
    return commits


def subprocess_runner(repo: Path, gate_options: list[str], out_root: Path) -> Runner:
    def run(good: str, commit: str, number: int) -> GateRun:
        out = out_root / f"{number:02d}-{commit[:12]}"
        command = [sys.executable, "-m", "reports", "gate", "--base", good, "--head", commit, *gate_options, "--out", str(out)]
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True)
        lines = (done.stdout.strip() or done.stderr.strip() or "no output").splitlines()
        gate_json = out / "gate.json"
        result = json.loads(gate_json.read_text(encoding="utf-8")) if gate_json.is_file() else None
        return GateRun(commit, done.returncode, result, lines[-1])
    return run


def next_to_test(commits: list[str], low: int, high: int, skipped: set[int]) -> int | None:
    """The untested, unskipped index nearest the middle of (low, high), or None."""
    middle = (low + high) // 2
    for offset in range(high - low):
        for index in (middle - offset, middle + offset):
            if low < index < high and index not in skipped:
                return index
    return None


def bisect(commits: list[str], good: str, runner: Runner, say: Callable[[str], None] = print) -> tuple[int | None, list[GateRun]]:
    """(index of the first bad commit or None, the gate runs made). ``commits[-1]`` is the claimed bad one."""
    runs: list[GateRun] = []

    def test(index: int) -> str:
        run = runner(good, commits[index], len(runs) + 1)
        runs.append(run)
        say(f"[gate run {len(runs)}] {commits[index][:12]}: {run.outcome} ({run.last_line})")
        return run.outcome

    if test(len(commits) - 1) != "bad":
        return None, runs
    low, high, skipped = -1, len(commits) - 1, set()
    while (index := next_to_test(commits, low, high, skipped)) is not None:
        outcome = test(index)
        if outcome == "skip":
            skipped.add(index)
        elif outcome == "bad":
            high = index
        else:
            low = index
    if any(low < s < high for s in skipped):
        say(f"the first bad commit is one of {', '.join(c[:12] for c in commits[low + 1:high + 1])} "
            "(the ones before the last could not be measured)")
    return high, runs


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reports gate bisect",
                                     description="The first commit between --good and --bad where the selected cells regress, "
                                                 "found with paired gate runs (about log2 of the commit count).",
                                     epilog="Any other option (--attn-impls, --attn-seq-lens, --floor, --pairs ...) goes to every gate run.")
    parser.add_argument("--good", required=True, metavar="REF", help="a commit where the selection was fine")
    parser.add_argument("--bad", required=True, metavar="REF", help="a later commit where it is slower")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="git repository (default: the current directory)")
    parser.add_argument("--out", type=Path, default=None, help="keep every gate run's gate.json and gate.md under this folder")
    return parser


def main(argv: list[str]) -> int:
    args, gate_options = build_parser().parse_known_args(argv)
    with tempfile.TemporaryDirectory(prefix="attnbench-bisect-") as scratch:
        out_root = args.out or Path(scratch)
        try:
            commits = commit_range(args.repo, args.good, args.bad)
            good = git(args.repo, "rev-parse", args.good)
        except BisectError as exc:
            print(f"gate bisect: {exc}", file=sys.stderr)
            return INFRASTRUCTURE
        print(f"gate bisect: {len(commits)} commits after {good[:12]}; about {max(1, len(commits) - 1).bit_length() + 1} gate runs",
              flush=True)
        index, runs = bisect(commits, good, subprocess_runner(args.repo, gate_options, out_root),
                             say=lambda line: print(line, flush=True))
    if index is None:
        last = runs[-1]
        code = INFRASTRUCTURE if last.outcome == "skip" else NOT_FOUND
        print(f"gate bisect: {args.bad} is not a confirmed regression against {args.good} ({last.last_line}); nothing to bisect")
        return code
    first_bad = commits[index]
    print(f"\nfirst bad commit: {first_bad} {git(args.repo, 'log', '-1', '--format=%s', first_bad)}")
    measured = [r for r in runs if r.commit == first_bad and r.result]
    if measured:
        print(report.table(measured[-1].result))
    print(f"gate bisect: {len(runs)} gate runs for {len(commits)} commits")
    return FOUND
