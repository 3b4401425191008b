"""``captured:PATH``: q, k, v recorded from a real model's attention (``python -m impls capture``).

A captured set fixes heads, kv_heads and head_dim; its items are the kept calls' batch entries in
call (layer) order, so a problem of batch B takes the first B items. Lengths up to the captured
length are prefixes: queries are rows 0..seq_len-1, keys and values rows 0..kv_seq_len-1, exactly
what the model computed on the first tokens of its text (the model was causal, so a causal
problem on a prefix is what the model attended). The seed does not change a captured set.

Two rescalings keep the numbers meaningful and change no attention weight: queries are scaled by
the model's softmax scale over the problem's, so the problem's scale reproduces the model's logits;
values are scaled to unit RMS per item (the dtype tolerances assume unit-size values; rel-L2 does
not depend on it). ``captured:charlm`` is the set this package ships (scripts/train_charlm.py).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import torch

DATA = Path(__file__).resolve().parent / "data"
SHIPPED = {"charlm": DATA / "charlm.safetensors"}


def resolve(target: str) -> Path:
    """The file a ``captured:`` target names: a shipped alias or a path."""
    return SHIPPED.get(target, Path(target))


@dataclass(frozen=True)
class CapturedSet:
    name: str
    heads: int
    kv_heads: int
    head_dim: int
    length: int
    items: tuple[tuple[torch.Tensor, torch.Tensor, torch.Tensor, float], ...]  # q, k, v (heads, len, dim), model scale

    @property
    def batch(self) -> int:
        return len(self.items)

    def facts(self) -> str:
        return (f"heads={self.heads}, kv_heads={self.kv_heads}, head_dim={self.head_dim}, "
                f"seq_len and kv_seq_len <= {self.length}, batch <= {self.batch}")


@functools.lru_cache(maxsize=8)
def _load(path: str, modified: float) -> CapturedSet:
    from impls.capture import read_captured

    metadata, tensors = read_captured(path)
    items, shape = [], None
    for call in metadata["calls"]:
        if call["index"] not in metadata["kept"]:
            continue
        q, k, v = (tensors[f"call{call['index']}.{name}"] for name in ("q", "k", "v"))
        if q.dim() != 4:
            continue  # only (batch, heads, seq, dim) calls make problems
        this_shape = (q.shape[1], k.shape[1], q.shape[3])
        shape = shape or this_shape
        if this_shape != shape:
            continue  # a set mixing head shapes serves its first shape
        scale = call["scale"] if call["scale"] is not None else q.shape[-1] ** -0.5
        items += [(q[b], k[b], v[b], scale) for b in range(q.shape[0])]
    if not items:
        raise ValueError(f"captured set {path} holds no (batch, heads, seq, head_dim) call")
    length = min(min(q.shape[1], k.shape[1]) for q, k, _, _ in items)
    return CapturedSet(Path(path).stem, shape[0], shape[1], shape[2], length, tuple(items))


def load(target: str) -> CapturedSet:
    path = resolve(target)
    if not path.is_file():
        shipped = ", ".join(f"captured:{name}" for name in SHIPPED)
        raise ValueError(f"captured set {target!r} not found (give a file written by python -m impls capture, or {shipped})")
    return _load(str(path), path.stat().st_mtime)


def conflicts(problem, target: str) -> list[str]:
    """Why the problem cannot take its inputs from this set; empty when it can."""
    captured = load(target)
    wanted = {"heads": captured.heads, "kv_heads": captured.kv_heads, "head_dim": captured.head_dim}
    wrong = [f"{axis}={getattr(problem, axis)}" for axis, value in wanted.items() if getattr(problem, axis) != value]
    wrong += [f"{axis}={getattr(problem, axis)}" for axis in ("seq_len", "kv_seq_len") if getattr(problem, axis) > captured.length]
    if problem.batch > captured.batch:
        wrong.append(f"batch={problem.batch}")
    if not wrong:
        return []
    return [f"inputs captured:{target} fix {captured.facts()} (this problem has {', '.join(wrong)})"]


def make(problem, seed: int, target: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """float32 CPU tensors: the first ``batch`` items, cut to the problem's lengths."""
    reasons = conflicts(problem, target)
    if reasons:
        raise ValueError(reasons[0])
    queries, keys, values = [], [], []
    for q, k, v, model_scale in load(target).items[:problem.batch]:
        queries.append(q[:, :problem.seq_len].float() * (model_scale / problem.softmax_scale))
        rms = v.float().pow(2).mean().sqrt().clamp_min(1e-12)
        keys.append(k[:, :problem.kv_seq_len].float())
        values.append(v[:, :problem.kv_seq_len].float() / rms)
    return torch.stack(queries), torch.stack(keys), torch.stack(values)
