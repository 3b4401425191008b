"""linear: Katharopoulos et al. (2020) linear attention, feature map φ(x) = elu(x) + 1.

    out_i = Σ_j φ(q_i)·φ(k_j) v_j / Σ_j φ(q_i)·φ(k_j)

applied to the raw q and k as in the paper (no softmax scale). Non-causal in O(L·d²); causal by
chunks of ``chunk`` rows (quadratic inside a chunk, a running prefix state across chunks); see
_kernel_attention. Padding masks zero the padded keys' features.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..registry import register
from ._common import Approximation, block_rows
from ._kernel_attention import FeatureMap, attend, key_validity


def elu_plus_one(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x).add_(1.0)  # elu's backward reads its input, so the in-place add is safe


@register
class Linear(Approximation):
    name = "linear"
    description = "linear attention with φ = elu+1 (Katharopoulos et al.); causal by chunks with a running state"
    mask_kinds = frozenset({"none", "causal", "padding"})
    params = {"chunk": 128}
    variants = ({},)
    efficiency = 0.05  # small matmuls and elementwise passes; only used to predict time for budgets

    def check_params(self):
        self.positive_params("chunk")

    def feature_map(self, problem) -> FeatureMap:
        return FeatureMap(size=problem.head_dim, queries=elu_plus_one, keys=lambda x, shift: (elu_plus_one(x), None))

    def block(self, problem) -> int:
        causal = problem.mask_kind == "causal"
        chunk = self.values["chunk"]
        per_row = 2 * (problem.head_dim + 1) + (chunk if causal else 0)
        return block_rows(problem, per_row, chunk if causal else 1)

    def build(self, problem, q, k, v):
        fmap = self.feature_map(problem)
        causal = problem.mask_kind == "causal"
        chunk, block = self.values["chunk"], self.block(problem)
        valid = None
        if problem.mask_kind == "padding":
            valid = key_validity(problem.mask.lengths, problem.kv_seq_len, q.device, q.dtype)
        return lambda: attend(q, k, v, fmap, causal=causal, chunk=chunk, block=block, key_valid=valid)

    def flops(self, problem):
        """Matmul FLOPs of the algorithm: key states, query reads, and the causal intra-chunk products."""
        b, h, h_kv, d = problem.batch, problem.heads, problem.kv_heads, problem.head_dim
        q_len, kv_len = problem.seq_len, problem.kv_seq_len
        if problem.mask_kind == "causal":
            chunk = min(self.values["chunk"], q_len)
            kv_len = min(kv_len, q_len)
            intra = 2 * q_len * chunk * (d + d + 1) * h
        else:
            intra = 0
        states = 2 * kv_len * d * (d + 1) * h_kv
        reads = 2 * q_len * d * (d + 1) * h
        return float(b * (states + reads + intra)) * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        d, chunk = problem.head_dim, self.values["chunk"]
        per_row = 3 * d + (2 * chunk if problem.mask_kind == "causal" else 0)
        saved = problem.batch * problem.heads * problem.seq_len * per_row * problem.element_size()
        return problem.min_bytes() + (saved if problem.needs_grad else 0) + 4 * (4 << 20)
