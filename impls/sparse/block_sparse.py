"""block-sparse: our block-gather kernel, exact for any mask cut into blocks.

The problem's mask is cut into ``block`` × ``block`` tiles; only the tiles it keeps are computed
(see _blocks). Strided, fixed and BigBird layouts at their own block size are read in closed form;
any other mask's layout is derived from its predicate once in build(). Work and memory are
O(L · kept blocks per row · block), never O(L²) unless the mask itself keeps O(L²) pairs.
"""

from __future__ import annotations

from ..registry import Impl, register
from ._blocks import BlockGather
from .banded import ALL_DTYPES


@register
class BlockSparse(Impl):
    name = "block-sparse"
    family = "sparse"
    description = "our block-gather kernel: each query block against the key blocks its mask keeps; exact for any mask"
    dtypes = ALL_DTYPES
    params = {"block": 64}
    efficiency = 0.15  # gathers and small bmm tiles; only used to predict time for budgets

    def check_params(self):
        if self.values["block"] < 1:
            raise ValueError(f"block-sparse block={self.values['block']} must be at least 1")

    def build(self, problem, q, k, v):
        kernel = BlockGather(problem.mask, batch=problem.batch, q_len=problem.seq_len, kv_len=problem.kv_seq_len,
                             heads=problem.heads, kv_heads=problem.kv_heads, block=self.values["block"], device=q.device)
        scale = problem.softmax_scale
        return lambda: kernel(q, k, v, scale)

    def _executed_pairs(self, problem) -> int:
        # Before build the layout is unknown: whole tiles along the kept pairs, at most the dense count.
        dense = problem.seq_len * problem.kv_seq_len
        per_item = problem.pairs() // problem.batch
        return min(dense, per_item + 2 * problem.seq_len * self.values["block"])

    def executed_flops(self, problem):
        pairs = problem.batch * problem.heads * self._executed_pairs(problem)
        return 2.0 * pairs * 2 * problem.head_dim * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        pairs = problem.batch * problem.heads * self._executed_pairs(problem)
        gathered = 2 * pairs // self.values["block"] * problem.head_dim * problem.element_size() * problem.kv_heads // problem.heads
        saved = pairs * 4 * 2 if problem.needs_grad else 1 << 22
        return problem.min_bytes() + gathered + saved + pairs // problem.heads
