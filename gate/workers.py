"""The gate's side of a measuring worker: a subprocess per tree, spoken to in JSON lines.

The worker runs ``gate/worker.py`` of its import root (gate/roots.py): the yardstick's code on both
sides, with the measured tree's ``impls/``; it runs in the measured tree's folder.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# glibc returns the heap's top to the OS after a free once it exceeds the trim threshold, which it also
# moves as the process allocates; whether a kernel's freed intermediates end up there depends on the
# process's allocation history, and when they do every call re-faults them (measured here: the same
# naive call at 1.9 ms in one worker, 3.6 ms in the next). Fixed thresholds make every worker alike.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(32 << 20), "MALLOC_TRIM_THRESHOLD_": str(1 << 40)}
START_TIMEOUT_S = 300  # importing torch on a loaded 2-core runner can take a while
QUIT_GRACE_S = 1.0  # how long all workers together get to quit before they are terminated
STOP_WAIT_S = 0.5  # then how long they get to die after SIGTERM, before SIGKILL
REQUEST_TIMEOUT_S = 900  # a setup request may compile (FlexAttention) several cells


class WorkerError(Exception):
    """A worker could not start or answer (exit code 3)."""


def close_all(workers: list[Worker], grace_s: float = QUIT_GRACE_S) -> None:
    """Ask every worker to quit, all at once; after ``grace_s`` terminate, then kill, those still running (a worker
    importing torch reads no request), again all at once: a cancelled CI job is done with them in about a second."""
    for worker in workers:
        worker.ask_to_quit()
    for kill, wait_s in ((None, grace_s), (False, STOP_WAIT_S), (True, STOP_WAIT_S)):
        if kill is not None:
            for worker in workers:
                worker.stop(kill)
        deadline = time.monotonic() + wait_s
        if all([worker.wait_until(deadline) for worker in workers]):
            break
    for worker in workers:
        worker.release()


class Worker:
    def __init__(self, root: Path, tree: Path, label: str, threads: int | None = None) -> None:
        self.tree, self.label = tree, label
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # keep temporary worktrees and the head tree free of caches
        for name, value in ALLOCATOR_ENV.items():
            env.setdefault(name, value)
        if threads:
            env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
        try:
            self._proc = subprocess.Popen(
                [sys.executable, str(root / "gate" / "worker.py"), "--root", str(root), "--impls", str(tree)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True, bufsize=1, cwd=tree, env=env)
        except OSError as exc:
            raise WorkerError(f"cannot start the {label} worker: {exc}") from None
        self.hello: dict | None = None

    def wait_ready(self) -> dict:
        """The worker's hello (tree, torch, machine); raises WorkerError when its tree does not import."""
        if self.hello is None:
            self.hello = self._read(START_TIMEOUT_S)
        return self.hello

    def request(self, op: str, timeout: float = REQUEST_TIMEOUT_S, **payload) -> dict:
        self.submit(op, **payload)
        return self.collect(timeout)

    def submit(self, op: str, **payload) -> None:
        """Send a request without waiting, so that several workers can work at once; ``collect`` the answer."""
        self.wait_ready()
        try:
            self._proc.stdin.write(json.dumps({"op": op, **payload}) + "\n")
            self._proc.stdin.flush()
        except (BrokenPipeError, OSError):
            raise WorkerError(f"the {self.label} worker exited: {self._stderr_tail()}") from None

    def collect(self, timeout: float = REQUEST_TIMEOUT_S) -> dict:
        return self._read(timeout)

    def _read(self, timeout: float) -> dict:
        ready, _, _ = select.select([self._proc.stdout], [], [], timeout)
        if not ready:
            self.close()
            raise WorkerError(f"the {self.label} worker did not answer within {timeout:g} s")
        line = self._proc.stdout.readline()
        if not line:
            self._proc.wait(timeout=30)
            raise WorkerError(f"the {self.label} worker exited (code {self._proc.returncode}): {self._stderr_tail()}")
        reply = json.loads(line)
        if not reply.get("ok"):
            raise WorkerError(f"{self.label}: {reply.get('error', 'unknown worker error')}")
        return reply

    def _stderr_tail(self) -> str:
        self._stderr.seek(0)
        lines = [line.strip() for line in self._stderr.read().splitlines() if line.strip()]
        return lines[-1][:400] if lines else "no output"

    def close(self) -> None:
        close_all([self])

    def ask_to_quit(self) -> None:
        if self._proc.poll() is None:
            try:
                self._proc.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self._proc.stdin.close()
            except OSError:
                pass  # already gone, or busy and not reading: ended below

    def wait_until(self, deadline: float) -> bool:
        """Whether the worker has exited by ``deadline`` (a monotonic time)."""
        try:
            self._proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, kill: bool) -> None:
        if self._proc.poll() is None:
            self._proc.kill() if kill else self._proc.terminate()

    def release(self) -> None:
        self._proc.wait()
        if not self._stderr.closed:
            self._stderr.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
