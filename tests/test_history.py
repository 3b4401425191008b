"""The history page: change points on this machine's noise, a step injected into a stored history, --confirm."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from store_backends import postgres_cluster, store_url  # noqa: F401 - fixtures
from store_data import cell_record, gate_result, write_run

from reports.history import confirm
from reports.history.changepoints import detect, synthetic_noise
from reports.history.cli import history_main
from store.db import open_store
from store.ingest import ingest_paths
from store.schema import gate_verdicts


def test_flat_histories_give_almost_no_steps_and_real_steps_are_found():
    rng = np.random.default_rng(7)
    flat = sum(len(detect(np.exp(synthetic_noise(60, rng)), seed=i)) for i in range(12))
    assert flat <= 1  # validate_changepoints.py: ~0.1 false steps per 100 commits
    for size in (0.25, 0.10):
        found = covered = 0
        for i in range(10):
            truth = np.r_[np.full(15, 1e-3), np.full(15, 1e-3 * (1 + size))]
            steps = detect(truth * np.exp(synthetic_noise(30, rng)), seed=i)
            hit = [s for s in steps if abs(s.position - 15) <= 2 and s.change > 0]
            found += bool(hit)
            covered += bool(hit) and hit[0].low <= size <= hit[0].high
        assert found >= (10 if size == 0.25 else 8) and covered >= found - 2, (size, found, covered)


def test_detect_rejects_non_positive_times():
    with pytest.raises(ValueError, match="positive and finite"):
        detect([1.0, 0.0, 1.0])


def read_steps(path: Path) -> pd.DataFrame:
    """steps.csv with commits as text: a short sha of digits only (about 1 in 300) would otherwise read as a number."""
    return pd.read_csv(path, dtype={"good_commit": str, "bad_commit": str})


def make_repo(path: Path, commits: int) -> list[str]:
    path.mkdir()
    git = ["git", "-C", str(path), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git[:3] + ["init", "-q"], check=True)
    shas = []
    for index in range(commits):
        (path / "file.txt").write_text(str(index))
        subprocess.run(git + ["add", "file.txt"], check=True)
        subprocess.run(git + ["commit", "-q", "-m", f"change {index}"], check=True)
        shas.append(subprocess.run(git[:3] + ["rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout.strip())
    return shas


def stored_history(tmp_path: Path, url: str, step_at: int = 7, commits: int = 14) -> list[str]:
    """One run per commit (run times shuffled, so only git knows the order); naive 30% slower from ``step_at``."""
    shas = make_repo(tmp_path / "repo", commits)
    rng = np.random.default_rng(3)
    hours = rng.permutation(commits)
    for index, sha in enumerate(shas):
        run_id = f"run-{index:02d}"
        naive = 1e-3 * (1.3 if index >= step_at else 1.0) * np.exp(rng.normal(0, 0.01))
        sdpa = 5e-4 * np.exp(rng.normal(0, 0.01))
        write_run(tmp_path / "results", run_id, [cell_record(run_id, "naive", 64, naive, commit=sha),
                                                 cell_record(run_id, "sdpa", 64, sdpa, commit=sha)],
                  commit=sha, started=f"2026-11-{10 + hours[index]:02d}T10:00:00")
    engine = open_store(url)
    ingest_paths(engine, [tmp_path / "results"])
    engine.dispose()
    return shas


def test_history_page_shows_the_injected_step(store_url, tmp_path, capsys):  # noqa: F811
    shas = stored_history(tmp_path, store_url)
    out = tmp_path / "page"
    assert history_main(["--store", store_url, "--repo", str(tmp_path / "repo"), "--out", str(out)]) == 0
    steps = read_steps(out / "steps.csv")
    assert len(steps) == 1
    step = steps.iloc[0]
    assert step["impl"] == "naive" and step["good_commit"] == shas[6] and step["bad_commit"] == shas[7]
    assert step["low"] <= 0.3 <= step["high"] and abs(step["change"] - 0.3) < 0.03
    html = (out / "index.html").read_text()
    assert shas[7][:10] in html and "change 7" in html
    assert "<script" not in html and 'src="http' not in html and 'href="http' not in html  # no network
    first = html
    assert history_main(["--store", store_url, "--repo", str(tmp_path / "repo"), "--out", str(out)]) == 0
    assert (out / "index.html").read_text() == first  # deterministic
    points = pd.read_csv(out / "history.csv")
    assert list(points[points.impl == "naive"].sort_values("position")["commit"]) == shas  # git order, not run time


def test_without_the_repository_commits_follow_run_time(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    stored_history(tmp_path, url)
    out = tmp_path / "page"
    assert history_main(["--store", url, "--repo", str(tmp_path), "--impls", "sdpa", "--out", str(out)]) == 0
    assert "ordered by the time of their first run" in (out / "index.html").read_text()
    assert set(pd.read_csv(out / "history.csv")["impl"]) == {"sdpa"}


def test_history_says_when_nothing_matches(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    assert history_main(["--store", url, "--out", str(tmp_path / "p")]) == 2
    assert "no measured cell" in capsys.readouterr().err
    assert history_main(["--store", url, "--since", "yesterday-ish"]) == 2


def test_confirm_runs_the_paired_gate_and_stores_its_verdicts(store_url, tmp_path, monkeypatch, capsys):  # noqa: F811
    shas = stored_history(tmp_path, store_url)
    calls, real_run = [], subprocess.run

    def fake_gate(command, **kwargs):
        if command[:3] != [confirm.sys.executable, "-m", "reports"]:
            return real_run(command, **kwargs)  # git
        calls.append(command)
        out = Path(command[command.index("--out") + 1])
        result = gate_result(command[command.index("--base") + 1], command[command.index("--head") + 1],
                             {"naive-b1-h4-L64-d32-float32-causal-fwd-cpu": ("regression", 0.29)})
        (out / "gate.json").write_text(json.dumps(result))
        return subprocess.CompletedProcess(command, 1, "gate: 1 REGRESSION", "")

    monkeypatch.setattr(confirm.subprocess, "run", fake_gate)
    out = tmp_path / "page"
    assert history_main(["--store", store_url, "--repo", str(tmp_path / "repo"), "--out", str(out), "--confirm"]) == 0
    command = calls[0]
    assert command[command.index("--base") + 1] == shas[6] and command[command.index("--head") + 1] == shas[7]
    assert {"--attn-impls=naive", "--attn-seq-lens=64", "--attn-masks=causal", "--attn-devices=cpu"} <= set(command)
    assert "confirmed: gate regression +29.0%" in (out / "index.html").read_text()
    engine = open_store(store_url)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(gate_verdicts)).scalar() == 1
    engine.dispose()


def test_normalizing_by_the_in_run_matmul_removes_a_slower_machine(tmp_path, capsys):
    """From commit 7 on the machine is twice as slow: the kernels and the in-run matmul alike. Raw times step, normalized ones do not."""
    shas = make_repo(tmp_path / "repo", 12)
    rng = np.random.default_rng(5)
    for index, sha in enumerate(shas):
        slow = 2.0 if index >= 7 else 1.0
        run_id = f"run-{index:02d}"
        record = cell_record(run_id, "naive", 64, 1e-3 * slow * np.exp(rng.normal(0, 0.01)), commit=sha, peak_flops=1e10 / slow)
        write_run(tmp_path / "results", run_id, [record], commit=sha)
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    engine = open_store(url)
    ingest_paths(engine, [tmp_path / "results"])
    engine.dispose()
    common = ["--store", url, "--repo", str(tmp_path / "repo"), "--machine", "testhost"]
    assert history_main([*common, "--out", str(tmp_path / "raw")]) == 0
    assert history_main([*common, "--normalize", "--out", str(tmp_path / "normalized")]) == 0
    raw, normalized = read_steps(tmp_path / "raw" / "steps.csv"), read_steps(tmp_path / "normalized" / "steps.csv")
    assert len(raw) == 1 and raw["bad_commit"][0] == shas[7] and abs(raw["change"][0] - 1.0) < 0.05
    assert normalized.empty
    assert history_main([*common, "--machine", "elsewhere", "--out", str(tmp_path / "none")]) == 2
