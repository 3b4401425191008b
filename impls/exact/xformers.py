"""xformers: memory_efficient_attention, with xformers' dispatcher choosing the operator.

xformers runs on CUDA only. When it is installed, its own dispatcher explains why it cannot run
a problem; when it is not, the reason says how to install it.
"""

from __future__ import annotations

import torch

from ..registry import Impl, Reason, register


def _bias(problem, device, dtype):
    """xformers' form of the mask: None, its lower-triangular mask, or a dense additive bias."""
    from xformers.ops import fmha

    mask = problem.mask
    if mask is None:
        return None
    if mask.kind == "causal":
        return fmha.attn_bias.LowerTriangularMask()  # top-left aligned, like our Causal
    allowed = mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, device)
    bias = torch.zeros(allowed.shape, device=device, dtype=dtype).masked_fill(~allowed, float("-inf"))
    # xformers wants one bias per head (BMGHK layout: batch, groups, heads-per-group, q, k).
    shape = (problem.batch, problem.kv_heads, problem.gqa_ratio, problem.seq_len, problem.kv_seq_len)
    return bias[:, :, None].expand(shape) if problem.gqa_ratio > 1 else bias.expand(
        problem.batch, problem.heads, problem.seq_len, problem.kv_seq_len)


def _to_xformers_layout(problem, q, k, v):
    """(B, H, M, K) → (B, M, H, K); with GQA the 5-D (B, M, G, H/G, K) form, k/v broadcast over H/G."""
    if problem.gqa_ratio == 1:
        return q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)
    groups, per_group = problem.kv_heads, problem.gqa_ratio
    q5 = q.unflatten(1, (groups, per_group)).permute(0, 3, 1, 2, 4)
    expand = lambda t: t.transpose(1, 2)[:, :, :, None].expand(-1, -1, -1, per_group, -1)  # noqa: E731
    return q5, expand(k), expand(v)


def _from_xformers_layout(problem, out):
    if problem.gqa_ratio == 1:
        return out.transpose(1, 2)
    return out.flatten(2, 3).transpose(1, 2)


@register
class Xformers(Impl):
    name = "xformers"
    family = "exact"
    description = "xformers.ops.memory_efficient_attention (operator chosen by xformers' dispatcher)"
    devices = frozenset({"cuda"})
    dtypes = frozenset({torch.float32, torch.float16, torch.bfloat16})
    requires = ("xformers",)
    install_hint = "'attnbench[xformers]' (CUDA builds only)"
    dropout = True
    efficiency = 0.5

    def not_supported_reasons(self, problem):
        reasons = super().not_supported_reasons(problem)
        if self.missing_packages() or not any(r.code == "device" for r in reasons):
            return reasons
        # Installed, but on a device the data rules out: let xformers say why in its own words.
        own = self._dispatcher_verdict(problem)
        return [Reason("device", own)] + [r for r in reasons if r.code != "device"] if own else reasons

    def extra_reasons(self, problem):
        verdict = self._dispatcher_verdict(problem)
        return [Reason("backend", verdict)] if verdict else []

    def _dispatcher_verdict(self, problem) -> str | None:
        from xformers.ops import fmha

        q, k, v = problem.with_(batch=1, seq_len=min(problem.seq_len, 16), kv_seq_len=min(problem.kv_seq_len, 16),
                                mask=None if problem.mask_kind == "padding" else problem.mask).make_inputs(0)
        small = problem.with_(batch=1, seq_len=q.shape[2], kv_seq_len=k.shape[2], mask=None)
        try:
            inp = fmha.Inputs(*_to_xformers_layout(small, q, k, v), attn_bias=None, p=problem.dropout)
            fmha._dispatch_fw(inp, problem.needs_grad)
        except NotImplementedError as exc:
            return "xformers: " + " ".join(str(exc).split())[:600]
        return None

    def build(self, problem, q, k, v):
        from xformers.ops import memory_efficient_attention

        qx, kx, vx = _to_xformers_layout(problem, q, k, v)
        bias = _bias(problem, q.device, q.dtype)
        p, scale = problem.dropout, problem.softmax_scale

        def run():
            return _from_xformers_layout(problem, memory_efficient_attention(qx, kx, vx, attn_bias=bias, p=p, scale=scale))

        return run
