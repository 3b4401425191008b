"""Where a run's results go: the run directory, its metadata and the crash-safe JSONL of cells.

Every cell (ran, skipped, failed, oom) becomes one JSON line, appended and flushed as soon as it
finishes, so an interrupted run keeps everything it finished. With pytest-xdist each worker
appends to its own file in the same run directory.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
import socket
import subprocess
from pathlib import Path

import torch

SCHEMA_VERSION = 1
RUN_ID_ENV = "ATTNBENCH_RUN_ID"


def new_run_id() -> str:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    host = re.sub(r"[^A-Za-z0-9_.-]", "-", socket.gethostname())[:32] or "host"
    return f"{stamp}-{host}"


def git_commit(root: Path) -> str | None:
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                               text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return (sha + ("-dirty" if dirty else "")) if sha else None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_name(device: str) -> str:
    dev = torch.device(device)
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return cpu_name()


def machine_info() -> dict:
    info = {
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": cpu_name(),
        "cores": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.version.cuda,
        "cuda_devices": [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        if torch.cuda.is_available() else [],
        "driver": _driver_version(),
    }
    try:
        import xformers

        info["xformers"] = xformers.__version__
    except ImportError:
        info["xformers"] = None
    return info


def _driver_version() -> str | None:
    if not torch.cuda.is_available():
        return None
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10).stdout.strip()
        return out.splitlines()[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


class RunWriter:
    """Owns ``results/<run_id>/``: run.json once, then one JSON line per finished cell."""

    def __init__(self, results_dir: Path, run_id: str, worker: str | None = None) -> None:
        self.run_dir = Path(results_dir) / run_id
        self.run_id = run_id
        self.cells_path = self.run_dir / (f"cells-{worker}.jsonl" if worker else "cells.jsonl")

    def write_run_info(self, info: dict) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        path = self.run_dir / "run.json"
        path.write_text(json.dumps({"schema": SCHEMA_VERSION, "run_id": self.run_id, **info}, indent=2, default=str))

    def append(self, record: dict) -> None:
        line = json.dumps(record, default=_json_default, allow_nan=True)
        if not self.cells_path.exists():
            self.run_dir.mkdir(parents=True, exist_ok=True)
        with open(self.cells_path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def _json_default(value):
    if isinstance(value, (torch.dtype, torch.device)):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)
