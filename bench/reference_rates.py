"""Fixed reference FLOP rates per device kind and dtype: what budget skips are decided from.

A cell is skipped when its predicted time per call exceeds the preset's budget. Predicting from a
matmul peak measured at the start of each session made the selection depend on the machine's
mood: on a loaded machine the peak came out low, the same cell was predicted slower, and skipped
in one run but measured in the next. Predictions therefore use a fixed rate per device kind and
dtype (a preset may give its own in ``Budget.reference_flops``), so the same command selects the
same cells on an idle and a loaded machine. The measured peak is still recorded and is still the
denominator of each cell's fraction of peak.

The defaults are round figures of the machines this project sweeps on: a 2-core x86 CPU (AVX2/AVX-512
float32 about 100 GFLOP/s; float16 has no fast CPU path in torch) and an H100/H200-class GPU.
"""

from __future__ import annotations

REFERENCE_FLOPS: dict[str, dict[str, float]] = {
    "cpu": {"float32": 1.0e11, "float64": 5.0e10, "bfloat16": 1.0e11, "float16": 2.0e9},
    "cuda": {"float32": 5.0e13, "float64": 5.0e13, "bfloat16": 7.0e14, "float16": 7.0e14},
}
FALLBACK_KIND = "cpu"


def device_kind(device: str) -> str:
    return str(device).split(":", 1)[0]


def dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


def reference_rate(device: str, dtype, overrides: tuple[tuple[str, str, float], ...] = ()) -> float:
    """The FLOP rate budget predictions assume for ``dtype`` on this kind of device (``cuda:1`` → cuda)."""
    kind, name = device_kind(device), dtype_name(dtype)
    for override_kind, override_dtype, rate in overrides:
        if override_kind == kind and override_dtype == name:
            return float(rate)
    table = REFERENCE_FLOPS.get(kind, REFERENCE_FLOPS[FALLBACK_KIND])
    return table.get(name, table["float32"])
