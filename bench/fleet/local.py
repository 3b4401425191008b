"""The local engine: each shard a pytest process on this machine (a workstation's GPUs, or the tests).

Shards run ``parallel`` at a time (default: all). With GPUs, shard k sees only its own
(``CUDA_VISIBLE_DEVICES``), so shards never share a device; on the CPU, concurrent shards share
the cores, which is fine for coverage and wrong for timing: use ``--parallel 1`` for CPU numbers.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from .plan import FleetError
from .shard import ShardJob


def visible_devices(jobs: list[ShardJob], gpu_count: int) -> None:
    """Give each GPU shard its own GPUs; FleetError when the machine has too few."""
    gpu_jobs = [job for job in jobs if job.slots[0].startswith("cuda")]
    if not gpu_jobs:
        return
    needed = sum(len(job.slots) for job in gpu_jobs)
    if needed > gpu_count:
        raise FleetError(f"--engine local: {len(gpu_jobs)} shards × {len(gpu_jobs[0].slots)} GPUs need {needed} GPUs; "
                         f"this machine has {gpu_count}")
    first = 0
    for job in gpu_jobs:
        job.env["CUDA_VISIBLE_DEVICES"] = ",".join(str(first + i) for i in range(len(job.slots)))
        first += len(job.slots)


def run_shards(jobs: list[ShardJob], parallel: int | None = None) -> dict[str, dict]:
    with ThreadPoolExecutor(max_workers=max(1, parallel or len(jobs))) as pool:
        outcomes = list(pool.map(lambda job: job.run(), jobs))
    return {outcome["shard"]: outcome for outcome in outcomes}
