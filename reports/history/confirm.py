"""``--confirm``: re-measure a step's two commits with the paired gate, and record what it says.

The gate runs as its own command (``python -m reports gate --base GOOD --head BAD`` with the cell's
selection) from the repository, so the measurement is exactly the one a pull request gets. Its
gate.json is put into the store too. A step is confirmed when the gate's verdict on that cell agrees:
a regression for a slowdown, an improvement for a speed-up.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

AXES = {"seq_len": "seq-lens", "kv_seq_len": "kv-seq-lens", "heads": "heads", "kv_heads": "kv-heads", "head_dim": "head-dims",
        "batch": "batch", "dtype": "dtypes", "mask": "masks", "mode": "modes", "device": "devices"}


def selection_options(impl: str, problem: dict) -> list[str]:
    """The gate's --attn-* options that select exactly this cell."""
    options = [f"--attn-impls={impl}"]
    options += [f"--attn-{option}={problem[field]}" for field, option in AXES.items() if problem.get(field) is not None]
    return options


def gate_command(good: str, bad: str, impl: str, problem: dict, out: Path, extra: list[str] | None = None) -> list[str]:
    return [sys.executable, "-m", "reports", "gate", "--base", good, "--head", bad, *selection_options(impl, problem),
            "--out", str(out), *(extra or [])]


def verdict_for(result: dict, impl: str) -> tuple[str, float | None]:
    """The gate's timing verdict and change for the implementation's (single) benchmark."""
    for entry in result.get("benchmarks", []):
        if entry.get("impl") == impl:
            timing = entry.get("time") or {}
            return timing.get("verdict") or entry.get("verdict", "missing"), timing.get("change")
    return "missing", None


def confirm_step(step: dict, problem: dict, repo: Path, engine=None, extra: list[str] | None = None) -> tuple[bool, str]:
    """(confirmed, what the gate said in a few words)."""
    with tempfile.TemporaryDirectory(prefix="attnbench-confirm-") as folder:
        out = Path(folder)
        done = subprocess.run(gate_command(step["good_commit"], step["bad_commit"], step["impl"], problem, out, extra),
                              cwd=repo, capture_output=True, text=True)
        gate_json = out / "gate.json"
        if not gate_json.is_file():
            last = (done.stdout.strip().splitlines() or done.stderr.strip().splitlines() or ["no output"])[-1]
            return False, f"gate could not run: {last[:160]}"
        result = json.loads(gate_json.read_text(encoding="utf-8"))
        if engine is not None:
            from store.ingest import ingest_gate

            ingest_gate(engine, gate_json)
    verdict, change = verdict_for(result, step["impl"])
    expected = "regression" if step["change"] > 0 else "improvement"
    size = "" if change is None else f" {change:+.1%}"
    if verdict == expected:
        return True, f"confirmed: gate {verdict}{size}"
    return False, f"not confirmed: gate {verdict}{size} (exit {result.get('exit_code')})"
