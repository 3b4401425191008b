"""flex: FlexAttention under torch.compile, masks as block masks built once in build()."""

from __future__ import annotations

import torch

from ..registry import Impl, Reason, register

_compiled = None


def compiled_flex_attention():
    """One compiled flex_attention per process; dynamo's cache keeps one graph per shape."""
    global _compiled
    if _compiled is None:
        import torch._dynamo
        from torch.nn.attention.flex_attention import flex_attention

        # A sweep visits many shapes; past the default limit dynamo would silently fall back
        # to the eager path, which materializes the score matrix and times something else.
        for knob in ("cache_size_limit", "recompile_limit"):
            if hasattr(torch._dynamo.config, knob):
                setattr(torch._dynamo.config, knob, max(64, getattr(torch._dynamo.config, knob)))
        _compiled = torch.compile(flex_attention, dynamic=False)
    return _compiled


def build_block_mask(problem, device):
    """FlexAttention's block mask for the problem's mask (None for no mask), built on ``device``."""
    if problem.mask is None:
        return None
    from torch.nn.attention.flex_attention import create_block_mask

    batch = problem.batch if problem.mask.batch_dependent else None
    return create_block_mask(problem.mask.predicate(device), batch, None, problem.seq_len, problem.kv_seq_len,
                             device=device)


@register
class Flex(Impl):
    name = "flex"
    family = "exact"
    description = "torch.nn.attention.flex_attention compiled with torch.compile; masks as block masks"
    dtypes = frozenset({torch.float32, torch.float16, torch.bfloat16})
    efficiency = 0.2
    compile_seconds = 60.0  # torch.compile per shape: 20-170 s on a loaded 2-core CPU

    def extra_reasons(self, problem):
        if problem.device_type == "cpu" and problem.needs_grad:
            return [Reason("mode", "mode=fwd+bwd: FlexAttention does not support backward on CPU (supported: fwd)")]
        if problem.device_type == "cpu" and problem.dtype == torch.float16:
            return [Reason("dtype", "dtype=float16: FlexAttention's CPU path supports float32 and bfloat16")]
        return []

    def build(self, problem, q, k, v):
        flex = compiled_flex_attention()
        block_mask = build_block_mask(problem, q.device)
        gqa = problem.kv_heads != problem.heads
        scale = problem.softmax_scale

        def run():
            return flex(q, k, v, block_mask=block_mask, scale=scale, enable_gqa=gqa)

        return run

    def executed_flops(self, problem):
        return problem.flops()
