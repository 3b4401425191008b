"""Each linear/low-rank algorithm against a slow quadratic formulation of the same approximation, in float64.

The slow forms below share no code with impls/linear: they build the full (seq × seq) kernel
matrix (φ(Q)φ(K)ᵀ ⊙ M), normalise its rows and multiply by V; Linformer and Nyström are written
out as dense matrix products. Only the random draws (performer's features, linformer's E and F)
are taken from the implementation, because they define which approximation is computed.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import impls.linear._common as common
from impls import Problem, get
from impls.linear.linformer import sequence_projections

torch.set_num_threads(min(2, torch.get_num_threads()))


# --- slow formulations -----------------------------------------------------------------------------------
def expand(t, heads):
    return t.repeat_interleave(heads // t.shape[1], dim=1)


def allowed_pairs(problem):
    """(B, 1, Lq, Lk) float64 of 0/1, written from the definition of each mask kind."""
    q_idx = torch.arange(problem.seq_len)[:, None]
    k_idx = torch.arange(problem.kv_seq_len)[None, :]
    pairs = torch.ones(problem.batch, 1, problem.seq_len, problem.kv_seq_len, dtype=torch.float64)
    if problem.mask_kind == "causal":
        pairs = pairs * (k_idx <= q_idx)
    if problem.mask_kind == "padding":
        lengths = torch.tensor(problem.mask.lengths)
        pairs = pairs * (k_idx[None] < lengths[:, None, None])[:, None]
    return pairs


def slow_kernel_attention(problem, phi_q, phi_k, v):
    """(φ(Q)φ(K)ᵀ ⊙ M) V with each row divided by its sum; φ already applied, all float64."""
    kernel = phi_q @ expand(phi_k, problem.heads).transpose(-1, -2) * allowed_pairs(problem)
    return (kernel @ expand(v, problem.heads)) / kernel.sum(-1, keepdim=True)


def slow_linear(problem, q, k, v):
    phi = lambda x: torch.where(x > 0, x + 1, torch.exp(x))  # noqa: E731 elu(x) + 1
    return slow_kernel_attention(problem, phi(q), phi(k), v)


def slow_performer(problem, impl, q, k, v):
    w = impl.projection(problem)  # (m, d) float64: the approximation's random draw
    root = math.sqrt(problem.softmax_scale)

    def phi(x):  # positive random features of exp(x·y), x scaled by √scale
        x = x * root
        return torch.exp(x @ w.T - (x * x).sum(-1, keepdim=True) / 2) / math.sqrt(w.shape[0])

    return slow_kernel_attention(problem, phi(q), phi(k), v)


def slow_linformer(problem, impl, q, k, v):
    e, f = (t.to(torch.float64) for t in sequence_projections(impl.values["k"], problem.kv_seq_len, impl.values["seed"]))
    keys, values = e @ expand(k, problem.heads), f @ expand(v, problem.heads)
    return torch.softmax(q @ keys.transpose(-1, -2) * problem.softmax_scale, dim=-1) @ values


def slow_nystrom(problem, impl, q, k, v):
    m = impl.values["m"]

    def segment_means(x):  # segment i: rows floor(i·L/m) .. floor((i+1)·L/m) - 1
        length = x.shape[2]
        bounds = [i * length // m for i in range(m + 1)]
        return torch.stack([x[:, :, bounds[i]:bounds[i + 1]].mean(dim=2) for i in range(m)], dim=2)

    def pinv(a):  # the paper's Newton–Schulz iteration, 6 steps, per matrix
        eye = torch.eye(m, dtype=a.dtype)
        col = a.abs().sum(-2).amax(-1)[..., None, None]
        row = a.abs().sum(-1).amax(-1)[..., None, None]
        z = a.transpose(-1, -2) / (col * row)
        for _ in range(6):
            az = a @ z
            z = 0.25 * z @ (13 * eye - az @ (15 * eye - az @ (7 * eye - az)))
        return z

    keys, values = expand(k, problem.heads), expand(v, problem.heads)
    q_land, k_land = segment_means(q), segment_means(keys)
    s = problem.softmax_scale
    left = torch.softmax(q @ k_land.transpose(-1, -2) * s, -1)
    middle = pinv(torch.softmax(q_land @ k_land.transpose(-1, -2) * s, -1))
    right = torch.softmax(q_land @ keys.transpose(-1, -2) * s, -1)
    return (left @ middle @ right) @ values  # the full (L × L) approximate attention matrix, then V


def slow(problem, impl, q, k, v):
    q, k, v = (t.to(torch.float64) for t in (q, k, v))
    return {"linear": lambda: slow_linear(problem, q, k, v),
            "performer": lambda: slow_performer(problem, impl, q, k, v),
            "linformer": lambda: slow_linformer(problem, impl, q, k, v),
            "nystrom": lambda: slow_nystrom(problem, impl, q, k, v)}[impl.name]()


# --- cases ---------------------------------------------------------------------------------------------
def problem(seq=300, kv_seq=None, mask=None, batch=2, heads=4, kv_heads=2, head_dim=16, dtype=torch.float64, mode="fwd"):
    return Problem(batch=batch, seq_len=seq, kv_seq_len=kv_seq, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                   dtype=dtype, mask=mask, mode=mode)


def assert_close(actual, expected, rel):
    diff = (actual.to(torch.float64) - expected).norm() / expected.norm()
    assert torch.isfinite(actual).all()
    assert diff < rel, f"relative L2 difference {diff:.3g} >= {rel:g}"


CHUNKED = [  # (name, seq, kv_seq, mask): lengths that are not multiples of the chunk, chunk 1, chunk > L
    ("linear", 300, None, None), ("linear", 300, None, "causal"), ("linear[chunk=1]", 45, None, "causal"),
    ("linear[chunk=512]", 300, None, "causal"), ("linear[chunk=7]", 100, None, "causal"),
    ("linear[chunk=16]", 70, 100, "causal"), ("linear[chunk=16]", 100, 37, "causal"), ("linear", 120, 90, None),
    ("linear", 200, None, "padding[lengths=200/77]"),
    ("performer[m=32]", 300, None, None), ("performer[m=32,chunk=64]", 300, None, "causal"),
    ("performer[m=40,chunk=1]", 30, None, "causal"), ("performer[m=16,chunk=512]", 100, None, "causal"),
    ("performer[m=24,chunk=16]", 70, 100, "causal"), ("performer[m=32]", 90, 130, None),
    ("performer[m=32]", 200, None, "padding[lengths=13/200]"),
    ("linformer[k=32]", 300, None, None), ("linformer[k=48,seed=3]", 100, 160, None),
    ("nystrom[m=16]", 256, None, None), ("nystrom[m=12]", 300, 203, None), ("nystrom[m=7]", 7, 7, None),
]


@pytest.mark.parametrize("name,seq,kv_seq,mask", CHUNKED)
def test_fast_equals_slow_float64(name, seq, kv_seq, mask):
    p = problem(seq, kv_seq, mask)
    impl = get(name)
    assert not impl.not_supported_reasons(p)
    q, k, v = p.make_inputs(seed=1)
    assert_close(impl.build(p, q, k, v)(), slow(p, impl, q, k, v), 1e-12)


@pytest.mark.parametrize("name,mask", [("linear[chunk=8]", "causal"), ("linear", None), ("performer[m=16,chunk=8]", "causal"),
                                       ("performer[m=16]", None), ("performer[m=16]", "padding[lengths=100/33]"),
                                       ("linformer[k=16]", None), ("nystrom[m=8]", None)])
def test_many_blocks_with_a_running_state(monkeypatch, name, mask):
    """Tiny blocks on the CPU path: states carried (and, for performer and nystrom's online softmax,
    rescaled) across many blocks."""
    monkeypatch.setattr(common, "CPU_BLOCK_BYTES", 1)
    p = problem(100, None, mask)
    impl = get(name)
    assert common.block_rows(p, 1, 8) == 8
    q, k, v = p.make_inputs(seed=2)
    assert_close(impl.build(p, q, k, v)(), slow(p, impl, q, k, v), 1e-12)


@pytest.mark.parametrize("mask,size", [(None, 10.0), ("causal", 6.0)])
def test_performer_stable_at_large_norms(mask, size):
    """Inputs several times larger: the raw float32 features exp(w·x − |x|²/2) of most rows underflow to 0
    (0/0); the stabilised ones do not, and the result still equals the raw slow form evaluated in float64."""
    p = problem(64, None, mask, dtype=torch.float32)
    impl = get("performer[m=32,chunk=16]")
    q, k, v = p.make_inputs(seed=3)
    q, k = q * size, k * size
    x = q * math.sqrt(p.softmax_scale)
    raw = torch.exp(x @ impl.projection(p).float().T - (x * x).sum(-1, keepdim=True) / 2)
    assert (raw.sum(-1) == 0).any()
    assert_close(impl.build(p, q, k, v)(), slow(p.with_(dtype=torch.float64), impl, q, k, v), 1e-5)


@pytest.mark.parametrize("name,mask", [("linear[chunk=32]", "causal"), ("linear", None), ("performer[m=32,chunk=32]", "causal"),
                                       ("performer[m=32]", None), ("linformer[k=32]", None), ("nystrom[m=16]", None)])
@pytest.mark.parametrize("dtype,rel", [(torch.float32, 2e-6), (torch.bfloat16, 1.5e-2)])
def test_low_precision_against_slow_float64(name, mask, dtype, rel):
    p = problem(200, None, mask, dtype=dtype)
    impl = get(name)
    q, k, v = p.make_inputs(seed=4)
    out = impl.build(p, q, k, v)()
    assert out.dtype == dtype
    assert_close(out, slow(p.with_(dtype=torch.float64), impl, q, k, v), rel)


@pytest.mark.parametrize("name,mask", [("linear[chunk=16]", "causal"), ("linear", "padding[lengths=70/41]"),
                                       ("performer[m=24,chunk=16]", "causal"), ("performer[m=24]", None),
                                       ("linformer[k=16]", None), ("nystrom[m=10]", None)])
def test_gradients_equal_slow_gradients(monkeypatch, name, mask):
    monkeypatch.setattr(common, "CPU_BLOCK_BYTES", 1 << 14)  # several blocks, so gradients cross block boundaries
    p = problem(70, None, mask, mode="fwd+bwd")
    impl = get(name)
    q, k, v = p.make_inputs(seed=5)
    grad_out = p.make_grad_output(seed=5)
    fast = torch.autograd.grad(impl.build(p, q, k, v)(), (q, k, v), grad_out)
    leaves = [t.detach().clone().requires_grad_(True) for t in (q, k, v)]
    expected = torch.autograd.grad(slow(p, impl, *leaves), leaves, grad_out)
    for actual, wanted in zip(fast, expected):
        assert_close(actual, wanted, 1e-10)


def test_block_rows_is_a_multiple_of_the_chunk_and_small_on_cpu():
    p = Problem(batch=1, seq_len=16384, heads=8, head_dim=64, mask="causal")
    block = get("linear[chunk=96]").block(p)
    assert block % 96 == 0 and block < 16384
    assert get("linear").block(p.with_(mask=None)) < 16384


# --- reasons and names --------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,mask,word", [("linformer", "causal", "future"), ("linformer", "padding", "padded"),
                                            ("nystrom", "causal", "future"), ("nystrom", "padding", "padded"),
                                            ("performer-pytorch", "padding", "supported")])
def test_unsupported_masks_say_why(name, mask, word):
    reasons = get(name).not_supported_reasons(problem(300, None, mask, dtype=torch.float32))
    mask_reasons = [r for r in reasons if r.code == "mask"]
    assert mask_reasons and word in mask_reasons[0].message


def test_parameter_limits_are_reasons_or_errors():
    p = problem(40, None, None, dtype=torch.float32)
    assert get("nystrom[m=64]").not_supported_reasons(p)[0].code == "params"
    assert get("linformer[k=64]").not_supported_reasons(p)[0].code == "params"
    with pytest.raises(ValueError, match="positive"):
        get("linear[chunk=0]")
    with pytest.raises(ValueError, match="positive"):
        get("performer[m=-3]")


def test_names_show_the_defining_parameter_and_record_the_seed():
    impl = get("performer")
    assert impl.full_name == "performer[m=256]" and impl.info()["params"]["seed"] == 0
    assert get("performer[seed=7]").full_name == "performer[m=256,seed=7]"
    assert get("linear").full_name == "linear" and get("linear[chunk=64]").full_name == "linear[chunk=64]"
    assert get("linformer").full_name == "linformer[k=256]" and get("nystrom").full_name == "nystrom[m=64]"
    assert all(not get(n).exact and get(n).family == "linear" for n in ("linear", "performer", "linformer", "nystrom"))


def test_performer_features_are_drawn_once_per_build_from_the_seed():
    p = problem(64, None, None, dtype=torch.float32)
    q, k, v = p.make_inputs(seed=6)
    first, again = get("performer[m=32,seed=11]"), get("performer[m=32,seed=11]")
    fn = first.build(p, q, k, v)
    assert torch.equal(fn(), fn())  # the same features on every call
    assert torch.equal(fn(), again.build(p, q, k, v)())
    assert not torch.equal(fn(), get("performer[m=32,seed=12]").build(p, q, k, v)())


def test_performer_pytorch_missing_package_is_a_reason(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "performer_pytorch" else real(name, *a))
    reasons = get("performer-pytorch").not_supported_reasons(problem(64, None, None, dtype=torch.float32))
    assert reasons[0].code == "missing-package" and "pip install" in reasons[0].message


def test_performer_pytorch_runs_when_installed():
    impl = get("performer-pytorch[m=32]")
    p = problem(64, None, None, dtype=torch.float32, kv_heads=2)
    if impl.missing_packages():
        pytest.skip(str(impl.missing_packages()[0]))
    q, k, v = p.make_inputs(seed=7)
    out = impl.build(p, q, k, v)()
    assert out.shape == q.shape and torch.isfinite(out).all()
    # It estimates the same softmax attention: far closer to it than to a different input's.
    reference = F.scaled_dot_product_attention(q, expand(k, 4), expand(v, 4))
    assert (out - reference).norm() < (out - reference.flip(2)).norm()
