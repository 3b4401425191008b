"""The gate's default selection covers every runnable implementation; a change's implementations get more cells."""

from __future__ import annotations

from pathlib import Path

from gate.selection import FOCUS_VARIANTS, default_cells, impl_files
from impls import registry

ROOT = Path(__file__).resolve().parent.parent


def test_every_registered_implementation_gets_a_cell_or_a_reason():
    cells, not_gated = default_cells({})
    gated = {impl.full_name for _, impl, _ in cells}
    skipped = {n["impl"] for n in not_gated}
    assert gated | skipped == {impl.full_name for impl in registry()}
    assert not gated & skipped
    assert all(n["reason"] for n in not_gated)
    assert {"naive", "sdpa", "linear", "performer[m=64]", "block-sparse[block=64]", "banded[chunk=64]"} <= gated
    for problem, impl, _ in cells:
        assert not impl.not_supported_reasons(problem), impl.full_name
        assert problem.seq_len == 256 and problem.mode == "fwd"


def test_a_touched_implementation_gets_more_cells_and_says_why():
    cells, _ = default_cells({"linear": ["impls/linear/linear.py"]})
    linear = [(p, why) for p, impl, why in cells if impl.full_name == "linear"]
    assert len(linear) == 1 + len(FOCUS_VARIANTS)
    assert {p.seq_len for p, _ in linear} == {256, 1024} and {p.mode for p, _ in linear} == {"fwd", "fwd+bwd"}
    assert all("impls/linear/linear.py" in why for _, why in linear[1:])
    assert sum(impl.full_name == "naive" for _, impl, _ in cells) == 1


def test_an_implementation_depends_on_its_module_and_the_helpers_it_imports():
    files = impl_files(ROOT)
    assert "impls/exact/naive.py" in files["naive"]
    assert "impls/linear/performer.py" in files["performer[m=64]"]
    assert any(f.startswith("impls/linear/_") for f in files["performer[m=64]"])  # a shared helper of the family
    assert not any(f in ("impls/registry.py", "impls/problem.py", "impls/reference.py") for f in files["naive"])
    assert "impls/linear/performer.py" not in files["naive"]
