"""The faults of scripts/adversarial.py: each runs real processes and returns None when no finished cell was
lost (and the fault was said in one line), else what went wrong."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from adversarial_gate import wait_for  # the one polling helper of the adversarial scripts

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-preset", "smoke", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
        "--attn-dtypes", "float32", "--attn-masks", "none", "--attn-modes", "fwd", "--attn-no-report"]
MANY = [*TINY, "--attn-impls", "naive,sdpa,sdpa-math", "--attn-seq-lens", "64,96,128,160", "--attn-masks", "none,causal"]
PLUGIN_ENV = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)])}


def sweep(results: Path, *args: str, plugin: bool = False, popen: bool = False, **kwargs):
    command = [sys.executable, "-m", "pytest", "suites/test_core.py", "--benchmark-only", "-q", f"--attn-results={results}", *args]
    if plugin:
        command[3:3] = ["-p", "faulty_impls"]
    env = {**os.environ, **(PLUGIN_ENV if plugin else {})}
    if popen:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900, **kwargs)


def records(results: Path) -> list[dict]:
    """Every record of every run under ``results``; a damaged line raises (json)."""
    return [json.loads(line) for path in sorted(results.glob("*/cells*.jsonl")) for line in path.read_text().splitlines() if line]


def builds(run_dir: Path, out: Path) -> str | None:
    done = subprocess.run([sys.executable, "-m", "reports", "build", str(run_dir), "--out", str(out)], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    return None if done.returncode == 0 else f"the report does not build: {done.stderr.strip()[-200:]}"


def crash_text(output: str) -> str | None:
    return "a traceback" if "Traceback" in output or "INTERNALERROR" in output else None


def interrupted(tmp: Path, how: signal.Signals) -> str | None:
    results = tmp / f"interrupt-{how.name}"
    proc = sweep(results, *TINY, "--attn-impls", "naive,sdpa,test-slow-build", plugin=True, popen=True)
    if not wait_for(lambda: len(records(results)) >= 2 if results.exists() else False, 300):
        proc.kill()
        return "the first cells never finished"
    time.sleep(1.0)
    proc.send_signal(how)
    output = proc.communicate(timeout=120)[0]
    kept = [r["impl"] for r in records(results)]
    if kept != ["naive", "sdpa"]:
        return f"records after {how.name}: {kept}"
    if how == signal.SIGKILL:
        return builds(next(results.glob("*/cells.jsonl")).parent, tmp / f"report-{how.name}")
    saved = list((results / "benchmarks").rglob("*.json"))
    if proc.returncode != 2 or len(saved) != 1:
        return f"exit {proc.returncode}, {len(saved)} pytest-benchmark JSON file(s)"
    return crash_text(output.split("KeyboardInterrupt")[0])


def concurrent(tmp: Path, count: int) -> str | None:
    results = tmp / f"concurrent-{count}"
    procs = [sweep(results, *TINY, "--attn-impls", "naive", popen=True) for _ in range(count)]
    codes = [p.wait(timeout=600) for p in procs]
    folders = [p for p in results.iterdir() if (p / "run.json").exists()]
    every = records(results)
    if codes != [0] * count or len(folders) != count or len(every) != count:
        return f"exit codes {codes}, {len(folders)} run folders, {len(every)} records"
    wrong = [r["run_id"] for r in every if not (results / r["run_id"] / "run.json").exists()]
    return f"records of runs without their own folder: {wrong}" if wrong or len({r["run_id"] for r in every}) != count else None


def disk_full(tmp: Path) -> str | None:
    mount = tmp / "small-disk"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        return "SKIPPED (mounting a tmpfs is not permitted)"
    try:
        done = sweep(mount / "results", *MANY)
        kept = records(mount / "results")
        shutil.copytree(next((mount / "results").glob("*/run.json")).parent, tmp / "full-disk-run")
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    said = [line for line in (done.stdout + done.stderr).splitlines() if "the sweep stopped" in line]
    if len(said) != 1 or f"{len(kept)} cell" not in said[0]:
        return f"said {said!r} with {len(kept)} records kept"
    return crash_text(done.stdout + done.stderr) or builds(tmp / "full-disk-run", tmp / "report-full-disk")


def file_too_large(tmp: Path) -> str | None:
    results = tmp / "fsize"
    done = sweep(results, *MANY, preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (12_000, 12_000)))
    kept = records(results)
    said = [line for line in (done.stdout + done.stderr).splitlines() if "the sweep stopped" in line]
    if len(said) != 1 or f"{len(kept)} cell" not in said[0]:
        return f"said {said!r} with {len(kept)} records kept"
    return crash_text(done.stdout + done.stderr)


def faulty_kernels(tmp: Path) -> str | None:
    results = tmp / "faulty"
    sweep(results, *TINY, "--attn-impls", "test-raises,test-oom,naive", plugin=True)
    status = {r["impl"]: r["status"] for r in records(results)}
    return None if status == {"test-raises": "failed", "test-oom": "oom", "naive": "ok"} else f"statuses {status}"


def out_of_memory(tmp: Path) -> str | None:
    results = tmp / "rlimit-as"
    limit = 6 << 30
    done = sweep(results, *TINY, "--attn-impls", "naive", "--attn-seq-lens", "40000,64", "--attn-ignore-budget",
                 preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_AS, (limit, limit)))
    status = {r["problem"]["seq_len"]: r["status"] for r in records(results)}
    if status.get(64) != "ok" or status.get(40000) not in ("oom", "failed"):
        return f"statuses {status}: {(done.stdout + done.stderr)[-300:]}"
    return None


def torn_line(tmp: Path) -> str | None:
    results = tmp / "torn"
    sweep(results, *TINY, "--attn-impls", "naive,sdpa,sdpa-math")
    cells = next(results.glob("*/cells.jsonl"))
    lines = cells.read_text().splitlines()
    cells.write_text("\n".join([lines[0], lines[1][: len(lines[1]) // 3] + lines[2], *lines[3:], lines[1][:50]]) + "\n")
    done = subprocess.run([sys.executable, "-m", "reports", "build", str(cells.parent), "--out", str(tmp / "report-torn")], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    csv = (tmp / "report-torn" / "cells.csv").read_text() if done.returncode == 0 else ""
    if done.returncode != 0 or "line 2" not in done.stderr or not all(impl in csv for impl in ("naive", "sdpa-math")):
        return f"exit {done.returncode}: {done.stderr.strip()[-200:]}"
    return None


def read_only(tmp: Path) -> str | None:
    mount = tmp / "read-only"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", str(mount)], capture_output=True).returncode != 0:
        return "SKIPPED (mounting a tmpfs is not permitted)"
    try:
        done = sweep(mount / "results", *TINY, "--attn-impls", "naive")
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    return None if done.returncode == 4 and len(lines) == 1 and "--attn-results" in lines[0] else f"exit {done.returncode}: {lines}"


def run_faults(tmp: Path) -> tuple[int, list[str]]:
    from adversarial_gate import gate_killed_then_cleaned, gate_sigterm

    faults = {
        "SIGINT mid-sweep": lambda: interrupted(tmp, signal.SIGINT),
        "SIGTERM mid-sweep": lambda: interrupted(tmp, signal.SIGTERM),
        "SIGKILL mid-sweep": lambda: interrupted(tmp, signal.SIGKILL),
        "two sweeps at once": lambda: concurrent(tmp, 2), "three sweeps at once": lambda: concurrent(tmp, 3),
        "a full disk": lambda: disk_full(tmp), "a file size limit": lambda: file_too_large(tmp),
        "raising and OOM kernels": lambda: faulty_kernels(tmp), "out of memory (RLIMIT_AS)": lambda: out_of_memory(tmp),
        "a torn line in a run": lambda: torn_line(tmp), "a read-only results folder": lambda: read_only(tmp),
        "the gate cancelled (SIGTERM)": lambda: gate_sigterm(tmp), "the gate killed, then run again": lambda: gate_killed_then_cleaned(tmp),
    }
    failures = []
    for name, fault in faults.items():
        started = time.monotonic()
        try:
            wrong = fault()
        except Exception as exc:  # noqa: BLE001 - a check that breaks is a failure to report, not a crash of the pass
            wrong = f"the check raised {type(exc).__name__}: {exc}"
        print(f"  fault: {name}: {'ok' if wrong is None else wrong} ({time.monotonic() - started:.0f} s)", flush=True)
        if wrong is not None:
            failures.append(f"{name}: {wrong}")
    return len(faults), failures
