"""The sparse family's masks: semantics against slow formulas written here, closed-form pair counts,
specs that parse back, BigBird's recorded seed, and one-line errors."""

from __future__ import annotations

import pytest
import torch

from impls import Problem, parse_mask
from impls.masks import BigBird, Fixed, Longformer, Mask, SlidingWindow, Strided

SHAPES = [(1, 37, 37), (2, 20, 33), (1, 33, 20), (1, 5, 5)]  # lengths that are not multiples of windows or blocks
SPECS = [
    "sliding-window[w=5]", "sliding-window[w=0]", "sliding-window[w=100]", "sliding-window[w=3,causal=0]",
    "sliding-window[w=3,dilation=3]", "sliding-window[w=2,causal=0,dilation=4]",
    "strided[block=4]", "strided[block=3,local=2,stride=3,causal=0]", "fixed[block=4]", "fixed[block=5,local=3,summary=2,causal=0]",
    "bigbird[block=4,window=3,globals=1,random=2,seed=1]", "bigbird[block=4,window=5,globals=0,random=3,seed=2,causal=1]",
    "longformer[w=3,globals=0/4]", "longformer[w=2,globals=1/3,causal=1]",
]


def slow_keeps(mask: Mask, q_len: int, kv_len: int) -> torch.Tensor:
    """The mask's definition, pair by pair in Python (independent of the predicate's tensor code)."""
    kept = torch.zeros(q_len, kv_len, dtype=torch.bool)
    for i in range(q_len):
        for j in range(kv_len):
            kept[i, j] = _slow_pair(mask, i, j)
    return kept


def _slow_pair(mask, i, j) -> bool:
    if isinstance(mask, SlidingWindow):
        d = i - j
        if d % mask.dilation:
            return False
        steps = d // mask.dilation
        return 0 <= steps <= mask.w if mask.causal else abs(steps) <= mask.w
    if isinstance(mask, Longformer):
        if mask.causal and j > i:
            return False
        return abs(i - j) <= mask.w or i in mask.globals or j in mask.globals
    a, c = i // mask.block, j // mask.block
    if mask.causal and j > i:
        return False
    if isinstance(mask, Strided):
        distance = a - c if mask.causal else abs(a - c)
        return distance < mask.local or (a - c) % mask.stride == 0
    if isinstance(mask, Fixed):
        return a // mask.local == c // mask.local or c % mask.local >= mask.local - mask.summary
    if isinstance(mask, BigBird):
        drawn = mask.random_blocks[a] if mask.random_blocks else ()
        return abs(a - c) <= mask.window // 2 or a < mask.globals or c < mask.globals or c in drawn
    raise AssertionError(type(mask))


def _masks():
    for spec in SPECS:
        for batch, q_len, kv_len in SHAPES:
            try:
                mask = parse_mask(spec, batch, q_len, kv_len)
                mask.validate(batch, q_len, kv_len)
            except ValueError:
                continue  # e.g. a global position beyond a short sequence
            yield pytest.param(mask, batch, q_len, kv_len, id=f"{spec}-{batch}x{q_len}x{kv_len}")


@pytest.mark.parametrize("mask,batch,q_len,kv_len", list(_masks()))
def test_predicate_matches_the_definition_and_pairs_are_exact(mask, batch, q_len, kv_len):
    expected = slow_keeps(mask, q_len, kv_len)
    dense = mask.dense(batch, q_len, kv_len)[0, 0]
    assert torch.equal(dense, expected)
    assert mask.pairs(batch, q_len, kv_len) == batch * int(expected.sum())  # the closed form, not the counter
    assert parse_mask(mask.spec(), batch, q_len, kv_len) == mask


@pytest.mark.parametrize("spec", ["strided[block=4,causal=0]", "fixed[block=3]", "bigbird[block=4,window=3,globals=1,random=2,seed=5]"])
def test_block_layout_is_the_set_of_tiles_with_a_kept_pair(spec):
    mask = parse_mask(spec, 1, 30, 26)
    block = mask.block
    q_blocks, kv_blocks = -(-30 // block), -(-26 // block)
    dense = torch.nn.functional.pad(mask.dense(1, 30, 26)[0, 0], (0, kv_blocks * block - 26, 0, q_blocks * block - 30))
    tiles = dense.view(q_blocks, block, kv_blocks, block).any(dim=3).any(dim=1)
    assert torch.equal(mask.layout(30, 26), tiles)


def test_bigbird_random_blocks_come_from_the_recorded_seed():
    a = BigBird.for_shape(1024, 1024, block=64, seed=3)
    assert a == BigBird.for_shape(1024, 1024, block=64, seed=3)
    assert a.random_blocks != BigBird.for_shape(1024, 1024, block=64, seed=4).random_blocks
    assert "seed=3" in a.spec() and parse_mask(a.spec(), 1, 1024, 1024) == a
    for row, drawn in enumerate(a.random_blocks):
        picked = [c for c in drawn if c >= 0]
        if row < a.globals:
            assert not picked  # global rows keep every block already
            continue
        assert len(picked) == a.random == len(set(picked))
        assert all(abs(row - c) > a.window // 2 and c >= a.globals for c in picked)  # not already kept


def test_masks_reach_the_problem_and_its_flops():
    p = Problem(batch=2, seq_len=100, heads=4, head_dim=16, mask="sliding-window[w=9]")
    assert p.mask_kind == "sliding-window" and p.mask == SlidingWindow(w=9)
    rows = torch.arange(100)
    assert p.pairs() == 2 * int(torch.clamp(rows + 1, max=10).sum())


@pytest.mark.parametrize("spec,shape,message", [
    ("sliding-window[w=-1]", (1, 8, 8), "w=-1 must be at least 0"),
    ("sliding-window[dilation=0]", (1, 8, 8), "dilation=0 must be at least 1"),
    ("sliding-window[width=3]", (1, 8, 8), "has no parameter 'width'"),
    ("sliding-window[causal=maybe]", (1, 8, 8), "expected 0 or 1"),
    ("fixed[local=2,summary=3]", (1, 8, 8), "summary=3 must not exceed local=2"),
    ("strided[block=0]", (1, 8, 8), "block=0 must be at least 1"),
    ("longformer[globals=9]", (1, 8, 8), "global positions [9] out of range"),
])
def test_bad_masks_say_what_is_wrong(spec, shape, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Problem(batch=shape[0], seq_len=shape[1], kv_seq_len=shape[2], heads=1, head_dim=8, mask=spec)


def test_bigbird_drawn_for_another_shape_is_refused():
    mask = BigBird.for_shape(256, 256, block=64)
    with pytest.raises(ValueError, match="drawn for 4 query blocks"):
        Problem(batch=1, seq_len=512, heads=1, head_dim=8, mask=mask)
