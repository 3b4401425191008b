"""The float64 oracle and the per-dtype tolerances exact implementations must meet.

The oracle is the textbook formula, softmax(q·kᵀ·scale + mask)·v, evaluated in float64 from
the very same (possibly low-precision) inputs, so the measured error is the implementation's
rounding alone. It shares no code with any implementation. It works in query-row chunks so its
memory stays bounded, and can evaluate a subset of rows when only a spot check is affordable.
Beside the output it reports the largest logit magnitude it saw, which the tolerance scales with.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .problem import Problem

# Score elements (rows × keys × batch·heads) the oracle holds at once.
_CHUNK_ELEMENTS = 1 << 25


@dataclass(frozen=True)
class Tolerance:
    max_abs: float
    rel_l2: float


# Outputs are convex combinations of N(0, 1) values, so they are O(1) and an absolute bound is
# meaningful. The bounds are a few times the rounding error measured on the CPU kernels
# (see tests/test_exact.py), small enough that a wrong mask or a missing scale fails them.
# They assume logits of unit size, as Gaussian q, k give (the largest of a million is about 6).
TOLERANCES: dict[torch.dtype, Tolerance] = {
    torch.float64: Tolerance(1e-10, 1e-11),
    torch.float32: Tolerance(5e-5, 1e-5),
    torch.float16: Tolerance(1e-2, 3e-3),
    torch.bfloat16: Tolerance(4e-2, 1.5e-2),
}


# A kernel rounds each logit in its working precision, an absolute error proportional to the logit;
# through the softmax it moves the output by about that much times |v|. So the max-abs bound grows
# with the largest logit beyond this size (a trained model's peaked heads reach logits of 200).
# rel-L2 does not scale: it is dominated by the many small logits and stays the strict check.
UNIT_LOGIT = 8.0


def tolerance(dtype: torch.dtype, logit_max: float | None = None) -> Tolerance:
    """The bounds for ``dtype``; with ``logit_max`` (the oracle's largest |logit|), max-abs scaled by it."""
    base = TOLERANCES[dtype]
    if logit_max is None or not logit_max > UNIT_LOGIT:
        return base
    return Tolerance(base.max_abs * logit_max / UNIT_LOGIT, base.rel_l2)


@dataclass(frozen=True)
class Answer:
    output: torch.Tensor  # (batch, heads, rows, head_dim), float64
    logit_max: float  # the largest |q·k·scale| over the allowed (query, key) pairs of those rows


def _expand_kv(t: torch.Tensor, heads: int) -> torch.Tensor:
    return t.repeat_interleave(heads // t.shape[1], dim=1) if t.shape[1] != heads else t


def reference(problem: Problem, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
              rows: torch.Tensor | None = None) -> torch.Tensor:
    """Attention in float64: (batch, heads, len(rows) or seq_len, head_dim). Dropout is ignored.

    Rows whose mask keeps no key are zero (the convention every implementation follows).
    """
    return oracle(problem, q, k, v, rows).output


def oracle(problem: Problem, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
           rows: torch.Tensor | None = None) -> Answer:
    """The float64 output of ``reference`` and the largest logit magnitude behind it."""
    with torch.no_grad():
        q64 = q.detach().to(torch.float64)
        k64 = _expand_kv(k.detach().to(torch.float64), problem.heads)
        v64 = _expand_kv(v.detach().to(torch.float64), problem.heads)
        row_ids = torch.arange(problem.seq_len, device=q.device) if rows is None else rows.to(q.device)
        per_row = problem.batch * problem.heads * problem.kv_seq_len
        chunk = max(1, _CHUNK_ELEMENTS // per_row)
        parts = [_attend(problem, q64, k64, v64, row_ids[s:s + chunk]) for s in range(0, row_ids.numel(), chunk)]
        return Answer(torch.cat([out for out, _ in parts], dim=2), max((m for _, m in parts), default=0.0))


def _attend(problem: Problem, q64, k64, v64, row_ids: torch.Tensor) -> tuple[torch.Tensor, float]:
    scores = torch.matmul(q64[:, :, row_ids], k64.transpose(-1, -2)) * problem.softmax_scale
    if problem.mask is not None:
        allowed = problem.mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, q64.device, rows=row_ids)
        scores = scores.masked_fill(~allowed, float("-inf"))
    # The largest |logit| among the allowed pairs (masked ones are -inf; a chunk with none allowed gives 0).
    finite = scores[torch.isfinite(scores)] if problem.mask is not None else scores
    logit_max = float(finite.abs().amax()) if finite.numel() else 0.0
    row_max = scores.amax(dim=-1, keepdim=True)
    empty = torch.isneginf(row_max)
    weights = torch.exp(scores - torch.where(empty, torch.zeros_like(row_max), row_max))
    denom = weights.sum(dim=-1, keepdim=True)
    weights = weights / torch.where(empty, torch.ones_like(denom), denom)
    return torch.matmul(weights, v64), logit_max


def reference_grads(problem: Problem, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
                    grad_out: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of sum(reference · grad_out) with respect to q, k, v, in float64."""
    leaves = [t.detach().to(torch.float64).requires_grad_(True) for t in (q, k, v)]
    with torch.enable_grad():
        out = _reference_differentiable(problem, *leaves)
        grads = torch.autograd.grad(out, leaves, grad_out.to(torch.float64))
    return grads[0], grads[1], grads[2]


def _reference_differentiable(problem: Problem, q64, k64, v64) -> torch.Tensor:
    k_full, v_full = _expand_kv(k64, problem.heads), _expand_kv(v64, problem.heads)
    scores = torch.matmul(q64, k_full.transpose(-1, -2)) * problem.softmax_scale
    if problem.mask is not None:
        allowed = problem.mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, q64.device)
        scores = scores.masked_fill(~allowed, float("-inf"))
        has_key = allowed.any(dim=-1, keepdim=True)
        scores = torch.where(has_key, scores, torch.zeros_like(scores))
        weights = torch.softmax(scores, dim=-1) * has_key
    else:
        weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, v_full)


def errors(actual: torch.Tensor, expected64: torch.Tensor) -> dict[str, float]:
    """Max-abs and relative-L2 error of ``actual`` against a float64 expectation, plus a finiteness flag."""
    diff = actual.detach().to(torch.float64) - expected64
    finite = bool(torch.isfinite(actual).all())
    norm = float(expected64.norm())
    return {
        "max_abs": float(diff.abs().max()) if diff.numel() else 0.0,
        "rel_l2": float(diff.norm()) / norm if norm > 0 else float(diff.norm()),
        "finite": finite,
    }
