"""The fleet command's course: plan (or reload a plan), run the shards on an engine, merge, report."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from . import merge
from .cli import ROOT, new_plan, parser, require_extra, shard_jobs, split_sweep_args
from .plan import FleetError, Plan

ATTEMPTS = "attempts.jsonl"  # every shard attempt's outcome, in order; the latest per shard counts


def main(argv: list[str] | None = None) -> int:
    args, extra = parser().parse_known_args(argv)
    try:
        sweep_args = split_sweep_args(extra)
        require_extra(args.engine)
        results_dir = Path(args.results).resolve()
        plan, names = load_plan(args, results_dir) if args.resume else (new_plan(args, sweep_args, results_dir), None)
        if args.resume and sweep_args:
            raise FleetError("--resume keeps the fleet's sweep options; give no --attn-* options with it")
        run_dir = results_dir / plan.run_id
        plan.save(run_dir / "fleet")
        print_plan(plan, names)
        if args.plan_only:
            return 0
        jobs = shard_jobs(plan, results_dir, names)
        outcomes = run_engine(args, jobs, run_dir) if jobs else {}
        with open(run_dir / "fleet" / ATTEMPTS, "a", encoding="utf-8") as log:
            for outcome in outcomes.values():
                log.write(json.dumps(outcome, default=str) + "\n")
        summary = merge.summarize(run_dir, plan, latest_outcomes(run_dir))
    except FleetError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    merge.write_run_info(summary, plan, args.engine)
    print("\n".join(merge.format_summary(summary)))
    print(f"results: {run_dir}")
    if not summary.complete:
        print(f"fleet: cells left undone; continue with: python -m bench fleet --engine {args.engine} --resume {plan.run_id}")
    if not args.no_report:
        build_report(run_dir, plan.run_id)
    return 0 if summary.complete and not summary.failed_cells else 1


def load_plan(args, results_dir: Path) -> tuple[Plan, set[str]]:
    """The plan of fleet run RUN and the shards that left cells undone."""
    fleet_dir = results_dir / args.resume / "fleet"
    if not (fleet_dir / "plan.json").exists():
        raise FleetError(f"--resume {args.resume}: {fleet_dir / 'plan.json'} not found (a run of one process continues with "
                         f"pytest --benchmark-only --resume {args.resume})")
    plan = Plan.load(fleet_dir)
    summary = merge.summarize(results_dir / args.resume, plan, latest_outcomes(results_dir / args.resume))
    return plan, {s.shard for s in summary.shards if s.undone}


def latest_outcomes(run_dir: Path) -> dict[str, dict]:
    path = run_dir / "fleet" / ATTEMPTS
    outcomes = {}
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                outcome = json.loads(line)
                outcomes[outcome["shard"]] = outcome
    return outcomes


def print_plan(plan: Plan, names: set[str] | None) -> None:
    total = sum(len(s.cells) for s in plan.shards)
    print(f"fleet {plan.run_id}: {total} cells of preset {plan.preset} in {len(plan.shards)} shards × "
          f"{len(plan.slots)} slots ({', '.join(plan.slots)}); predicted {plan.total_predicted_s:.1f} s in all")
    for shard in plan.shards:
        rerun = "" if names is None else ("  (rerun)" if shard.name in names else "  (complete)")
        print(f"  {shard.name}: {len(shard.cells)} cells, predicted {shard.predicted_s:.1f} s{rerun}")


def run_engine(args, jobs, run_dir: Path) -> dict[str, dict]:
    if args.engine == "local":
        from . import local

        if args.gpus_per_shard:
            import torch

            local.visible_devices(jobs, torch.cuda.device_count() if torch.cuda.is_available() else 0)
        return local.run_shards(jobs, args.parallel)
    if args.engine == "slurm":
        from . import slurm

        executor = slurm.make_executor(run_dir / "fleet" / "submitit", gpus_per_shard=args.gpus_per_shard,
                                       time_min=args.time_min, partition=args.partition, cpus_per_shard=args.cpus_per_shard,
                                       max_requeue=args.max_requeue, job_name=f"attnbench-{run_dir.name}",
                                       cluster=args.submitit_cluster)
        submitted = slurm.submit(executor, jobs)
        print(f"submitted: {', '.join(f'{job.name} → job {handle.job_id}' for job, handle in zip(jobs, submitted))}")
        return slurm.wait(jobs, submitted)
    from . import ray_engine

    return ray_engine.run_shards(jobs, address=args.ray_address, gpus_per_shard=args.gpus_per_shard,
                                 cpus_per_shard=args.cpus_per_shard, retries=args.retries, local_cpus=args.ray_local_cpus)


def build_report(run_dir: Path, run_id: str) -> None:
    try:
        from reports.build import build_report as build
    except ImportError:
        print("report: the reports package is not available; results are in the folder above")
        return
    try:
        index = build([run_dir], ROOT / "reports" / "generated" / run_id)
    except Exception as exc:  # noqa: BLE001 - a failed report must not lose the run's results
        print(f"report: not built ({type(exc).__name__}: {exc})")
        return
    print(f"report: {index}")
