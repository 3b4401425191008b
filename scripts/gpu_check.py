"""GPU validation: correctness on the GPU for every implementation, a short sweep, a timing cross-check.

    scripts/gpu_check.sh                        # cuda:0; full results in $ATTNBENCH_OUT (default results/gpu_check)
    scripts/gpu_check.sh --device cuda:1
    scripts/gpu_check.sh --dry-run              # the plan and what is installed; runs nothing
    scripts/gpu_check.sh --device cpu --quick   # the script checking itself on a machine without a GPU

Steps, each in its own process with its own time limit so that the whole stays under ``--budget-s``
(default 450 s, inside the 8 minutes promised for one H100/H200):

1. correctness: tests/test_devices_cuda.py on the device (bf16, fp16, fp32; GQA/MQA; masks; backward);
2. sweep: the core suite on a few causal bf16 shapes, forward and forward+backward, with CUDA-event
   timing and CUDA graphs (under pytest-xdist with one worker when it is installed);
3. timing cross-check: a few of the sweep's cells timed again by ``triton.testing.do_bench`` and
   by our CUDA-event timer (on the CPU: by ``torch.utils.benchmark``) next to the sweep's numbers.

Only PyTorch and the project's own dependencies (pytest, pytest-benchmark) are needed; triton,
pytest-xdist, pynvml, xformers, pandas are used when present. Full results go to the output folder:
env.json, correctness.xml and .log, sweep.log, results/<run>/cells*.jsonl, crosscheck.json,
summary.json; the compact tables are printed last. Exit code: 0 pass, 1 a check failed, 2 no such
device, 3 a required package is missing.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]

from gpu_check_tables import correctness_table, crosscheck_table, summary_table, sweep_table  # noqa: E402
from gpu_check_timing import CROSSCHECK_CELLS, crosscheck  # noqa: E402

OPTIONAL = ("triton", "xdist", "pynvml", "xformers", "pandas", "matplotlib")
REQUIRED = ("pytest", "pytest_benchmark")
SWEEP_IMPLS = "sdpa,sdpa-flash,sdpa-efficient,sdpa-cudnn,sdpa-math,naive,flex,xformers"


@dataclass
class StepResult:
    name: str
    status: str  # ok | failed | timeout | skipped | error
    seconds: float = 0.0
    detail: str = ""
    data: dict = field(default_factory=dict)


# --- environment -------------------------------------------------------------------------------------------
def environment(device: str) -> dict:
    import torch

    env = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_build": torch.version.cuda,
           "cuda_available": torch.cuda.is_available(), "device": device,
           "packages": {name: _version(name) for name in REQUIRED + OPTIONAL}}
    if torch.device(device).type == "cuda" and torch.cuda.is_available():
        index = torch.device(device).index or 0
        props = torch.cuda.get_device_properties(index)
        env.update(device_name=props.name, capability=f"{props.major}.{props.minor}", memory_gib=round(props.total_memory / 2**30, 1),
                   l2_cache_mib=round(getattr(props, "L2_cache_size", 0) / 2**20, 1), gpu_count=torch.cuda.device_count(),
                   driver=_driver_version())
    else:
        from bench.machine import cpu_name

        env.update(device_name=cpu_name(), cores=os.cpu_count())
    return env


def _version(module: str) -> str | None:
    if importlib.util.find_spec(module) is None:
        return None
    try:
        from importlib.metadata import version

        dist = {"pytest_benchmark": "pytest-benchmark", "xdist": "pytest-xdist", "pynvml": "nvidia-ml-py"}.get(module, module)
        return version(dist)
    except Exception:  # noqa: BLE001 - present but without metadata
        return "present"


def _driver_version() -> str | None:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        return out.splitlines()[0] if out else None
    except (OSError, subprocess.SubprocessError):
        return None


# --- the plan ------------------------------------------------------------------------------------------------
@dataclass
class Plan:
    device: str
    out: Path
    quick: bool
    xdist: bool
    budget_s: float

    def correctness_command(self) -> list[str]:
        command = [sys.executable, "-m", "pytest", "tests/test_devices_cuda.py", "-q", "-rfE", "-p", "no:randomly",
                   f"--junitxml={self.out / 'correctness.xml'}"]
        if self.quick:
            command += ["-k", "gqa-causal and float32 and not flex and not custom and not checkpointed"]
        return command

    def sweep_command(self) -> list[str]:
        if self.quick:
            shape = ["--attn-preset", "smoke", "--attn-impls", "naive,sdpa,sdpa-math", "--attn-seq-lens", "128", "--attn-heads", "2",
                     "--attn-head-dims", "16", "--attn-dtypes", "float32"]
        else:
            shape = ["--attn-preset", "gpu", "--attn-impls", SWEEP_IMPLS, "--attn-seq-lens", "1024,4096", "--attn-batch", "2",
                     "--attn-heads", "16", "--attn-head-dims", "128", "--attn-dtypes", "bfloat16"]
        command = [sys.executable, "-m", "pytest", "--benchmark-only", "suites/test_core.py", "-q", "-p", "no:randomly",
                   "--attn-devices", self.device, *shape, "--attn-kv-heads", "h", "--attn-masks", "causal", "--attn-modes", "fwd,fwd+bwd",
                   "--attn-results", str(self.out / "results"), "--attn-no-report",
                   "--benchmark-storage", f"file://{self.out / 'benchmarks'}"]
        if self.device.startswith("cuda"):
            command.append("--attn-cuda-graphs")
        if self.xdist:
            command += ["-n", "1"]  # exercises the xdist path: the worker owns the device
        return command

    def step_budgets(self) -> dict[str, float]:
        return {"correctness": 0.45 * self.budget_s, "sweep": 0.42 * self.budget_s, "crosscheck": 0.13 * self.budget_s}


def run_command(name: str, command: list[str], log: Path, env: dict, timeout_s: float) -> StepResult:
    """Run in its own process group, so a timeout also ends pytest-xdist's workers."""
    start = time.perf_counter()
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(command) + "\n")
        fh.flush()
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            code = process.wait(timeout=max(1.0, timeout_s))
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            return StepResult(name, "timeout", time.perf_counter() - start, f"stopped after {timeout_s:.0f} s (see {log.name})")
    seconds = time.perf_counter() - start
    tail = [line for line in log.read_text(errors="replace").splitlines() if line.strip()][-1:]
    status = "ok" if code == 0 else "failed"
    return StepResult(name, status, seconds, f"exit {code}: {tail[0] if tail else ''}".strip())


# --- correctness ----------------------------------------------------------------------------------------------
_TEST_ID = re.compile(r"\[(?P<impl>.+)-(?P<case>[^\[\]]+?)-(?P<dtype>bfloat16|float16|float32)-(?P<mode>fwd\+bwd|fwd)\]$")


def correctness_outcomes(junit: Path, case_names: list[str]) -> list[dict]:
    """One dict per test: impl, case, dtype, mode, outcome (passed|failed|skipped), message."""
    if not junit.exists():
        return []
    outcomes = []
    for case in ET.parse(junit).getroot().iter("testcase"):
        name = case.get("name", "")
        match = _TEST_ID.search(name)
        if not match:
            continue
        impl, rest = match["impl"], match["case"]
        for known in case_names:  # impl names contain '-': split on the known case name
            if f"{impl}-{rest}".endswith(f"-{known}"):
                impl, rest = f"{impl}-{rest}"[: -len(known) - 1], known
                break
        outcome, message = "passed", ""
        for tag in ("failure", "error", "skipped"):
            node = case.find(tag)
            if node is not None:
                outcome = "skipped" if tag == "skipped" else "failed"
                message = " ".join((node.get("message") or "").split())[:200]
        outcomes.append({"impl": impl, "case": rest, "dtype": match["dtype"], "mode": match["mode"], "outcome": outcome,
                         "message": message})
    return outcomes


def correctness_case_names() -> list[str]:
    # Only the case names are needed: import the module as for the CPU, so its "no CUDA" module skip stays out of the way.
    saved = os.environ.get("ATTNBENCH_TEST_DEVICE")
    os.environ["ATTNBENCH_TEST_DEVICE"] = "cpu"
    try:
        spec = importlib.util.spec_from_file_location("_device_tests", ROOT / "tests" / "test_devices_cuda.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            os.environ.pop("ATTNBENCH_TEST_DEVICE", None)
        else:
            os.environ["ATTNBENCH_TEST_DEVICE"] = saved
    return sorted(module.CASES, key=len, reverse=True)


# --- sweep records ----------------------------------------------------------------------------------------------
def sweep_records(results: Path) -> list[dict]:
    runs = sorted((p for p in results.glob("*") if p.is_dir() and any(p.glob("cells*.jsonl"))), key=lambda p: p.stat().st_mtime)
    if not runs:
        return []
    from store.records import read_run

    return [record.to_dict() for record in read_run(runs[-1])[1]]


# --- main ------------------------------------------------------------------------------------------------------------
def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/gpu_check.sh", description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    parser.add_argument("--out", default=os.environ.get("ATTNBENCH_OUT", str(ROOT / "results" / "gpu_check")),
                        help="output folder (default $ATTNBENCH_OUT, else results/gpu_check)")
    parser.add_argument("--budget-s", type=float, default=450.0, help="time for all steps together (default 450)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and a subset of the tests (checking the script itself)")
    parser.add_argument("--no-xdist", action="store_true", help="run the sweep without pytest-xdist even when it is installed")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and the environment; run nothing")
    return parser.parse_args(argv)


def device_problem(device: str) -> str | None:
    """Why the device cannot be checked here, or None."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        return f"--device {device!r} is not a device (accepted: cuda, cuda:N, cpu)"
    if parsed.type == "cpu":
        return None
    if parsed.type != "cuda":
        return f"--device {device!r} is not supported (accepted: cuda, cuda:N, cpu)"
    if not torch.cuda.is_available():
        return (f"no CUDA device is visible (torch {torch.__version__}, CUDA build: {torch.version.cuda or 'none'}); nothing to check on "
                f"{device}. Use --dry-run to see the plan, or --device cpu --quick to check the script itself")
    if (parsed.index or 0) >= torch.cuda.device_count():
        return f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) are visible"
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    out = Path(args.out).resolve()
    plan = Plan(args.device, out, args.quick, xdist=not args.no_xdist and importlib.util.find_spec("xdist") is not None,
                budget_s=args.budget_s)
    problem = device_problem(args.device)
    if problem and problem.startswith("--device"):  # not a device at all: nothing else can be said about it
        print(f"gpu_check: {problem}", file=sys.stderr)
        return 2
    env_info = environment(args.device)
    installed = ", ".join(f"{k} {v}" if v else f"{k} -" for k, v in env_info["packages"].items())
    print(f"gpu_check: {args.device} ({env_info.get('device_name')}), torch {env_info['torch']}, CUDA {env_info['cuda_build']}; {installed}")
    if args.dry_run:
        print(f"output folder: {out}")
        for name, command in (("correctness", plan.correctness_command()), ("sweep", plan.sweep_command())):
            print(f"{name} ({plan.step_budgets()[name]:.0f} s): " + " ".join(command))
        print(f"crosscheck ({plan.step_budgets()['crosscheck']:.0f} s): up to {CROSSCHECK_CELLS} sweep cells re-timed in-process")
        print("device: " + (problem or "available"))
        return 0
    if problem:
        print(f"gpu_check: {problem}", file=sys.stderr)
        return 2
    missing = [name for name in REQUIRED if env_info["packages"][name] is None]
    if missing:
        print(f"gpu_check: {', '.join(missing)} not installed: the checks need the project's dependencies (pip install -e .)", file=sys.stderr)
        return 3
    out.mkdir(parents=True, exist_ok=True)
    (out / "env.json").write_text(json.dumps(env_info, indent=2))
    return run_checks(plan, env_info)


def run_checks(plan: Plan, env_info: dict) -> int:
    out, deadline = plan.out, time.perf_counter() + plan.budget_s
    budgets = plan.step_budgets()
    env = dict(os.environ, ATTNBENCH_TEST_DEVICE=plan.device, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("ATTNBENCH_RUN_ID", None)
    steps: list[StepResult] = []
    remaining = lambda share: max(1.0, min(share, deadline - time.perf_counter()))  # noqa: E731

    print(f"[1/3] correctness on {plan.device} ...", flush=True)
    correctness = run_command("correctness", plan.correctness_command(), out / "correctness.log", env, remaining(budgets["correctness"]))
    outcomes = correctness_outcomes(out / "correctness.xml", correctness_case_names())
    counts = {kind: sum(o["outcome"] == kind for o in outcomes) for kind in ("passed", "failed", "skipped")}
    correctness.detail = f"{counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped; " + correctness.detail
    correctness.data = {"outcomes": outcomes}
    steps.append(correctness)

    print(f"[2/3] sweep on {plan.device} ...", flush=True)
    sweep = run_command("sweep", plan.sweep_command(), out / "sweep.log", env, remaining(budgets["sweep"]))
    records = sweep_records(out / "results")
    by_status = {s: sum(r["status"] == s for r in records) for s in ("ok", "skipped", "failed", "oom")}
    sweep.detail = f"{len(records)} cells: " + ", ".join(f"{n} {s}" for s, n in by_status.items() if n) + "; " + sweep.detail
    steps.append(sweep)

    print("[3/3] timing cross-check ...", flush=True)
    start = time.perf_counter()
    if start < deadline:
        status, detail, rows = crosscheck(records)
        check = StepResult("crosscheck", status, time.perf_counter() - start, detail, {"rows": rows})
    else:
        check = StepResult("crosscheck", "timeout", 0.0, "no time left")
    steps.append(check)

    (out / "crosscheck.json").write_text(json.dumps(check.data, indent=2, default=str))
    (out / "summary.json").write_text(json.dumps({"env": env_info, "steps": [asdict(s) for s in steps]}, indent=2, default=str))
    failures = [o for o in outcomes if o["outcome"] == "failed"]
    print()
    if failures:
        print("correctness failures:\n" + "\n".join(f"  {o['impl']} {o['case']} {o['dtype']} {o['mode']}: {o['message']}" for o in failures[:20]))
    print(f"\ncorrectness on {plan.device} (tests/test_devices_cuda.py; ok / FAIL / skip per dtype)\n" + correctness_table(outcomes))
    print(f"\nsweep on {plan.device}: {env_info.get('device_name')} (records in {out / 'results'})\n" + sweep_table(records))
    print("\ntiming cross-check (median per call; ours = our CUDA events, or the sweep's median on the CPU)\n"
          + crosscheck_table(check.data.get("rows", [])))
    print(f"\ngpu_check summary ({out})\n" + summary_table(steps))
    passed = all(s.status in ("ok", "warn") for s in steps) and not by_status["failed"] and not failures
    print("gpu_check: " + ("PASS" if passed else "FAIL"))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
