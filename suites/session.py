"""The sweep's session state: chosen preset, option overrides, run directory, cached measurements."""

from __future__ import annotations

import datetime as _dt
import time
from collections.abc import Callable
from pathlib import Path

import torch

from impls import parse_mask, select
from impls.problem import MODES, parse_device, parse_dtype

from .harness import Cell, CellRun, OracleCache, measure_matmul_peak
from .presets import CORE_GRIDS, PRESETS, Grid, resolve_kv_heads
from .records import SCHEMA_VERSION, RunWriter, device_name, git_commit, machine_info

ROOT = Path(__file__).resolve().parent.parent

# option name → (Grid field, parser of one comma-separated item)
AXIS_OPTIONS: dict[str, tuple[str, Callable[[str], object]]] = {}


def _positive_int(what: str) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise ValueError(f"--attn-{what}: {text!r} is not an integer (expected positive integers, e.g. 1024,2048)") from None
        if value <= 0:
            raise ValueError(f"--attn-{what}: {value} must be a positive integer")
        return value
    return parse


def _kv_heads(text: str) -> int | str:
    if text == "h" or (text.startswith("h/") and text[2:].isdigit() and int(text[2:]) > 0):
        return text
    return _positive_int("kv-heads")(text)


def _dtype(text: str) -> str:
    parse_dtype(text)
    return text


def _mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(f"--attn-modes: unknown mode {text!r} (accepted: {', '.join(MODES)})")
    return text


def _mask(text: str) -> str:
    parse_mask(text, 1, 16, 16) if "lengths" not in text else None  # names only; shapes are checked per cell
    return text


AXIS_OPTIONS.update({
    "seq-lens": ("seq_lens", _positive_int("seq-lens")),
    "kv-seq-lens": ("kv_seq_lens", _positive_int("kv-seq-lens")),
    "heads": ("heads", _positive_int("heads")),
    "kv-heads": ("kv_heads", _kv_heads),
    "head-dims": ("head_dims", _positive_int("head-dims")),
    "batch": ("batch", _positive_int("batch")),
    "dtypes": ("dtypes", _dtype),
    "masks": ("masks", _mask),
    "modes": ("modes", _mode),
})


def split_list(text: str) -> list[str]:
    """Split on commas outside brackets: ``a,sliding-window[w=1,causal=1],b``."""
    items, depth, current = [], 0, ""
    for ch in text:
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            items.append(current.strip())
            current = ""
        else:
            current += ch
    items.append(current.strip())
    return [i for i in items if i]


def parse_devices(text: str) -> list[str]:
    """``cpu``, ``cuda``, ``cuda:1``, comma lists, or ``all`` (the CPU and every visible GPU)."""
    gpus = [f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    if text.strip() == "all":
        return ["cpu"] + gpus
    devices = []
    for item in split_list(text):
        device = parse_device(item)
        if device.type == "cuda":
            if not gpus:
                raise ValueError(f"--attn-devices: {item} is not available (found: cpu only)")
            index = device.index if device.index is not None else 0
            if index >= len(gpus):
                raise ValueError(f"--attn-devices: {item} is not available (found: cpu, {', '.join(gpus)})")
            devices.append(f"cuda:{index}")
        else:
            devices.append("cpu")
    return list(dict.fromkeys(devices))


class SweepSession:
    """Built once per pytest process from the --attn-* options; validates them eagerly."""

    def __init__(self, options: dict[str, str | None], results_dir: Path, run_id: str, worker: str | None,
                 seed: int = 0, ignore_budget: bool = False) -> None:
        self.preset_name = options.get("preset") or ("gpu" if torch.cuda.is_available() else "cpu")
        if self.preset_name not in PRESETS:
            raise ValueError(f"--attn-preset: unknown preset {self.preset_name!r} (accepted: {', '.join(PRESETS)})")
        self.preset = PRESETS[self.preset_name]
        self.budget = self.preset.budget
        self.seed = seed
        self.ignore_budget = ignore_budget
        self.min_round_seconds = 1e-3  # calls shorter than this are repeated within a round
        self.overrides = self._parse_overrides(options)
        self.devices = parse_devices(options["devices"]) if options.get("devices") else None
        self.auto_device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.writer = RunWriter(results_dir, run_id, worker)
        self.oracle = OracleCache()
        self.post_timing_hooks: list[Callable[[CellRun], dict | None]] = []
        self.measure_matmul_peak = measure_matmul_peak  # the device plugin swaps in an event-timed one on CUDA
        self.device_assignment: dict[str, list[str]] | None = None  # xdist worker id → devices (device plugin)
        self._peaks: dict = {}
        self._machine = machine_info()
        self.commit = git_commit(ROOT)
        self.counts: dict[str, int] = {}

    @staticmethod
    def _parse_overrides(options: dict) -> dict[str, tuple]:
        overrides: dict[str, tuple] = {}
        if options.get("impls"):
            names = split_list(options["impls"])
            select(names)  # unknown names fail now, with the list of known ones
            overrides["impls"] = tuple(names)
        for option, (field_name, parse) in AXIS_OPTIONS.items():
            text = options.get(option.replace("-", "_"))
            if text:
                overrides[field_name] = tuple(parse(item) for item in split_list(text))
        if "heads" in overrides and "kv_heads" in overrides:
            for heads in overrides["heads"]:
                for kv in overrides["kv_heads"]:
                    if resolve_kv_heads(kv, heads) is None:
                        raise ValueError(f"--attn-kv-heads {kv} does not divide --attn-heads {heads} "
                                         "(kv_heads must divide heads; or use h, h/N)")
        return overrides

    # --- cells ---------------------------------------------------------------------------------------
    def grids_for(self, suite: str, suite_grids: dict[str, list[Grid]] | None) -> list[Grid]:
        grids = (suite_grids if suite_grids is not None else CORE_GRIDS).get(self.preset_name, [])
        if self.preset_name == "full" and not grids and suite_grids is not None:
            grids = [g for name in PRESETS if name not in ("smoke", "cpu", "gpu", "full")
                     for g in suite_grids.get(name, [])]
        overrides = dict(self.overrides)
        if self.devices is not None:  # an xdist worker that owns no device sweeps nothing
            overrides["devices"] = tuple(self.devices)
        return [g.replace(**overrides) for g in grids]

    def cells(self, suite: str, suite_grids=None) -> list[Cell]:
        cells, seen = [], set()
        for grid in self.grids_for(suite, suite_grids):
            for problem, impl in grid.cells(self.auto_device):
                key = (problem, impl.full_name)
                if key not in seen:
                    seen.add(key)
                    cells.append(Cell(suite, problem, impl))
        return cells

    # --- measurements cached per session -----------------------------------------------------------
    def peak_flops(self, device: str, dtype) -> float:
        key = (device, dtype)
        if key not in self._peaks:
            self._peaks[key] = self.measure_matmul_peak(device, dtype)
        return self._peaks[key]

    # --- records -----------------------------------------------------------------------------------------
    def run_info(self) -> dict:
        return {"preset": self.preset_name, "started": _dt.datetime.now().isoformat(timespec="seconds"),
                "commit": self.commit, "machine": self._machine, "overrides": {k: list(v) for k, v in self.overrides.items()},
                "devices": [d for owned in self.device_assignment.values() for d in owned] if self.device_assignment
                else self.devices or [self.auto_device], "device_assignment": self.device_assignment}

    def base_record(self, cell: Cell) -> dict:
        problem = cell.problem
        return {
            "schema": SCHEMA_VERSION, "run_id": self.writer.run_id, "suite": cell.suite, "cell_id": cell.id,
            "preset": self.preset_name, "timestamp": time.time(), "commit": self.commit,
            **cell.impl.info(), "problem": problem.to_dict(), "device_name": device_name(problem.device),
            "machine": {"host": self._machine["host"], "cpu": self._machine["cpu"], "torch": self._machine["torch"],
                        "cuda": self._machine["cuda"], "driver": self._machine["driver"],
                        "xformers": self._machine["xformers"]},
            "status": "running", "reason_code": None, "reason": None,
        }

    def finish(self, cell: Cell, record: dict, benchmark) -> None:
        self.writer.append(record)
        self.counts[record["status"]] = self.counts.get(record["status"], 0) + 1
        if benchmark is not None:
            benchmark.extra_info.update({k: v for k, v in record.items() if k not in ("time", "traceback")})
