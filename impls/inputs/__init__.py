"""Input distributions: what q, k, v a problem is measured on.

Error of an approximation means something only on inputs a model could produce, so inputs are an
axis of the problem (``Problem.inputs``, the sweep option ``--attn-inputs``):

- ``gaussian``: i.i.d. standard normal (near-uniform attention; the default, for timing);
- ``synthetic``: rotary locality, peaked previous-token heads, attention sinks, token-content
  retrieval, drawn from the seed (see :mod:`impls.inputs.synthetic`);
- ``captured:PATH``: q, k, v a real model produced (``python -m impls capture``);
  ``captured:charlm`` is the set shipped with this package.

Every distribution gives tensors of the problem's shapes, dtype and device, deterministic per seed,
never all zeros; GQA problems get kv_heads keys and values.
"""

from __future__ import annotations

import torch

from . import captured, gaussian, synthetic

DEFAULT = "gaussian"  # store.records.DEFAULT_INPUTS: what records without the field were measured on
NAMED = {"gaussian": gaussian, "synthetic": synthetic}
CAPTURED_PREFIX = "captured:"


def accepted() -> str:
    return f"{', '.join(NAMED)}, captured:PATH (a file from python -m impls capture) or captured:charlm (shipped)"


def parse_inputs(value: str) -> str:
    """The canonical spec of an inputs name; a one-line ValueError naming what is accepted.

    Only the name is checked: a record's problem is rebuilt even where its captured file is absent;
    ``check_inputs`` also reads the file."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"inputs={value!r} is not an input distribution (accepted: {accepted()})")
    text = value.strip()
    if text.lower() in NAMED:
        return text.lower()
    if text.lower().startswith(CAPTURED_PREFIX):
        target = text[len(CAPTURED_PREFIX):].strip()
        if not target:
            raise ValueError(f"inputs={value!r} names no file (accepted: {accepted()})")
        return CAPTURED_PREFIX + target
    raise ValueError(f"unknown inputs {value!r} (accepted: {accepted()})")


def check_inputs(value: str) -> str:
    """``parse_inputs``, and a captured set is read (a missing or malformed file is a one-line ValueError)."""
    spec = parse_inputs(value)
    target = captured_target(spec)
    if target is not None:
        captured.load(target)
    return spec


def captured_target(spec: str) -> str | None:
    return spec[len(CAPTURED_PREFIX):] if spec.startswith(CAPTURED_PREFIX) else None


def conflicts(problem) -> list[str]:
    """Why the problem's inputs cannot have its shapes (a captured set fixes some axes); empty when they can."""
    target = captured_target(problem.inputs)
    return captured.conflicts(problem, target) if target is not None else []


def draw(problem, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v on the CPU in the distribution's own precision, before casting."""
    target = captured_target(problem.inputs)
    if target is not None:
        return captured.make(problem, seed, target)
    return NAMED[problem.inputs].make(problem, seed)


def make_inputs(problem, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v in the problem's dtype on its device (leaves requiring grad in fwd+bwd)."""
    tensors = [t.to(device=problem.device, dtype=problem.dtype).requires_grad_(problem.needs_grad) for t in draw(problem, seed)]
    return tensors[0], tensors[1], tensors[2]
