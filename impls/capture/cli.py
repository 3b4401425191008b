"""`python -m impls capture MODEL --out FILE`: record a model's attention inputs as a captured set.

MODEL is a local Hugging Face transformers directory (loaded with ``local_files_only=True`` and
``attn_implementation="sdpa"``; ``--text`` gives the text) or ``package.module:factory``, a function
returning ``(model, inputs)``. The set is then an input distribution: ``--attn-inputs captured:FILE``.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch

from .fileformat import STORAGE_DTYPES, write_captured
from .models import load_forward
from .recorder import record_sdpa_calls


def parse_layers(text: str | None) -> set[int] | None:
    if text is None or text == "all":
        return None
    try:
        layers = {int(x) for x in text.split(",") if x.strip()}
    except ValueError:
        raise ValueError(f"--layers {text!r}: expected call indices such as 0,3 or 'all'") from None
    if not layers or min(layers) < 0:
        raise ValueError(f"--layers {text!r}: expected non-negative call indices such as 0,3 or 'all'")
    return layers


def capture(model: str, out: str, text: str | None = None, length: int | None = None,
            layers: set[int] | None = None, dtype: str = "float16") -> dict:
    """Run the capture and write the file; returns the file's metadata."""
    run, description = load_forward(model, text, length)
    calls = record_sdpa_calls(run, keep=lambda index: layers is None or index in layers)
    if not calls:
        raise ValueError(f"{model} made no scaled_dot_product_attention call from Python (nothing to capture)")
    missing = sorted((layers or set()) - {c.index for c in calls})
    if missing:
        raise ValueError(f"--layers {','.join(map(str, missing))} out of range (the model made {len(calls)} calls: 0..{len(calls) - 1})")
    info = {"model": description, "text": str(text) if text else None, "length": length, "torch": torch.__version__,
            "command": "python -m impls capture " + " ".join(sys.argv[2:] if sys.argv[1:2] == ["capture"] else [])}
    return write_captured(out, calls, info, dtype)


def summary(metadata: dict, out: str) -> str:
    calls = metadata["calls"]
    shapes = Counter((tuple(c["query_shape"]), tuple(c["key_shape"]), c["is_causal"], c["mask"]["kind"] if c["mask"] else "none")
                     for c in calls)
    lines = [f"captured {len(calls)} scaled_dot_product_attention calls; kept {len(metadata['kept'])} "
             f"({','.join(map(str, metadata['kept']))}) in {metadata['storage_dtype']}"]
    lines += [f"  {n} x q{list(q)} k{list(k)} causal={causal} mask={mask}" for (q, k, causal, mask), n in shapes.items()]
    lines.append(f"wrote {out} ({Path(out).stat().st_size / 1e6:.2f} MB); use it with --attn-inputs captured:{out}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m impls capture", description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a local transformers model directory, or package.module:factory returning (model, inputs)")
    parser.add_argument("--out", required=True, help="the captured set to write (.safetensors)")
    parser.add_argument("--text", help="text file fed to a transformers model")
    parser.add_argument("--length", type=int, help="tokens of text to use (passed to a factory that takes `length`)")
    parser.add_argument("--layers", help="indices of the calls whose tensors are kept (call order; default all)")
    parser.add_argument("--dtype", default="float16", choices=list(STORAGE_DTYPES), help="storage dtype (default float16)")
    args = parser.parse_args(argv)
    try:
        metadata = capture(args.model, args.out, args.text, args.length, parse_layers(args.layers), args.dtype)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(summary(metadata, args.out))
    return 0
