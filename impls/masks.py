"""Mask kinds: which (query, key) pairs a problem keeps.

Each mask is a small frozen dataclass with one source of truth, a vectorized predicate
``allowed(b, h, q_idx, kv_idx) -> bool tensor`` written only with tensor ops. The same predicate
is FlexAttention's ``mask_mod``, densifies the mask for the oracle and the dense kernels, and
counts the kept pairs for useful FLOPs, so no two views of a mask can disagree.

Convention for a query row with no allowed key (the same in every implementation and in the
oracle): its output is zero and it contributes no gradient.

Causal masks are aligned top-left, as ``scaled_dot_product_attention(is_causal=True)`` is:
query ``i`` sees keys ``j <= i`` even when ``kv_seq_len != seq_len``.

Specs: ``none``, ``causal``, ``padding`` (default per-batch key lengths, see :meth:`Padding.spread`),
``padding[lengths=300/150]``, and ``a+b`` for the intersection of two masks.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import ClassVar

import torch

from .spec import parse_spec

Predicate = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]

# Densifying in row chunks bounds the oracle's and the pair counter's memory.
_ROW_CHUNK_ELEMENTS = 1 << 24

MASK_KINDS: dict[str, type[Mask]] = {}


def register_mask(cls: type[Mask]) -> type[Mask]:
    """Class decorator: make a mask kind reachable from its spec name."""
    MASK_KINDS[cls.kind] = cls
    return cls


@dataclass(frozen=True)
class Mask:
    kind: ClassVar[str] = "mask"
    # True when the kept pairs depend on the batch index (the oracle then densifies per batch).
    batch_dependent: ClassVar[bool] = False

    def predicate(self, device: torch.device | str) -> Predicate:
        """A function of broadcastable index tensors (b, h, q_idx, kv_idx) → bool, built for ``device``."""
        raise NotImplementedError

    def spec(self) -> str:
        """The name that parses back into this mask."""
        return self.kind

    def validate(self, batch: int, q_len: int, kv_len: int) -> None:
        """Raise ValueError with a one-line message when the mask cannot apply to these shapes."""

    @classmethod
    def from_spec(cls, params: dict[str, str], batch: int, q_len: int, kv_len: int) -> Mask:
        if params:
            raise ValueError(f"mask {cls.kind!r} takes no parameters (got {sorted(params)})")
        return cls()

    def dense(self, batch: int, q_len: int, kv_len: int, device="cpu", rows: torch.Tensor | None = None) -> torch.Tensor:
        """Bool tensor of shape (batch or 1, 1, rows, kv_len); True where the pair is kept."""
        device = torch.device(device)
        q_idx = torch.arange(q_len, device=device) if rows is None else rows.to(device)
        kv_idx = torch.arange(kv_len, device=device)
        b_idx = torch.arange(batch if self.batch_dependent else 1, device=device)
        h_idx = torch.zeros(1, dtype=torch.long, device=device)
        allowed = self.predicate(device)(
            b_idx[:, None, None, None], h_idx[None, :, None, None], q_idx[None, None, :, None], kv_idx[None, None, None, :]
        )
        shape = (b_idx.numel(), 1, q_idx.numel(), kv_len)
        return allowed.expand(shape)

    def pairs(self, batch: int, q_len: int, kv_len: int) -> int:
        """Kept (query, key) pairs per head, summed over the batch. Exact; counted in row chunks."""
        rows_per_chunk = max(1, _ROW_CHUNK_ELEMENTS // max(1, kv_len * (batch if self.batch_dependent else 1)))
        total = 0
        for start in range(0, q_len, rows_per_chunk):
            rows = torch.arange(start, min(q_len, start + rows_per_chunk))
            total += int(self.dense(batch, q_len, kv_len, rows=rows).sum())
        return total if self.batch_dependent else total * batch

    def __str__(self) -> str:
        return self.spec()


@register_mask
@dataclass(frozen=True)
class Causal(Mask):
    kind: ClassVar[str] = "causal"

    def predicate(self, device):
        def causal(b, h, q_idx, kv_idx):
            return q_idx >= kv_idx

        return causal

    def pairs(self, batch, q_len, kv_len):
        # Row i keeps min(i + 1, kv_len) keys.
        full_rows = max(0, q_len - kv_len)
        ramp = min(q_len, kv_len)
        return batch * (ramp * (ramp + 1) // 2 + full_rows * kv_len)


@register_mask
@dataclass(frozen=True)
class Padding(Mask):
    """Per-batch key lengths: batch item ``b`` keeps keys ``j < lengths[b]``."""

    kind: ClassVar[str] = "padding"
    batch_dependent: ClassVar[bool] = True
    lengths: tuple[int, ...] = ()

    @staticmethod
    def spread(batch: int, kv_len: int) -> Padding:
        """Very different lengths per batch item: kv_len·(B−b)/(B+1) rounded up, at least 1."""
        return Padding(tuple(max(1, math.ceil(kv_len * (batch - b) / (batch + 1))) for b in range(batch)))

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        unknown = set(params) - {"lengths"}
        if unknown:
            raise ValueError(f"mask 'padding' takes only lengths=L1/L2/... (got {sorted(unknown)})")
        if "lengths" not in params:
            return cls.spread(batch, kv_len)
        try:
            lengths = tuple(int(x) for x in params["lengths"].split("/"))
        except ValueError:
            raise ValueError(f"padding lengths={params['lengths']!r} must be integers separated by '/'") from None
        return cls(lengths)

    def spec(self):
        return f"padding[lengths={'/'.join(map(str, self.lengths))}]"

    def validate(self, batch, q_len, kv_len):
        if len(self.lengths) != batch:
            raise ValueError(f"padding has {len(self.lengths)} lengths but batch={batch} (one length per batch item)")
        bad = [n for n in self.lengths if not 1 <= n <= kv_len]
        if bad:
            raise ValueError(f"padding lengths {bad} out of range (each must be in 1..kv_seq_len={kv_len})")

    def predicate(self, device):
        lengths = torch.tensor(self.lengths, dtype=torch.long, device=device)

        def padding(b, h, q_idx, kv_idx):
            return kv_idx < lengths[b]

        return padding

    def pairs(self, batch, q_len, kv_len):
        return q_len * sum(self.lengths)


@dataclass(frozen=True)
class Intersection(Mask):
    """Keeps a pair only when every part keeps it (``causal+padding``)."""

    kind: ClassVar[str] = "and"
    parts: tuple[Mask, ...] = ()

    @property
    def batch_dependent(self) -> bool:  # type: ignore[override]
        return any(p.batch_dependent for p in self.parts)

    def spec(self):
        return "+".join(p.spec() for p in self.parts)

    def validate(self, batch, q_len, kv_len):
        for part in self.parts:
            part.validate(batch, q_len, kv_len)

    def predicate(self, device):
        predicates = [p.predicate(device) for p in self.parts]

        def intersection(b, h, q_idx, kv_idx):
            result = predicates[0](b, h, q_idx, kv_idx)
            for pred in predicates[1:]:
                result = result & pred(b, h, q_idx, kv_idx)
            return result

        return intersection


def kind_of(mask: Mask | None) -> str:
    """The kind name used in capability checks: ``none`` for no mask."""
    return "none" if mask is None else mask.kind


def parse_mask(spec: str | Mask | None, batch: int, q_len: int, kv_len: int) -> Mask | None:
    """Turn ``None``/``"none"``/``"causal"``/``"padding[lengths=..]"``/``"a+b"`` or a mask object into a mask."""
    if spec is None or isinstance(spec, Mask):
        return spec
    if not isinstance(spec, str):
        raise ValueError(f"mask={spec!r} is not a mask (expected None, a mask name or a Mask object)")
    parts = [s for s in _split_top_level(spec) if s]
    if len(parts) > 1:
        masks = [parse_mask(s, batch, q_len, kv_len) for s in parts]
        return Intersection(tuple(m for m in masks if m is not None))
    name, params = parse_spec(spec)
    if name == "none" and not params:
        return None
    if name not in MASK_KINDS:
        raise ValueError(f"unknown mask {name!r} (known: none, {', '.join(sorted(MASK_KINDS))})")
    return MASK_KINDS[name].from_spec(params, batch, q_len, kv_len)


def _split_top_level(spec: str) -> list[str]:
    """Split on '+' outside brackets, so ``padding[lengths=3/2]+causal`` has two parts."""
    parts, depth, current = [], 0, []
    for ch in spec:
        depth += ch == "["
        depth -= ch == "]"
        if ch == "+" and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


# --- the sparse family's masks -------------------------------------------------------------------------
# Windows are counted in steps of ``dilation`` positions; blocks are ``block`` positions on both axes,
# aligned at position 0, so the last block of a length that is not a multiple is partial. Every layout
# below is exact attention under its mask; the sparse implementations (impls/sparse/) compute it without
# a seq × seq tensor, and the dense ones densify it like any other mask.

_FLAGS = {"1": True, "true": True, "yes": True, "0": False, "false": False, "no": False}


def _parse_params(kind: str, params: dict[str, str], defaults: dict[str, object]) -> dict[str, object]:
    """Typed values of ``kind[...]`` parameters (int, 0/1 flag, or ``a/b/c`` integer list), defaults filled in."""
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"mask {kind!r} has no parameter {unknown[0]!r} (parameters: {', '.join(defaults)})")
    values = dict(defaults)
    for name, text in params.items():
        like = defaults[name]
        try:
            if isinstance(like, bool):
                values[name] = _FLAGS[text.strip().lower()]
            elif isinstance(like, tuple):
                values[name] = tuple(int(x) for x in text.split("/") if x.strip())
            else:
                values[name] = int(text)
        except (KeyError, ValueError):
            accepted = {bool: "0 or 1", tuple: "integers separated by '/'"}.get(type(like), "an integer")
            raise ValueError(f"{kind}[{name}={text}] is not valid (expected {accepted})") from None
    return values


def _format_params(kind: str, values: dict[str, object], defaults: dict[str, object], always: tuple[str, ...]) -> str:
    """``kind[...]`` listing ``always`` and every parameter that differs from its default."""
    items = []
    for name, value in values.items():
        if name in always or value != defaults[name]:
            text = "/".join(map(str, value)) if isinstance(value, tuple) else str(int(value)) if isinstance(value, bool) else str(value)
            items.append(f"{name}={text}")
    return f"{kind}[{','.join(items)}]" if items else kind


def _count_steps(rows: torch.Tensor, kv_len: int, step: int, lo: int, hi: int) -> torch.Tensor:
    """Per row i: how many t in [lo, hi] put the key i - t·step inside [0, kv_len)."""
    top = torch.clamp(torch.div(rows, step, rounding_mode="floor"), max=hi)
    bottom = torch.clamp(-torch.div(kv_len - 1 - rows, step, rounding_mode="floor"), min=lo)
    return torch.clamp(top - bottom + 1, min=0)


def _positive(kind: str, **values: int) -> None:
    for name, value in values.items():
        if value < 1:
            raise ValueError(f"{kind} {name}={value} must be at least 1")


@register_mask
@dataclass(frozen=True)
class SlidingWindow(Mask):
    """Query i keeps key j when i − j is a multiple of ``dilation`` and the number of steps between
    them, (i − j) / dilation, is in [0, w] (causal) or in [−w, w] (``causal=0``, symmetric).

    ``w`` counts keys besides the query's own: a causal window keeps w + 1 keys, a symmetric one
    2w + 1 (as FlexAttention's ``q_idx - kv_idx <= w`` and local-attention's exact windows do).
    """

    kind: ClassVar[str] = "sliding-window"
    w: int = 256
    causal: bool = True
    dilation: int = 1
    DEFAULTS: ClassVar[dict] = {"w": 256, "causal": True, "dilation": 1}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**_parse_params(cls.kind, params, cls.DEFAULTS))

    def spec(self):
        return _format_params(self.kind, {"w": self.w, "causal": self.causal, "dilation": self.dilation}, self.DEFAULTS, ("w",))

    def validate(self, batch, q_len, kv_len):
        if self.w < 0:
            raise ValueError(f"sliding-window w={self.w} must be at least 0 (keys before the query, besides itself)")
        _positive(self.kind, dilation=self.dilation)

    @property
    def span(self) -> int:
        """How far (in positions) a query reaches back, and forward when symmetric."""
        return self.w * self.dilation

    def predicate(self, device):
        span, step, causal = self.span, self.dilation, self.causal

        def sliding_window(b, h, q_idx, kv_idx):
            diff = q_idx - kv_idx
            near = ((diff >= 0) & (diff <= span)) if causal else (diff.abs() <= span)
            return near if step == 1 else near & (diff % step == 0)

        return sliding_window

    def pairs(self, batch, q_len, kv_len):
        rows = torch.arange(q_len, dtype=torch.long)
        counts = _count_steps(rows, kv_len, self.dilation, 0 if self.causal else -self.w, self.w)
        return batch * int(counts.sum())


@dataclass(frozen=True)
class BlockLayout(Mask):
    """A mask decided per (query block, key block); causal layouts also drop j > i inside a block."""

    block: int = 64
    causal: bool = True

    def block_rule(self, device: torch.device | str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
        """``keeps(q_block, kv_block) -> bool tensor`` (broadcastable block indices), built for ``device``."""
        raise NotImplementedError

    def predicate(self, device):
        block, causal, keeps = self.block, self.causal, self.block_rule(device)

        def block_layout(b, h, q_idx, kv_idx):
            kept = keeps(q_idx // block, kv_idx // block)
            return kept & (kv_idx <= q_idx) if causal else kept

        return block_layout

    def layout(self, q_len: int, kv_len: int, device="cpu") -> torch.Tensor:
        """(query blocks, key blocks) bool: True where the block keeps at least one pair."""
        q_blocks = torch.arange(-(-q_len // self.block), device=device)[:, None]
        kv_blocks = torch.arange(-(-kv_len // self.block), device=device)[None, :]
        kept = self.block_rule(device)(q_blocks, kv_blocks)
        # Causal keeps the diagonal block's lower triangle and nothing above it.
        return kept & (kv_blocks <= q_blocks) if self.causal else kept

    def pairs(self, batch, q_len, kv_len):
        layout = self.layout(q_len, kv_len)
        starts = torch.arange(layout.shape[1]) * self.block
        widths = torch.clamp(kv_len - starts, max=self.block)  # keys in each key block
        rows = torch.arange(q_len)
        kept = layout[rows // self.block]  # (q_len, key blocks)
        if not self.causal:
            return batch * int((kept.long() * widths).sum())
        # Below the diagonal a kept block counts whole; on it, only keys j <= i.
        reach = torch.clamp(rows[:, None] - starts[None, :] + 1, min=0)
        return batch * int((kept.long() * torch.minimum(widths[None, :], reach)).sum())


@register_mask
@dataclass(frozen=True)
class Strided(BlockLayout):
    """Sparse Transformer's strided layout (Child et al., 2019) at block granularity: query block a
    keeps key block c when a − c < ``local`` (the recent blocks) or a − c is a multiple of ``stride``
    (causal); ``causal=0`` uses |a − c| for both."""

    kind: ClassVar[str] = "strided"
    local: int = 4
    stride: int = 4
    DEFAULTS: ClassVar[dict] = {"block": 64, "local": 4, "stride": 4, "causal": True}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**_parse_params(cls.kind, params, cls.DEFAULTS))

    def spec(self):
        values = {"block": self.block, "local": self.local, "stride": self.stride, "causal": self.causal}
        return _format_params(self.kind, values, self.DEFAULTS, ("block",))

    def validate(self, batch, q_len, kv_len):
        _positive(self.kind, block=self.block, local=self.local, stride=self.stride)

    def block_rule(self, device):
        local, stride, causal = self.local, self.stride, self.causal

        def strided(q_block, kv_block):
            diff = q_block - kv_block
            return ((diff if causal else diff.abs()) < local) | (diff % stride == 0)

        return strided


@register_mask
@dataclass(frozen=True)
class Fixed(BlockLayout):
    """Sparse Transformer's fixed layout at block granularity: blocks are grouped ``local`` at a time;
    a query block keeps every block of its own group and the last ``summary`` blocks of every group
    (causal: only groups at or before it)."""

    kind: ClassVar[str] = "fixed"
    local: int = 4
    summary: int = 1
    DEFAULTS: ClassVar[dict] = {"block": 64, "local": 4, "summary": 1, "causal": True}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        return cls(**_parse_params(cls.kind, params, cls.DEFAULTS))

    def spec(self):
        values = {"block": self.block, "local": self.local, "summary": self.summary, "causal": self.causal}
        return _format_params(self.kind, values, self.DEFAULTS, ("block",))

    def validate(self, batch, q_len, kv_len):
        _positive(self.kind, block=self.block, local=self.local, summary=self.summary)
        if self.summary > self.local:
            raise ValueError(f"fixed summary={self.summary} must not exceed local={self.local} (summary blocks are part of a group)")

    def block_rule(self, device):
        local, first_summary = self.local, self.local - self.summary

        def fixed(q_block, kv_block):
            return ((q_block // local) == (kv_block // local)) | ((kv_block % local) >= first_summary)

        return fixed


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
        _positive(cls.kind, block=block, window=window)
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
        return cls.for_shape(q_len, kv_len, **_parse_params(cls.kind, params, cls.DEFAULTS))

    def spec(self):
        values = {"block": self.block, "window": self.window, "globals": self.globals, "random": self.random,
                  "seed": self.seed, "causal": self.causal}
        return _format_params(self.kind, values, self.DEFAULTS, ("block", "window", "globals", "random", "seed"))

    def validate(self, batch, q_len, kv_len):
        _positive(self.kind, block=self.block, window=self.window)
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


@register_mask
@dataclass(frozen=True)
class Longformer(Mask):
    """Longformer (Beltagy et al., 2020): a symmetric sliding window of ``w`` keys on each side, plus
    global token positions that attend to every key and are attended by every query (``causal=1``
    keeps only j <= i throughout)."""

    kind: ClassVar[str] = "longformer"
    w: int = 256
    globals: tuple[int, ...] = (0,)
    causal: bool = False
    DEFAULTS: ClassVar[dict] = {"w": 256, "globals": (0,), "causal": False}

    @classmethod
    def from_spec(cls, params, batch, q_len, kv_len):
        values = _parse_params(cls.kind, params, cls.DEFAULTS)
        return cls(w=values["w"], globals=tuple(sorted(set(values["globals"]))), causal=values["causal"])

    def spec(self):
        values = {"w": self.w, "globals": self.globals, "causal": self.causal}
        return _format_params(self.kind, values, self.DEFAULTS, ("w", "globals"))

    def validate(self, batch, q_len, kv_len):
        if self.w < 0:
            raise ValueError(f"longformer w={self.w} must be at least 0 (keys on each side of the query)")
        if not self.globals:
            raise ValueError("longformer needs at least one global position (without any it is sliding-window[w=..,causal=0])")
        limit = min(q_len, kv_len)
        bad = [g for g in self.globals if not 0 <= g < limit]
        if bad:
            raise ValueError(f"longformer global positions {bad} out of range (each must be in 0..{limit - 1})")
        if list(self.globals) != sorted(set(self.globals)):
            raise ValueError(f"longformer globals={'/'.join(map(str, self.globals))} must be increasing, without repeats")

    def predicate(self, device):
        w, causal, positions = self.w, self.causal, self.globals

        def longformer(b, h, q_idx, kv_idx):
            diff = q_idx - kv_idx
            kept = diff.abs() <= w
            for g in positions:
                kept = kept | (q_idx == g) | (kv_idx == g)
            return kept & (diff >= 0) if causal else kept

        return longformer

    def pairs(self, batch, q_len, kv_len):
        rows = torch.arange(q_len, dtype=torch.long)
        window = _count_steps(rows, kv_len, 1, 0 if self.causal else -self.w, self.w)
        if not self.globals:
            return batch * int(window.sum())
        g = torch.tensor(self.globals, dtype=torch.long)[None, :]
        outside = (rows[:, None] - g).abs() > self.w
        if self.causal:
            outside &= g <= rows[:, None]
        counts = window + outside.sum(dim=1)
        full = torch.clamp(rows + 1, max=kv_len) if self.causal else torch.full_like(rows, kv_len)
        is_global = (rows[:, None] == g).any(dim=1)
        return batch * int(torch.where(is_global, full, counts).sum())
