"""``bigbird[block=..,window=..,globals=..,random=..,seed=..]``: window, global and random blocks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import torch

from ..spec import parse_params
from .base import register_mask
from .block_layout import BlockLayout
from .counting import format_mask_params, require_positive

DRAW_CHUNK_ELEMENTS = 1 << 22


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
    q_blocks: int = 0  # the shape the random blocks are drawn for (for_shape sets it)
    kv_blocks: int = 0
    DEFAULTS: ClassVar[dict] = {"block": 64, "window": 3, "globals": 2, "random": 3, "seed": 0, "causal": False}

    @classmethod
    def for_shape(cls, q_len: int, kv_len: int, block: int = 64, window: int = 3, globals: int = 2,
                  random: int = 3, seed: int = 0, causal: bool = False) -> BigBird:
        require_positive(cls.kind, block=block, window=window)
        return cls(block=block, causal=causal, window=window, globals=globals, random=random, seed=seed,
                   q_blocks=-(-q_len // block), kv_blocks=-(-kv_len // block))

    @cached_property
    def random_blocks(self) -> tuple[tuple[int, ...], ...]:
        """The random key blocks of each query block (-1 pads), drawn on first use: making a problem stays cheap
        at any length, and the draw goes in row chunks, so it needs memory for a few rows only."""
        if self.random <= 0 or self.q_blocks == 0:
            return ()
        generator = torch.Generator().manual_seed(self.seed)
        chunk = max(1, DRAW_CHUNK_ELEMENTS // self.kv_blocks)
        picked = [self._draw_rows(start, min(self.q_blocks, start + chunk), generator) for start in range(0, self.q_blocks, chunk)]
        return tuple(row for rows in picked for row in rows)

    def _draw_rows(self, start: int, stop: int, generator: torch.Generator) -> list[tuple[int, ...]]:
        # The generator fills rows in order, so drawing chunk by chunk gives the same numbers as one (q, kv) draw.
        scores = torch.rand((stop - start, self.kv_blocks), generator=generator)
        rows, cols = torch.arange(start, stop)[:, None], torch.arange(self.kv_blocks)[None, :]
        already = ((rows - cols).abs() <= self.window // 2) | (cols < self.globals)
        if self.causal:
            already |= cols > rows
        top = scores.masked_fill(already, -1.0).topk(min(self.random, self.kv_blocks), dim=1)
        picked = torch.where(top.values >= 0, top.indices, torch.full_like(top.indices, -1))
        picked[: max(0, min(self.globals, stop) - start)] = -1  # global rows keep every block already
        return [tuple(int(c) for c in row) for row in picked]

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls.for_shape(q_len, kv_len, **parse_params(cls.kind, params, cls.DEFAULTS, label=f"mask {cls.kind!r}"))

    def spec(self):
        values = {"block": self.block, "window": self.window, "globals": self.globals, "random": self.random,
                  "seed": self.seed, "causal": self.causal}
        return format_mask_params(self.kind, values, self.DEFAULTS, ("block", "window", "globals", "random", "seed"))

    def check_values(self):
        require_positive(self.kind, block=self.block, window=self.window)
        if self.globals < 0 or self.random < 0:
            raise ValueError(f"bigbird globals={self.globals} and random={self.random} must be at least 0")

    def validate(self, batch, q_len, kv_len):
        self.check_values()
        if self.random == 0:
            return
        q_blocks, kv_blocks = -(-q_len // self.block), -(-kv_len // self.block)
        if (self.q_blocks, self.kv_blocks) != (q_blocks, kv_blocks):
            raise ValueError(f"bigbird random blocks were drawn for {self.q_blocks} query blocks ({self.q_blocks}×{self.kv_blocks}), "
                             f"but seq_len={q_len}, "
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
