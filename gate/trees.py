"""Source trees for the gate: the working tree, or a git ref checked out into a temporary worktree."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

PACKAGE_ROOT = Path(__file__).resolve().parents[1]
TEMP_PREFIX = "attnbench-gate-"


class TreeError(Exception):
    """The gate cannot get a tree to measure (exit code 3)."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError) as exc:
        raise TreeError(f"git {' '.join(args)} failed: {exc}") from None


def working_tree(start: Path | None = None) -> Path:
    """The git top level of ``start`` (default: the current directory), else the tree holding this package."""
    start = Path.cwd() if start is None else start
    done = _git(start, "rev-parse", "--show-toplevel")
    root = Path(done.stdout.strip()).resolve() if done.returncode == 0 else PACKAGE_ROOT
    check_tree(root, "the working tree")
    return root


def check_tree(root: Path, what: str) -> None:
    if not (root / "impls" / "__init__.py").is_file():
        raise TreeError(f"{what} {root} has no impls/ package (expected an attnbench source tree)")


def resolve_commit(repo: Path, ref: str) -> str:
    done = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if done.returncode != 0:
        raise TreeError(f"git ref {ref!r} does not exist in {repo} (accepted: a branch, tag or commit, e.g. origin/main, HEAD~1)")
    return done.stdout.strip()


def temp_prefix(label: str) -> str:
    """Temporary folders of a gate run carry its process id, so a later run can tell a killed run's leftovers."""
    return f"{TEMP_PREFIX}{os.getpid()}-{label}-"


def clean_stale(repo: Path) -> list[Path]:
    """Remove what gate runs killed outright (SIGKILL after a CI cancel) left: their temporary folders and the
    git worktrees registered in them. A folder belongs to a run whose process id it carries; only dead ones go."""
    removed = []
    for folder in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        pid = folder.name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
        if not folder.is_dir() or not pid.isdigit() or process_alive(int(pid)):
            continue
        if (folder / "tree").exists():  # killed inside `git worktree add`, it is still locked ("initializing"): force twice
            _git(repo, "worktree", "remove", "--force", "--force", str(folder / "tree"))
        shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    _git(repo, "worktree", "prune")  # registrations whose folders are gone
    return removed


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


@contextlib.contextmanager
def checkout(repo: Path, ref: str, label: str) -> Iterator[tuple[Path, str]]:
    """``ref`` checked out (detached) into a temporary git worktree; removed again however the gate ends."""
    commit = resolve_commit(repo, ref)
    parent = Path(tempfile.mkdtemp(prefix=temp_prefix(label)))
    path = parent / "tree"
    done = _git(repo, "worktree", "add", "--detach", "--quiet", str(path), commit)
    if done.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise TreeError(f"git worktree add for {ref!r} failed: {' '.join(done.stderr.split())[:300]}")
    try:
        check_tree(path, f"{label} ref {ref!r} ({commit[:12]})")
        yield path, commit
    finally:
        _git(repo, "worktree", "remove", "--force", str(path))
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune")


def describe(repo: Path) -> str | None:
    """Short commit of the working tree, ``-dirty`` when it has uncommitted changes to tracked files."""
    sha = _git(repo, "rev-parse", "--short=12", "HEAD")
    if sha.returncode != 0:
        return None
    dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").stdout.strip()
    return sha.stdout.strip() + ("-dirty" if dirty else "")


def changed_files(repo: Path, base_commit: str, head_commit: str | None) -> list[str]:
    """Files that differ between the base commit and the head (a commit, or the working tree with untracked files)."""
    if head_commit is not None:
        done = _git(repo, "diff", "--name-only", base_commit, head_commit)
        return sorted(set(done.stdout.split())) if done.returncode == 0 else []
    tracked = _git(repo, "diff", "--name-only", base_commit)
    untracked = _git(repo, "ls-files", "--others", "--exclude-standard")
    names = (tracked.stdout.split() if tracked.returncode == 0 else []) + (untracked.stdout.split() if untracked.returncode == 0 else [])
    return sorted(set(names))
