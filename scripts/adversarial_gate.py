"""The gate's faults for scripts/adversarial.py: cancelled (SIGTERM) with its workers up, and killed outright."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GATE_TINY = ["--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
             "--attn-masks", "none", "--attn-modes", "fwd", "--attn-batch", "1", "--pairs", "10", "--max-pairs", "10"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=a", "-c", "user.email=a@a", *args], cwd=repo, check=True, capture_output=True,
                          text=True).stdout


def snapshot(tmp: Path, name: str) -> Path:
    """A throwaway repository holding this checkout's files, so the gate has a HEAD of its own to check out."""
    repo = tmp / name
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    for file in filter(None, listed.split("\0")):
        if (ROOT / file).is_file():
            (repo / file).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / file, repo / file)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot")
    return repo


def worktrees(repo: Path) -> list[str]:
    return [line[9:] for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def start(repo: Path, tmpdir: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(repo)}
    return subprocess.Popen([sys.executable, "-m", "gate", "--base", "HEAD", *GATE_TINY, "--out", str(out)], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def left_behind(repo: Path, tmpdir: Path, workers: list[int]) -> str | None:
    alive = [pid for pid in workers if Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]]
    extra = [w for w in worktrees(repo) if w != str(repo)]
    folders = list(tmpdir.glob("attnbench-gate-*"))
    return f"left behind: workers {alive}, worktrees {extra}, folders {folders}" if alive or extra or folders else None


def gate_sigterm(tmp: Path) -> str | None:
    repo, tmpdir = snapshot(tmp, "gate-sigterm"), tmp / "gate-sigterm-tmp"
    tmpdir.mkdir()
    gate = start(repo, tmpdir, tmp / "gate-sigterm-out")
    if not wait_for(lambda: len(children(gate.pid)) >= 6, 300):
        os.killpg(gate.pid, signal.SIGKILL)
        return "the gate's six workers never started"
    workers = children(gate.pid)
    time.sleep(3.0)
    started = time.monotonic()
    gate.send_signal(signal.SIGTERM)
    output = gate.communicate(timeout=120)[0]
    took = time.monotonic() - started
    if took > 3.0:
        return f"took {took:.1f} s to end after SIGTERM"
    return left_behind(repo, tmpdir, workers) or ("a traceback" if "Traceback" in output else None)


def gate_killed_then_cleaned(tmp: Path) -> str | None:
    repo, tmpdir = snapshot(tmp, "gate-killed"), tmp / "gate-killed-tmp"
    tmpdir.mkdir()
    killed = start(repo, tmpdir, tmp / "gate-killed-out")
    if not wait_for(lambda: len(worktrees(repo)) == 2, 300):
        os.killpg(killed.pid, signal.SIGKILL)
        return "the gate's worktree never appeared"
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait()
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(repo)}
    again = subprocess.run([sys.executable, "-m", "gate", "--base", "no-such-ref-xyz", "--out", str(tmp / "gate-again")], cwd=repo,
                           env=env, capture_output=True, text=True, timeout=300)
    if again.returncode != 3:
        return f"the next run exited {again.returncode}"
    return left_behind(repo, tmpdir, [])
