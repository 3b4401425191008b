"""What one gate run was asked to do: the selection, the decision thresholds and the sampling plan."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

# The effect floor a timing regression must reach, by device type (history mode has its own, wider one).
FLOORS = {"cpu": 0.03, "cuda": 0.02}
HISTORY_FLOOR = 0.10
DEFAULT_PRESET = "gate"  # every runnable implementation once (gate/selection.py)


@dataclass
class GateSettings:
    selection: dict[str, str | None] = field(default_factory=dict)  # SweepSession options: preset, impls, seq_lens...
    seed: int = 0  # input seed
    floor: float | None = None  # None: FLOORS by device (HISTORY_FLOOR in history mode)
    alpha: float = 0.05
    pairs: int = 20  # pairs measured first
    max_pairs: int = 60  # more, in rounds, while a benchmark is inconclusive
    calls: int = 5
    workers: int = 3  # worker processes per side; pairs go round every (base, head) combination
    budget_seconds: float = 120.0  # fewer pairs (never under MIN_PAIRS) when a selection is slow
    confirm: bool = True
    strict: bool = False
    threads: int | None = 1  # intra-op threads per worker; None: torch's default
    shuffle_seed: int | None = None
    out: Path | None = None
    explicit_selection: bool = False  # --attn-* options given: exactly their cells, no change-aware additions
    accept_yardstick_change: bool = False  # judge with the head's yardstick (oracle, inputs, tolerances, runtime)

    def floor_for(self, device: str, history: bool = False) -> float:
        if self.floor is not None:
            return self.floor
        return HISTORY_FLOOR if history else FLOORS.get(device.split(":")[0], FLOORS["cpu"])

    def to_dict(self) -> dict:
        data = asdict(self)
        data["out"] = str(self.out) if self.out else None
        return data
