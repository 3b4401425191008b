"""Bad input on every command: one line that says what was wrong and what is accepted, the documented
exit code, and no work done first (no traceback, no cell measured, nothing heavy at collection).

Everything runs through the command line (``python -m pytest --benchmark-only``, ``python -m impls``,
``python -m reports build``, ``python -m reports gate``), so these tests hold whatever the modules
behind the commands are called.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SWEEP_USAGE_ERROR = 4  # pytest's usage-error code, which the sweep uses for every bad option
GATE_INFRASTRUCTURE = 3


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: none of the variables of a pytest-xdist worker running these tests."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_XDIST", "PYTEST_CURRENT_TEST"))}
    return {**env, **extra}

# Many bad sweep options, each checked by pytest.main in one process, so torch is imported once.
# --collect-only: a case that wrongly passes validation must not start a sweep.
SWEEP_DRIVER = textwrap.dedent("""
    import contextlib, io, json, sys
    import pytest
    cases = json.loads(sys.argv[1])
    answers = []
    for args in cases:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = int(pytest.main(args))
            except SystemExit as exc:
                code = exc.code
            except BaseException as exc:  # an exception pytest did not turn into an exit code
                code, err = -1, io.StringIO(f"{type(exc).__name__}: {exc}")
        answers.append({"code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
    print("ANSWERS " + json.dumps(answers))
""")

# (id, options, text the one line must contain)
BAD_SWEEP_OPTIONS = [
    ("kv-heads-alone", ["--attn-kv-heads", "3"], "--attn-kv-heads"),
    ("impls-only-commas", ["--attn-impls", ",,,"], "--attn-impls"),
    ("impls-empty", ["--attn-impls="], "--attn-impls"),
    ("seq-lens-comma", ["--attn-seq-lens", ","], "--attn-seq-lens"),
    ("devices-comma", ["--attn-devices", ","], "--attn-devices"),
    ("heads-empty", ["--attn-heads="], "--attn-heads"),
    ("dtypes-comma", ["--attn-dtypes", ",,"], "--attn-dtypes"),
    ("masks-empty", ["--attn-masks="], "--attn-masks"),
    ("padding-lengths-abc", ["--attn-masks", "padding[lengths=abc]"], "lengths"),
    ("padding-lengths-negative", ["--attn-masks", "padding[lengths=-3]"], "lengths"),
    ("seed-1e23-integer", ["--attn-seed", str(10**23)], "--attn-seed"),
    ("seed-negative", ["--attn-seed", "-1"], "--attn-seed"),
    ("seed-not-integer", ["--attn-seed", "1e23"], "--attn-seed"),
    ("sliding-window-negative", ["--attn-impls", "sliding-window[w=-5]"], "w"),
    ("sliding-window-dilation-zero", ["--attn-impls", "sliding-window[dilation=0]"], "dilation"),
    ("bigbird-block-zero", ["--attn-impls", "bigbird[block=0]"], "block"),
    ("impl-unknown-parameter", ["--attn-impls", "sliding-window[bogus=3]"], "bogus"),
    ("impl-parameter-not-a-number", ["--attn-impls", "performer[m=abc]"], "abc"),
    ("mask-window-negative", ["--attn-masks", "sliding-window[w=-5]"], "w"),
    ("mask-unknown-parameter", ["--attn-masks", "causal[x=1]"], "x"),
]


def sweep_args(results: Path, *options: str) -> list[str]:
    return ["suites", "--benchmark-only", "--collect-only", "-q", "--attn-preset", "smoke",
            f"--attn-results={results}", "--attn-no-report", *options]


@pytest.fixture(scope="module")
def sweep_answers(tmp_path_factory) -> dict[str, dict]:
    results = tmp_path_factory.mktemp("bad-sweep-results")
    cases = [sweep_args(results / "results", *options) for _, options, _ in BAD_SWEEP_OPTIONS]
    done = subprocess.run([sys.executable, "-c", SWEEP_DRIVER, json.dumps(cases)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=clean_env())
    lines = [line for line in done.stdout.splitlines() if line.startswith("ANSWERS ")]
    assert lines, done.stdout[-3000:] + done.stderr[-3000:]
    answers = json.loads(lines[-1].removeprefix("ANSWERS "))
    return {case_id: answer for (case_id, _, _), answer in zip(BAD_SWEEP_OPTIONS, answers)}


def assert_one_line(stderr: str, stdout: str, must_contain: str) -> None:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr[-2000:]}"
    assert must_contain in lines[0], lines[0]
    assert "Traceback" not in stdout + stderr and "INTERNALERROR" not in stdout + stderr


@pytest.mark.parametrize("case_id,options,text", BAD_SWEEP_OPTIONS, ids=[c[0] for c in BAD_SWEEP_OPTIONS])
def test_bad_sweep_option_is_one_usage_line(sweep_answers, case_id, options, text):
    answer = sweep_answers[case_id]
    assert answer["code"] == SWEEP_USAGE_ERROR, f"{options}: exit {answer['code']}\n{answer['stdout'][-1500:]}{answer['stderr'][-1500:]}"
    assert_one_line(answer["stderr"], answer["stdout"], text)


def run_sweep(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pytest", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=clean_env())


def test_results_folder_that_is_a_file_is_one_usage_line(tmp_path):
    blocker = tmp_path / "results"
    blocker.write_text("a file where the results folder should be\n")
    done = run_sweep("suites", "--benchmark-only", "-q", "--attn-preset", "smoke", "--attn-impls", "naive", "--attn-seq-lens", "64",
                     "--attn-masks", "none", "--attn-modes", "fwd", f"--attn-results={blocker}", "--attn-no-report")
    assert done.returncode == SWEEP_USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert_one_line(done.stderr, done.stdout, "--attn-results")
    assert blocker.is_file()


def mount_tmpfs(path: Path, options: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs is not permitted here: {done.stderr.strip()}")


def test_read_only_results_folder_is_one_usage_line(tmp_path):
    mount = tmp_path / "readonly"
    mount_tmpfs(mount, "size=1m,ro")
    try:
        done = run_sweep("suites", "--benchmark-only", "-q", "--attn-preset", "smoke", "--attn-impls", "naive", "--attn-seq-lens", "64",
                         "--attn-masks", "none", "--attn-modes", "fwd", f"--attn-results={mount / 'results'}", "--attn-no-report")
    finally:
        subprocess.run(["umount", str(mount)], capture_output=True)
    assert done.returncode == SWEEP_USAGE_ERROR, done.stdout[-2000:] + done.stderr[-2000:]
    assert_one_line(done.stderr, done.stdout, "--attn-results")


PEAK_RSS = textwrap.dedent("""
    import resource, subprocess, sys
    done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
    print("CODE", done.returncode)
    print("PEAK_KB", resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    print(done.stdout[-2000:], done.stderr[-2000:])
""")


def test_huge_sequence_length_does_no_heavy_work_at_collection(tmp_path):
    # A BigBird or other sparse mask for L=10^6 is gigabytes: collection must not build any mask.
    command = [sys.executable, "-m", "pytest", *sweep_args(tmp_path / "results", "--attn-impls", "naive", "--attn-seq-lens", "1000000")]
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, *command], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=clean_env())
    code = int(done.stdout.split("CODE ")[1].split()[0])
    peak_mb = int(done.stdout.split("PEAK_KB ")[1].split()[0]) / 1024
    assert code == 0, done.stdout[-3000:]
    assert peak_mb < 1500, f"collection peaked at {peak_mb:.0f} MB"


def test_impls_unknown_mask_exits_2_once():
    done = subprocess.run([sys.executable, "-m", "impls", "--mask", "bogus"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stdout[-1500:]
    assert_one_line(done.stderr, done.stdout, "bogus")
    assert "bogus" not in done.stdout


def reports(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "reports", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=clean_env(PYTHONPATH=str(ROOT)))


def test_report_on_a_record_missing_fields_names_file_line_and_field(tmp_path):
    good = {"schema": 1, "run_id": "r1", "suite": "core", "cell_id": "naive-x", "impl": "naive", "status": "ok",
            "problem": {"batch": 1, "seq_len": 64, "kv_seq_len": 64, "heads": 2, "kv_heads": 2, "head_dim": 16,
                        "dtype": "float32", "device": "cpu", "mask": "none", "mode": "fwd"},
            "time": {"median": 1e-4, "min": 1e-4, "rounds": 3}}
    cells = tmp_path / "cells.jsonl"
    cells.write_text(json.dumps(good) + "\n" + json.dumps({**good, "cell_id": "naive-y", "problem": {}}) + "\n")
    done = reports("build", str(cells), "--out", str(tmp_path / "out"))
    assert done.returncode == 2, done.stdout[-1500:] + done.stderr[-1500:]
    assert_one_line(done.stderr, done.stdout, str(cells))
    line = done.stderr.strip()
    assert "line 2" in line and "dtype" in line, line


def write_baseline(path: Path, drop: str | None = None, cell_drop: str | None = None) -> None:
    cell = {"id": "naive-b1-h2-L64-d16-float32-nomask-fwd-cpu", "impl": "naive", "status": "ok", "reason": None,
            "problem": {"batch": 1, "seq_len": 64, "kv_seq_len": 64, "heads": 2, "kv_heads": 2, "head_dim": 16, "dtype": "float32",
                        "device": "cpu", "mask": "none", "mode": "fwd"},
            "peak_bytes": 1000, "peak_method": "cpu-profiler-memory-events", "error": {"output": {"max_abs": 1e-7, "rel_l2": 1e-7}},
            "tolerance": {"atol": 1e-5, "rtol": 1e-5}, "median_s": 1e-4, "normalized_log": [0.1] * 10}
    baseline = {"schema": 1, "kind": "attnbench-gate-baseline", "created": "2026-01-01T00:00:00", "commit": "abc",
                "machine": {"cpu": "test", "torch": "2.13.0"}, "selection": {"preset": "smoke", "impls": "naive"}, "seed": 0,
                "calls": 5, "blocks": 10, "reference": {"size": 256, "median_s": 1e-3}, "cells": [cell]}
    if drop:
        del baseline[drop]
    if cell_drop:
        del cell[cell_drop]
    path.write_text(json.dumps(baseline))


@pytest.mark.parametrize("kind", ["list", "no-machine", "no-normalized-log", "no-reference", "cells-not-a-list"])
def test_gate_malformed_baseline_exits_3_with_one_line(tmp_path, kind):
    baseline = tmp_path / "b.json"
    if kind == "list":
        baseline.write_text("[1]\n")
    elif kind == "cells-not-a-list":
        write_baseline(baseline)
        baseline.write_text(baseline.read_text().replace('"cells": [', '"cells": 7, "x": ['))
    else:
        write_baseline(baseline, drop={"no-machine": "machine", "no-reference": "reference"}.get(kind),
                       cell_drop="normalized_log" if kind == "no-normalized-log" else None)
    done = reports("gate", "--baseline", str(baseline), "--out", str(tmp_path / "gate"), cwd=tmp_path)
    assert done.returncode == GATE_INFRASTRUCTURE, done.stdout[-2000:] + done.stderr[-2000:]
    assert "Traceback" not in done.stdout + done.stderr
    last = done.stdout.strip().splitlines()[-1]
    assert last.startswith("gate: 3") and str(baseline) in last, last
    field = {"no-machine": "machine", "no-normalized-log": "normalized_log", "no-reference": "reference",
             "cells-not-a-list": "cells"}.get(kind)
    if field:
        assert field in last, last
