"""linformer: Wang et al. (2020), keys and values projected along the sequence to ``k`` rows.

    out = softmax(q (E K)ᵀ · scale) (F V),   E, F: (k × kv_seq_len)

E and F are fixed Gaussian projections drawn in build() from the recorded ``seed`` (the paper
learns them; fixed random ones make this a baseline whose error against softmax is large and is
reported, not hidden). Entries are N(0, 1/kv_seq_len), so a projected key has the norm of one key
and the logits keep their scale; the paper's N(0, 1/k) would make them √(kv_seq_len/k) times
larger and the softmax one-hot at long sequences. Then exact attention over k projected rows
(SDPA) in blocks of query rows, O(L·k·d) time; the blocks keep the (rows × k) temporaries small.

Non-causal only: every projected row mixes keys from the whole sequence, so no mask can hide
future keys (nor, for padding, padded keys) from a query.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import Reason, register
from ._common import Approximation, block_rows


def sequence_projections(rows: int, length: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """E and F, each (rows, length) float32 on the CPU, entries N(0, 1/length)."""
    generator = torch.Generator().manual_seed(int(seed))
    e = torch.randn(rows, length, generator=generator) / length ** 0.5
    f = torch.randn(rows, length, generator=generator) / length ** 0.5
    return e, f


def project(x: torch.Tensor, projection_t: torch.Tensor) -> torch.Tensor:
    """(B, H, L, d) → (B, H, k, d) with a (L, k) matrix; one (B·H·d × L)·(L × k) matmul, E never expanded."""
    return torch.matmul(x.transpose(-1, -2), projection_t).transpose(-1, -2)


@register
class Linformer(Approximation):
    name = "linformer"
    description = "Linformer: keys and values projected along the sequence to k rows (fixed random E, F), then exact attention"
    mask_kinds = frozenset({"none"})
    params = {"k": 256, "seed": 0}
    shown_params = ("k",)
    variants = ({"k": 64}, {"k": 256})
    efficiency = 0.2

    def check_params(self):
        self.positive_params("k")

    def not_supported_reasons(self, problem):
        reasons = super().not_supported_reasons(problem)
        why = {"causal": "every projected key mixes keys from the whole sequence, so future keys cannot be masked",
               "padding": "every projected key mixes padded keys in, so padding cannot be masked"}
        for reason in reasons:
            if reason.code == "mask" and problem.mask_kind in why:
                reasons[reasons.index(reason)] = Reason("mask", f"mask={problem.mask_kind}: {why[problem.mask_kind]} "
                                                                f"(supported: none)")
        return reasons

    def extra_reasons(self, problem):
        if self.values["k"] > problem.kv_seq_len:
            return [Reason("params", f"k={self.values['k']} > kv_seq_len={problem.kv_seq_len} "
                                     f"(supported: k <= kv_seq_len; projecting up only adds work)")]
        return []

    def build(self, problem, q, k, v):
        e, f = sequence_projections(self.values["k"], problem.kv_seq_len, self.values["seed"])
        e_t = e.T.contiguous().to(device=q.device, dtype=q.dtype)
        f_t = f.T.contiguous().to(device=q.device, dtype=q.dtype)
        scale, gqa = problem.softmax_scale, problem.kv_heads != problem.heads
        block = block_rows(problem, self.values["k"])

        def run():
            keys, values = project(k, e_t), project(v, f_t)
            outs = [F.scaled_dot_product_attention(rows, keys, values, scale=scale, enable_gqa=gqa)
                    for rows in q.split(block, dim=2)]  # one split: a slice per block would cost a full-size gradient each
            return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)

        return run

    def flops(self, problem):
        b, h, h_kv, d, rows = problem.batch, problem.heads, problem.kv_heads, problem.head_dim, self.values["k"]
        projections = 2 * 2 * problem.kv_seq_len * rows * d * h_kv
        attention = 2 * problem.seq_len * rows * 2 * d * h
        return float(b * (projections + attention)) * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        rows = self.values["k"]
        scores = problem.batch * problem.heads * problem.seq_len * rows * problem.element_size()
        return problem.min_bytes() + 2 * problem.input_bytes() + scores * (1 if problem.mode == "fwd" else 3)
