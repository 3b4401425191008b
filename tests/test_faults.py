"""Faults a sweep and the gate survive: concurrent runs, a full disk, a torn record, SIGTERM, a killed gate.

The rule in every case: a finished cell is never lost or hidden, and the failure is said in one line.
Everything runs through the command line, with tiny sweeps (smoke preset, naive, L=64).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-preset", "smoke", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
        "--attn-dtypes", "float32", "--attn-masks", "none", "--attn-modes", "fwd", "--attn-no-report"]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the variables of a pytest-xdist worker running these tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}
    return {**env, **extra}


def sweep_command(results: Path, *args: str, plugin: bool = False) -> list[str]:
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", f"--attn-results={results}", *args]
    if plugin:
        command[3:3] = ["-p", "faulty_impls"]
    return command


def plugin_env() -> dict[str, str]:
    return clean_env(PYTHONPATH=os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]))


def jsonl_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def no_crash(output: str) -> None:
    assert "INTERNALERROR" not in output and "Traceback" not in output, output[-3000:]


# --- concurrent runs --------------------------------------------------------------------------------------
def test_two_sweeps_started_together_never_share_a_run_folder(tmp_path):
    results = tmp_path / "results"
    command = sweep_command(results, *TINY, "--attn-impls", "naive")
    procs = [subprocess.Popen(command, cwd=ROOT, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    run_dirs = sorted(p for p in results.iterdir() if p.is_dir() and (p / "run.json").exists())
    assert len(run_dirs) == 2, f"two sweeps wrote {len(run_dirs)} run folder(s): {run_dirs}"
    for run_dir in run_dirs:
        run_id = json.loads((run_dir / "run.json").read_text())["run_id"]
        assert run_id == run_dir.name
        records = [r for f in run_dir.glob("cells*.jsonl") for r in jsonl_records(f)]
        assert [r["run_id"] for r in records] == [run_id], records
    saved = sorted((results / "benchmarks").rglob("*.json"))
    assert len(saved) == 2, saved


def test_run_ids_differ_within_a_second_and_a_taken_folder_is_never_reused(tmp_path):
    from bench.writer import RunWriter, new_run_id

    assert len({new_run_id() for _ in range(50)}) == 50
    taken = RunWriter(tmp_path, new_run_id())
    taken.reserve()
    again = RunWriter(tmp_path, taken.run_id)  # another process that drew the same id
    again.reserve()
    assert again.run_id != taken.run_id and again.run_dir.is_dir() and taken.run_dir.is_dir()


# --- a full disk ------------------------------------------------------------------------------------------
@pytest.fixture
def small_disk(tmp_path):
    """A 16 KiB tmpfs (root only): room for run.json and a few cell records, then ENOSPC."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], capture_output=True)


def test_a_full_disk_stops_the_sweep_at_once_and_keeps_every_saved_cell(small_disk, tmp_path):
    many = [*TINY, "--attn-impls", "naive,sdpa,sdpa-math", "--attn-seq-lens", "64,96,128,160", "--attn-masks", "none,causal"]
    done = subprocess.run(sweep_command(small_disk / "results", *many), cwd=ROOT, env=clean_env(), capture_output=True, text=True,
                          timeout=600)
    output = done.stdout + done.stderr
    no_crash(output)
    assert done.returncode != 0
    said = [line for line in output.splitlines() if "the sweep stopped" in line]
    assert len(said) == 1 and "No space left on device" in said[0], output[-3000:]
    (run_dir,) = [p for p in (small_disk / "results").iterdir() if (p / "run.json").exists()]
    records = [r for f in run_dir.glob("cells*.jsonl") for r in jsonl_records(f)]  # every line whole
    assert records and f"{len(records)} cell" in said[0] and str(run_dir) in said[0], said[0]
    assert len(records) < 24, "the sweep went on measuring cells it could not save"
    kept = tmp_path / "kept"
    shutil.copytree(run_dir, kept)
    report = subprocess.run([sys.executable, "-m", "reports", "build", str(kept), "--out", str(tmp_path / "report")], cwd=ROOT,
                            env=clean_env(), capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stderr[-2000:]


def test_a_file_size_limit_stops_the_sweep_with_one_line(tmp_path):
    # Without root: RLIMIT_FSIZE makes a write past 12 KB fail with EFBIG, the way a full disk fails one.
    import resource

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000))

    many = [*TINY, "--attn-impls", "naive,sdpa,sdpa-math", "--attn-seq-lens", "64,96,128,160", "--attn-masks", "none,causal"]
    results = tmp_path / "results"
    done = subprocess.run(sweep_command(results, *many), cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=600,
                          preexec_fn=limit)
    output = done.stdout + done.stderr
    no_crash(output)
    assert done.returncode != 0
    said = [line for line in output.splitlines() if "the sweep stopped" in line]
    assert len(said) == 1 and "File too large" in said[0], output[-3000:]
    (run_dir,) = [p for p in results.iterdir() if (p / "run.json").exists()]
    records = [r for f in run_dir.glob("cells*.jsonl") for r in jsonl_records(f)]
    assert records and f"{len(records)} cell" in said[0], said[0]


def test_a_torn_record_anywhere_is_skipped_and_reported(tmp_path):
    record = {"schema": 1, "run_id": "r1", "suite": "core", "impl": "naive", "status": "ok",
              "problem": {"batch": 1, "seq_len": 64, "kv_seq_len": 64, "heads": 2, "kv_heads": 2, "head_dim": 16,
                          "dtype": "float32", "device": "cpu", "mask": "none", "mode": "fwd"},
              "time": {"median": 1e-4, "min": 1e-4, "rounds": 3}}
    lines = [json.dumps({**record, "cell_id": f"naive-{i}"}) for i in range(4)]
    torn = lines[1][: len(lines[1]) // 2] + lines[2]  # a half-written record glued to the next one
    cells = tmp_path / "run" / "cells.jsonl"
    cells.parent.mkdir()
    cells.write_text("\n".join([lines[0], torn, lines[3]]) + "\n")
    done = subprocess.run([sys.executable, "-m", "reports", "build", str(cells.parent), "--out", str(tmp_path / "report")], cwd=ROOT,
                          env=clean_env(), capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    output = done.stdout + done.stderr
    assert f"{cells}: line 2" in output, output
    frame = (tmp_path / "report").glob("*.csv")
    text = "".join(f.read_text() for f in frame)
    assert "naive-0" in text and "naive-3" in text


# --- SIGTERM ---------------------------------------------------------------------------------------------
def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigterm_ends_a_sweep_like_sigint_with_the_benchmark_json(tmp_path):
    results = tmp_path / "results"
    command = sweep_command(results, *TINY, "--attn-impls", "naive,test-slow-build", plugin=True)
    proc = subprocess.Popen(command, cwd=ROOT, env=plugin_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: any(f.stat().st_size for f in results.glob("*/cells*.jsonl")), 240, "the first cell's record")
        time.sleep(1.0)  # inside the slow cell's build
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
    finally:
        proc.kill()
    assert proc.returncode == 2, output[-3000:]  # pytest's 'interrupted', as for Ctrl-C
    (run_dir,) = [p for p in results.iterdir() if (p / "run.json").exists()]
    saved = list((results / "benchmarks").rglob("*.json"))
    assert len(saved) == 1, output[-3000:]
    benchmarks = json.loads(saved[0].read_text())["benchmarks"]
    assert [b["extra_info"]["impl"] for b in benchmarks] == ["naive"]
    assert run_dir.name in saved[0].name, f"{saved[0].name} does not name the run {run_dir.name}"


# --- the gate killed or cancelled ----------------------------------------------------------------------------
GATE_TINY = ["--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
             "--attn-masks", "none", "--attn-modes", "fwd", "--attn-batch", "1", "--pairs", "10", "--max-pairs", "10"]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.name=test", "-c", "user.email=test@test", *args], cwd=repo, check=True,
                          capture_output=True, text=True).stdout


@pytest.fixture
def gate_repo(tmp_path) -> Path:
    """A throwaway git repository holding this checkout's files (committed or not), so the gate has a HEAD to check out."""
    repo = tmp_path / "repo"
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "snapshot")
    return repo


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def worktrees(repo: Path) -> list[str]:
    return [line.split(" ", 1)[1] for line in git(repo, "worktree", "list", "--porcelain").splitlines() if line.startswith("worktree ")]


def start_gate(repo: Path, tmpdir: Path, out: Path) -> subprocess.Popen:
    env = clean_env(TMPDIR=str(tmpdir), PYTHONPATH=str(repo))
    return subprocess.Popen([sys.executable, "-m", "reports", "gate", "--base", "HEAD", *GATE_TINY, "--out", str(out)], cwd=repo, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_a_cancelled_gate_closes_its_workers_at_once_and_a_killed_one_is_cleaned_up_next_time(gate_repo, tmp_path):
    tmpdir = tmp_path / "tmp"
    tmpdir.mkdir()
    # A gate killed outright (SIGKILL to its process group, as a CI runner does after a cancel) leaves its worktree behind.
    killed = start_gate(gate_repo, tmpdir, tmp_path / "killed")
    wait_for(lambda: len(worktrees(gate_repo)) == 2, 120, "the killed gate's worktree")
    os.killpg(killed.pid, signal.SIGKILL)
    killed.wait(timeout=30)
    stale = [w for w in worktrees(gate_repo) if w != str(gate_repo)]
    assert stale
    # The next gate removes it at start; cancelled (SIGTERM) with its workers up, it closes them in parallel, within seconds.
    gate = start_gate(gate_repo, tmpdir, tmp_path / "cancelled")
    try:
        wait_for(lambda: not any(w in worktrees(gate_repo) for w in stale), 120, "the stale worktree's removal")
        wait_for(lambda: len(children(gate.pid)) >= 6, 120, "the cancelled gate's six workers")
        workers = children(gate.pid)
        time.sleep(2.0)  # workers importing torch: they cannot read a polite 'quit' yet
        started = time.monotonic()
        gate.send_signal(signal.SIGTERM)
        output = gate.communicate(timeout=60)[0]
        took = time.monotonic() - started
    finally:
        if gate.poll() is None:
            os.killpg(gate.pid, signal.SIGKILL)
    assert took < 4.0, f"the gate took {took:.1f} s to end after SIGTERM:\n{output[-2000:]}"
    assert not [pid for pid in workers if alive(pid)], "workers outlived the gate"
    assert worktrees(gate_repo) == [str(gate_repo)]
    assert not list(tmpdir.glob("attnbench-gate-*")), list(tmpdir.iterdir())
    assert "Traceback" not in output, output[-3000:]
