"""heads suite: how the head configuration changes time, memory and FLOP rate at a fixed model dim.

heads ∈ {1, …, 32} with head_dim = model_dim / heads (model dim 512 and 1024), and kv_heads ∈ {heads,
heads/4, 1} (MHA, GQA, MQA), for sdpa, naive and custom; then custom's head schemes at heads=8:
talking heads, pruning 2, 4 and 6 of 8 heads, and top-1/2/4 routing, whose time should follow the
fraction of (token, head) rows they compute.

    python -m pytest --benchmark-only --attn-preset design suites/test_heads.py
"""

from bench.presets import REALISTIC_INPUTS, REALISTIC_LENGTHS, Grid
from bench.run_cell import run_cell
from impls import get
from impls.custom.heads import head_kind

SUITE = "heads"
HEAD_COUNTS = (1, 2, 4, 8, 16, 32)
HEAD_SCHEMES = ("custom", "custom[heads=talking]", "custom[prune=2/8]", "custom[prune=4/8]", "custom[prune=6/8]",
                "custom[route=1]", "custom[route=2]", "custom[route=4]")
# Pruned and routed heads and a local window: what the composable attention trades for speed.
DESIGN_VARIANTS = ("custom[prune=4/8]", "custom[route=2]", "custom[window=64]")

GRIDS = {
    "smoke": [
        Grid(impls=("sdpa", "naive", "custom"), seq_lens=(64,), model_dims=(64,), heads=(1, 4), kv_heads=("h", 1)),
        Grid(impls=("custom[prune=4/8]", "custom[route=2]"), seq_lens=(64,), model_dims=(64,), heads=(8,)),
    ],
    "design": [
        Grid(impls=("sdpa", "naive", "custom"), seq_lens=(1024,), model_dims=(512, 1024), heads=HEAD_COUNTS,
             kv_heads=("h", "h/4", 1)),
        Grid(impls=HEAD_SCHEMES, seq_lens=(1024,), model_dims=(512,), heads=(8,)),
    ],
    # The default presets: design-space variants on the core grid's causal shape (they share its fronts).
    "cpu": [Grid(impls=DESIGN_VARIANTS, seq_lens=(1024, 2048, 4096), masks=("causal",)),
            Grid(impls=DESIGN_VARIANTS, seq_lens=REALISTIC_LENGTHS, masks=("causal",), inputs=REALISTIC_INPUTS)],
    "gpu": [Grid(impls=DESIGN_VARIANTS, seq_lens=(1024, 2048, 4096, 16384), masks=("causal",), dtypes=("bfloat16",)),
            Grid(impls=DESIGN_VARIANTS, seq_lens=REALISTIC_LENGTHS, masks=("causal",), dtypes=("bfloat16",),
                 inputs=REALISTIC_INPUTS)],
}


def head_facts(run) -> dict:
    problem, impl = run.cell.problem, run.cell.impl
    facts = {"head_layout": head_kind(problem.heads, problem.kv_heads),
             "kv_bytes": 2 * problem.batch * problem.kv_heads * problem.kv_seq_len * problem.head_dim * problem.element_size()}
    if impl.name == "custom":
        facts["computed_head_fraction"] = impl.computed_fraction(problem)
        facts["flops_vs_mha"] = impl.flops(problem) / get("custom").flops(problem)
    return facts


def test_heads(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=head_facts)
