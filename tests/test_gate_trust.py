"""The gate judges with the base's yardstick, and a change cannot loosen the rule it is judged by.

One throwaway git repository (a copy of impls/, bench/, store/ and gate/): tag ``base`` is the
clean tree with linear's output made NaN; the working tree (the head) then
- multiplies naive's output by 1.02 and loosens its own float32 tolerance to 1.0,
- makes block-sparse raise on every call, keeps linear's NaN,
- changes its own input generation (make_inputs) and drops every cell from its smoke preset.
One gate run over naive, sdpa, linear and block-sparse checks every hole; a second run shows
that ``--accept-yardstick-change`` judges with the head's yardstick and says so. Tiny cells and
few pairs; nothing here asserts on time.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from gate import judge, main
from gate.margins import MiB, memory_verdict
from gate.roots import changed_yardstick_files

ROOT = Path(__file__).resolve().parent.parent
SELECTION = ["--attn-impls", "naive,sdpa,linear,block-sparse", "--attn-seq-lens", "64", "--attn-heads", "2", "--attn-kv-heads", "h",
             "--attn-head-dims", "16", "--attn-masks", "none", "--attn-modes", "fwd", "--attn-batch", "1", "--pairs", "10",
             "--max-pairs", "10", "--workers", "1", "--no-confirm"]
NAIVE = "naive-b1-h2-L64-d16-float32-nomask-fwd-cpu"


def _git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=gate-test", "-c", "user.email=gate@test", *args], cwd=repo, check=True,
                   capture_output=True)


def _inject(repo: Path, module: str, cls: str, kind: str) -> None:
    spec = importlib.util.spec_from_file_location("gate_inject", ROOT / "scripts" / "gate_inject.py")
    injector = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(injector)
    injector.inject(repo / module, cls, kind)


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer contains {old!r}"
    path.write_text(text.replace(old, new))


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("gate-trust")
    for name in ("impls", "bench", "store", "gate"):
        shutil.copytree(ROOT / name, path / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _inject(path, "impls/linear/linear.py", "Linear", "nan")
    _git(path, "init", "-q")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "base")
    _git(path, "tag", "base")
    return path


@pytest.fixture(scope="module")
def head(repo) -> Path:
    _inject(repo, "impls/exact/naive.py", "Naive", "scale")
    _edit(repo / "impls" / "reference.py", "torch.float32: Tolerance(5e-5, 1e-5)", "torch.float32: Tolerance(1.0, 1.0)")
    _inject(repo, "impls/sparse/block_sparse.py", "BlockSparse", "raise")
    _edit(repo / "impls" / "inputs" / "gaussian.py", "(torch.randn(shape, generator=generator, dtype=torch.float32) for",
          "(2 * torch.randn(shape, generator=generator, dtype=torch.float32) for")
    _edit(repo / "bench" / "presets.py", '"smoke": [', '"smoke": [] and [')
    return repo


@pytest.fixture(scope="module")
def judged(head, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("gate-trust-out")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(head)
        code = main(["--base", "base", *SELECTION, "--out", str(out)])
    result = json.loads((out / "gate.json").read_text())
    result["markdown"] = (out / "gate.md").read_text()
    result["code"] = code
    result["by_impl"] = {b["impl"]: b for b in result["benchmarks"]}
    return result


def test_a_loosened_tolerance_cannot_hide_a_wrong_output(judged):
    naive = judged["by_impl"]["naive"]
    assert judged["code"] == 1
    assert naive["verdict"] == "regression" and naive["error"]["verdict"] == "regression"
    assert naive["error"]["tolerance"]["max_abs"] == 5e-5  # the base's float32 tolerance, not the head's 1.0
    assert naive["error"]["head"]["output"]["max_abs"] > 1e-3


def test_a_head_that_drops_the_cell_from_its_presets_is_still_measured(judged):
    assert set(judged["by_impl"]) == {"naive", "sdpa", "linear", "block-sparse[block=64]"}
    assert "time" in judged["by_impl"]["sdpa"]


def test_a_changed_input_generation_is_a_yardstick_change_and_the_inputs_stay_the_bases(judged):
    notice = judged["yardstick"]
    assert {"impls/inputs/gaussian.py", "impls/reference.py", "bench/presets.py"} <= set(notice["files"])
    assert "input generation differs" in notice["computes_differently"]
    assert "tolerance differs" in notice["computes_differently"]
    assert notice["judged_with"] == "base"
    assert notice["line"].startswith("the head changes the yardstick: ") and notice["line"].endswith("judged with the base's")
    assert notice["line"] in judged["markdown"]
    sdpa = judged["by_impl"]["sdpa"]
    assert len(sdpa["inputs"]["hash"]) == 16 and sdpa["inputs"]["oracle_hash"]


def test_nan_on_both_sides_is_a_regression(judged):
    linear = judged["by_impl"]["linear"]
    assert linear["verdict"] == "regression" and linear["error"]["why"] == "non-finite on both sides"


def test_a_kernel_raising_only_on_the_head_is_a_regression(judged):
    blocks = judged["by_impl"]["block-sparse[block=64]"]
    assert blocks["status"] == {"base": "ok", "head": "failed"} and blocks["verdict"] == "regression"
    assert "injected failure" in blocks["reason"]["head"]


def test_accepting_the_yardstick_change_judges_with_the_heads_and_says_so(head, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(head)
    selection = [*SELECTION, "--attn-preset", "cpu"]  # the head's smoke preset is empty, and now it is the head's that counts
    selection[1] = "naive"
    code = main(["--base", "base", *selection, "--accept-yardstick-change", "--out", str(tmp_path)])
    result = json.loads((tmp_path / "gate.json").read_text())
    assert code in (0, 1), capsys.readouterr().out  # the extra multiplication may show as a (real) slowdown
    # the Gaussian cell (unit-size logits: the table's bound itself, not one scaled by larger logits)
    gaussian = next(e for e in result["benchmarks"] if e["problem"].get("inputs", "gaussian") == "gaussian")
    assert gaussian["error"]["verdict"] == "unchanged"  # inside the head's own tolerance of 1.0
    assert result["yardstick"]["judged_with"] == "head"
    assert result["yardstick"]["line"].endswith("judged with the head's (--accept-yardstick-change)")
    # the head's table (1.0), its max-abs scaled by the largest logit of the head's own (larger) inputs
    tolerance = gaussian["error"]["tolerance"]
    assert tolerance["rel_l2"] == 1.0 and tolerance["max_abs"] == pytest.approx(max(1.0, gaussian["error"]["head"]["logit_max"] / 8))


# --- without worker processes -------------------------------------------------------------------------------
CELL = {"id": "naive-x", "impl": "naive", "problem": {"device": "cpu"}}


def _setup(status="ok", reason=None, peak=MiB):
    return {"status": status, "reason": reason, "peak_bytes": peak, "error": None}


def test_a_cell_failing_on_both_sides_has_its_own_heading_and_fails_under_strict():
    entries = [judge.entry(CELL, _setup("failed", "RuntimeError: a"), _setup("oom", "out of memory"))]
    assert judge.decide(entries, strict=False)[0] == judge.PASS and entries[0]["verdict"] == "failing"
    code, reason = judge.decide(entries, strict=True)
    assert code == judge.INCONCLUSIVE and "1 cell(s) fail on both sides" in reason


def test_unsupported_on_both_sides_is_not_a_failure():
    entries = [judge.entry(CELL, _setup("unsupported", "device"), _setup("unsupported", "device"))]
    assert judge.decide(entries, strict=True)[0] == judge.PASS and entries[0]["verdict"] == "not runnable"


def test_unsupported_on_the_head_only_is_a_regression():
    entries = [judge.entry(CELL, _setup(), _setup("unsupported", "dtype=float32 (supported: bfloat16)"))]
    assert judge.decide(entries, strict=False)[0] == judge.REGRESSION


def test_unmeasured_memory_is_said_not_passed():
    verdict, why = memory_verdict(3 * MiB, None)
    assert verdict == "unmeasured" and "not measured on the head" in why


def test_yardstick_files_are_compared_between_trees(tmp_path):
    base, head = tmp_path / "base", tmp_path / "head"
    for tree in (base, head):
        (tree / "impls" / "masks").mkdir(parents=True)
        (tree / "impls" / "reference.py").write_text("TOL = 1\n")
        (tree / "impls" / "masks" / "core.py").write_text("x = 1\n")
    assert changed_yardstick_files(base, head) == []
    (head / "impls" / "reference.py").write_text("TOL = 2\n")
    (head / "impls" / "masks" / "extra.py").write_text("y = 1\n")
    assert changed_yardstick_files(base, head) == ["impls/reference.py", "impls/masks/extra.py"]


class FakeWorker:
    """A worker's answers without a process: its registry and what its ``select`` returns."""

    def __init__(self, impls: list[str]) -> None:
        self.hello, self.asked = {"impls": impls}, []

    def request(self, op: str, **payload) -> dict:
        self.asked.append(payload)
        names = payload.get("only") or self.hello["impls"]
        return {"cells": [{"id": f"{n}-cell", "index": i, "impl": n, "problem": {}, "why": "w"} for i, n in enumerate(names)],
                "not_gated": []}


def test_an_implementation_new_on_the_head_gets_a_cell_chosen_by_the_yardsticks_rule():
    from gate.settings import GateSettings
    from gate.sides import select_cells

    base, head = FakeWorker(["naive", "sdpa"]), FakeWorker(["naive", "sdpa", "brand-new"])
    cells, _ = select_cells(base, GateSettings(selection={"preset": "gate"}), {}, head)
    assert [c["impl"] for c in cells] == ["naive", "sdpa", "brand-new"] and [c["index"] for c in cells] == [0, 1, 2]
    assert head.asked == [{"options": {"preset": "gate"}, "focus": {}, "only": ["brand-new"]}]
    explicit = GateSettings(selection={"impls": "naive"}, explicit_selection=True)
    assert [c["impl"] for c in select_cells(base, explicit, {}, FakeWorker(["brand-new"]))[0]] == ["naive", "sdpa"]
