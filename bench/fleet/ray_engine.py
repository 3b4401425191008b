"""The Ray engine: each shard a Ray task holding its GPUs, on an existing cluster or a local instance.

``ray.init(address=...)`` joins a running cluster (``auto`` or ``ray://host:10001``); without an
address a local instance starts. A task asks for ``gpus_per_shard`` GPUs (Ray sets
CUDA_VISIBLE_DEVICES for it) and is retried by Ray when its node dies; the retry resumes the
shard. The project folder and the results folder must be on a filesystem every node sees.
"""

from __future__ import annotations

import os

import ray

from .shard import ShardJob, run_shard


def run_shards(jobs: list[ShardJob], *, address: str | None, gpus_per_shard: int, cpus_per_shard: int | None,
               retries: int, local_cpus: int | None = None) -> dict[str, dict]:
    root = jobs[0].root if jobs else "."
    # The workers import bench from the shared project folder.
    runtime_env = {"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}}
    started_here = not ray.is_initialized()
    if started_here:
        if address:
            ray.init(address=address, runtime_env=runtime_env, log_to_driver=False)
        else:
            ray.init(num_cpus=local_cpus, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False)
    try:
        task = ray.remote(num_gpus=gpus_per_shard, num_cpus=cpus_per_shard or 1, max_retries=retries)(run_shard)
        refs = {job.name: task.remote(job) for job in jobs}
        outcomes = {}
        for name, ref in refs.items():
            try:
                outcomes[name] = ray.get(ref)
            except ray.exceptions.RayError as exc:
                text = " ".join(str(exc).split())[:300]
                outcomes[name] = {"shard": name, "exit_code": None, "error": f"Ray task failed: {type(exc).__name__}: {text}"}
        return outcomes
    finally:
        if started_here:
            ray.shutdown()
