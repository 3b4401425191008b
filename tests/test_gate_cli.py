"""The gate end to end: exit codes with one-line reasons, gate.json/gate.md, injected memory and accuracy regressions.

A small throwaway git repository (a copy of impls/, bench/, store/ and gate/) gives the gate refs to compare:
tag ``broken`` (impls cannot be imported) and tag ``clean`` (HEAD). Runs use tiny cells and few
pairs; nothing here asserts on time.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate import main
from gate.trees import check_tree

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--attn-impls", "naive", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h", "--attn-head-dims", "16",
        "--attn-masks", "none", "--attn-modes", "fwd", "--attn-batch", "1", "--pairs", "10", "--max-pairs", "10", "--workers", "1"]


def last_line(capsys) -> str:
    return capsys.readouterr().out.strip().splitlines()[-1]


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=gate-test", "-c", "user.email=gate@test", *args], cwd=repo, check=True,
                   capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gate-repo")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("impls", "bench", "store", "gate"):
        shutil.copytree(ROOT / name, path / name, ignore=ignore)
    _git(path, "init", "-q")
    init = path / "impls" / "__init__.py"
    good = init.read_text()
    init.write_text("raise ImportError('broken on purpose')\n")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "broken")
    _git(path, "tag", "broken")
    init.write_text(good)
    _git(path, "commit", "-q", "-am", "clean")
    _git(path, "tag", "clean")
    return path


def _inject(repo: Path, kind: str, amount: int = 0) -> None:
    spec = importlib.util.spec_from_file_location("gate_inject", ROOT / "scripts" / "gate_inject.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.inject(repo / "impls" / "exact" / "naive.py", "Naive", kind, amount)


def test_a_ref_that_does_not_exist_exits_3_with_a_reason(tmp_path, capsys):
    code = main(["--base", "no-such-ref-7f3a", "--out", str(tmp_path)])
    line = last_line(capsys)
    assert code == 3
    assert line.startswith("gate: 3 INFRASTRUCTURE ERROR: git ref 'no-such-ref-7f3a' does not exist")
    assert json.loads((tmp_path / "gate.json").read_text())["exit_code"] == 3
    assert "could not run" in (tmp_path / "gate.md").read_text()


@pytest.mark.parametrize("argv,said", [
    ([], "one of the arguments --base --baseline --write-baseline is required"),
    (["--base", "HEAD", "--pairs", "3"], "--pairs 3 is too small"),
    (["--base", "HEAD", "--floor", "120"], "--floor 120.0 is not a percentage"),
    (["--baseline", "/nonexistent/gate-baseline.json"], "cannot read baseline /nonexistent/gate-baseline.json"),
])
def test_bad_options_exit_3_never_2(argv, said, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # gate.json and gate.md go to ./reports/generated/gate: here, not the working copy
    assert main(argv) == 3
    assert said in last_line(capsys)


def test_a_base_that_does_not_import_exits_3(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    assert main(["--base", "broken", *TINY, "--out", str(tmp_path)]) == 3
    line = last_line(capsys)
    assert "base: cannot import the implementations of" in line and "broken on purpose" in line


def test_no_runnable_cell_exits_3(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    argv = ["--base", "clean", *TINY, "--attn-impls", "sdpa-cudnn", "--out", str(tmp_path)]
    assert main(argv) == 3
    assert "none of the 1 selected cells runs on both sides" in last_line(capsys)


def test_worktrees_are_removed_afterwards(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    main(["--base", "broken", *TINY, "--out", str(tmp_path)])
    listed = subprocess.run(["git", "worktree", "list"], cwd=repo, capture_output=True, text=True).stdout
    assert len(listed.strip().splitlines()) == 1


@pytest.mark.parametrize("kind,amount,part", [("accuracy", 0, "error"), ("memory", 3 << 20, "memory")])
def test_an_injected_regression_is_caught_and_reported(kind, amount, part, repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    _inject(repo, kind, amount)
    try:
        code = main(["--base", "clean", *TINY, "--no-confirm", "--out", str(tmp_path)])
    finally:
        _git(repo, "checkout", "--", "impls/exact/naive.py")
    assert code == 1
    assert f"1 confirmed regression(s); first: naive-b1-h2-L64-d16-float32-nomask-fwd-cpu: {part}:" in last_line(capsys)
    result = json.loads((tmp_path / "gate.json").read_text())
    bench = result["benchmarks"][0]
    assert bench["verdict"] == "regression" and bench[part]["verdict"] == "regression"
    for key in ("change", "interval", "p", "p_adjusted", "mde", "pairs", "verdict", "base_median_s", "head_median_s"):
        assert key in bench["time"]
    assert bench["time"]["pairs"] == 10
    assert bench["memory"]["base_bytes"] is not None and bench["memory"]["head_bytes"] is not None
    assert bench["error"]["base"]["output"]["max_abs"] < bench["error"]["tolerance"]["max_abs"]
    assert result["machine"]["cores"] and result["head"]["commit"].endswith("-dirty")
    assert "❌ regression" in (tmp_path / "gate.md").read_text()


def test_the_gate_package_never_imports_torch():
    code = "import sys, gate, gate.cli, gate.history, gate.paired, gate.report; sys.exit('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def test_check_tree_names_what_is_missing(tmp_path):
    from gate.trees import TreeError

    with pytest.raises(TreeError, match="has no impls/ package"):
        check_tree(tmp_path, "the base ref 'x'")


def test_history_mode_reports_baseline_cells_missing_from_the_selection(repo, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(repo)
    baseline = tmp_path / "baseline.json"
    two = [*TINY[:-2], "--attn-impls", "naive,sdpa"]  # TINY without --workers (history mode has one worker)
    assert main(["--write-baseline", str(baseline), *two]) == 0
    assert main(["--baseline", str(baseline), *TINY[:-2], "--out", str(tmp_path / "out")]) == 0
    result = json.loads((tmp_path / "out" / "gate.json").read_text())
    assert [m["impl"] for m in result["missing_from_selection"]] == ["sdpa"]
    assert "sdpa-b1-h2-L64-d16-float32-nomask-fwd-cpu: in the baseline, missing from this run's selection" in capsys.readouterr().out
