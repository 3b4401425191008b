"""Per-head attention structure of each input distribution: entropy, peakedness, locality, sinks.

    python scripts/inputs_structure.py [--seq-len 2048] [--all-layers]

Causal attention, batch item 0, 8 heads of 64, seed 0; statistics from impls.inputs.structure,
averaged over query rows (see its docstring). ``--all-layers`` also measures every layer of the
trained charlm checkpoint (results/charlm/charlm.pt, written by scripts/train_charlm.py) on the
same held-out text, to show the shipped layer is not an exception. Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from impls import Problem
from impls.inputs.structure import STATISTICS, head_statistics, uniform_reference

COLUMNS = {"relative_entropy": "rel. entropy", "entropy": "entropy (nats)", "top1": "top-1 weight",
           "local_mass": "mass on 16 nearest", "sink_mass": "mass on key 0", "mean_distance": "mean distance"}


def table(rows: list[tuple[str, dict]]) -> str:
    lines = ["| inputs | head | " + " | ".join(COLUMNS[s] for s in STATISTICS) + " |", "|---|---|" + "---|" * len(STATISTICS)]
    for label, stats in rows:
        lines.append(f"| {label} | " + " | ".join(f"{stats[s]:.3f}" if s != "mean_distance" else f"{stats[s]:.0f}" for s in STATISTICS) + " |")
    return "\n".join(lines)


def distribution_rows(inputs: str, seq_len: int) -> list[tuple[str, dict]]:
    problem = Problem(batch=1, seq_len=seq_len, heads=8, head_dim=64, inputs=inputs)
    q, k, _ = problem.make_inputs(seed=0)
    stats = head_statistics(q[0], k[0], problem.softmax_scale)
    mean = {s: sum(h[s] for h in stats) / len(stats) for s in STATISTICS}
    return [(f"{inputs} | {h}", row) for h, row in enumerate(stats)] + [(f"{inputs} | mean", mean)]


def charlm_layer_rows(seq_len: int) -> list[tuple[str, dict]]:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import train_charlm

    from impls.capture import record_sdpa_calls

    model, (tokens,) = train_charlm.factory(length=seq_len)
    rows = []
    for call in record_sdpa_calls(lambda: model(tokens)):
        stats = head_statistics(call.tensors["q"][0], call.tensors["k"][0])
        mean = {s: sum(h[s] for h in stats) / len(stats) for s in STATISTICS}
        lowest = min(stats, key=lambda h: h["relative_entropy"])
        rows += [(f"charlm layer {call.index} | mean", mean), (f"charlm layer {call.index} | lowest-entropy head", lowest)]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--inputs", default="gaussian,synthetic,captured:charlm")
    parser.add_argument("--all-layers", action="store_true", help="also every layer of the trained checkpoint")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = [("uniform attention | -", uniform_reference(args.seq_len))]
    for inputs in (d.strip() for d in args.inputs.split(",") if d.strip()):
        rows += distribution_rows(inputs, args.seq_len)
    if args.all_layers:
        rows += charlm_layer_rows(args.seq_len)
    print(f"causal attention statistics, L={args.seq_len}, 8 heads x 64, seed 0")
    print(table(rows))


if __name__ == "__main__":
    main()
