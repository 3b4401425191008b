"""The sparse family in the registry: names, exactness, reasons; the dense kernels and FlexAttention on the
new masks; the local-attention peer (or its missing-package reason)."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from impls import Problem, errors, get, names, reference, registry, tolerance
from impls.masks import MASK_KINDS

SPARSE_MASKS = ["sliding-window[w=6]", "sliding-window[w=3,causal=0,dilation=2]", "strided[block=8]", "fixed[block=8,local=2]",
                "bigbird[block=8,window=3,globals=1,random=2,seed=1]", "longformer[w=4,globals=0/20]"]
HAS_LOCAL_ATTENTION = importlib.util.find_spec("local_attention") is not None


def _problem(mask, **changes):
    shape = dict(batch=2, seq_len=45, heads=4, kv_heads=2, head_dim=16, mask=mask)
    shape.update(changes)
    return Problem(**shape)


def _assert_exact(impl_name, problem, seed=0):
    q, k, v = problem.make_inputs(seed)
    with torch.no_grad():
        out = get(impl_name).build(problem, q, k, v)()
    err, tol = errors(out, reference(problem, q, k, v)), tolerance(problem.dtype)
    assert err["finite"] and err["max_abs"] <= tol.max_abs and err["rel_l2"] <= tol.rel_l2, (impl_name, err)


def test_the_family_is_registered():
    assert {"sliding-window", "longformer", "strided", "fixed", "bigbird"} <= set(MASK_KINDS)
    sparse = {impl.full_name: impl for impl in registry() if impl.family == "sparse"}
    assert sparse["banded[chunk=64]"].exact and sparse["block-sparse[block=64]"].exact
    for name in ("sliding-window[w=256]", "flex-sliding-window[w=256]", "longformer[w=256,globals=0]", "strided[block=64]",
                 "fixed[block=64]", "bigbird[block=64,window=3,globals=2,random=3,seed=0]", "local-attention[w=256]"):
        assert name in sparse and not sparse[name].exact, name
        assert get(name).full_name == name  # the name parses back
    assert "flex-bigbird" in names()


def test_pattern_names_are_their_mask_specs():
    impl = get("sliding-window[w=128,causal=0]")
    assert impl.full_name == "sliding-window[w=128,causal=0]"
    assert impl.pattern_problem(_problem("causal")).mask.spec() == "sliding-window[w=128,causal=0]"
    assert get("flex-bigbird[seed=7]").full_name == "flex-bigbird[block=64,window=3,globals=2,random=3,seed=7]"


def test_reasons_name_the_problem():
    banded = get("banded")
    assert [r.code for r in banded.not_supported_reasons(_problem("causal"))] == ["mask"]
    assert "supported: longformer, sliding-window" in str(banded.not_supported_reasons(_problem("bigbird[block=8]"))[0])
    assert [r.code for r in get("sliding-window[w=8]").not_supported_reasons(_problem("padding"))] == ["mask"]
    with pytest.raises(ValueError, match="w=-3 must be at least 0"):  # refused by name, before any cell
        get("sliding-window[w=-3]")
    with pytest.raises(ValueError, match="block=0 must be at least 1"):
        get("block-sparse[block=0]")


def test_flops_count_useful_pairs_and_executed_work():
    causal = Problem(batch=1, seq_len=8192, heads=8, head_dim=64, mask="causal")
    ours = get("sliding-window[w=256]")
    assert ours.flops(causal) == causal.with_(mask="sliding-window[w=256]").flops()
    assert ours.flops(causal) < causal.flops() / 10  # the window keeps ~257 of ~4096 keys per row
    assert ours.flops(causal) <= ours.executed_flops(causal) <= 1.3 * ours.flops(causal)


@pytest.mark.parametrize("impl_name", ["naive", "sdpa", "sdpa-math", "sdpa-flash"])
@pytest.mark.parametrize("mask", SPARSE_MASKS)
def test_dense_kernels_solve_the_new_masks(impl_name, mask):
    problem = _problem(mask)
    assert get(impl_name).not_supported_reasons(problem) == []
    _assert_exact(impl_name, problem)


@pytest.mark.parametrize("impl_name", ["naive", "sdpa", "sdpa-math", "sdpa-flash", "banded", "block-sparse[block=8]"])
def test_rows_without_keys_follow_the_zero_convention_everywhere(impl_name):
    _assert_exact(impl_name, _problem("sliding-window[w=5]", seq_len=45, kv_seq_len=20))


# FlexAttention compiles (10-20 s each on CPU): two small cases, the riskiest mask_mods.
def test_flex_solves_a_bigbird_mask_exactly():
    problem = _problem("bigbird[block=16,window=3,globals=1,random=2,seed=1]", seq_len=100, batch=1)
    _assert_exact("flex", problem)


def test_flex_pattern_imposes_a_dilated_window_on_a_causal_problem():
    problem = _problem("causal", seq_len=100, batch=1)
    q, k, v = problem.make_inputs(0)
    with torch.no_grad():
        out = get("flex-sliding-window[w=5,dilation=2]").build(problem, q, k, v)()
    expected = reference(problem.with_(mask="sliding-window[w=5,dilation=2]"), q, k, v)
    assert errors(out, expected)["max_abs"] <= tolerance(torch.float32).max_abs


def test_local_attention_says_how_to_install_it_when_missing(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "local_attention" else real(name, *a))
    reasons = get("local-attention[w=16]").not_supported_reasons(_problem("causal"))
    assert reasons[0].code == "missing-package"
    assert "local_attention is not installed" in reasons[0].message and "pip install" in reasons[0].message


@pytest.mark.skipif(not HAS_LOCAL_ATTENTION, reason="local-attention is not installed (pip install local-attention)")
@pytest.mark.parametrize("mask", ["sliding-window[w=8]", "sliding-window[w=8,causal=0]"])
def test_local_attention_computes_the_same_window(mask):
    # 45 is not a multiple of the bucket size 8: its autopad must not leak padded keys into the window.
    _assert_exact(f"local-attention[{mask.split('[')[1]}", _problem(mask))


def test_local_attention_cannot_use_a_dilation_or_cross_lengths():
    impl = get("local-attention[w=8]")
    assert [r.code for r in impl.not_supported_reasons(_problem("causal", kv_seq_len=50))][-1] == "lengths"
    with pytest.raises(ValueError, match="no parameter 'dilation'"):
        get("local-attention[w=8,dilation=2]")
