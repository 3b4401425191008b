"""The regression gate's measuring process: one per side, driven over stdin/stdout with JSON lines.

    python <root>/gate/worker.py --root <root> --impls <tree>

``--root`` is an import root the gate assembled (gate/roots.py): every package of the yardstick
tree (the base's, unless --accept-yardstick-change) except ``impls``, which is the measured tree's.
So the measuring code (this worker, bench's cell steps, the oracle and input generation) is the
yardstick's on both sides, and a side contributes only its implementations. The yardstick's own
steps (expanding the selection, drawing inputs, the oracle's answer, error) run in one worker of
the yardstick's side; the other side receives inputs as tensors and hands its outputs back.

Requests, one JSON object a line; every answer has ``ok`` and, when false, a one-line ``error``:
- on start the worker says hello: trees, impls file, torch version, threads, machine, registry.
- yardstick side: ``select`` (options, focus) → cells; ``prepare`` (cells, seed, data) → inputs
  written, their hash, tolerance; ``judge`` (cells, data, sides) → error of each side's outputs;
  ``files`` → each implementation's source files (for change-aware selection).
- every side: ``setup`` (cells, data, side, measure) → build each cell on the given inputs: status,
  one call's time, peak memory, outputs written; ``probe`` (cells, seed, data) → this tree's own
  input hash, tolerance and oracle answer hash (to tell a changed yardstick); ``block`` (order,
  calls, iterations) → median seconds per call of each cell; ``quit``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path


def isolate_imports(root: Path, tree: Path) -> None:
    """Make ``root`` the only source of attnbench's packages; run inside the measured tree."""
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() not in (here, root, tree)]
    sys.path.insert(0, str(root))
    os.chdir(tree)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())[:400]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def hello(root: Path, tree: Path) -> dict:
    import torch

    import bench
    import impls
    from bench.machine import machine_info

    impls_file = Path(impls.__file__).resolve()
    if tree not in impls_file.parents:
        raise ImportError(f"impls was imported from {impls_file.parent}, not from {tree}")
    return {"tree": str(tree), "root": str(root), "impls_file": str(impls_file),
            "bench_file": str(Path(bench.__file__).resolve()), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "pid": os.getpid(), "machine": machine_info(),
            "impls": [impl.full_name for impl in impls.registry()]}


def handlers(tree: Path) -> dict:
    from gate.side import Side
    from gate.yardstick import Yardstick

    side, yardstick = Side(), Yardstick(tree)
    return {"select": yardstick.select, "prepare": yardstick.prepare, "judge": yardstick.judge, "files": yardstick.files,
            "setup": side.setup, "probe": side.probe, "block": side.block}


def serve(root: Path, tree: Path, replies) -> None:
    def reply(payload: dict) -> None:
        replies.write(json.dumps(payload) + "\n")
        replies.flush()

    try:
        reply({"ok": True, **hello(root, tree)})
        ops = handlers(tree)
    except Exception as exc:  # noqa: BLE001 - the gate turns this into exit code 3 with this line
        reply({"ok": False, "error": f"cannot import the implementations of {tree}: {one_line(exc)}"})
        return
    for line in sys.stdin:
        request = json.loads(line)
        op = request.pop("op", None)
        if op == "quit":
            return
        if op not in ops:
            reply({"ok": False, "error": f"unknown request {op!r} (accepted: {', '.join(ops)}, quit)"})
            continue
        try:
            reply({"ok": True, **ops[op](**request)})
        except Exception as exc:  # noqa: BLE001 - reported to the gate, which decides what it means
            reply({"ok": False, "error": one_line(exc), "traceback": traceback.format_exc(limit=6)})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, help="the import root: the yardstick's packages and the measured impls/")
    parser.add_argument("--impls", required=True, help="the source tree whose impls/ this worker measures")
    args = parser.parse_args()
    root, tree = Path(args.root).absolute(), Path(args.impls).resolve()
    # The protocol owns the real stdout; anything else printed (by torch or an implementation) goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    isolate_imports(root, tree)
    serve(root, tree, replies)


if __name__ == "__main__":
    main()
