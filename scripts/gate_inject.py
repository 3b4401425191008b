"""Injected regressions for validating the gate, applied to a temporary copy of the tree only.

An injection appends a wrapper to the implementation's own module (e.g. impls/exact/naive.py) so
that the head tree's kernel itself gets slower, hungrier or less accurate, as a bad pull request
would make it:
- slowdown: a pure-Python loop of N iterations after every call. N is calibrated right before the
  gate run, under the same lock, by timing the kernel with and without the loop in interleaved
  blocks (one thread, ~2 ms samples of CPU time, block medians: the gate's own way of measuring), then checked
  the same way; the check's figure is the slowdown actually injected, reported beside the nominal.
- memory: an extra buffer of N bytes held while the kernel runs (it raises the call's peak).
- accuracy: the output rounded through bfloat16, as if a kernel silently computed in lower precision.
- scale: the output multiplied by 1.02 (a wrong result); nan: a NaN output; raise: every call raises.
- blur: half of the output replaced by the mean of the values (an approximation losing accuracy).

    python scripts/gate_inject.py --tree DIR --module impls/exact/naive.py --cls Naive --impl naive \\
        --problem '{"batch": 1, "seq_len": 384, ...}' --kind slowdown --amount 0.05 --report FILE
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import time
from pathlib import Path

MARKER = "# --- injected by scripts/gate_inject.py (a temporary validation tree only) ---"
BODIES = {
    "slowdown": "out = fn()\n            for _ in range({amount}):\n                pass\n            return out",
    "memory": "extra = torch.ones({amount} // 4)\n            out = fn()\n            del extra\n            return out",
    "accuracy": "out = fn()\n            return out.to(torch.bfloat16).to(out.dtype)",
    "scale": "return fn() * 1.02",
    "nan": "return fn() * float('nan')",
    "raise": "raise RuntimeError('injected failure')",
    "blur": "out = fn()\n            return 0.5 * out + 0.5 * v.mean(dim=-2, keepdim=True).expand_as(out)",
}
SAMPLE_S, SAMPLES, BLOCKS = 2e-3, 5, 21


def injection(class_name: str, kind: str, amount: int = 0) -> str:
    if kind not in BODIES:
        raise ValueError(f"unknown injection {kind!r} (accepted: {', '.join(BODIES)})")
    body = BODIES[kind].format(amount=int(amount))
    return f'''

{MARKER}
def _gate_inject(cls):
    import torch

    original = cls.build

    def build(self, problem, q, k, v):
        fn = original(self, problem, q, k, v)

        def injected():
            {body}

        return injected

    cls.build = build


_gate_inject({class_name})
'''


def inject(module: Path, class_name: str, kind: str, amount: int = 0) -> None:
    """Append one injection to ``module`` (a file in a temporary tree; restore it with git before the next)."""
    text = module.read_text(encoding="utf-8")
    if MARKER in text:
        raise ValueError(f"{module} already carries an injection; restore it first")
    module.write_text(text + injection(class_name, kind, amount), encoding="utf-8")


# --- calibration of the slowdown loop ------------------------------------------------------------------
def _block_ratio(fn, loops: int, iterations: int, rng: random.Random) -> float:
    """One pair of blocks, in random order: median time of fn+loop over median time of fn."""
    def spin_after():
        fn()
        for _ in range(loops):
            pass

    medians = {}
    for name in rng.sample(["plain", "slowed"], 2):
        call = fn if name == "plain" else spin_after
        call()
        samples = []
        for _ in range(SAMPLES):
            start = time.process_time()
            for _ in range(iterations):
                call()
            samples.append((time.process_time() - start) / iterations)
        medians[name] = statistics.median(samples)
    return medians["slowed"] / medians["plain"]


def calibrate_loops(tree: Path, impl_name: str, problem_fields: dict, fraction: float) -> dict:
    sys.path.insert(0, str(tree))
    import torch

    from impls import Problem, get

    torch.set_num_threads(1)  # as the gate's workers
    problem = Problem(**problem_fields)
    q, k, v = problem.make_inputs(0)
    fn = get(impl_name).build(problem, q, k, v)
    rng = random.Random(0)
    with torch.no_grad():
        fn()
        start = time.process_time()
        fn()
        single = time.process_time() - start
        iterations = max(1, math.ceil(SAMPLE_S / single))
        probe = 20000  # loop cost per iteration, relative to one call, from interleaved blocks
        ratio = statistics.median(_block_ratio(fn, probe, iterations, rng) for _ in range(BLOCKS))
        per_loop = max(ratio - 1, 1e-9) / probe
        loops = round(fraction / per_loop)
        injected = statistics.median(_block_ratio(fn, loops, iterations, rng) for _ in range(BLOCKS)) - 1
    return {"nominal": fraction, "loop_iterations": loops, "measured_injected": injected, "probe_ratio": ratio}


def main() -> None:
    parser = argparse.ArgumentParser(description="append a calibrated regression to one implementation of a temporary tree")
    parser.add_argument("--tree", type=Path, required=True)
    parser.add_argument("--module", type=Path, required=True, help="the implementation's module, relative to the tree")
    parser.add_argument("--cls", required=True, help="the implementation's class in that module")
    parser.add_argument("--impl", required=True, help="its registry name (for calibration)")
    parser.add_argument("--problem", required=True, help="Problem fields as JSON (for calibration)")
    parser.add_argument("--kind", choices=sorted(BODIES), required=True)
    parser.add_argument("--amount", type=float, default=0.0, help="slowdown fraction, or extra bytes for memory")
    parser.add_argument("--report", type=Path, required=True, help="JSON file describing what was injected")
    args = parser.parse_args()
    tree = args.tree.resolve()
    if args.kind == "slowdown":
        report = calibrate_loops(tree, args.impl, json.loads(args.problem), args.amount)
        amount = report["loop_iterations"]
    else:
        report, amount = {"amount": args.amount}, int(args.amount)
    inject(tree / args.module, args.cls, args.kind, amount)
    args.report.write_text(json.dumps({"kind": args.kind, **report}))


if __name__ == "__main__":
    main()
