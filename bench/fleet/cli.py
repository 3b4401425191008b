"""``python -m bench fleet``: one sweep sharded across local processes, Slurm jobs (submitit) or Ray tasks.

    python -m bench fleet --engine slurm --shards 8 --gpus-per-shard 8 --partition gpu --attn-preset gpu
    python -m bench fleet --engine ray --ray-address auto --shards 4 --gpus-per-shard 1
    python -m bench fleet --engine local --shards 2 --attn-preset cpu --attn-impls sdpa
    python -m bench fleet --engine slurm --resume 20260101-120000-fleet     # rerun what an interrupted fleet left undone

Every option starting with --attn- is the sweep's (as for pytest); the rest are the fleet's.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
from pathlib import Path

from .plan import ROOT, FleetError, Plan, cells_path, collect_cells, make_plan, slot_devices
from .shard import ShardJob

EXTRAS = {"slurm": ("submitit", ".[slurm]"), "ray": ("ray", ".[ray]")}
# Chosen by the fleet itself: a shard's devices, results, run and cells.
RESERVED = ("--attn-devices", "--attn-results", "--attn-run-id", "--attn-resume", "--resume", "--attn-cells", "--attn-shard")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench fleet", description=__doc__.split("\n\n")[0],
                                epilog="Sweep options (--attn-preset, --attn-impls, ...) are passed to every shard.")
    p.add_argument("--engine", choices=("local", "slurm", "ray"), required=True)
    p.add_argument("--shards", type=int, help="how many shards (nodes, or processes for local); required unless --resume")
    p.add_argument("--gpus-per-shard", type=int, default=0, help="GPUs each shard drives, one xdist worker each (0: the CPU)")
    p.add_argument("--results", default=str(ROOT / "results"), help="results folder (default: results/)")
    p.add_argument("--run-id", help="the run's id (default: <date>-<time>-fleet)")
    p.add_argument("--resume", metavar="RUN", help="rerun the shards of fleet run RUN that left cells undone; finished cells are skipped")
    p.add_argument("--plan-only", action="store_true", help="write and print the plan; run nothing")
    p.add_argument("--no-report", action="store_true", help="do not build the HTML report at the end")
    local = p.add_argument_group("local")
    local.add_argument("--parallel", type=int, help="shards running at once (default: all)")
    slurm = p.add_argument_group("slurm (submitit)")
    slurm.add_argument("--partition", help="Slurm partition")
    slurm.add_argument("--time-min", type=int, default=120, help="time limit per job in minutes (default 120)")
    slurm.add_argument("--cpus-per-shard", type=int, help="CPUs per shard (Slurm cpus-per-task, Ray num_cpus)")
    slurm.add_argument("--max-requeue", type=int, default=3, help="requeues after a time-out (preemptions: unlimited; default 3)")
    slurm.add_argument("--submitit-cluster", default=None, help=argparse.SUPPRESS)  # 'local' runs submitit's jobs here (tests)
    ray = p.add_argument_group("ray")
    ray.add_argument("--ray-address", help="an existing cluster (auto, ray://host:10001); default: a local instance")
    ray.add_argument("--ray-local-cpus", type=int, help="CPUs of a local Ray instance (default: all)")
    ray.add_argument("--retries", type=int, default=2, help="Ray retries of a shard whose node died (default 2)")
    return p


def split_sweep_args(extra: list[str]) -> list[str]:
    for token in extra:
        name = token.split("=", 1)[0]
        if name in RESERVED:
            raise FleetError(f"{name} is set by the fleet for each shard (use --results, --run-id, --resume, --gpus-per-shard)")
        if token.startswith("-") and not token.startswith("--attn-"):
            raise FleetError(f"unknown option {token} (fleet options: see --help; sweep options start with --attn-)")
    return extra


def preset_of(sweep_args: list[str], gpus_per_shard: int) -> tuple[str, list[str]]:
    """The preset named in the sweep options, else the one a shard's machine would default to."""
    rest, preset = [], None
    tokens = iter(sweep_args)
    for token in tokens:
        if token == "--attn-preset":
            preset = next(tokens, None)
        elif token.startswith("--attn-preset="):
            preset = token.split("=", 1)[1]
        else:
            rest.append(token)
    return preset or ("gpu" if gpus_per_shard > 0 else "cpu"), rest


def require_extra(engine: str) -> None:
    if engine in EXTRAS and importlib.util.find_spec(EXTRAS[engine][0]) is None:
        module, extra = EXTRAS[engine]
        raise FleetError(f"--engine {engine} needs {module}: pip install -e \"{extra}\"")


def new_plan(args, sweep_args: list[str], results_dir: Path) -> Plan:
    if not args.shards or args.shards < 1:
        raise FleetError("--shards: give the number of shards (at least 1)")
    if args.gpus_per_shard < 0:
        raise FleetError(f"--gpus-per-shard {args.gpus_per_shard}: must be 0 (CPU) or more")
    run_id = args.run_id or f"{_dt.datetime.now().strftime('%Y%m%d-%H%M%S')}-fleet"
    if (results_dir / run_id).exists():
        raise FleetError(f"--run-id: {results_dir / run_id} exists already (continue it with --resume {run_id})")
    preset, rest = preset_of(sweep_args, args.gpus_per_shard)
    slots = slot_devices(args.gpus_per_shard)
    cells = collect_cells(preset, slots, rest, results_dir)
    return make_plan(run_id, preset, args.shards, slots, rest, cells)


def shard_jobs(plan: Plan, results_dir: Path, names: set[str] | None = None) -> list[ShardJob]:
    fleet_dir = results_dir / plan.run_id / "fleet"
    return [ShardJob(shard.name, str(ROOT), str(results_dir), plan.run_id, str(cells_path(fleet_dir, shard)), plan.preset,
                     plan.slots, plan.sweep_args, str(fleet_dir / f"{shard.name}.log"))
            for shard in plan.shards if names is None or shard.name in names]
