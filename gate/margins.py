"""The deterministic gates: peak memory and error need no statistics, only tight margins.

The same code on the same inputs allocates the same tensors and rounds the same way, so any
change beyond a small margin is real: more than 1% + 1 MiB of extra peak memory, or an error above
max(1.1 × base, the dtype tolerance). The tolerance floor lets a harmless rounding change through
(an exact kernel moving from 1e-7 to 3e-7 is still far inside float32's bound).
"""

from __future__ import annotations

import math

MiB = 1 << 20
MEMORY_RELATIVE = 0.01
MEMORY_ABSOLUTE = MiB
ERROR_RELATIVE = 1.1
GRADIENT_TOLERANCE_FACTOR = 4  # gradients accumulate more rounding; the harness allows 4× the output bound
ERROR_METRICS = ("max_abs", "rel_l2")


def memory_verdict(base_bytes: int | None, head_bytes: int | None) -> tuple[str, str]:
    if base_bytes is None or head_bytes is None:
        missing = [side for side, value in (("base", base_bytes), ("head", head_bytes)) if value is None]
        return "unmeasured", f"peak memory was not measured on the {' and the '.join(missing)}: not gated"
    limit = base_bytes * (1 + MEMORY_RELATIVE) + MEMORY_ABSOLUTE
    change = f"{_mib(base_bytes)} → {_mib(head_bytes)}"
    if head_bytes > limit:
        return "regression", f"peak memory {change} exceeds the base by more than 1% + 1 MiB (limit {_mib(limit)})"
    if head_bytes < base_bytes * (1 - MEMORY_RELATIVE) - MEMORY_ABSOLUTE:
        return "improvement", f"peak memory {change}"
    return "unchanged", f"peak memory {change}"


def error_verdict(base_error: dict | None, head_error: dict | None, tolerance: dict | None) -> tuple[str, str]:
    """Compare every error part both sides measured (output, and dq/dk/dv in fwd+bwd)."""
    if not base_error or not head_error:
        return "unmeasured", "error was not measured on both sides"
    worst = None
    for part, head in head_error.items():
        base = base_error.get(part)
        if not isinstance(head, dict) or not isinstance(base, dict):
            continue
        if not head.get("finite", True) and base.get("finite", True):
            return "regression", f"{part} contains NaN or Inf (base is finite)"
        factor = 1 if part == "output" else GRADIENT_TOLERANCE_FACTOR
        for metric in ERROR_METRICS:
            floor = (tolerance or {}).get(metric, 0.0) * factor
            limit = max(ERROR_RELATIVE * base[metric], floor)
            if head[metric] > limit and (worst is None or head[metric] / limit > worst[0]):
                worst = (head[metric] / limit, f"{part} {metric} {base[metric]:.3g} → {head[metric]:.3g} "
                                               + (f"exceeds max(1.1 × base, tolerance {floor:.3g})" if floor else
                                                  "exceeds 1.1 × base (an approximation: no dtype tolerance)"))
    if worst:
        return "regression", worst[1]
    out_base, out_head = base_error.get("output", {}), head_error.get("output", {})
    if "max_abs" in out_base and "max_abs" in out_head:
        return "unchanged", f"output max_abs {out_base['max_abs']:.3g} → {out_head['max_abs']:.3g}"
    return "unchanged", "error within margins"


def _mib(value: float) -> str:
    return f"{value / MiB:.2f} MiB" if math.isfinite(value) else str(value)
