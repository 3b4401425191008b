"""Problem: what attention must be computed, independent of how.

Layout is (batch, heads, seq, head_dim) for queries and (batch, kv_heads, kv_seq, head_dim) for
keys and values; kv_heads < heads means grouped-query (GQA) or multi-query (MQA) attention.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import torch

from store.records import PROBLEM_FIELDS, problem_label

from . import inputs as input_distributions
from .masks import Mask, kind_of, parse_mask

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "float64": torch.float64,
}
_DTYPE_ALIASES = {"fp32": "float32", "fp16": "float16", "half": "float16", "bf16": "bfloat16", "fp64": "float64"}
MODES = ("fwd", "fwd+bwd")
# Backward costs about 2.5 forwards (two matmuls each for dQ, dK/dV, and recomputation).
MODE_FLOP_FACTOR = {"fwd": 1.0, "fwd+bwd": 3.5}


def parse_dtype(value: str | torch.dtype) -> torch.dtype:
    if isinstance(value, torch.dtype):
        if value not in DTYPES.values():
            raise ValueError(f"dtype={value} is not supported (supported: {', '.join(DTYPES)})")
        return value
    name = _DTYPE_ALIASES.get(str(value).lower(), str(value).lower().removeprefix("torch."))
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {value!r} (accepted: {', '.join(DTYPES)}, or fp32, fp16, bf16, fp64)")
    return DTYPES[name]


def dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def parse_device(value: str | torch.device) -> torch.device:
    try:
        device = torch.device(value)
    except (RuntimeError, TypeError):
        raise ValueError(f"unknown device {value!r} (accepted: cpu, cuda, cuda:N)") from None
    if device.type not in ("cpu", "cuda"):
        raise ValueError(f"device={value!r} is not supported (accepted: cpu, cuda, cuda:N)")
    return device


@dataclass(frozen=True)
class Problem:
    batch: int
    seq_len: int
    heads: int
    head_dim: int
    kv_heads: int | None = None  # None: same as heads
    kv_seq_len: int | None = None  # None: same as seq_len
    dtype: torch.dtype | str = torch.float32
    device: str | torch.device = "cpu"
    mask: Mask | str | None = None
    dropout: float = 0.0
    mode: str = "fwd"
    scale: float | None = None  # None: 1/sqrt(head_dim)
    extra: tuple = field(default=(), compare=True)  # (key, value) pairs that suites attach, e.g. model_dim
    inputs: str = input_distributions.DEFAULT  # the q, k, v distribution: gaussian, synthetic, captured:PATH

    def __post_init__(self) -> None:
        for name in ("batch", "seq_len", "heads", "head_dim"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        set_ = lambda name, value: object.__setattr__(self, name, value)  # noqa: E731 (frozen dataclass)
        if self.kv_heads is None:
            set_("kv_heads", self.heads)
        if self.kv_seq_len is None:
            set_("kv_seq_len", self.seq_len)
        for name in ("kv_heads", "kv_seq_len"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"{name}={value!r} must be a positive integer")
        if self.heads % self.kv_heads:
            raise ValueError(f"heads={self.heads} is not divisible by kv_heads={self.kv_heads} (kv_heads must divide heads)")
        set_("dtype", parse_dtype(self.dtype))
        set_("device", str(parse_device(self.device)))
        if self.mode not in MODES:
            raise ValueError(f"mode={self.mode!r} is not supported (accepted: {', '.join(MODES)})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout={self.dropout!r} must be in [0, 1)")
        mask = parse_mask(self.mask, self.batch, self.seq_len, self.kv_seq_len)
        if mask is not None:
            mask.validate(self.batch, self.seq_len, self.kv_seq_len)
        set_("mask", mask)
        set_("inputs", input_distributions.parse_inputs(self.inputs))

    # --- derived facts -------------------------------------------------------------------------
    @property
    def mask_kind(self) -> str:
        return kind_of(self.mask)

    @property
    def device_type(self) -> str:
        return torch.device(self.device).type

    @property
    def gqa_ratio(self) -> int:
        return self.heads // self.kv_heads

    @property
    def softmax_scale(self) -> float:
        return self.scale if self.scale is not None else 1.0 / math.sqrt(self.head_dim)

    @property
    def needs_grad(self) -> bool:
        return self.mode == "fwd+bwd"

    def pairs(self) -> int:
        """Useful (query, key) pairs per head summed over the batch; masked pairs excluded."""
        if self.mask is None:
            return self.batch * self.seq_len * self.kv_seq_len
        return self.mask.pairs(self.batch, self.seq_len, self.kv_seq_len)

    def flops(self) -> float:
        """Useful FLOPs of softmax attention: 2·P·(d_qk + d_v)·H forward, ×3.5 for fwd+bwd."""
        return 2.0 * self.pairs() * (2 * self.head_dim) * self.heads * MODE_FLOP_FACTOR[self.mode]

    def element_size(self) -> int:
        return torch.tensor([], dtype=self.dtype).element_size()

    def input_bytes(self) -> int:
        q = self.batch * self.heads * self.seq_len * self.head_dim
        kv = 2 * self.batch * self.kv_heads * self.kv_seq_len * self.head_dim
        return (q + kv) * self.element_size()

    def min_bytes(self) -> int:
        """Bytes a perfect kernel must move: read q, k, v and write o (and their gradients in fwd+bwd)."""
        out = self.batch * self.heads * self.seq_len * self.head_dim * self.element_size()
        forward = self.input_bytes() + out
        return forward if self.mode == "fwd" else 2 * forward + out

    def with_(self, **changes) -> Problem:
        return dataclasses.replace(self, **changes)

    # --- inputs ----------------------------------------------------------------------------------
    def make_inputs(self, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v drawn from the problem's input distribution (never zeros), identical for a seed on every
        device; ``gaussian`` is standard normal. A ValueError says when a captured set cannot fit the shapes."""
        return input_distributions.make_inputs(self, seed)

    def input_conflicts(self) -> list[str]:
        """Why this problem's input distribution cannot have its shapes; empty when it can."""
        return input_distributions.conflicts(self)

    def make_grad_output(self, seed: int = 0) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed + 7919)
        shape = (self.batch, self.heads, self.seq_len, self.head_dim)
        return torch.randn(shape, generator=generator).to(device=self.device, dtype=self.dtype)

    # --- naming and records -------------------------------------------------------------------------
    def id(self) -> str:
        """Short, stable, human-readable identifier used in test ids and file names (store.records.problem_label)."""
        return problem_label(self.to_dict())

    def to_dict(self) -> dict:
        return {
            "batch": self.batch, "seq_len": self.seq_len, "kv_seq_len": self.kv_seq_len,
            "heads": self.heads, "kv_heads": self.kv_heads, "head_dim": self.head_dim,
            "dtype": dtype_name(self.dtype), "device": self.device,
            "mask": self.mask.spec() if self.mask is not None else "none", "mask_kind": self.mask_kind,
            "dropout": self.dropout, "mode": self.mode, "scale": self.softmax_scale, "inputs": self.inputs,
            **{str(k): v for k, v in self.extra},
        }

    @classmethod
    def from_dict(cls, fields: dict) -> Problem:
        """The inverse of :meth:`to_dict` (a record's ``problem``): ``Problem.from_dict(p.to_dict()) == p``.

        ``mask_kind`` is derived, a scale of 1/sqrt(head_dim) is the default, and every field that is
        not the problem's own is an extra, in its order.
        """
        own = {key: value for key, value in fields.items() if key in PROBLEM_FIELDS and key != "mask_kind"}
        if own.get("mask") == "none":
            own["mask"] = None
        if own.get("scale") is not None and own["scale"] == 1.0 / math.sqrt(own["head_dim"]):
            own["scale"] = None
        extra = tuple((key, value) for key, value in fields.items() if key not in PROBLEM_FIELDS)
        return cls(**own, extra=extra)
