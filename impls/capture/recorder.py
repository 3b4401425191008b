"""Record every ``scaled_dot_product_attention`` call a model makes, with no model-specific code.

A ``torch.overrides.TorchFunctionMode`` sees each call of a torch function made from Python while
it is active, so running any model's forward pass inside :class:`SdpaRecorder` captures the
query, key and value of each attention layer in call order (layer order for a plain forward
pass), with its causal flag, scale, dropout and mask. Calls made inside C++ (for example
``nn.MultiheadAttention``'s fused fast path) never reach Python and are not seen.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

# scaled_dot_product_attention's parameters, in order (it is a builtin: no introspectable signature).
SDPA_PARAMETERS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
SDPA_DEFAULTS = {"attn_mask": None, "dropout_p": 0.0, "is_causal": False, "scale": None, "enable_gqa": False}


@dataclass
class SdpaCall:
    """One recorded call: its arguments, on the CPU; tensors are None for calls not kept."""

    index: int
    query_shape: tuple[int, ...]
    key_shape: tuple[int, ...]
    value_shape: tuple[int, ...]
    dtype: str
    is_causal: bool
    scale: float | None
    dropout_p: float
    enable_gqa: bool
    mask: dict | None  # shape, dtype and kind ("causal" when it equals the causal mask, else "tensor")
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)  # q, k, v and mask when kept

    def metadata(self) -> dict:
        return {
            "index": self.index, "query_shape": list(self.query_shape), "key_shape": list(self.key_shape),
            "value_shape": list(self.value_shape), "dtype": self.dtype, "is_causal": self.is_causal,
            "scale": self.scale, "dropout_p": self.dropout_p, "enable_gqa": self.enable_gqa, "mask": self.mask,
        }


def bind_sdpa_arguments(args: tuple, kwargs: dict) -> dict:
    bound = dict(SDPA_DEFAULTS)
    bound.update(zip(SDPA_PARAMETERS, args))
    bound.update(kwargs)
    return bound


def describe_mask(mask: torch.Tensor | None, q_len: int, kv_len: int) -> dict | None:
    if mask is None:
        return None
    kind = "tensor"
    if mask.dtype == torch.bool and mask.shape[-2:] == (q_len, kv_len):
        causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=mask.device).tril()
        kind = "causal" if bool((mask == causal).all()) else "tensor"
    return {"shape": list(mask.shape), "dtype": str(mask.dtype).removeprefix("torch."), "kind": kind}


class SdpaRecorder(TorchFunctionMode):
    """Use as a context manager around a forward pass; ``calls`` then holds one SdpaCall per call.

    ``keep`` decides, from the call index, whether the tensors are copied (metadata is always kept),
    so a large model can be captured one layer at a time without holding every layer's q, k, v.
    """

    def __init__(self, keep=lambda index: True):
        super().__init__()
        self.keep = keep
        self.calls: list[SdpaCall] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention:
            self.calls.append(self._record(bind_sdpa_arguments(args, kwargs)))
        return func(*args, **kwargs)

    def _record(self, bound: dict) -> SdpaCall:
        q, k, v, mask = bound["query"], bound["key"], bound["value"], bound["attn_mask"]
        index = len(self.calls)
        call = SdpaCall(
            index=index, query_shape=tuple(q.shape), key_shape=tuple(k.shape), value_shape=tuple(v.shape),
            dtype=str(q.dtype).removeprefix("torch."), is_causal=bool(bound["is_causal"]),
            scale=None if bound["scale"] is None else float(bound["scale"]), dropout_p=float(bound["dropout_p"]),
            enable_gqa=bool(bound["enable_gqa"]), mask=describe_mask(mask, q.shape[-2], k.shape[-2]),
        )
        if self.keep(index):
            call.tensors = {name: t.detach().to("cpu", copy=True) for name, t in (("q", q), ("k", k), ("v", v))}
            if mask is not None and call.mask["kind"] == "tensor":
                call.tensors["mask"] = mask.detach().to("cpu", copy=True)
        return call


def record_sdpa_calls(run, keep=lambda index: True) -> list[SdpaCall]:
    """Call ``run()`` (a forward pass) without gradients and return the SDPA calls it made."""
    recorder = SdpaRecorder(keep)
    with torch.no_grad(), recorder:
        run()
    return recorder.calls
