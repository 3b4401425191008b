"""nystrom: Nyströmformer (Xiong et al. 2021), softmax attention through ``m`` landmarks.

    out = softmax(q k̃ᵀ s) · pinv(softmax(q̃ k̃ᵀ s)) · (softmax(q̃ kᵀ s) v)

q̃ and k̃ are the means of m contiguous segments of the queries and keys (segment i holds rows
⌊i·L/m⌋ … ⌊(i+1)·L/m⌋ − 1, so any L ≥ m works). pinv is the paper's Newton–Schulz iteration
(6 steps, initial guess Aᵀ / (max column sum · max row sum), per head), computed in float32 or
wider. Evaluated right to left, O(L·m·d) time and memory, in blocks of rows so temporaries stay
small: the landmark queries' softmax over all keys is accumulated over key blocks (an online
softmax, rescaled when the running maximum grows), then each query block reads the result.

Non-causal only: landmarks average over the whole sequence, so every output row depends on
future keys; padding would average padded keys into the landmarks.
"""

from __future__ import annotations

import torch

from ..registry import Reason, register
from ._common import Approximation, accumulate_dtype, block_rows

PINV_ITERATIONS = 6


def segment_ids(length: int, segments: int, device) -> torch.Tensor:
    """Segment of each row: segment i holds rows ⌊i·L/m⌋ … ⌊(i+1)·L/m⌋ − 1."""
    ends = torch.arange(1, segments + 1, device=device) * length // segments
    return torch.bucketize(torch.arange(length, device=device), ends, right=True)


def landmarks(x: torch.Tensor, segments: int, ids: torch.Tensor | None) -> torch.Tensor:
    """Means of ``segments`` contiguous row segments of (B, H, L, d): equal segments by a reshape, else by index_add."""
    if ids is None:
        return x.unflatten(2, (segments, x.shape[2] // segments)).mean(dim=3)
    sums = x.new_zeros(x.shape[:2] + (segments, x.shape[3])).index_add(2, ids, x)
    counts = torch.bincount(ids, minlength=segments).to(x.dtype)
    return sums / counts[:, None]


def newton_schulz_pinv(a: torch.Tensor, iterations: int = PINV_ITERATIONS) -> torch.Tensor:
    """The Nyströmformer's iterative pseudo-inverse of a batch of square matrices."""
    eye = torch.eye(a.shape[-1], device=a.device, dtype=a.dtype)
    col = a.abs().sum(dim=-2).amax(dim=-1, keepdim=True)[..., None]
    row = a.abs().sum(dim=-1).amax(dim=-1, keepdim=True)[..., None]
    z = a.transpose(-1, -2) / (col * row)
    for _ in range(iterations):
        az = torch.matmul(a, z)
        z = torch.matmul(0.25 * z, 13 * eye - torch.matmul(az, 15 * eye - torch.matmul(az, 7 * eye - az)))
    return z


def landmark_summary(q_land: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float, block: int) -> torch.Tensor:
    """softmax(q̃ kᵀ · scale) v over key blocks, sums kept in float32 or wider; the running maximum is a
    constant per row (it cancels), so it is detached."""
    accumulate = accumulate_dtype(v.dtype)
    total = weight = running = None
    for keys, values in zip(k.split(block, dim=2), v.split(block, dim=2)):  # split, not slices: see _kernel_attention
        logits = torch.matmul(q_land, keys.transpose(-1, -2)) * scale
        block_max = logits.detach().amax(dim=-1, keepdim=True)
        new = block_max if running is None else torch.maximum(running, block_max)
        weights = torch.exp(logits - new)
        part = torch.matmul(weights, values).to(accumulate)
        part_weight = weights.sum(dim=-1, keepdim=True, dtype=accumulate)
        if total is None:
            total, weight = part, part_weight
        else:
            factor = torch.exp(running - new).to(accumulate)
            total, weight = total * factor + part, weight * factor + part_weight
        running = new
    return (total / weight).to(v.dtype)


@register
class Nystrom(Approximation):
    name = "nystrom"
    description = "Nyströmformer: m segment-mean landmarks, Newton–Schulz pseudo-inverse"
    mask_kinds = frozenset({"none"})
    params = {"m": 64}
    shown_params = ("m",)
    variants = ({"m": 64},)
    efficiency = 0.2

    def check_params(self):
        self.positive_params("m")

    def not_supported_reasons(self, problem):
        reasons = super().not_supported_reasons(problem)
        why = {"causal": "landmarks average the whole sequence, so every row would see future keys",
               "padding": "landmarks would average padded keys in"}
        return [Reason("mask", f"mask={problem.mask_kind}: {why[problem.mask_kind]} (supported: none)")
                if r.code == "mask" and problem.mask_kind in why else r for r in reasons]

    def extra_reasons(self, problem):
        shortest = min(problem.seq_len, problem.kv_seq_len)
        if self.values["m"] > shortest:
            return [Reason("params", f"m={self.values['m']} landmarks > sequence length {shortest} "
                                     f"(supported: m <= min(seq_len, kv_seq_len))")]
        return []

    def build(self, problem, q, k, v):
        segments = self.values["m"]
        q_ids = None if problem.seq_len % segments == 0 else segment_ids(problem.seq_len, segments, q.device)
        k_ids = None if problem.kv_seq_len % segments == 0 else segment_ids(problem.kv_seq_len, segments, q.device)
        scale, groups = problem.softmax_scale, problem.gqa_ratio
        accumulate = accumulate_dtype(problem.dtype)
        block = block_rows(problem, segments)

        def run():
            kv_heads = k.shape[1]
            q_land, k_land = landmarks(q, segments, q_ids), landmarks(k, segments, k_ids)
            q_land = q_land.unflatten(1, (kv_heads, groups)).flatten(2, 3)  # (B, H_kv, G·m, d): GQA without copies
            k_land_t = k_land.transpose(-1, -2).unsqueeze(2)  # (B, H_kv, 1, d, m)
            summary = landmark_summary(q_land, k, v, scale, block)  # softmax(q̃ kᵀ s) v, (B, H_kv, G·m, d)
            kernel_land = torch.softmax(torch.matmul(q_land.unflatten(2, (groups, segments)), k_land_t) * scale, dim=-1)
            inverse = newton_schulz_pinv(kernel_land.to(accumulate))
            mixed = torch.matmul(inverse, summary.unflatten(2, (groups, segments)).to(accumulate)).to(q.dtype)
            grouped_q = q.unflatten(1, (kv_heads, groups))  # (B, H_kv, G, L, d)
            outs = [torch.matmul(torch.softmax(torch.matmul(rows, k_land_t) * scale, dim=-1), mixed)
                    for rows in grouped_q.split(block, dim=3)]
            return (outs[0] if len(outs) == 1 else torch.cat(outs, dim=3)).flatten(1, 2)

        return run

    def flops(self, problem):
        b, h, d, m = problem.batch, problem.heads, problem.head_dim, self.values["m"]
        q_len, kv_len = problem.seq_len, problem.kv_seq_len
        per_head = 2 * q_len * m * d * 2 + 2 * m * kv_len * d * 2 + 2 * m * m * d * 2 + 8 * PINV_ITERATIONS * m ** 3
        return float(b * h * per_head) * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        m = self.values["m"]
        kernels = problem.batch * problem.heads * (problem.seq_len + problem.kv_seq_len) * m * problem.element_size()
        return problem.min_bytes() + kernels * (2 if problem.mode == "fwd" else 4)
