"""Attention with a positive feature map φ, in time and memory linear in the sequence length.

    out_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j)        (j ≤ i when causal)

A ones column appended to v makes the normaliser come out of the same matmuls. Nothing of size
(seq × seq) is ever held:

- non-causal: the key state Σ_j φ(k_j)[v_j, 1] (features × (d_v + 1)) is summed over key blocks,
  then every query block reads it;
- causal: rows in chunks of ``chunk``; inside a chunk the masked (chunk × chunk) kernel matrix,
  across chunks the exclusive prefix sum (cumsum) of per-chunk states, carried from one block of
  chunks to the next.

Rows go in blocks of ``block`` (a multiple of the chunk) so temporaries stay small; a block loop
of a few dozen steps, never a loop over tokens. Key features may carry a shared log-scale
(Performer's stabiliser): a constant common to all keys cancels between numerator and
denominator, so when it grows the carried state is rescaled instead of recomputed.

GQA: queries are viewed as (batch, kv_heads, group, seq, d), so key features and states are
computed once per kv head. Causal masks are top-left aligned: query i sees keys j ≤ i whatever
the key length.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ._common import accumulate_dtype

Tensor = torch.Tensor


@dataclass(frozen=True)
class FeatureMap:
    size: int  # number of features
    queries: Callable[[Tensor], Tensor]  # (..., rows, d) -> (..., rows, size), any per-row scale
    # (keys, shift or None) -> (features, shift or None): features times exp(shift) are φ(keys); the shift
    # is one value per (batch, kv head), never smaller than the one passed in
    keys: Callable[[Tensor, Tensor | None], tuple[Tensor, Tensor | None]]
    compute_dtype: torch.dtype | None = None  # None: the inputs' dtype


def key_validity(lengths: tuple[int, ...], kv_len: int, device, dtype) -> Tensor:
    """(batch, 1, kv_len, 1) of 1 for kept keys and 0 for padding, multiplied into key features."""
    kept = torch.arange(kv_len, device=device)[None, :] < torch.tensor(lengths, device=device)[:, None]
    return kept.to(dtype)[:, None, :, None]


def attend(q: Tensor, k: Tensor, v: Tensor, fmap: FeatureMap, *, causal: bool, chunk: int, block: int,
           key_valid: Tensor | None = None) -> Tensor:
    """(batch, heads, seq, d_v) in q's dtype; q (B, H, Lq, d), k and v (B, H_kv, Lk, d)."""
    compute = fmap.compute_dtype or q.dtype
    groups = q.shape[1] // k.shape[1]
    grouped_q = q.unflatten(1, (k.shape[1], groups))  # (B, H_kv, G, Lq, d), a view
    # Without autograd each block is written straight into the output: no concatenation, no second copy.
    tracking = torch.is_grad_enabled() and any(t.requires_grad for t in (q, k, v))
    out = None if tracking else q.new_empty(grouped_q.shape[:-1] + (v.shape[-1],))
    if causal:
        out = _causal(grouped_q, k, v, fmap, compute, chunk, max(chunk, block // chunk * chunk), key_valid, out)
    else:
        out = _noncausal(grouped_q, k, v, fmap, compute, block, key_valid, out)
    return out.flatten(1, 2).to(q.dtype)


def _normalise(numerator: Tensor, dv: int, out: Tensor | None = None) -> Tensor:
    denominator = numerator[..., dv:].clamp_min(torch.finfo(numerator.dtype).tiny)
    return torch.div(numerator[..., :dv], denominator, out=out) if out is not None else numerator[..., :dv] / denominator


def _blocks_out(outs: list, out: Tensor | None) -> Tensor:
    if out is not None:
        return out
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=3)


def _key_blocks(k, v, block, key_valid):
    """(keys, values, validity or None) per block. One split per tensor: a split's backward is a single
    concatenation, where a slice per block would give each block a full-size zero gradient (quadratic)."""
    valid = key_valid.split(block, dim=2) if key_valid is not None else [None] * -(-k.shape[2] // block)
    return list(zip(k.split(block, dim=2), v.split(block, dim=2), valid))


def _key_features(keys, values, valid, fmap, compute, shift):
    phi, shift = fmap.keys(keys.to(compute), shift)
    if valid is not None:
        phi = phi * valid.to(compute)
    return phi, F.pad(values.to(compute), (0, 1), value=1.0), shift


def _rescale(state: Tensor, old: Tensor | None, new: Tensor | None) -> Tensor:
    if old is None or new is None:
        return state
    return state * torch.exp(old - new).to(state.dtype)


def _noncausal(q, k, v, fmap, compute, block, key_valid, out) -> Tensor:
    accumulate = accumulate_dtype(compute)
    state, shift = None, None
    for keys, values, valid in _key_blocks(k, v, block, key_valid):
        phi, values, new_shift = _key_features(keys, values, valid, fmap, compute, shift)
        part = torch.matmul(phi.transpose(-1, -2), values).to(accumulate)
        state = part if state is None else _rescale(state, shift, new_shift) + part
        shift = new_shift
    state = state.to(compute).unsqueeze(2)  # (B, H_kv, 1, features, d_v + 1), broadcast over the group
    dv = v.shape[-1]
    targets = out.split(block, dim=3) if out is not None else [None] * -(-q.shape[3] // block)
    outs = [_normalise(torch.matmul(fmap.queries(rows.to(compute)), state), dv, target)
            for rows, target in zip(q.split(block, dim=3), targets)]
    return _blocks_out(outs, out)


def _causal(q, k, v, fmap, compute, chunk, block, key_valid, out) -> Tensor:
    accumulate = accumulate_dtype(compute)
    batch, kv_heads, _, q_len, _ = q.shape
    dv = v.shape[-1]
    # Keys beyond the last query are never visible; a key length shorter than the queries leaves
    # blocks with fewer (or no) keys, padded with zero rows that contribute nothing.
    if k.shape[2] > q_len:
        k, v = k[:, :, :q_len], v[:, :, :q_len]
        key_valid = key_valid[:, :, :q_len] if key_valid is not None else None
    key_blocks = _key_blocks(k, v, block, key_valid)
    carried, shift = None, None  # Σ over all earlier blocks of φ(k)[v, 1], and its log-scale
    outs = []
    targets = out.split(block, dim=3) if out is not None else [None] * -(-q_len // block)
    for index, (query_rows, target) in enumerate(zip(q.split(block, dim=3), targets)):
        rows = query_rows.shape[3]
        chunks = -(-rows // chunk)
        padded = chunks * chunk
        if index < len(key_blocks):
            phi_k, values, new_shift = _key_features(*key_blocks[index], fmap, compute, shift)
        else:
            phi_k = q.new_zeros((batch, kv_heads, 0, fmap.size), dtype=compute)
            values = q.new_zeros((batch, kv_heads, 0, dv + 1), dtype=compute)
            new_shift = shift
        phi_k = F.pad(phi_k, (0, 0, 0, padded - phi_k.shape[2])).unflatten(2, (chunks, chunk))
        values = F.pad(values, (0, 0, 0, padded - values.shape[2])).unflatten(2, (chunks, chunk))
        phi_q = fmap.queries(query_rows.to(compute))
        phi_q = F.pad(phi_q, (0, 0, 0, padded - rows)).unflatten(3, (chunks, chunk))  # (B, H_kv, G, n, C, f)

        states = torch.matmul(phi_k.transpose(-1, -2), values).to(accumulate)  # (B, H_kv, n, f, d_v + 1)
        inclusive = torch.cumsum(states, dim=2)
        prefix = F.pad(inclusive[:, :, :-1], (0, 0, 0, 0, 1, 0))  # exclusive: chunk c sees chunks < c
        if carried is not None:
            carried = _rescale(carried, shift, new_shift)
            prefix = prefix + carried.unsqueeze(2)
            carried = carried + inclusive[:, :, -1]
        else:
            carried = inclusive[:, :, -1]
        shift = new_shift

        numerator = torch.matmul(phi_q, prefix.to(compute).unsqueeze(2))  # earlier chunks
        scores = torch.matmul(phi_q, phi_k.transpose(-1, -2).unsqueeze(2)).tril()  # (B, H_kv, G, n, C, C)
        numerator = numerator + torch.matmul(scores, values.unsqueeze(2))
        outs.append(_normalise(numerator.flatten(3, 4)[:, :, :, :rows], dv, target))
    return _blocks_out(outs, out)
