"""``synthetic``: q, k, v with the structure trained attention has, drawn from a seed.

What it models. Each head's key and query are built the way a rotary transformer's are:

- a rotary subspace (the first half of head_dim, rotated by the position as in RoPE) carries a
  positional vector per kv head; a query's copy of it, possibly rotated back by an offset and
  weighted towards some frequencies, makes the score a function of the distance i - j that
  decays roughly with log(distance): **locality**;
- an unrotated subspace (the second half, as in partial-rotary models such as GPT-NeoX) carries a
  **content** embedding of each position's token (a vocabulary of 96 ids drawn uniformly), so a
  query scores keys of its own token high wherever they are: **retrieval**;
- key 0 carries a **sink** direction (the last feature, which no token embedding uses) that some
  heads' queries share: they park attention on the first token, as trained models do;
- small isotropic noise everywhere, so nothing is exactly zero or exactly degenerate.

Heads cycle through four kinds (head h is kind h mod 4), with peak logits (score above the
background) chosen so that their entropies span what trained models show:
``local`` (positional, power-law decay), ``previous`` (high rotary frequencies offset by one:
a peaked, low-entropy previous-token head), ``sink`` (most mass on key 0, a little local and
content) and ``content`` (token matches anywhere, little position). Values are standard normal,
as in ``gaussian``. Query heads of one GQA group share their kv head's keys and differ in their
queries only, as in a real GQA model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

VOCABULARY = 96
ROPE_BASE = 10000.0
NOISE = 0.3


@dataclass(frozen=True)
class HeadKind:
    name: str
    positional: float  # peak positional logit (distance = offset)
    offset: int  # distance of the positional peak (1: previous token)
    frequency_decay: float  # >0 weights high rotary frequencies (sharper peak)
    content: float  # logit of a token match
    sink: float  # logit of key 0


HEAD_KINDS = (
    HeadKind("local", positional=10.0, offset=0, frequency_decay=0.0, content=0.0, sink=0.0),
    HeadKind("previous", positional=14.0, offset=1, frequency_decay=4.0, content=0.0, sink=0.0),
    HeadKind("sink", positional=4.0, offset=0, frequency_decay=0.0, content=3.0, sink=8.0),
    HeadKind("content", positional=2.0, offset=0, frequency_decay=0.0, content=8.0, sink=0.0),
)


def head_kind(head: int) -> HeadKind:
    return HEAD_KINDS[head % len(HEAD_KINDS)]


def _rotate(x: torch.Tensor, positions: torch.Tensor, pairs: int) -> torch.Tensor:
    """Rotate the first 2·pairs features of x (..., seq, dim) by RoPE angles of ``positions``."""
    if pairs == 0:
        return x
    frequencies = ROPE_BASE ** (-torch.arange(pairs, dtype=torch.float64) / pairs)
    angles = positions.to(torch.float64)[:, None] * frequencies[None, :]
    cos, sin = torch.cos(angles), torch.sin(angles)
    first, second, rest = x[..., :pairs], x[..., pairs:2 * pairs], x[..., 2 * pairs:]
    return torch.cat((first * cos - second * sin, first * sin + second * cos, rest), dim=-1)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def make(problem, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float64 CPU tensors of the problem's shapes (the caller casts and moves them)."""
    generator = torch.Generator().manual_seed(seed)
    randn = lambda *shape: torch.randn(shape, generator=generator, dtype=torch.float64)  # noqa: E731
    batch, kv_heads, dim = problem.batch, problem.kv_heads, problem.head_dim
    pairs = dim // 4  # the rotary subspace is the first 2·pairs features
    content_dims = dim - 2 * pairs
    root = dim ** 0.25  # a logit of a·b needs vectors of a·root and b·root under the 1/sqrt(dim) scale
    # Positional vector per kv head: one unit-norm complex number per rotary pair.
    phases = torch.rand((kv_heads, pairs), generator=generator, dtype=torch.float64) * 2 * math.pi
    positional = torch.cat((torch.cos(phases), torch.sin(phases)), dim=-1)  # (kv_heads, 2·pairs)
    # Token embeddings span the unrotated features but the last, which is the sink's own direction:
    # orthogonal to every token, a sink query then scores only key 0 high (not tokens that happen to align).
    embeddings = torch.zeros(VOCABULARY, content_dims, dtype=torch.float64)
    sink = torch.zeros(content_dims, dtype=torch.float64)
    if content_dims:
        sink[-1] = 1.0
        token_dims = max(content_dims - 1, 1)
        embeddings[:, :token_dims] = _unit(randn(VOCABULARY, token_dims))
    # One token sequence: query i and key i are the same position of the same text.
    tokens = torch.randint(0, VOCABULARY, (batch, max(problem.seq_len, problem.kv_seq_len)), generator=generator)
    keys = _keys(problem, generator, tokens[:, :problem.kv_seq_len], positional, embeddings, sink, root)
    queries = _queries(problem, generator, tokens[:, :problem.seq_len], positional, embeddings, sink, root, pairs)
    values = randn(batch, kv_heads, problem.kv_seq_len, dim)
    return queries, keys, values


def _keys(problem, generator, tokens, positional, embeddings, sink, root) -> torch.Tensor:
    batch, kv_heads, length = problem.batch, problem.kv_heads, problem.kv_seq_len
    content = embeddings[tokens][:, None].expand(batch, kv_heads, length, -1) * root
    rotary = positional[None, :, None].expand(batch, kv_heads, length, -1)
    keys = torch.cat((rotary, content), dim=-1).clone()
    keys[:, :, 0, positional.shape[-1]:] += sink * root
    keys = keys + NOISE * torch.randn(keys.shape, generator=generator, dtype=torch.float64)
    return _rotate(keys, torch.arange(length), positional.shape[-1] // 2)


def _queries(problem, generator, tokens, positional, embeddings, sink, root, pairs) -> torch.Tensor:
    batch, heads, length, dim = problem.batch, problem.heads, problem.seq_len, problem.head_dim
    group = heads // problem.kv_heads
    rows = []
    for head in range(heads):
        kind = head_kind(head)
        weights = torch.exp(-kind.frequency_decay * torch.arange(pairs, dtype=torch.float64) / max(pairs, 1))
        # Score at distance Δ is Σ_f w_f cos((Δ - offset)·θ_f) times the gain: rotate back by offset.
        gain = kind.positional * math.sqrt(dim) / float(weights.sum()) if pairs else 0.0
        pos = positional[head // group] * torch.cat((weights, weights)) * gain
        pos = _rotate(pos[None], torch.tensor([-kind.offset]), pairs)[0]
        content = embeddings[tokens] * root * kind.content  # (batch, length, content_dims)
        head_rows = torch.cat((pos.expand(batch, length, -1), content + sink * root * kind.sink), dim=-1)
        rows.append(head_rows)
    queries = torch.stack(rows, dim=1)
    queries = queries + NOISE * torch.randn(queries.shape, generator=generator, dtype=torch.float64)
    return _rotate(queries, torch.arange(length), pairs)
