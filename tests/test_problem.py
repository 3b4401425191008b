"""Problem validation, useful FLOPs, mask pair counts and name parsing."""

import pytest
import torch

from impls import Causal, Padding, Problem, get, parse_mask, registry, select


def test_defaults_and_derived_facts():
    p = Problem(batch=2, seq_len=300, heads=8, kv_heads=2, head_dim=80)
    assert (p.kv_seq_len, p.gqa_ratio, p.dtype, p.device, p.mask) == (300, 4, torch.float32, "cpu", None)
    assert p.softmax_scale == pytest.approx(80 ** -0.5)
    # 2·P·(d_qk + d_v)·H with P = B·L·L for no mask
    assert p.flops() == 2 * (2 * 300 * 300) * 160 * 8
    assert p.with_(mode="fwd+bwd").flops() == pytest.approx(3.5 * p.flops())


def test_inputs_are_random_shaped_and_reproducible():
    p = Problem(batch=2, seq_len=30, kv_seq_len=20, heads=4, kv_heads=2, head_dim=8, dtype="bfloat16", mode="fwd+bwd")
    q, k, v = p.make_inputs(seed=0)
    assert q.shape == (2, 4, 30, 8) and k.shape == v.shape == (2, 2, 20, 8)
    assert q.dtype == torch.bfloat16 and q.requires_grad and q.is_leaf
    assert (q != 0).float().mean() > 0.99 and not torch.equal(k, v)
    assert torch.equal(q, p.make_inputs(seed=0)[0]) and not torch.equal(q, p.make_inputs(seed=1)[0])


@pytest.mark.parametrize("kwargs,message", [
    (dict(seq_len=-1), "seq_len=-1 must be a positive integer"),
    (dict(head_dim=0), "head_dim=0 must be a positive integer"),
    (dict(kv_heads=3), "heads=8 is not divisible by kv_heads=3"),
    (dict(dtype="int8"), "unknown dtype 'int8'"),
    (dict(device="tpu"), "unknown device 'tpu'"),
    (dict(mode="bwd"), "mode='bwd' is not supported"),
    (dict(mask="diagonal"), "unknown mask 'diagonal'"),
    (dict(mask="padding[lengths=5]"), "padding has 1 lengths but batch=2"),
    (dict(mask="padding[lengths=5/0]"), "out of range"),
    (dict(dropout=1.5), "dropout=1.5 must be in [0, 1)"),
])
def test_impossible_problems_say_what_is_wrong(kwargs, message):
    base = dict(batch=2, seq_len=16, heads=8, head_dim=8)
    with pytest.raises(ValueError, match=None) as info:
        Problem(**{**base, **kwargs})
    assert message in str(info.value) and "\n" not in str(info.value)


def _brute_force_pairs(mask, batch, q_len, kv_len):
    count = 0
    for b in range(batch):
        for i in range(q_len):
            for j in range(kv_len):
                allowed = mask.predicate("cpu")(torch.tensor(b), torch.tensor(0), torch.tensor(i), torch.tensor(j))
                count += int(allowed)
    return count


@pytest.mark.parametrize("spec,q_len,kv_len", [("causal", 7, 7), ("causal", 9, 4), ("causal", 4, 9),
                                               ("padding[lengths=3/9]", 5, 9), ("causal+padding[lengths=2/6]", 6, 6)])
def test_pairs_match_a_brute_force_count(spec, q_len, kv_len):
    mask = parse_mask(spec, 2, q_len, kv_len)
    assert mask.pairs(2, q_len, kv_len) == _brute_force_pairs(mask, 2, q_len, kv_len)


def test_mask_specs_round_trip():
    for spec in ("causal", "padding[lengths=4/2]", "causal+padding[lengths=4/2]"):
        assert parse_mask(spec, 2, 4, 4).spec() == spec
    assert parse_mask("padding", 3, 10, 12) == Padding((9, 6, 3))  # 12·(3−b)/4 rounded up
    assert parse_mask(None, 1, 1, 1) is None and parse_mask("none", 1, 1, 1) is None
    assert isinstance(parse_mask(Causal(), 1, 1, 1), Causal)


def test_registry_names_params_and_globs():
    names = [i.full_name for i in registry()]
    assert {"naive", "sdpa", "sdpa-math", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "xformers", "flex"} <= set(names)
    assert [i.full_name for i in select(["sdpa-m*"])] == ["sdpa-math"]
    with pytest.raises(ValueError, match="unknown implementation 'nope' \\(known: "):
        get("nope")
    with pytest.raises(ValueError, match="has no parameter 'w'"):
        get("naive[w=3]")
