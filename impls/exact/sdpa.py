"""sdpa: torch.nn.functional.scaled_dot_product_attention, by its own dispatch and pinned to each backend.

A pinned backend's verdict on a problem comes from PyTorch itself: a tiny probe with the same
dtype, device, head_dim, mask form, GQA, dropout and grad requirement runs under
``sdpa_kernel(backend)``, and PyTorch's warnings and error become the reason.
"""

from __future__ import annotations

import functools
import warnings

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

from ..registry import Impl, Reason, register


def mask_arguments(problem, device) -> dict:
    """The cheapest SDPA form of the problem's mask: nothing, is_causal, or a broadcastable bool mask."""
    mask = problem.mask
    if mask is None:
        return {}
    if mask.kind == "causal":
        return {"is_causal": True}  # top-left aligned, like our Causal mask
    if mask.kind == "padding":  # depends on the key only: one row broadcasts over all queries
        rows = torch.zeros(1, dtype=torch.long)
        return {"attn_mask": mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, device, rows=rows)}
    return {"attn_mask": mask.dense(problem.batch, problem.seq_len, problem.kv_seq_len, device)}


def sdpa_call(q, k, v, problem, mask_args, dropout_p):
    return F.scaled_dot_product_attention(
        q, k, v, dropout_p=dropout_p, scale=problem.softmax_scale,
        enable_gqa=problem.kv_heads != problem.heads, **mask_args,
    )


class _Sdpa(Impl):
    family = "exact"
    dropout = True
    backend: SDPBackend | None = None
    efficiency = 0.5

    def build(self, problem, q, k, v):
        mask_args = mask_arguments(problem, q.device)
        dropout_p = problem.dropout
        backend = self.backend
        if backend is None:
            return lambda: sdpa_call(q, k, v, problem, mask_args, dropout_p)

        def pinned():
            with sdpa_kernel(backend):
                return sdpa_call(q, k, v, problem, mask_args, dropout_p)

        return pinned

    def extra_reasons(self, problem):
        if self.backend is None:
            return []
        verdict = _probe(self.backend, *_probe_key(problem))
        return [] if verdict is None else [Reason("backend", f"{self.name} cannot run this problem: {verdict}")]

    def memory_estimate(self, problem):
        if self.backend == SDPBackend.MATH or (self.backend is None and problem.device_type == "cpu" and problem.dropout):
            scores = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len * problem.element_size()
            return problem.min_bytes() + scores * (3 if problem.mode == "fwd" else 5)
        return problem.min_bytes() * 2

    def executed_flops(self, problem):
        # Only the causal form lets the fused kernels skip masked blocks.
        if problem.mask is None or problem.mask_kind == "causal":
            return problem.flops()
        return problem.with_(mask=None).flops()


def _probe_key(problem) -> tuple:
    return (problem.device, problem.dtype, problem.head_dim, problem.mask_kind, problem.kv_heads != problem.heads,
            problem.dropout > 0, problem.needs_grad, problem.seq_len != problem.kv_seq_len)


@functools.cache
def _probe(backend, device, dtype, head_dim, mask_kind, gqa, dropout, needs_grad, cross) -> str | None:
    """Run a tiny problem of the same form under the pinned backend; None if PyTorch accepts it."""
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        return "CUDA is not available"
    batch, heads, q_len = 2, 4, 16
    kv_heads, kv_len = (2 if gqa else heads), (24 if cross else q_len)
    make = lambda h, n: torch.randn(batch, h, n, head_dim, device=device, dtype=dtype, requires_grad=needs_grad)  # noqa: E731
    q, k, v = make(heads, q_len), make(kv_heads, kv_len), make(kv_heads, kv_len)
    kwargs = {"dropout_p": 0.1 if dropout else 0.0, "enable_gqa": gqa}
    if mask_kind == "causal":
        kwargs["is_causal"] = True
    elif mask_kind == "padding":
        kwargs["attn_mask"] = torch.arange(kv_len, device=device)[None, None, None, :] < torch.tensor([kv_len, 5], device=device)[:, None, None, None]
    elif mask_kind != "none":
        kwargs["attn_mask"] = torch.ones(q_len, kv_len, dtype=torch.bool, device=device).tril()[None, None]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with sdpa_kernel(backend):
                out = F.scaled_dot_product_attention(q, k, v, **kwargs)
                if needs_grad:
                    out.sum().backward()
        except (RuntimeError, NotImplementedError, ValueError) as exc:
            said = [str(w.message).strip() for w in caught if "sdp" in str(w.message).lower() or "attention" in str(w.message).lower()]
            detail = "; ".join(dict.fromkeys(said)) or f"PyTorch: {str(exc).splitlines()[0]}"
            if torch.device(device).type == "cpu" and not said:
                detail += " (on CPU PyTorch provides only the math and flash backends)"
            return " ".join(detail.split())
    return None


def _entry(entry_name: str, backend: SDPBackend | None, text: str):
    # The math backend materializes the score matrix like `naive` and runs about as fast.
    efficiency = 0.12 if backend == SDPBackend.MATH else _Sdpa.efficiency
    cls = type(f"Sdpa_{entry_name.replace('-', '_')}", (_Sdpa,), {
        "name": entry_name, "backend": backend, "description": text, "__module__": __name__, "efficiency": efficiency,
    })
    return register(cls)


_entry("sdpa", None, "scaled_dot_product_attention with PyTorch's own backend choice")
_entry("sdpa-math", SDPBackend.MATH, "SDPA pinned to the math backend (reference C++ composite)")
_entry("sdpa-flash", SDPBackend.FLASH_ATTENTION, "SDPA pinned to the FlashAttention backend (a CPU flash kernel on CPU)")
_entry("sdpa-efficient", SDPBackend.EFFICIENT_ATTENTION, "SDPA pinned to the memory-efficient (xformers-derived) backend")
_entry("sdpa-cudnn", SDPBackend.CUDNN_ATTENTION, "SDPA pinned to the cuDNN backend")
