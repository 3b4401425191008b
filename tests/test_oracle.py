"""The float64 oracle itself, checked against cases computed by hand."""

import math

import torch

from impls import Problem, reference, reference_grads


def _inputs(q, k, v):
    as_t = lambda rows: torch.tensor(rows, dtype=torch.float64)[None, None]  # noqa: E731
    return as_t(q), as_t(k), as_t(v)


def test_two_keys_by_hand():
    # One query, two keys, head_dim 1, scale 1: weights are softmax([1·1, 1·(-1)]) = [e, e⁻¹]/(e + e⁻¹).
    problem = Problem(batch=1, seq_len=1, kv_seq_len=2, heads=1, head_dim=1, dtype="float64", scale=1.0)
    q, k, v = _inputs([[1.0]], [[1.0], [-1.0]], [[10.0], [20.0]])
    w1 = math.e / (math.e + 1 / math.e)
    expected = 10.0 * w1 + 20.0 * (1 - w1)
    assert abs(reference(problem, q, k, v).item() - expected) < 1e-12


def test_default_scale_is_inverse_sqrt_head_dim():
    # head_dim 4, q·k0 = 4, q·k1 = 0: logits 4/2 = 2 and 0.
    problem = Problem(batch=1, seq_len=1, kv_seq_len=2, heads=1, head_dim=4, dtype="float64")
    q, k, v = _inputs([[1.0, 1, 1, 1]], [[1.0, 1, 1, 1], [0.0, 0, 0, 0]], [[1.0, 0, 0, 0], [0.0, 1, 0, 0]])
    w0 = math.exp(2) / (math.exp(2) + 1)
    out = reference(problem, q, k, v)[0, 0, 0]
    assert torch.allclose(out, torch.tensor([w0, 1 - w0, 0, 0], dtype=torch.float64), atol=1e-12)


def test_causal_first_row_sees_only_first_key_and_empty_rows_are_zero():
    problem = Problem(batch=1, seq_len=3, heads=1, head_dim=1, dtype="float64", mask="causal")
    q, k, v = _inputs([[1.0], [2.0], [3.0]], [[0.5], [1.0], [1.5]], [[7.0], [8.0], [9.0]])
    out = reference(problem, q, k, v)[0, 0, :, 0]
    assert out[0].item() == 7.0  # only key 0 is visible to query 0
    # padding[lengths=1] with a cross length keeps one key; a mask keeping nothing gives zeros:
    empty = Problem(batch=1, seq_len=2, kv_seq_len=2, heads=1, head_dim=1, dtype="float64",
                    mask="padding[lengths=1]+causal")
    out = reference(empty, *_inputs([[1.0], [2.0]], [[1.0], [1.0]], [[5.0], [6.0]]))[0, 0, :, 0]
    assert out.tolist() == [5.0, 5.0]


def test_gqa_shares_kv_heads_between_query_heads():
    problem = Problem(batch=1, seq_len=5, heads=4, kv_heads=2, head_dim=3, dtype="float64")
    q, k, v = problem.make_inputs(seed=3)
    out = reference(problem, q, k, v)
    for head in range(4):
        single = Problem(batch=1, seq_len=5, heads=1, head_dim=3, dtype="float64")
        kv = head // 2
        expected = reference(single, q[:, head:head + 1], k[:, kv:kv + 1], v[:, kv:kv + 1])
        assert torch.allclose(out[:, head:head + 1], expected, atol=1e-14)


def test_rows_subset_equals_full_rows():
    problem = Problem(batch=2, seq_len=40, heads=2, head_dim=8, dtype="float64", mask="causal")
    q, k, v = problem.make_inputs(seed=4)
    rows = torch.tensor([0, 7, 39])
    assert torch.allclose(reference(problem, q, k, v, rows=rows), reference(problem, q, k, v)[:, :, rows], atol=1e-14, rtol=0)


def test_gradients_by_finite_differences():
    problem = Problem(batch=1, seq_len=4, heads=1, head_dim=3, dtype="float64", mask="causal", mode="fwd+bwd")
    q, k, v = problem.make_inputs(seed=5)
    grad_out = problem.make_grad_output(seed=5).double()
    dq, dk, dv = reference_grads(problem, q, k, v, grad_out)
    eps = 1e-6
    for which, grad in enumerate((dq, dk, dv)):
        index = (0, 0, 2, 1)
        bumped = [t.detach().clone() for t in (q, k, v)]
        bumped[which][index] += eps
        plus = (reference(problem, *bumped) * grad_out).sum()
        bumped[which][index] -= 2 * eps
        minus = (reference(problem, *bumped) * grad_out).sum()
        numeric = (plus - minus) / (2 * eps)
        assert abs(numeric.item() - grad[index].item()) < 1e-7, (which, numeric, grad[index])
