"""The captured-set file: one safetensors file, q/k/v per kept call, JSON metadata in its header.

Tensors are named ``call{i}.q``, ``call{i}.k``, ``call{i}.v`` (and ``call{i}.mask`` for an explicit
mask that is not plain causal), ``i`` being the call's index in the forward pass. The header's
``attnbench`` entry is JSON: the format version, the model and text it came from, every call's
metadata (kept or not) and the indices of the kept calls.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .recorder import SdpaCall

FORMAT = "attnbench-captured/1"
STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}


def _safetensors():
    try:
        import safetensors.torch
    except ImportError:
        raise ValueError("captured inputs need the safetensors package (pip install safetensors)") from None
    return safetensors.torch


def _cast(name: str, tensor: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if tensor.dtype == torch.bool or not tensor.is_floating_point():
        return tensor.contiguous()
    largest = float(tensor.abs().max()) if tensor.numel() else 0.0
    if largest > torch.finfo(dtype).max:
        raise ValueError(f"{name} holds |x|={largest:.3g}, beyond {dtype} (store with --dtype bfloat16 or float32)")
    return tensor.to(dtype).contiguous()


def write_captured(path: str | Path, calls: list[SdpaCall], info: dict, dtype: str = "float16") -> dict:
    """Save the kept calls' tensors in ``dtype`` and every call's metadata; returns the metadata."""
    if dtype not in STORAGE_DTYPES:
        raise ValueError(f"storage dtype {dtype!r} is not supported (accepted: {', '.join(STORAGE_DTYPES)})")
    kept = [c for c in calls if c.tensors]
    if not kept:
        raise ValueError("no scaled_dot_product_attention call was kept: nothing to save")
    tensors = {f"call{c.index}.{name}": _cast(f"call {c.index} {name}", t, STORAGE_DTYPES[dtype])
               for c in kept for name, t in c.tensors.items()}
    metadata = {"format": FORMAT, "storage_dtype": dtype, **info,
                "calls": [c.metadata() for c in calls], "kept": [c.index for c in kept]}
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    _safetensors().save_file(tensors, str(path), metadata={"attnbench": json.dumps(metadata)})
    return metadata


def read_metadata(path: str | Path) -> dict:
    _safetensors()
    from safetensors import safe_open

    if not Path(path).is_file():
        raise ValueError(f"captured set {path} does not exist (write one with python -m impls capture)")
    try:
        with safe_open(str(path), framework="pt") as handle:
            header = handle.metadata() or {}
    except Exception as exc:  # safetensors raises its own error type for a file that is not safetensors
        raise ValueError(f"{path} is not a safetensors file ({exc})") from None
    if "attnbench" not in header:
        raise ValueError(f"{path} is not a captured set (no attnbench metadata; write one with python -m impls capture)")
    metadata = json.loads(header["attnbench"])
    if metadata.get("format") != FORMAT:
        raise ValueError(f"{path} has format {metadata.get('format')!r} (supported: {FORMAT})")
    return metadata


def read_captured(path: str | Path) -> tuple[dict, dict[str, torch.Tensor]]:
    """(metadata, tensors by name), on the CPU in the stored dtype."""
    try:
        metadata = read_metadata(path)
        tensors = _safetensors().load_file(str(path))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read captured set {path}: {exc}") from None
    return metadata, tensors
