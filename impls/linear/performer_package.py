"""performer-pytorch: the ``performer-pytorch`` package's FastAttention, run as a new user would.

A peer of our ``performer``: same m, its own projection drawn from torch's global generator
seeded with the recorded ``seed`` when built. Without fast-transformers' CUDA kernel its causal
path is the package's pure-PyTorch fallback (it says so on stdout, silenced here). GQA keys and
values are repeated to every query head, since FastAttention wants equal head counts.
"""

from __future__ import annotations

import contextlib
import io
import math
import warnings

import torch

from ..registry import Reason, register
from ._common import Approximation


@register
class PerformerPytorch(Approximation):
    name = "performer-pytorch"
    description = "performer_pytorch.FastAttention (lucidrains), FAVOR+ with its default orthogonal features"
    dtypes = frozenset({torch.float32, torch.bfloat16})
    mask_kinds = frozenset({"none", "causal"})
    requires = ("performer_pytorch",)
    install_hint = "'attnbench[linear]' (performer-pytorch)"
    params = {"m": 256, "seed": 0}
    shown_params = ("m",)
    variants = ({"m": 256},)
    efficiency = 0.03

    def check_params(self):
        self.positive_params("m")

    def missing_packages(self):
        reasons = super().missing_packages()
        if reasons:
            return reasons
        try:  # installed is not importable: its own imports (einops, local-attention, ...) may be missing
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # it still imports distutils' LooseVersion
                import performer_pytorch  # noqa: F401
        except ImportError as exc:
            return [Reason("missing-package", f"performer_pytorch cannot be imported ({exc}); "
                                              f"install with: pip install {self.install_hint}")]
        return []

    def build(self, problem, q, k, v):
        from performer_pytorch import FastAttention

        with torch.random.fork_rng(devices=[]), contextlib.redirect_stdout(io.StringIO()):
            torch.manual_seed(self.values["seed"])
            attention = FastAttention(dim_heads=problem.head_dim, nb_features=self.values["m"],
                                      causal=problem.mask_kind == "causal")
        attention = attention.to(q.device)
        groups = problem.gqa_ratio
        # FastAttention assumes scale 1/√d (it scales q and k by d^-1/4); other scales are folded in.
        rescale = (problem.softmax_scale * math.sqrt(problem.head_dim)) ** 0.5

        def run():
            keys = k.repeat_interleave(groups, dim=1) if groups > 1 else k
            values = v.repeat_interleave(groups, dim=1) if groups > 1 else v
            if rescale != 1.0:
                return attention(q * rescale, keys * rescale, values)
            return attention(q, keys, values)

        return run

    def flops(self, problem):
        """The same cost model as our performer (GQA keys are expanded, so they count per query head)."""
        b, h, d, m = problem.batch, problem.heads, problem.head_dim, self.values["m"]
        q_len, kv_len = problem.seq_len, problem.kv_seq_len
        features = 2 * m * d * (q_len + kv_len) * h
        states = 2 * kv_len * m * (d + 1) * h
        reads = 2 * q_len * m * (d + 1) * h
        if problem.mask_kind == "causal":  # per-token outer products, summed by cumsum
            states = reads = 2 * q_len * m * d * h
        return float(b * (features + states + reads)) * (3.5 if problem.needs_grad else 1.0)

    def time_estimate(self, problem, peak_flops):
        if problem.mask_kind != "causal":
            return super().time_estimate(problem, peak_flops)
        # The causal fallback is memory-bound: about three passes over per-token (m × d) outer products,
        # predicted at 1 GB/s (what a 2-core VM reaches once its pieces outgrow the cache: L=8192 took 3.2 s).
        elements = problem.batch * problem.heads * problem.seq_len * self.values["m"] * problem.head_dim
        return 3 * elements * 4 / 1e9 * (3.5 if problem.needs_grad else 1.0)

    def memory_estimate(self, problem):
        b, h, m, d = problem.batch, problem.heads, self.values["m"], problem.head_dim
        features = 6 * b * h * (problem.seq_len + problem.kv_seq_len) * m * 4
        if problem.mask_kind == "causal":
            # the fallback splits the sequence into 128 pieces and holds (piece × m × d) outer products
            piece = -(-problem.seq_len // 128)
            features += 3 * b * h * piece * m * d * 4 * (128 if problem.needs_grad else 1)
        return problem.min_bytes() + features
