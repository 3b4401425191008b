"""The Slurm engine: the shards as one submitit job array, requeued on preemption and time-out.

Each array task runs one shard on one node (``gpus_per_node`` GPUs, one pytest-xdist worker per
GPU). The callable is a submitit ``Checkpointable``: when Slurm signals a preemption or the
approaching time limit (USR2, ``signal_delay_s`` before), submitit calls ``checkpoint``, which
stops the shard's pytest (its finished cells are already on disk) and requeues the same shard;
the requeued shard resumes, skipping what it finished. submitit requeues a preempted job
without limit and a timed-out one up to ``max_requeue`` times. The project folder and the
results folder must be on a filesystem every node sees (as submitit's own folder must be).
"""

from __future__ import annotations

from pathlib import Path

import submitit

from .shard import ShardJob, stop_running_shard


class ShardTask(submitit.helpers.Checkpointable):
    def __init__(self, job: ShardJob) -> None:
        self.job = job

    def __call__(self) -> dict:
        return self.job.run()

    def checkpoint(self, *args, **kwargs) -> submitit.helpers.DelayedSubmission:
        stop_running_shard()
        return submitit.helpers.DelayedSubmission(self)


def make_executor(folder: Path, *, gpus_per_shard: int, time_min: int, partition: str | None, cpus_per_shard: int | None,
                  max_requeue: int, job_name: str, cluster: str | None = None,
                  signal_delay_s: int = 120) -> submitit.AutoExecutor:
    """``cluster``: None picks Slurm when sbatch is there; ``local`` runs the jobs as local processes (tests)."""
    executor = submitit.AutoExecutor(folder=folder, cluster=cluster, slurm_max_num_timeout=max_requeue)
    parameters = {"name": job_name, "timeout_min": time_min, "nodes": 1, "tasks_per_node": 1,
                  "gpus_per_node": gpus_per_shard, "slurm_signal_delay_s": signal_delay_s, "stderr_to_stdout": True}
    if cpus_per_shard:
        parameters["cpus_per_task"] = cpus_per_shard
    if partition:
        parameters["slurm_partition"] = partition
    executor.update_parameters(**parameters)
    return executor


def submit(executor: submitit.AutoExecutor, jobs: list[ShardJob]) -> list:
    """One array job (one task per shard) where the cluster supports it."""
    with executor.batch():
        submitted = [executor.submit(ShardTask(job)) for job in jobs]
    return submitted


def wait(jobs: list[ShardJob], submitted: list) -> dict[str, dict]:
    outcomes = {}
    for job, handle in zip(jobs, submitted):
        try:
            outcomes[job.name] = handle.result()
        except Exception as exc:  # noqa: BLE001 - a job that died is reported with the reason, the others still count
            text = " ".join(str(exc).split())[:300]
            outcomes[job.name] = {"shard": job.name, "exit_code": None, "job_id": handle.job_id,
                                  "error": f"job {handle.job_id} did not finish: {type(exc).__name__}: {text}"}
    return outcomes
