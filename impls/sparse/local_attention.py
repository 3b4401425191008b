"""local-attention: lucidrains' ``local_attention.LocalAttention`` as a peer (optional extra 'sparse').

``local-attention[w=256]`` imposes ``sliding-window[w=256]`` (``causal=0``: symmetric) with the
package's bucketed kernel: buckets of w queries look one bucket back (and, symmetric, one ahead), and
``exact_windowsize=True`` trims the buckets to the exact window, so it computes the same mask as
``sliding-window[w=...]`` and its error against that mask is rounding only.
"""

from __future__ import annotations

import torch

from ..masks import SlidingWindow
from ..registry import Reason, register
from ._pattern import Pattern


@register
class LocalAttentionPeer(Pattern):
    name = "local-attention"
    description = "local_attention.LocalAttention (lucidrains), exact window size, as users call it"
    pattern = SlidingWindow
    params = {"w": 256, "causal": True}
    requires = ("local_attention",)
    install_hint = "'attnbench[sparse]' (or: pip install local-attention)"
    dtypes = frozenset({torch.float32, torch.float64, torch.bfloat16, torch.float16})
    cross_lengths = False
    efficiency = 0.1

    def check_params(self):
        if self.values["w"] < 1:
            raise ValueError(f"local-attention w={self.values['w']} must be at least 1 (its bucket size)")

    def kernel(self, patterned):
        return self

    def extra_reasons(self, problem):
        try:
            self.pattern_problem(problem)
        except ValueError as exc:
            return [Reason("params", f"{self.full_name} does not fit this problem: {exc}")]
        return []

    def build(self, problem, q, k, v):
        from local_attention import LocalAttention

        w, causal = self.values["w"], self.values["causal"]
        attention = LocalAttention(window_size=w, causal=causal, look_backward=1, look_forward=0 if causal else 1,
                                   exact_windowsize=True, autopad=True, scale=problem.softmax_scale)
        groups, seq_len = problem.gqa_ratio, problem.seq_len
        # autopad pads keys with zeros; a symmetric window would reach them, so mark them as padding.
        key_mask = None if causal or seq_len % w == 0 else torch.ones(1, seq_len, dtype=torch.bool, device=q.device)

        def run():
            keys = k.repeat_interleave(groups, dim=1) if groups > 1 else k  # the package has no GQA
            values = v.repeat_interleave(groups, dim=1) if groups > 1 else v
            return attention(q, keys, values, mask=key_mask)

        return run

    def executed_flops(self, problem):
        w = self.values["w"]
        buckets = -(-problem.seq_len // w)
        keys = w * (2 if self.values["causal"] else 3)
        return 2.0 * problem.batch * problem.heads * buckets * w * keys * 2 * problem.head_dim * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        w = self.values["w"]
        buckets = -(-problem.seq_len // w)
        scores = problem.batch * problem.heads * buckets * w * w * (2 if self.values["causal"] else 3) * 4
        return problem.min_bytes() + 3 * scores + 4 * problem.input_bytes()
