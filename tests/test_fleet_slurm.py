"""The Slurm engine without a cluster: the sbatch file submitit generates for a fleet, and a preemption.

1. With stand-in `sbatch` and `srun` on PATH, submitit's AutoExecutor picks Slurm and submits the
   shards as one array; the test reads the submission file it wrote (partition, GPUs, time limit,
   the USR2 signal ahead of the limit, one task per node) and the pickled tasks (each a shard
   with --attn-resume; checkpoint() resubmits the same shard; the time-out requeue budget).
2. Through submitit's local executor (real subprocess jobs), a shard's job gets USR2 as Slurm sends
   it on preemption: submitit checkpoints, the shard's pytest is stopped, the job is requeued and
   the shard finishes without redoing its finished cells.
"""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

submitit = pytest.importorskip("submitit", reason="install .[slurm]")

from bench.fleet import slurm  # noqa: E402
from bench.fleet.shard import ShardJob  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def shard_job(tmp_path: Path, name: str, slots: list[str], cells: str = "") -> ShardJob:
    cells_file = tmp_path / "results" / "run1" / "fleet" / f"{name}.cells"
    cells_file.parent.mkdir(parents=True, exist_ok=True)
    cells_file.write_text(cells)
    # A fixed matmul peak in the shard (tests/plugins/fleet_test_speed.py): this checks cells, not speed.
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT / "tests" / "plugins"), str(ROOT)]), "PYTEST_ADDOPTS": "-p fleet_test_speed"}
    return ShardJob(name, str(ROOT), str(tmp_path / "results"), "run1", str(cells_file), "smoke", slots,
                    ["--attn-impls", "naive", "--attn-seq-lens", "64", "suites/test_core.py"], str(cells_file.with_suffix(".log")),
                    env=env)


def test_slurm_submission_asks_for_gpus_time_and_the_requeue_signal(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(f'#!/bin/sh\necho "$@" >> {tmp_path}/sbatch-calls\necho "Submitted batch job 4242"\n')
    (bin_dir / "srun").write_text("#!/bin/sh\nexit 0\n")
    for tool in ("sbatch", "srun"):
        (bin_dir / tool).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    gpus = [f"cuda:{i}" for i in range(8)]
    jobs = [shard_job(tmp_path, f"s{i}", gpus) for i in range(3)]
    executor = slurm.make_executor(tmp_path / "submitit", gpus_per_shard=8, time_min=240, partition="gpu", cpus_per_shard=32,
                                   max_requeue=5, job_name="attnbench-run1")
    assert executor.cluster == "slurm"
    submitted = slurm.submit(executor, jobs)

    calls = (tmp_path / "sbatch-calls").read_text().split("\n")[:-1]
    assert len(calls) == 1  # one array job for the three shards
    script = Path(calls[0]).read_text()
    for line in ("--array=0-2%3", "--partition=gpu", "--gpus-per-node=8", "--time=240", "--cpus-per-task=32",
                 "--nodes=1", "--ntasks-per-node=1", "--signal=USR2@120", "--open-mode=append", "--job-name=attnbench-run1"):
        assert f"#SBATCH {line}\n" in script, line
    assert re.search(r"srun .*-m submitit.core._submit", script)
    assert [job.job_id for job in submitted] == ["4242_0", "4242_1", "4242_2"]

    for index, handle in enumerate(submitted):
        delayed = submitit.helpers.DelayedSubmission.load(handle.paths.submitted_pickle)
        task = delayed.function
        command = task.job.command()
        assert isinstance(task, slurm.ShardTask) and task.job.name == f"s{index}"
        assert "--attn-resume=run1" in command and "--attn-run-id=run1" in command and f"--attn-shard=s{index}" in command
        assert f"--attn-devices={','.join(gpus)}" in command and command[-2:] == ["-n", "8"]
        assert delayed._timeout_min == 240 and delayed._timeout_countdown == 5  # requeued after up to 5 time-outs
        requeued = task.checkpoint()
        assert isinstance(requeued, submitit.helpers.DelayedSubmission) and requeued.function is task


def test_preempted_shard_is_requeued_and_resumes(tmp_path):
    from bench.fleet.plan import slot_devices

    # Four cells of the smoke grid on the CPU, named as a shard's file names them.
    cells = "".join(f"core naive-b1-h4{kv}-L64-d32-float32-{mask}-fwd-cpu\n" for kv in ("", "kv2") for mask in ("nomask", "causal"))
    job = shard_job(tmp_path, "s0", slot_devices(0), cells)
    executor = slurm.make_executor(tmp_path / "submitit", gpus_per_shard=0, time_min=30, partition=None, cpus_per_shard=None,
                                   max_requeue=2, job_name="attnbench-run1", cluster="local")
    handle = slurm.submit(executor, [job])[0]
    cells_path = tmp_path / "results" / "run1" / "cells-s0.jsonl"
    deadline = time.time() + 300
    while not (cells_path.exists() and cells_path.read_text().count("\n") >= 1):
        assert time.time() < deadline and not handle.done(), "the shard recorded no cell"
        time.sleep(0.5)
    worker_pid = int(re.search(r"worker pid (\d+)", Path(job.log_file).read_text()).group(1))
    os.kill(worker_pid, signal.SIGUSR2)  # what Slurm sends ahead of a preemption or the time limit
    outcome = handle.result()

    records = [json.loads(line) for line in cells_path.read_text().splitlines()]
    ids = [r["cell_id"] for r in records]
    assert sorted(ids) == sorted(cells.split()[1::2]) and len(ids) == len(set(ids))  # every cell once: none redone
    log = Path(job.log_file).read_text()
    assert log.count("worker pid") == 2  # the requeued attempt
    finished_before = int(re.findall(r"resuming run1: (\d+) cells already finished", log)[-1])
    assert finished_before >= 1 and outcome["records_before"] == finished_before
    assert outcome["records_this_attempt"] == 4 - finished_before and outcome["exit_code"] == 0
