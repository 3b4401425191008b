"""custom and checkpointed in the registry: names, exactness per variant, gradient checkpointing."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, errors, get, reference, reference_grads, registry, tolerance

PROBLEM = Problem(batch=2, seq_len=24, heads=8, kv_heads=2, head_dim=16, mask="causal", mode="fwd+bwd")


def _design_impls():
    return [impl for impl in registry() if impl.name in ("custom", "checkpointed")]


def test_every_listed_variant_runs_round_trips_its_name_and_exact_ones_meet_the_tolerance():
    impls = _design_impls()
    names = {impl.full_name for impl in impls}
    assert {"custom", "custom[score=additive]", "custom[heads=talking]", "custom[prune=4/8]", "custom[route=2]",
            "checkpointed[of=naive]"} <= names
    q, k, v = PROBLEM.make_inputs(seed=0)
    expected = reference(PROBLEM, q, k, v)
    for impl in impls:
        assert get(impl.full_name).full_name == impl.full_name
        assert impl.supports(PROBLEM), impl.not_supported_reasons(PROBLEM)
        out = impl.build(PROBLEM, q, k, v)()
        e = errors(out, expected)
        assert e["finite"], impl.full_name
        within = e["max_abs"] <= tolerance(torch.float32).max_abs
        window_covers_all = impl.values.get("window", 0) >= PROBLEM.seq_len  # a window wider than the sequence changes nothing
        assert within == (impl.exact or window_covers_all), (impl.full_name, e)  # the others differ on purpose


def test_default_custom_declares_the_problems_flops():
    assert get("custom").flops(PROBLEM) == PROBLEM.flops()
    assert get("custom[score=additive]").flops(PROBLEM) > PROBLEM.flops()


@pytest.mark.parametrize("inner", ["naive", "sdpa", "custom"])
def test_checkpointed_gradients_match_the_oracle(inner):
    impl = get(f"checkpointed[of={inner}]")
    assert impl.exact and impl.full_name == f"checkpointed[of={inner}]"
    q, k, v = PROBLEM.make_inputs(seed=1)
    grad_out = PROBLEM.make_grad_output(seed=1)
    grads = torch.autograd.grad(impl.build(PROBLEM, q, k, v)(), (q, k, v), grad_out)
    for actual, expected in zip(grads, reference_grads(PROBLEM, q, k, v, grad_out)):
        assert errors(actual, expected)["rel_l2"] <= 4 * tolerance(torch.float32).rel_l2


def _saved_for_backward(fn) -> list[tuple[int, ...]]:
    shapes = []

    def pack(t):
        shapes.append(tuple(t.shape))
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = fn()
    del out
    return shapes


def test_checkpointing_keeps_no_score_matrix_for_backward():
    problem = Problem(batch=1, seq_len=64, heads=4, head_dim=8, mode="fwd+bwd")
    q, k, v = problem.make_inputs(seed=0)
    score_shape = (1, 4, 64, 64)
    assert score_shape in _saved_for_backward(get("naive").build(problem, q, k, v))
    assert score_shape not in _saved_for_backward(get("checkpointed[of=naive]").build(problem, q, k, v))
    forward_only = problem.with_(mode="fwd")
    assert get("checkpointed[of=naive]").executed_flops(problem) == pytest.approx(
        get("naive").executed_flops(problem) + get("naive").executed_flops(forward_only))


def test_bad_names_say_what_is_accepted():
    with pytest.raises(ValueError, match="nests checkpointing"):
        get("checkpointed[of=checkpointed]")
    with pytest.raises(ValueError, match="unknown implementation 'nope'"):
        get("checkpointed[of=nope]")
    with pytest.raises(ValueError, match="not a head scheme"):
        get("custom[heads=mixed]")
    with pytest.raises(ValueError, match="must be a count N or a fraction N/M"):
        get("custom[prune=8/4]")
