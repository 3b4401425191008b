"""The sweep's session state: chosen preset, option overrides, run directory, cached measurements.

No pytest here: the plugin builds one per process and passes in what plugins extend through its
hooks (the matmul peak, the post-timing metrics).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import time
from collections.abc import Callable
from pathlib import Path

import torch

from store.records import SCHEMA_VERSION

from .cell import Cell, CellRun
from .machine import device_name, git_commit, machine_info
from .options import parse_devices, parse_overrides
from .oracle_check import OracleCache
from .peaks import measure_matmul_peak
from .presets import CORE_GRIDS, PRESETS, Grid, resolve_kv_heads
from .writer import RunWriter

ROOT = Path(__file__).resolve().parent.parent
# Machine fields every cell record repeats (run.json holds the whole machine_info).
RECORD_MACHINE_FIELDS = ("host", "cpu", "torch", "cuda", "driver", "xformers")


def no_post_timing(run: CellRun) -> list[dict | None]:
    return []


def check_kv_heads(suite: str, grid: Grid) -> None:
    """``--attn-kv-heads 3`` alone must divide some of the grid's heads, or the grid would yield nothing in silence."""
    for kv in grid.kv_heads:
        if not any(resolve_kv_heads(kv, heads) for heads in grid.heads):
            raise ValueError(f"--attn-kv-heads {kv} divides none of the {suite} suite's heads ({', '.join(map(str, grid.heads))}); "
                             "kv_heads must divide heads: give --attn-heads too, or use h or h/N")


class SweepSession:
    """Built once per pytest process from the --attn-* options; validates them eagerly.

    ``matmul_peak(device, dtype)`` gives the denominator of 'fraction of peak' (host-timed by
    default); ``post_timing(run)`` returns the fields each extension adds to a timed cell's record.
    """

    def __init__(self, options: dict[str, str | None], results_dir: Path, run_id: str, worker: str | None,
                 seed: int = 0, ignore_budget: bool = False,
                 matmul_peak: Callable[[str, torch.dtype], float] = measure_matmul_peak,
                 post_timing: Callable[[CellRun], list[dict | None]] = no_post_timing) -> None:
        self.preset_name = options.get("preset") or ("gpu" if torch.cuda.is_available() else "cpu")
        if self.preset_name not in PRESETS:
            raise ValueError(f"--attn-preset: unknown preset {self.preset_name!r} (accepted: {', '.join(PRESETS)})")
        self.preset = PRESETS[self.preset_name]
        self.budget = self.preset.budget
        self.seed = seed
        self.ignore_budget = ignore_budget
        self.min_round_seconds = 1e-3  # calls shorter than this are repeated within a round
        self.overrides = parse_overrides(options)
        self.devices = parse_devices(options["devices"]) if options.get("devices") is not None else None
        self.auto_device = "cuda:0" if torch.cuda.is_available() else "cpu"
        self.writer = RunWriter(results_dir, run_id, worker)
        self.oracle = OracleCache()
        self.matmul_peak = matmul_peak
        self.post_timing = post_timing
        self.device_assignment: dict[str, list[str]] | None = None  # xdist worker id → devices (device plugin)
        self._peaks: dict = {}
        self._machine = machine_info()
        self.commit = git_commit(ROOT)
        self.run_notes: dict = {}  # extensions' fields for run.json (process state, reference rates)
        self.record_tags: dict = {}  # fields every record made from now on carries (the repeat it belongs to)

    # --- cells ---------------------------------------------------------------------------------------
    def grids_for(self, suite: str, suite_grids: dict[str, list[Grid]] | None) -> list[Grid]:
        grids = (suite_grids if suite_grids is not None else CORE_GRIDS).get(self.preset_name, [])
        if self.preset_name == "full" and not grids and suite_grids is not None:
            grids = [g for name in PRESETS if name not in ("smoke", "cpu", "gpu", "full")
                     for g in suite_grids.get(name, [])]
        overrides = dict(self.overrides)
        if self.devices is not None:  # an xdist worker that owns no device sweeps nothing
            overrides["devices"] = tuple(self.devices)
        grids = [dataclasses.replace(g.replace(**overrides), strict="masks" in overrides) for g in grids]
        for grid in grids:
            check_kv_heads(suite, grid)
        return grids

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
            self._peaks[key] = self.matmul_peak(device, dtype)
        return self._peaks[key]

    # --- records -----------------------------------------------------------------------------------------
    def run_info(self) -> dict:
        return {"preset": self.preset_name, "started": _dt.datetime.now().isoformat(timespec="seconds"),
                "commit": self.commit, "machine": self._machine, "overrides": {k: list(v) for k, v in self.overrides.items()},
                "devices": [d for owned in self.device_assignment.values() for d in owned] if self.device_assignment
                else self.devices or [self.auto_device], "device_assignment": self.device_assignment, **self.run_notes}

    def base_record(self, cell: Cell) -> dict:
        problem = cell.problem
        return {
            "schema": SCHEMA_VERSION, "run_id": self.writer.run_id, "suite": cell.suite, "cell_id": cell.id,
            "preset": self.preset_name, "timestamp": time.time(), "commit": self.commit,
            **cell.impl.info(), "problem": problem.to_dict(), "device_name": device_name(problem.device),
            "machine": {name: self._machine[name] for name in RECORD_MACHINE_FIELDS},
            **self.record_tags, "status": "running", "reason_code": None, "reason": None,
        }

    def finish(self, record: dict, benchmark) -> None:
        """Append the finished cell's record to the run's JSONL and attach it to pytest-benchmark's extra_info."""
        self.writer.append(record)
        if benchmark is not None:
            benchmark.extra_info.update({k: v for k, v in record.items() if k not in ("time", "traceback")})
