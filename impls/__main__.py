"""`python -m impls`: the capability matrix, and what is available on this machine and why not.

`python -m impls capture MODEL --out FILE` records a model's attention inputs (see impls/capture).

Availability is judged on a representative problem per device (batch 1, 8 heads, L=1024,
head_dim 64, the implementation's first dtype, its first mask kind), and every reason an
implementation gives on it is printed. `--device`, `--dtype`, `--mask`, `--mode` change that
problem; `--json` prints the same data for scripts.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .masks import MASK_KINDS
from .problem import Problem, dtype_name, parse_device, parse_dtype
from .registry import Impl, registry


def _probe_problem(impl: Impl, device: str, dtype: str | None, mask: str | None, mode: str):
    chosen_dtype = parse_dtype(dtype) if dtype else (torch.float32 if torch.float32 in impl.dtypes else sorted(impl.dtypes, key=str)[0])
    if mask is None:
        kinds = sorted(impl.mask_kinds or {"none"})
        mask = "none" if "none" in kinds or not kinds else _default_spec(kinds[0])
    return Problem(batch=1, seq_len=1024, heads=8, head_dim=64, dtype=chosen_dtype, device=device, mask=mask, mode=mode)


def _default_spec(kind: str) -> str:
    return kind if kind in MASK_KINDS else "none"


def capability_rows(devices: list[str], dtype: str | None = None, mask: str | None = None, mode: str = "fwd") -> list[dict]:
    rows = []
    for impl in registry():
        row = {
            "impl": impl.full_name, "family": impl.family, "kind": "exact" if impl.exact else "approximate",
            "devices": sorted(impl.devices), "dtypes": sorted(dtype_name(d) for d in impl.dtypes),
            "masks": sorted(impl.mask_kinds) if impl.mask_kinds is not None else ["any"],
            "head_dim": f"{impl.head_dim_min}..{impl.head_dim_max or 'any'}", "gqa": impl.gqa,
            "dropout": impl.dropout, "backward": impl.backward, "requires": list(impl.requires),
            "description": impl.description, "available": {},
        }
        for device in devices:
            try:
                problem = _probe_problem(impl, device, dtype, mask, mode)
                reasons = [str(r) for r in impl.not_supported_reasons(problem)]
            except ValueError as exc:
                reasons = [f"problem: {exc}"]
            row["available"][device] = reasons
        rows.append(row)
    return rows


def _format(rows: list[dict], devices: list[str]) -> str:
    headers = ["impl", "family", "kind", "devices", "dtypes", "masks", "gqa", "bwd", *devices]
    table = []
    for row in rows:
        table.append([
            row["impl"], row["family"], row["kind"], ",".join(row["devices"]),
            ",".join(d.replace("float", "f").replace("bf", "bf") for d in row["dtypes"]),
            ",".join(row["masks"]), "yes" if row["gqa"] else "no", "yes" if row["backward"] else "no",
            *["yes" if not row["available"][d] else "NO" for d in devices],
        ])
    widths = [max(len(str(x)) for x in col) for col in zip(headers, *table)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)) for r in table]
    reasons = [(row["impl"], d, r) for row in rows for d in devices for r in row["available"][d]]
    if reasons:
        lines += ["", "Why not (on the representative problem: batch 1, 8 heads, L=1024, head_dim 64):"]
        lines += [f"  {impl} on {device}: {reason}" for impl, device, reason in reasons]
    return "\n".join(lines)


class OneLineParser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse's usage block would bury the one line that matters
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def check_options(args: argparse.Namespace, devices: list[str]) -> None:
    """Every option once, before any row: a bad one is one line and exit 2, not a reason repeated on every row."""
    if args.dtype:
        parse_dtype(args.dtype)
    for device in devices:
        parse_device(device)
    if args.mask is not None:
        try:
            Problem(batch=1, seq_len=1024, heads=8, head_dim=64, mask=args.mask)
        except ValueError as exc:
            raise ValueError(f"--mask {args.mask}: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["capture"]:
        from .capture.cli import main as capture_main

        return capture_main(argv[1:])
    parser = OneLineParser(prog="python -m impls", description=__doc__.splitlines()[0])
    parser.add_argument("--device", action="append", help="device(s) to check (default: cpu and every visible GPU)")
    parser.add_argument("--dtype", help="dtype of the representative problem (default: the impl's float32 or first)")
    parser.add_argument("--mask", help="mask of the representative problem (default: none or the impl's first kind)")
    parser.add_argument("--mode", default="fwd", choices=["fwd", "fwd+bwd"])
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    devices = args.device or (["cpu"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())])
    try:
        check_options(args, devices)
        rows = capability_rows(devices, args.dtype, args.mask, args.mode)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(f"torch {torch.__version__}; devices: {', '.join(devices)}; masks known: none, {', '.join(sorted(MASK_KINDS))}")
        print(_format(rows, devices))
    return 0


if __name__ == "__main__":
    sys.exit(main())
