"""Which devices each pytest-xdist worker sweeps, so that no two workers ever share a GPU.

A sweep under xdist runs with ``--dist each``: every worker collects and runs only the cells of
the devices it owns. Ownership is a pure function of the device list and the worker count, so
every process computes the same answer without talking to the others. GPUs are dealt out first
in their order (gw0 → the first GPU, gw1 → the second, ...), then the CPU, round-robin: with
``-n 8 --attn-devices all`` on an 8-GPU host gw0 owns cuda:0 and the CPU, gwK owns cuda:K.
A worker with nothing to own collects nothing; with fewer workers than GPUs a worker sweeps its
GPUs one after the other.
"""

from __future__ import annotations

import re

_WORKER_ID = re.compile(r"^gw(\d+)$")


def worker_index(worker_id: str) -> int:
    """``gw3`` → 3."""
    match = _WORKER_ID.match(worker_id)
    if not match:
        raise ValueError(f"unexpected pytest-xdist worker id {worker_id!r} (expected gw<N>)")
    return int(match.group(1))


def default_devices(gpu_count: int) -> list[str]:
    """What a sweep under xdist covers without --attn-devices: every GPU, or the CPU when there is none."""
    return [f"cuda:{i}" for i in range(gpu_count)] or ["cpu"]


def assign_devices(devices: list[str], workers: int) -> dict[str, list[str]]:
    """worker id → the devices it owns; every device goes to exactly one worker."""
    if workers < 1:
        raise ValueError(f"workers={workers} must be at least 1")
    gpus = [d for d in devices if d.startswith("cuda")]
    others = [d for d in devices if not d.startswith("cuda")]
    assignment: dict[str, list[str]] = {f"gw{i}": [] for i in range(workers)}
    for position, device in enumerate(gpus + others):
        assignment[f"gw{position % workers}"].append(device)
    return assignment
