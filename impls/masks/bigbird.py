"""``bigbird[block=..,window=..,globals=..,random=..,seed=..]``: window, global and random blocks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

import torch

from ..spec import parse_params
from .base import register_mask
from .block_layout import BlockLayout
from .counting import format_mask_params, require_positive


@register_mask
@dataclass(frozen=True)
class BigBird(BlockLayout):
    """BigBird (Zaheer et al., 2020), bidirectional unless ``causal=1``, at block granularity: a sliding window of
    ``window`` blocks centred on the query block, the first ``globals`` blocks (which attend to and
    are attended by every block), and ``random`` key blocks per query block drawn with ``seed``
    among the blocks not already kept. The draw depends on the number of blocks, so a mask is built
    for one shape: ``BigBird.for_shape(q_len, kv_len, ...)`` or a spec parsed with the problem."""

    kind: ClassVar[str] = "bigbird"
    causal: bool = False
    window: int = 3
    globals: int = 2
    random: int = 3
    seed: int = 0
    random_blocks: tuple[tuple[int, ...], ...] = field(default=(), repr=False)  # per query block; -1 pads
    DEFAULTS: ClassVar[dict] = {"block": 64, "window": 3, "globals": 2, "random": 3, "seed": 0, "causal": False}

    @classmethod
    def for_shape(cls, q_len: int, kv_len: int, block: int = 64, window: int = 3, globals: int = 2,
                  random: int = 3, seed: int = 0, causal: bool = False) -> BigBird:
        require_positive(cls.kind, block=block, window=window)
        q_blocks, kv_blocks = -(-q_len // block), -(-kv_len // block)
        drawn = cls._draw(q_blocks, kv_blocks, window, globals, random, seed, causal)
        return cls(block=block, causal=causal, window=window, globals=globals, random=random, seed=seed, random_blocks=drawn)

    @staticmethod
    def _draw(q_blocks, kv_blocks, window, globals, random, seed, causal) -> tuple[tuple[int, ...], ...]:
        if random <= 0:
            return ()
        generator = torch.Generator().manual_seed(seed)
        scores = torch.rand((q_blocks, kv_blocks), generator=generator)
        rows, cols = torch.arange(q_blocks)[:, None], torch.arange(kv_blocks)[None, :]
        already = ((rows - cols).abs() <= window // 2) | (cols < globals)
        if causal:
            already |= cols > rows
        scores = scores.masked_fill(already, -1.0)
        top = scores.topk(min(random, kv_blocks), dim=1)
        picked = torch.where(top.values >= 0, top.indices, torch.full_like(top.indices, -1))
        picked[: min(globals, q_blocks)] = -1  # global rows keep every block already
        return tuple(tuple(int(c) for c in row) for row in picked)

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls.for_shape(q_len, kv_len, **parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}"))

    def spec(self):
        values = {"block": self.block, "window": self.window, "globals": self.globals, "random": self.random,
                  "seed": self.seed, "causal": self.causal}
        return format_mask_params(self.kind, values, self.DEFAULTS, ("block", "window", "globals", "random", "seed"))

    def validate(self, batch, q_len, kv_len):
        require_positive(self.kind, block=self.block, window=self.window)
        if self.globals < 0 or self.random < 0:
            raise ValueError(f"bigbird globals={self.globals} and random={self.random} must be at least 0")
        if self.random == 0:
            return
        q_blocks, kv_blocks = -(-q_len // self.block), -(-kv_len // self.block)
        drawn_for = len(self.random_blocks)
        if drawn_for != q_blocks or any(c >= kv_blocks for row in self.random_blocks for c in row):
            raise ValueError(f"bigbird random blocks were drawn for {drawn_for} query blocks, but seq_len={q_len}, "
                             f"kv_seq_len={kv_len} has {q_blocks}×{kv_blocks} (build it with BigBird.for_shape or from its spec)")

    def block_rule(self, device):
        # The random table goes to the device once here, not on every call of the rule.
        half, globals = self.window // 2, self.globals
        table = torch.tensor(self.random_blocks or ((),), dtype=torch.long, device=device)
        last_row, slots = table.shape[0] - 1, table.shape[1]

        def bigbird(q_block, kv_block):
            kept = ((q_block - kv_block).abs() <= half) | (q_block < globals) | (kv_block < globals)
            for slot in range(slots):  # clamp: FlexAttention may probe the padded tail of the last block
                kept = kept | (table[q_block.clamp(0, last_row), slot] == kv_block)
            return kept

        return bigbird
