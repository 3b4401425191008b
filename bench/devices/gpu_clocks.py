"""SM clock samples from NVML around a cell, and the verdict whether the cell ran throttled.

NVML comes from the optional ``nvidia-ml-py`` package (module ``pynvml``). Without it, or
without a driver, the reader says why in one line and the cell records no clocks. The GPU is
found by its UUID (what CUDA and NVML agree on even when CUDA_VISIBLE_DEVICES reorders devices).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

NVML_CLOCK_SM = 1
# NVML's clock-event ("throttle") reason bits, named as nvidia-smi names them.
REASON_BITS = {
    0x001: "gpu_idle", 0x002: "applications_clocks_setting", 0x004: "sw_power_cap", 0x008: "hw_slowdown",
    0x010: "sync_boost", 0x020: "sw_thermal_slowdown", 0x040: "hw_thermal_slowdown",
    0x080: "hw_power_brake_slowdown", 0x100: "display_clock_setting",
}
# Reasons that mean the silicon was held back by heat or an external signal, whatever the clock read.
THROTTLING_REASONS = frozenset({"hw_slowdown", "sw_thermal_slowdown", "hw_thermal_slowdown", "hw_power_brake_slowdown"})
# A busy SM clock below this fraction of the maximum marks the cell as measured under throttling.
THROTTLE_CLOCK_FRACTION = 0.9


def reason_names(mask: int) -> list[str]:
    return [name for bit, name in REASON_BITS.items() if mask & bit]


@dataclass
class ClockSample:
    sm_clock_mhz: int
    reasons: list[str] = field(default_factory=list)

    @property
    def idle(self) -> bool:
        return "gpu_idle" in self.reasons


def throttled(samples: list[ClockSample], max_sm_clock_mhz: int | None) -> bool | None:
    """True when a sample taken while the GPU was busy ran below 90% of the maximum SM clock or
    carried a thermal/hardware slowdown reason; None when there is nothing to judge by."""
    busy = [s for s in samples if not s.idle]
    if not busy:
        return None
    if any(THROTTLING_REASONS.intersection(s.reasons) for s in busy):
        return True
    if not max_sm_clock_mhz:
        return None
    return min(s.sm_clock_mhz for s in busy) < THROTTLE_CLOCK_FRACTION * max_sm_clock_mhz


class ClockReader:
    """NVML handle for one CUDA device; ``unavailable`` says why when there is none."""

    def __init__(self, device: str) -> None:
        self.handle = None
        self.unavailable: str | None = None
        self.max_sm_clock_mhz: int | None = None
        try:
            import pynvml
        except ImportError:
            self.unavailable = "missing-package: pynvml is not installed (pip install nvidia-ml-py) - SM clocks not sampled"
            return
        self._nvml = pynvml
        try:
            pynvml.nvmlInit()
            self.handle = self._find_handle(device)
            self.max_sm_clock_mhz = int(pynvml.nvmlDeviceGetMaxClockInfo(self.handle, NVML_CLOCK_SM))
        except Exception as exc:  # noqa: BLE001 - NVML errors are many classes; any of them means no clocks
            self.handle = None
            self.unavailable = f"nvml: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}"

    def _find_handle(self, device: str):
        index = torch.device(device).index or 0
        uuid = getattr(torch.cuda.get_device_properties(index), "uuid", None)
        if uuid is not None:
            text = str(uuid)
            try:
                return self._nvml.nvmlDeviceGetHandleByUUID(text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}")
            except Exception:  # noqa: BLE001 - fall back to the index (right unless CUDA_VISIBLE_DEVICES reorders)
                pass
        return self._nvml.nvmlDeviceGetHandleByIndex(index)

    def sample(self) -> ClockSample | None:
        if self.handle is None:
            return None
        try:
            clock = int(self._nvml.nvmlDeviceGetClockInfo(self.handle, NVML_CLOCK_SM))
            reader = getattr(self._nvml, "nvmlDeviceGetCurrentClocksEventReasons", None) or \
                self._nvml.nvmlDeviceGetCurrentClocksThrottleReasons
            return ClockSample(clock, reason_names(int(reader(self.handle))))
        except Exception:  # noqa: BLE001 - a failed sample is a missing sample, not a failed cell
            return None
