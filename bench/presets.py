"""Named sweep grids and their budgets.

A preset is a budget plus, per suite, a list of grids. The core grids live here; a family suite
(``suites/test_<family>.py``) declares its own ``GRIDS = {preset_name: [Grid, ...]}`` so that a
new suite is a new file. Command-line options (``--attn-seq-lens`` ...) replace a grid's axis
in every suite.
"""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass, field

from impls import Problem, select


@dataclass(frozen=True)
class Budget:
    max_call_seconds: float  # a cell predicted to take longer per call is skipped, not run
    max_bytes: int  # a cell predicted to hold more memory at its peak is skipped
    target_cell_seconds: float  # timed rounds are sized to take about this long
    min_rounds: int = 3
    max_rounds: int = 1000
    # (device kind, dtype, FLOP/s) replacing bench.reference_rates' defaults for this preset's budget predictions
    reference_flops: tuple[tuple[str, str, float], ...] = ()


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    budget: Budget


GiB = 1 << 30
PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("smoke", "a handful of tiny cells: checks that everything runs", Budget(2.0, 2 * GiB, 0.05, 2, 20)),
    Preset("cpu", "the default without a GPU: exact kernels next to sparse, linear/low-rank and design-space members "
                  "up to L=8192, in about 12 minutes on 2 cores", Budget(5.0, 8 * GiB, 0.4)),
    Preset("gpu", "the default with a GPU: exact kernels up to L=32768 (fp16/bf16, fwd and fwd+bwd) next to sparse, "
                  "linear/low-rank and design-space members, designed for about 10 minutes", Budget(2.0, 40 * GiB, 0.3, 5)),
    Preset("full", "every suite at full size; hours on a CPU", Budget(30.0, 20 * GiB, 2.0)),
    Preset("sparse", "the sparse family against dense and compiled baselines", Budget(10.0, 16 * GiB, 1.0)),
    Preset("linear", "the linear and low-rank family against dense baselines", Budget(20.0, 16 * GiB, 1.0)),
    Preset("design", "the design-space suites: heads, score functions, training cost and stability",
           Budget(5.0, 8 * GiB, 0.5)),
)}


@dataclass(frozen=True)
class Grid:
    """A cartesian product of problem axes × implementations. ``kv_heads`` entries may be ints or
    "h" (same as heads) or "h/N"; ``model_dims``, when given, fixes head_dim = model_dim / heads."""

    impls: tuple[str, ...]
    seq_lens: tuple[int, ...]
    kv_seq_lens: tuple[int | None, ...] = (None,)
    batch: tuple[int, ...] = (1,)
    heads: tuple[int, ...] = (8,)
    kv_heads: tuple[int | str, ...] = ("h",)
    head_dims: tuple[int, ...] = (64,)
    model_dims: tuple[int, ...] = ()
    dtypes: tuple[str, ...] = ("float32",)
    masks: tuple[str, ...] = ("none",)
    modes: tuple[str, ...] = ("fwd",)
    devices: tuple[str, ...] = ("auto",)
    inputs: tuple[str, ...] = ("gaussian",)  # input distributions (impls.inputs): gaussian, synthetic, captured:PATH
    # A problem that cannot exist (a mask that does not fit a length) is left out, unless strict: then it raises
    # (the session makes grids strict where the user named the masks).
    strict: bool = field(default=False, compare=False)

    def replace(self, **axes) -> Grid:
        return dataclasses.replace(self, **{k: tuple(v) for k, v in axes.items() if v is not None})

    def problems(self, auto_device: str) -> list[Problem]:
        """Every problem of the grid; combinations that cannot exist (kv_heads ∤ heads) are left out."""
        problems = []
        dims = [(m // h, (("model_dim", m),)) for m in self.model_dims for h in self.heads] if self.model_dims else None
        for device, dtype, mode, mask, batch, heads, kv_spec, seq, kv_seq in itertools.product(
                self.devices, self.dtypes, self.modes, self.masks, self.batch, self.heads, self.kv_heads,
                self.seq_lens, self.kv_seq_lens):
            kv_heads = resolve_kv_heads(kv_spec, heads)
            if kv_heads is None:
                continue
            head_dims = [(d, e) for d, e in dims if d * heads == dict(e)["model_dim"]] if dims else [(d, ()) for d in self.head_dims]
            for (head_dim, extra), inputs in itertools.product(head_dims, self.inputs):
                try:
                    problems.append(Problem(
                        batch=batch, seq_len=seq, kv_seq_len=kv_seq, heads=heads, kv_heads=kv_heads, head_dim=head_dim,
                        dtype=dtype, device=auto_device if device == "auto" else device, mask=mask, mode=mode, extra=extra,
                        inputs=inputs))
                except ValueError:
                    if self.strict:
                        raise
        return problems

    def cells(self, auto_device: str) -> list[tuple[Problem, object]]:
        """(problem, impl) pairs, problem-major so the oracle's result is reused across impls."""
        impls = select(self.impls)
        return [(p, impl) for p in self.problems(auto_device) for impl in impls]


def resolve_kv_heads(spec: int | str, heads: int) -> int | None:
    """kv_heads from ``8``, ``"h"`` or ``"h/4"``; None when it does not divide heads."""
    if isinstance(spec, str):
        if spec == "h":
            return heads
        if spec.startswith("h/"):
            divisor = int(spec[2:])
            return heads // divisor if heads % divisor == 0 and heads >= divisor else None
        spec = int(spec)
    return spec if spec <= heads and heads % spec == 0 else None


# --- the core suite's grids ---------------------------------------------------------------------------
EXACT = ("naive", "sdpa", "sdpa-math", "sdpa-flash", "sdpa-efficient", "sdpa-cudnn", "xformers", "flex")
EXACT_UNCOMPILED = tuple(name for name in EXACT if name != "flex")
# The default presets measure the approximations' error on these too (impls.inputs): an error on Gaussian q, k, v says
# little about a model. The shipped captured set is 8 heads of 64 at L=2048, the default grid's head shape.
REALISTIC_INPUTS = ("synthetic", "captured:charlm")
REALISTIC_LENGTHS = (1024, 2048)
CORE_GRIDS: dict[str, list[Grid]] = {
    "smoke": [
        Grid(impls=("naive", "sdpa", "sdpa-math", "sdpa-flash"), seq_lens=(128,), heads=(4,), kv_heads=("h", 2),
             head_dims=(32,), masks=("none", "causal"), modes=("fwd", "fwd+bwd")),
    ],
    "cpu": [
        Grid(impls=("naive", "sdpa", "sdpa-math", "sdpa-flash"), seq_lens=(1024, 2048, 4096), masks=("none", "causal")),
        # The score-materializing kernels take 5-10 s per call at 8192 on two cores: only the fused ones go there.
        Grid(impls=("sdpa", "sdpa-flash"), seq_lens=(8192,), masks=("none", "causal")),
        Grid(impls=("naive", "sdpa", "sdpa-flash"), seq_lens=(1024, 4096), masks=("padding",), batch=(2,)),
        Grid(impls=("naive", "sdpa", "sdpa-math", "sdpa-flash"), seq_lens=(1024, 2048), masks=("causal",),
             modes=("fwd+bwd",), kv_heads=(2,)),
        Grid(impls=("flex",), seq_lens=(1024, 4096), masks=("causal",)),
        # An exact reference on the realistic inputs' fronts (the family suites add their members there): its
        # error there is checked against the oracle like anywhere else, its time is the bar the members must beat.
        Grid(impls=("sdpa",), seq_lens=REALISTIC_LENGTHS, masks=("none", "causal"), inputs=REALISTIC_INPUTS),
    ],
    # Sized for about 10 minutes on one GPU (about 1 s a cell, 5-10 s a FlexAttention compile): flex, compiled once per
    # shape, only where the trade-off is drawn (forward, no mask and causal); the other exact grids without it.
    "gpu": [
        Grid(impls=EXACT, seq_lens=(1024, 2048, 4096, 8192, 16384, 32768), dtypes=("bfloat16",), masks=("none", "causal")),
        Grid(impls=EXACT_UNCOMPILED, seq_lens=(2048, 8192, 32768), dtypes=("bfloat16",), masks=("causal",), modes=("fwd+bwd",)),
        Grid(impls=EXACT_UNCOMPILED, seq_lens=(4096, 16384), dtypes=("bfloat16",), masks=("causal",), head_dims=(128,)),
        Grid(impls=EXACT_UNCOMPILED, seq_lens=(1024, 4096), dtypes=("float16", "float32"), masks=("causal",)),
        Grid(impls=EXACT_UNCOMPILED, seq_lens=(2048, 8192), dtypes=("bfloat16",), masks=("padding",), batch=(4,)),
        Grid(impls=EXACT_UNCOMPILED, seq_lens=(4096,), dtypes=("bfloat16",), kv_heads=(1, 2), heads=(16,), head_dims=(128,),
             masks=("causal",), modes=("fwd", "fwd+bwd")),
        Grid(impls=("sdpa", "sdpa-flash"), seq_lens=REALISTIC_LENGTHS, dtypes=("bfloat16",), masks=("none", "causal"),
             inputs=REALISTIC_INPUTS),
    ],
    "full": [
        Grid(impls=EXACT, seq_lens=(256, 512, 1024, 2048, 4096, 8192, 16384), dtypes=("float32", "bfloat16"),
             masks=("none", "causal", "padding"), modes=("fwd", "fwd+bwd"), batch=(2,), kv_heads=("h", 2)),
    ],
}
