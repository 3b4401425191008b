"""One shard of a fleet: the pytest command it runs and running it on whatever worker an engine provides.

A shard is ``pytest --benchmark-only`` over the cells listed in its file, written into the fleet's
run (``--attn-run-id``) under its own name (``--attn-shard``), and always with ``--attn-resume``:
a shard that is requeued after a preemption, retried by Ray or rerun by hand skips the cells it
(or an earlier attempt) already finished, so an interruption costs at most the cell in flight.
With several GPU slots the shard runs under pytest-xdist, one worker per GPU, as on one host.
"""

from __future__ import annotations

import datetime as _dt
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

_running: subprocess.Popen | None = None  # the pytest process of the shard running in this process


@dataclass
class ShardJob:
    """Everything a worker needs to run one shard; plain data, so engines can pickle it."""

    name: str
    root: str  # the project folder (conftest.py), the same path on every worker (a shared filesystem)
    results_dir: str
    run_id: str
    cells_file: str
    preset: str
    slots: list[str]
    sweep_args: list[str]
    log_file: str
    python: str = field(default_factory=lambda: sys.executable)
    env: dict[str, str] = field(default_factory=dict)  # e.g. CUDA_VISIBLE_DEVICES for a local shard

    def command(self) -> list[str]:
        # --option=value throughout: before the plugin is loaded, a detached value would read as a test path.
        storage = Path(self.results_dir) / self.run_id / "benchmarks" / self.name
        command = [self.python, "-m", "pytest", "--benchmark-only", "-p", "no:cacheprovider", f"--rootdir={self.root}",
                   f"--attn-preset={self.preset}", f"--attn-devices={','.join(self.slots)}", f"--attn-results={self.results_dir}",
                   f"--attn-run-id={self.run_id}", f"--attn-resume={self.run_id}", f"--attn-shard={self.name}",
                   f"--attn-cells={self.cells_file}", "--attn-no-report",
                   # pytest-benchmark's numbered storage per shard: shards saving at the same moment would pick one number
                   f"--benchmark-storage=file://{storage}", *self.sweep_args]
        if len(self.slots) > 1:
            command += ["-n", str(len(self.slots))]
        return command

    def run(self) -> dict:
        """Run the shard to its end here; what happened, for the merge (never raises for a failing shard)."""
        global _running
        started = time.time()
        outcome = {"shard": self.name, "host": socket.gethostname(), "started": _iso(started), "exit_code": None,
                   "records_before": self.records_written()}
        Path(self.log_file).parent.mkdir(parents=True, exist_ok=True)
        try:
            with open(self.log_file, "a", encoding="utf-8") as log:
                log.write(f"\n# {_iso(started)} on {outcome['host']}, worker pid {os.getpid()}: {' '.join(self.command())}\n")
                log.flush()
                _running = subprocess.Popen(self.command(), cwd=self.root, stdout=log, stderr=subprocess.STDOUT,
                                            env={**os.environ, **self.env})
                outcome["exit_code"] = _running.wait()
        except OSError as exc:
            outcome["error"] = f"could not start pytest: {exc}"
        finally:
            _running = None
        outcome["wall_s"] = time.time() - started
        outcome["records_this_attempt"] = self.records_written() - outcome["records_before"]
        return outcome

    def records_written(self) -> int:
        """Lines in this shard's cells files so far (one per finished cell)."""
        run_dir = Path(self.results_dir) / self.run_id
        paths = [run_dir / f"cells-{self.name}.jsonl", *run_dir.glob(f"cells-{self.name}-gw*.jsonl")]
        return sum(_count_lines(path) for path in paths if path.exists())


def stop_running_shard(grace_s: float = 20.0) -> None:
    """End this process's shard before a requeue: SIGTERM, SIGKILL after ``grace_s``; finished cells are on disk.

    Called from submitit's signal handler while the main thread sits in Popen.wait, which holds
    Popen's lock: so the child is signalled and reaped with os calls, not through Popen.
    """
    process = _running
    if process is None or process.returncode is not None:
        return
    try:
        os.kill(process.pid, signal.SIGTERM)
        deadline = time.time() + grace_s
        while os.waitpid(process.pid, os.WNOHANG)[0] == 0:
            if time.time() > deadline:
                os.kill(process.pid, signal.SIGKILL)
                os.waitpid(process.pid, 0)
                break
            time.sleep(0.1)
    except (ProcessLookupError, ChildProcessError):
        pass  # already gone


def run_shard(job: ShardJob) -> dict:
    """A module-level function for engines that ship functions (Ray)."""
    return job.run()


def _count_lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _iso(stamp: float) -> str:
    return _dt.datetime.fromtimestamp(stamp, tz=_dt.timezone.utc).isoformat(timespec="seconds")
