"""Score functions: how a query and a key become an attention logit.

Each is a module with its own parameters, one set per query head, drawn from a seeded generator
(see seeds.py) so a result names the exact parameters it was measured with.

Call convention: ``score(q, k, heads)`` with q (B, h, Lq, d) and k (B, h_kv, Lk, d), where h is a
multiple of h_kv and query head i uses key head i // (h / h_kv) (the grouped layout of GQA/MQA);
``heads`` are the indices of the query heads being computed (None: all), so pruning and routing
use the right per-head parameters. Returns logits (B, h, Lq, Lk).

- ``dot``: q·k, never scaled (the unscaled baseline of the stability suite).
- ``scaled-dot``: q·k·scale with the problem's scale (1/sqrt(d) unless set): the oracle's formula.
- ``multiplicative`` (Luong "general"): qᵀ·W·k·scale, W (d × d) per head. Scaled like dot-product
  attention so the stability comparison isolates W; a problem with scale=1 gives Luong's original.
- ``additive`` (Bahdanau): vᵀ·tanh(W_q·q + W_k·k), W_q, W_k (d × a), v (a) per head, a = d. Unscaled: the tanh
  bounds it. Evaluated in query-row chunks so the (Lq × Lk × a) intermediate stays bounded.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
from torch import nn

from .heads import expand_kv, grouped_matmul
from .seeds import gaussian, part_generator

# Elements of the additive score's (rows × keys × a) intermediate evaluated at once. On the CPU a chunk
# that stays in cache makes add → tanh → reduce about 2× faster than 64 MB chunks (measured at L=512,
# H=8, a=64, one thread); on a GPU larger chunks mean fewer launches.
ADDITIVE_CHUNK_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 26}


class ScoreFunction(nn.Module):
    name: ClassVar[str] = ""
    uses_scale: ClassVar[bool] = False  # multiplies by the problem's softmax scale

    def __init__(self, heads: int, head_dim: int, scale: float, seed: int = 0) -> None:
        super().__init__()
        self.heads, self.head_dim, self.scale, self.seed = heads, head_dim, scale, seed

    def per_head(self, param: torch.Tensor, heads: torch.Tensor | None) -> torch.Tensor:
        return param if heads is None else param.index_select(0, heads)

    @classmethod
    def pair_flops(cls, head_dim: int) -> float:
        """Forward FLOPs per (query, key) pair and head, for the logit alone."""
        return 2.0 * head_dim

    @classmethod
    def projection_flops(cls, head_dim: int, q_len: int, kv_len: int) -> float:
        """Forward FLOPs per head and batch item spent projecting queries and keys (before any pair)."""
        return 0.0

    def extra_repr(self) -> str:
        return f"heads={self.heads}, head_dim={self.head_dim}, scale={self.scale:.4g}, seed={self.seed}"


class Dot(ScoreFunction):
    name = "dot"

    def forward(self, q, k, heads=None):
        return grouped_matmul(q, k.transpose(-1, -2))


class ScaledDot(ScoreFunction):
    name = "scaled-dot"
    uses_scale = True

    def forward(self, q, k, heads=None):
        return grouped_matmul(q, k.transpose(-1, -2)) * self.scale


class Multiplicative(ScoreFunction):
    name = "multiplicative"
    uses_scale = True

    def __init__(self, heads, head_dim, scale, seed=0):
        super().__init__(heads, head_dim, scale, seed)
        generator = part_generator(seed, "score.multiplicative")
        # Variance-preserving (Glorot-like) init: q·W keeps the scale of q, so logits match dot-product ones.
        self.weight = nn.Parameter(gaussian((heads, head_dim, head_dim), 1.0 / math.sqrt(head_dim), generator))

    def forward(self, q, k, heads=None):
        projected = torch.matmul(q, self.per_head(self.weight, heads).unsqueeze(0))
        return grouped_matmul(projected, k.transpose(-1, -2)) * self.scale

    @classmethod
    def projection_flops(cls, head_dim, q_len, kv_len):
        return 2.0 * head_dim * head_dim * q_len  # only the queries are projected


class Additive(ScoreFunction):
    name = "additive"

    def __init__(self, heads, head_dim, scale, seed=0):
        super().__init__(heads, head_dim, scale, seed)
        a = self.attention_dim = head_dim  # the hidden size of vᵀ·tanh(...); head_dim keeps the FLOPs comparable
        generator = part_generator(seed, "score.additive")
        self.query_weight = nn.Parameter(gaussian((heads, head_dim, a), 1.0 / math.sqrt(head_dim), generator))
        self.key_weight = nn.Parameter(gaussian((heads, head_dim, a), 1.0 / math.sqrt(head_dim), generator))
        self.vector = nn.Parameter(gaussian((heads, a), 1.0 / math.sqrt(a), generator))

    def forward(self, q, k, heads=None):
        k = expand_kv(k, q.shape[1])  # W_k belongs to the query head, so each head projects its keys itself
        query_part = torch.matmul(q, self.per_head(self.query_weight, heads).unsqueeze(0))  # (B, h, Lq, a)
        key_part = torch.matmul(k, self.per_head(self.key_weight, heads).unsqueeze(0))  # (B, h, Lk, a)
        vector = self.per_head(self.vector, heads)[None, :, None, :, None]  # (1, h, 1, a, 1)
        batch, h, q_len, a = query_part.shape
        budget = ADDITIVE_CHUNK_ELEMENTS.get(q.device.type, ADDITIVE_CHUNK_ELEMENTS["cuda"])
        rows = max(1, budget // max(1, batch * h * key_part.shape[2] * a))
        chunks = []
        for start in range(0, q_len, rows):
            # tanh in place on the fresh sum: one buffer instead of two (autograd keeps the tanh output only)
            hidden = (query_part[:, :, start:start + rows, None, :] + key_part[:, :, None, :, :]).tanh_()
            chunks.append(torch.matmul(hidden, vector).squeeze(-1))
        return torch.cat(chunks, dim=2) if len(chunks) > 1 else chunks[0]

    @classmethod
    def pair_flops(cls, head_dim):
        return 4.0 * head_dim  # add, tanh, multiply-add with v (attention dim a = head_dim)

    @classmethod
    def projection_flops(cls, head_dim, q_len, kv_len):
        return 2.0 * head_dim * head_dim * (q_len + kv_len)


SCORES: dict[str, type[ScoreFunction]] = {cls.name: cls for cls in (Dot, ScaledDot, Multiplicative, Additive)}
ALIASES = {"general": "multiplicative", "luong": "multiplicative", "bahdanau": "additive", "scaled": "scaled-dot"}


def canonical_score(name: str) -> str:
    name = ALIASES.get(name, name)
    if name not in SCORES:
        raise ValueError(f"unknown score function {name!r} (accepted: {', '.join(SCORES)}, or general, luong, bahdanau)")
    return name


def make_score(name: str, heads: int, head_dim: int, scale: float, seed: int = 0) -> ScoreFunction:
    return SCORES[canonical_score(name)](heads, head_dim, scale, seed)
