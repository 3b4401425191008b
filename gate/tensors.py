"""Tensors between a gate's workers: the yardstick's inputs, each side's outputs, and their hash.

Files in the run's data folder, one per cell and role (``<index>.inputs.pt``, ``<index>.<side>.pt``),
written with ``torch.save`` and read back with ``weights_only=True``. Runs inside workers only.
"""

from __future__ import annotations

import hashlib
from pathlib import Path


def input_hash(*tensors) -> str:
    """sha256 of the tensors' bytes, shapes and dtypes (None entries skipped): equal hash, bit-identical tensors."""
    import torch

    digest = hashlib.sha256()
    for t in tensors:
        if t is None:
            continue
        t = t.detach().cpu().contiguous()
        digest.update(f"{tuple(t.shape)}:{t.dtype};".encode())
        digest.update(t.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def save_inputs(data: Path, index: int, q, k, v, grad_out) -> None:
    import torch

    torch.save({"q": q.detach(), "k": k.detach(), "v": v.detach(), "grad_out": grad_out}, data / f"{index}.inputs.pt")


def load_inputs(data: Path, index: int, problem) -> tuple:
    """q, k, v (requiring grad in fwd+bwd) and grad_out (None in fwd), on the problem's device."""
    import torch

    saved = torch.load(data / f"{index}.inputs.pt", map_location=problem.device, weights_only=True)
    q, k, v = (saved[name].requires_grad_(problem.needs_grad) for name in ("q", "k", "v"))
    return q, k, v, saved["grad_out"]


def save_outputs(data: Path, index: int, side: str, outputs: dict) -> None:
    import torch

    torch.save({name: t.detach().cpu() for name, t in outputs.items()}, data / f"{index}.{side}.pt")


def load_outputs(data: Path, index: int, side: str) -> dict | None:
    import torch

    path = data / f"{index}.{side}.pt"
    return torch.load(path, weights_only=True) if path.exists() else None
