"""Train the small character-level transformer whose attention inputs ship as ``captured:charlm``.

The model reads bytes of Python source (the standard library of the Python running this script:
real text that every machine has offline), with 8 heads of 64 (d_model 512, the default grid's
head shape), rotary position embeddings (so it runs at 2048 after training mostly at shorter
context) and ``torch.nn.functional.scaled_dot_product_attention``. About one stdlib file in ten is
held out by a hash of its path; the captured set is the model's q, k, v on held-out text.

    python scripts/train_charlm.py                       # about 5 minutes on 2 cores
    python -m impls capture scripts.train_charlm:factory --out FILE --layers 2 --length 2048

Writes results/charlm/ (checkpoint, loss log), docs/figures/charlm_loss.svg and the shipped set
impls/inputs/data/charlm.safetensors (one layer, batch 1, L=2048, float16).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import sysconfig
import time
import zlib
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

ROOT = Path(__file__).resolve().parent.parent
CHECKPOINT = ROOT / "results" / "charlm" / "charlm.pt"
SHIPPED = ROOT / "impls" / "inputs" / "data" / "charlm.safetensors"
LOSS_FIGURE = ROOT / "docs" / "figures" / "charlm_loss.svg"
HELD_OUT_ONE_IN = 10


# --- the model ----------------------------------------------------------------------------------
def rotary_tables(length: int, head_dim: int, base: float = 10000.0) -> tuple[torch.Tensor, torch.Tensor]:
    frequencies = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)
    angles = torch.arange(length, dtype=torch.float64)[:, None] * frequencies[None, :]
    return torch.cos(angles).float().repeat(1, 2), torch.sin(angles).float().repeat(1, 2)


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    rotated_half = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated_half * sin


class Block(nn.Module):
    def __init__(self, d_model: int, heads: int, d_ff: int):
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model, bias=False)
        self.out = nn.Linear(d_model, d_model, bias=False)
        self.mlp = nn.Sequential(nn.Linear(d_model, d_ff), nn.GELU(), nn.Linear(d_ff, d_model))

    def forward(self, x, cos, sin):
        batch, length, width = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(rotate(q, cos, sin), rotate(k, cos, sin), v, is_causal=True)
        x = x + self.out(attended.transpose(1, 2).reshape(batch, length, width))
        return x + self.mlp(self.norm2(x))


class CharLM(nn.Module):
    def __init__(self, layers: int = 4, d_model: int = 512, heads: int = 8, d_ff: int = 1024):
        super().__init__()
        self.config = {"layers": layers, "d_model": d_model, "heads": heads, "d_ff": d_ff}
        self.embed = nn.Embedding(256, d_model)
        self.blocks = nn.ModuleList(Block(d_model, heads, d_ff) for _ in range(layers))
        self.norm = nn.LayerNorm(d_model)
        self.head_dim = d_model // heads
        nn.init.normal_(self.embed.weight, std=0.02)  # tied with the output: unit-scale logits at the start

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        cos, sin = rotary_tables(tokens.shape[1], self.head_dim)
        x = self.embed(tokens)
        for block in self.blocks:
            x = block(x, cos, sin)
        return self.norm(x) @ self.embed.weight.T  # tied output embedding


# --- the text -----------------------------------------------------------------------------------
def stdlib_files() -> list[tuple[str, bytes]]:
    """(relative path, bytes) of the standard library's Python sources, tests and site-packages left out."""
    root = Path(sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "site-packages", "idle_test", "__pycache__"}
    files = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if not skip.intersection(relative.parts):
            files.append((relative.as_posix(), path.read_bytes()))
    return files


def is_held_out(relative: str) -> bool:
    return zlib.crc32(relative.encode()) % HELD_OUT_ONE_IN == 0


def corpora() -> tuple[torch.Tensor, torch.Tensor, list[tuple[str, bytes]]]:
    files = stdlib_files()
    train = b"\n".join(data for name, data in files if not is_held_out(name))
    held = [(name, data) for name, data in files if is_held_out(name)]
    as_tensor = lambda data: torch.frombuffer(bytearray(data), dtype=torch.uint8).long()  # noqa: E731
    return as_tensor(train), as_tensor(b"\n".join(d for _, d in held)), held


def capture_text(length: int) -> tuple[str, torch.Tensor]:
    """The first held-out file (sorted by path) with at least ``length`` bytes: its first ``length`` bytes."""
    for name, data in stdlib_files():
        if is_held_out(name) and len(data) >= length:
            return name, torch.frombuffer(bytearray(data[:length]), dtype=torch.uint8).long()[None]
    raise ValueError(f"no held-out standard-library file has {length} bytes")


def windows(corpus: torch.Tensor, batch: int, length: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    starts = torch.randint(0, corpus.numel() - length - 1, (batch,), generator=generator)
    rows = torch.stack([corpus[s:s + length + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


# --- training -----------------------------------------------------------------------------------
def learning_rate(step: int, steps: int, peak: float, warmup: int = 20) -> float:
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, steps - warmup)))


@torch.no_grad()
def held_out_loss(model: CharLM, held: torch.Tensor, length: int = 512, batch: int = 4) -> float:
    inputs, targets = windows(held, batch, length, torch.Generator().manual_seed(1234))
    return float(F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()))


def train(args) -> dict:
    torch.manual_seed(args.seed)
    train_corpus, held_corpus, _ = corpora()
    model = CharLM(args.layers, 512, 8, args.d_ff)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    generator = torch.Generator().manual_seed(args.seed)
    log, started = [], time.perf_counter()
    for step in range(args.steps):
        long_phase = step >= args.steps - args.long_steps
        batch, length = (args.long_batch, args.long_context) if long_phase else (args.batch, args.context)
        inputs, targets = windows(train_corpus, batch, length, generator)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate(step, args.steps, args.lr)
        # bfloat16 matmuls are about 4x faster than float32 on a CPU with AVX512-BF16; weights stay float32.
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16):
            loss = F.cross_entropy(model(inputs).flatten(0, 1).float(), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        entry = {"step": step, "context": length, "train_loss": float(loss.detach()), "seconds": time.perf_counter() - started}
        if step % args.eval_every == 0 or step == args.steps - 1:
            entry["held_out_loss"] = held_out_loss(model, held_corpus)
        log.append(entry)
        print(json.dumps(entry), flush=True)
    return {"model": model, "log": log, "train_bytes": train_corpus.numel(), "held_out_bytes": held_corpus.numel()}


def plot_loss(log: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "charlm"  # identical SVG for identical numbers
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(6, 3.2))
    axis.plot([e["step"] for e in log], [e["train_loss"] for e in log], lw=1, label="train (batch loss)")
    evaluated = [e for e in log if "held_out_loss" in e]
    axis.plot([e["step"] for e in evaluated], [e["held_out_loss"] for e in evaluated], "o-", ms=3, label="held-out files")
    long_start = next((e["step"] for e in log if e["context"] != log[0]["context"]), None)
    if long_start is not None:
        axis.axvline(long_start, color="grey", ls=":", lw=1, label=f"context {log[-1]['context']} from here")
    axis.set(xlabel="step", ylabel="cross-entropy (nats / byte)", title="charlm on Python stdlib sources")
    axis.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, metadata={"Date": None})


def load_model(checkpoint: Path = CHECKPOINT) -> CharLM:
    if not checkpoint.is_file():
        raise ValueError(f"{checkpoint} does not exist (train it with python scripts/train_charlm.py)")
    saved = torch.load(checkpoint, map_location="cpu")
    model = CharLM(**saved["config"])
    model.load_state_dict(saved["state"])
    return model.eval()


def factory(length: int = 2048, checkpoint: str | None = None):
    """(model, inputs) for ``python -m impls capture scripts.train_charlm:factory``: held-out text of ``length`` bytes."""
    _, tokens = capture_text(length)
    return load_model(Path(checkpoint) if checkpoint else CHECKPOINT), (tokens,)


def ship(layer: int, length: int) -> dict:
    """Capture the trained model on held-out text and write the shipped set (only ``layer`` kept)."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # run as a script, the repository's packages are importable without an install
    from impls.capture import record_sdpa_calls, write_captured

    model = load_model()
    name, tokens = capture_text(length)
    calls = record_sdpa_calls(lambda: model(tokens), keep=lambda index: index == layer)
    info = {"model": f"charlm {model.config} (scripts/train_charlm.py)", "text": f"Python {sysconfig.get_python_version()} stdlib {name}",
            "length": length, "torch": torch.__version__, "command": f"python scripts/train_charlm.py (layer {layer})"}
    return write_captured(SHIPPED, calls, info, "float16")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--context", type=int, default=128)
    parser.add_argument("--long-steps", type=int, default=8, help="final steps trained at --long-context")
    parser.add_argument("--long-batch", type=int, default=1)
    parser.add_argument("--long-context", type=int, default=2048)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--d-ff", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--eval-every", type=int, default=25)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-bf16", dest="bf16", action="store_false", help="train in float32 (slower on CPUs with bfloat16 units)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ship-layer", type=int, default=-1, help="the layer whose q, k, v are shipped (default: the last)")
    parser.add_argument("--capture-length", type=int, default=2048)
    parser.add_argument("--ship-only", action="store_true", help="skip training: capture the saved checkpoint again")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.ship_only:
        metadata = ship(args.ship_layer % load_model().config["layers"], args.capture_length)
        print(f"shipped {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.2f} MB, {len(metadata['calls'])} calls, kept {metadata['kept']})")
        return
    result = train(args)
    CHECKPOINT.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"config": result["model"].config, "state": result["model"].state_dict()}, CHECKPOINT)
    summary = {"args": vars(args), "train_bytes": result["train_bytes"], "held_out_bytes": result["held_out_bytes"],
               "parameters": sum(p.numel() for p in result["model"].parameters()), "log": result["log"]}
    (CHECKPOINT.parent / "training.json").write_text(json.dumps(summary, indent=1))
    plot_loss(result["log"], LOSS_FIGURE)
    metadata = ship(args.ship_layer % args.layers, args.capture_length)
    print(f"wall {result['log'][-1]['seconds']:.0f} s; final held-out loss {result['log'][-1]['held_out_loss']:.3f} nats/byte; "
          f"shipped {SHIPPED} ({SHIPPED.stat().st_size / 1e6:.2f} MB, {len(metadata['calls'])} calls, kept {metadata['kept']})")


if __name__ == "__main__":
    main()
