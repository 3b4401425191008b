"""Relative-L2 error of each approximate member against the float64 oracle, per input distribution.

    python scripts/inputs_error_table.py [--seq-len 2048] [--inputs gaussian,synthetic,captured:charlm]

Batch 1, 8 heads of 64, float32, CPU. Each member runs on a causal problem when it supports the
causal mask and on an unmasked one otherwise (the "mask" column says which); the oracle is the
exact attention of that same problem on the same inputs. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import torch

from impls import Problem, errors, get, reference

MEMBERS = ("linear", "performer[m=256]", "linformer[k=256]", "nystrom[m=64]", "sliding-window[w=256]",
           "local-attention[w=256]", "longformer[w=256,globals=0]", "strided[block=64]", "fixed[block=64]",
           "bigbird[block=64,window=3,globals=2,random=3,seed=0]")


def problem_for(impl, seq_len: int, inputs: str) -> Problem:
    mask = "causal" if "causal" in (impl.mask_kinds or {"causal"}) else "none"
    return Problem(batch=1, seq_len=seq_len, heads=8, head_dim=64, mask=mask, inputs=inputs)


def error_table(members: list[str], distributions: list[str], seq_len: int) -> list[dict]:
    rows, oracles = [], {}
    for name in members:
        impl = get(name)
        row = {"member": impl.full_name}
        for inputs in distributions:
            problem = problem_for(impl, seq_len, inputs)
            row["mask"] = problem.mask_kind
            reasons = impl.not_supported_reasons(problem)
            if reasons:
                row[inputs] = f"n/a ({reasons[0].code})"
                continue
            q, k, v = problem.make_inputs(seed=0)
            if problem not in oracles:
                oracles[problem] = reference(problem, q, k, v)
            torch.manual_seed(0)  # members with random features or projections draw them here
            with torch.no_grad():
                out = impl.build(problem, q, k, v)()
            row[inputs] = f"{errors(out, oracles[problem])['rel_l2']:.3g}"
        rows.append(row)
    return rows


def markdown(rows: list[dict], distributions: list[str]) -> str:
    header = ["member", "mask", *distributions]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(row.get(column, "")) for column in header) + " |" for row in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--inputs", default="gaussian,synthetic,captured:charlm")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    distributions = [d.strip() for d in args.inputs.split(",") if d.strip()]
    started = time.perf_counter()
    rows = error_table(list(MEMBERS), distributions, args.seq_len)
    print(f"rel-L2 error vs the float64 oracle: L={args.seq_len}, batch 1, 8 heads x 64, float32, seed 0, torch {torch.__version__}")
    print(markdown(rows, distributions))
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
