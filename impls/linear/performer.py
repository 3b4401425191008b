"""performer: FAVOR+ (Choromanski et al. 2021), positive orthogonal random features for the softmax kernel.

With x = q·√scale and y = k·√scale, exp(q·k·scale) = E_w[φ_w(x) φ_w(y)] for w ~ N(0, I), where
φ_w(x) = exp(w·x − |x|²/2) > 0. ``m`` orthogonal Gaussian rows w (drawn once in build() from the
recorded ``seed``, shared by all heads) give the estimate, and the attention is the kernel
attention of _kernel_attention with these features: unbiased kernel, linear time and memory.

Numerical stabilisation (a constant factor on features cancels between numerator and
denominator): a query's features are divided by their own maximum (a softmax over features), the
keys' by the largest value over all keys of that head (tracked across blocks, states rescaled
when it grows). Nothing overflows whatever the input norms; no ε is added, so the estimator
stays unbiased. Features and sums are computed in float32 for bfloat16 inputs: an exponent
rounded to bfloat16 would be off by up to ~8%.
"""

from __future__ import annotations

import torch

from ..registry import register
from ._common import Approximation, block_rows
from ._kernel_attention import FeatureMap, attend, key_validity
from ._random_features import orthogonal_gaussian


def favor_feature_map(projection: torch.Tensor, scale: float) -> FeatureMap:
    """Feature map for a (m, d) projection already on the compute device, in the compute dtype."""
    scaled_t = (projection * scale ** 0.5).T.contiguous()  # (d, m): x·√scale·wᵀ in one matmul
    half_scale = scale / 2

    def queries(x):
        return torch.softmax(torch.matmul(x, scaled_t), dim=-1)  # per-row constant: cancels

    def keys(x, shift):
        logits = torch.matmul(x, scaled_t) - (x * x).sum(-1, keepdim=True) * half_scale
        block_max = logits.detach().amax(dim=(-2, -1), keepdim=True)
        shift = block_max if shift is None else torch.maximum(shift, block_max)
        return logits.sub_(shift).exp_(), shift

    return FeatureMap(size=projection.shape[0], queries=queries, keys=keys, compute_dtype=projection.dtype)


@register
class Performer(Approximation):
    name = "performer"
    description = "Performer FAVOR+: positive orthogonal random features for the softmax kernel, m features"
    mask_kinds = frozenset({"none", "causal", "padding"})
    params = {"m": 256, "chunk": 128, "seed": 0}
    shown_params = ("m",)
    variants = ({"m": 64}, {"m": 256})
    efficiency = 0.05

    def check_params(self):
        self.positive_params("m", "chunk")

    def compute_dtype(self, dtype: torch.dtype) -> torch.dtype:
        return torch.promote_types(dtype, torch.float32)

    def projection(self, problem) -> torch.Tensor:
        """The (m, head_dim) random features this seed defines, float64 on the CPU."""
        return orthogonal_gaussian(self.values["m"], problem.head_dim, self.values["seed"])

    def feature_map(self, problem, device) -> FeatureMap:
        compute = self.compute_dtype(problem.dtype)
        return favor_feature_map(self.projection(problem).to(device=device, dtype=compute), problem.softmax_scale)

    def block(self, problem) -> int:
        causal = problem.mask_kind == "causal"
        chunk = self.values["chunk"]
        per_row = 2 * self.values["m"] + (chunk if causal else 0)
        return block_rows(problem, per_row, chunk if causal else 1)

    def build(self, problem, q, k, v):
        fmap = self.feature_map(problem, q.device)
        causal = problem.mask_kind == "causal"
        chunk, block = self.values["chunk"], self.block(problem)
        valid = None
        if problem.mask_kind == "padding":
            valid = key_validity(problem.mask.lengths, problem.kv_seq_len, q.device, fmap.compute_dtype)
        return lambda: attend(q, k, v, fmap, causal=causal, chunk=chunk, block=block, key_valid=valid)

    def flops(self, problem):
        """Matmul FLOPs: feature projections, key states, query reads, causal intra-chunk products."""
        b, h, h_kv, d, m = problem.batch, problem.heads, problem.kv_heads, problem.head_dim, self.values["m"]
        q_len, kv_len = problem.seq_len, problem.kv_seq_len
        intra = 0
        if problem.mask_kind == "causal":
            chunk = min(self.values["chunk"], q_len)
            kv_len = min(kv_len, q_len)
            intra = 2 * q_len * chunk * (m + d + 1) * h
        features = 2 * m * d * (q_len * h + kv_len * h_kv)
        states = 2 * kv_len * m * (d + 1) * h_kv
        reads = 2 * q_len * m * (d + 1) * h
        return float(b * (features + states + reads + intra)) * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        m, chunk = self.values["m"], self.values["chunk"]
        per_row = 3 * m + (2 * chunk if problem.mask_kind == "causal" else 0)
        saved = problem.batch * problem.heads * problem.seq_len * per_row * 4
        return problem.min_bytes() + (saved if problem.needs_grad else 0) + 4 * (4 << 20)
