"""sparse suite: our sparse kernels against SDPA and compiled FlexAttention, and the exact sparse masks.

The headline grid is a causal problem (heads=8, head_dim=64, fp32) from L=1024 to 16384, solved
exactly by ``sdpa`` (is_causal) and approximated by a causal window of w=256 keys: our banded kernel
(``sliding-window[w=256]``), compiled FlexAttention with the same window as a block mask
(``flex-sliding-window[w=256]``) and lucidrains' ``local-attention[w=256]`` when installed. The other
grids solve sparse masks exactly: a window, Sparse Transformer's strided and fixed layouts at block 64,
BigBird and Longformer, each by our kernels, by FlexAttention and densely by SDPA; and one fwd+bwd grid.

An approximating kernel's ``extra`` names the ``pattern`` it applied. At the end of a sweep, reports'
summary of the run (reports/summaries/sparse.py) is printed and written beside the run
(``sparse_summary.md`` and ``.json``): per member of the headline grid, time, speed-up over sdpa causal
and peak memory per L, the fitted exponents of time and peak memory against L, and the sparse family's
performance goals with their verdicts.

    python -m pytest --benchmark-only --attn-preset sparse suites/test_sparse.py
    python -m reports summary sparse results/<run> [results/<run> ...]     # the summary again, over several runs
"""

from __future__ import annotations

import pytest

from bench.presets import REALISTIC_INPUTS, REALISTIC_LENGTHS, Grid
from bench.run_cell import run_cell
from bench.stash import SESSION_KEY
from reports.summaries import TerminalSummary

SUITE = "sparse"
WINDOW, BLOCK = 256, 64
LENGTHS = (1024, 2048, 4096, 8192, 16384)
OURS, FLEX, PEER = f"sliding-window[w={WINDOW}]", f"flex-sliding-window[w={WINDOW}]", f"local-attention[w={WINDOW}]"
BASELINE = "sdpa"
BIGBIRD = f"bigbird[block={BLOCK},window=3,globals=2,random=3,seed=0]"
LAYOUTS = (f"strided[block={BLOCK}]", f"fixed[block={BLOCK}]", BIGBIRD, f"longformer[w={WINDOW},globals=0]")
EXACT_SPARSE = ("sdpa", "banded", f"block-sparse[block={BLOCK}]", "flex")
# In the default presets: a window and a block layout on our kernels, lucidrains' window, and their FlexAttention versions.
DEFAULT_CAUSAL = (OURS, FLEX, PEER, f"fixed[block={BLOCK}]", f"flex-fixed[block={BLOCK}]")
REALISTIC_CAUSAL = (OURS, PEER, f"fixed[block={BLOCK}]")
DEFAULT_LENGTHS = {"cpu": (1024, 2048, 4096, 8192), "gpu": (1024, 2048, 4096, 8192, 16384, 32768)}

GRIDS = {
    "smoke": [
        Grid(impls=("sdpa", "sliding-window[w=32]", "local-attention[w=32]"), seq_lens=(200,), heads=(2,), kv_heads=("h", 1),
             head_dims=(32,), masks=("causal",), modes=("fwd", "fwd+bwd")),
        Grid(impls=("banded", "block-sparse[block=32]", "sdpa"), seq_lens=(200,), heads=(2,), head_dims=(32,),
             masks=("sliding-window[w=32]", "bigbird[block=32,window=3,globals=1,random=2,seed=0]", "longformer[w=16,globals=0/99]")),
    ],
    "sparse": [
        # The goals: a causal problem approximated by a window of 256 keys, against sdpa's causal kernel and flex.
        Grid(impls=(BASELINE, OURS, FLEX, PEER), seq_lens=LENGTHS, masks=("causal",)),
        # The window as the problem's own mask: every kernel is exact, sdpa computes it densely.
        Grid(impls=EXACT_SPARSE, seq_lens=(1024, 4096), masks=(f"sliding-window[w={WINDOW}]",)),
        # Block layouts, BigBird and Longformer, exact, at one length.
        Grid(impls=EXACT_SPARSE, seq_lens=(4096,), masks=LAYOUTS),
        # Training: forward and backward (FlexAttention has no CPU backward; its cells say so).
        Grid(impls=(BASELINE, OURS, FLEX), seq_lens=(1024, 4096), masks=("causal",), modes=("fwd+bwd",)),
    ],
    # The default presets: representative members on the core grid's shapes, so they share its fronts (sdpa comes from there).
    "cpu": [  # the fixed layout keeps a column of summary blocks per row: O(L²/64), 5 s a call at L=8192 on 2 cores
        Grid(impls=DEFAULT_CAUSAL[:3], seq_lens=DEFAULT_LENGTHS["cpu"], masks=("causal",)),
        Grid(impls=DEFAULT_CAUSAL[3:], seq_lens=DEFAULT_LENGTHS["cpu"][:-1], masks=("causal",)),
        Grid(impls=(BIGBIRD, f"flex-{BIGBIRD}"), seq_lens=DEFAULT_LENGTHS["cpu"]),
        Grid(impls=EXACT_SPARSE, seq_lens=(1024, 4096, 8192), masks=(f"sliding-window[w={WINDOW}]",)),
        # Errors on realistic inputs; the FlexAttention versions compute the same patterns (their error is our kernels').
        Grid(impls=REALISTIC_CAUSAL, seq_lens=REALISTIC_LENGTHS, masks=("causal",), inputs=REALISTIC_INPUTS),
        Grid(impls=(BIGBIRD,), seq_lens=REALISTIC_LENGTHS, inputs=REALISTIC_INPUTS),
    ],
    "gpu": [  # the layouts' FlexAttention versions at every other length: each length is one more compile
        Grid(impls=DEFAULT_CAUSAL[:4], seq_lens=DEFAULT_LENGTHS["gpu"], masks=("causal",), dtypes=("bfloat16",)),
        Grid(impls=DEFAULT_CAUSAL[4:], seq_lens=DEFAULT_LENGTHS["gpu"][1::2], masks=("causal",), dtypes=("bfloat16",)),
        Grid(impls=(BIGBIRD,), seq_lens=DEFAULT_LENGTHS["gpu"], dtypes=("bfloat16",)),
        Grid(impls=(f"flex-{BIGBIRD}",), seq_lens=DEFAULT_LENGTHS["gpu"][1::2], dtypes=("bfloat16",)),
        Grid(impls=EXACT_SPARSE, seq_lens=(4096, 16384), masks=(f"sliding-window[w={WINDOW}]",), dtypes=("bfloat16",)),
        Grid(impls=REALISTIC_CAUSAL, seq_lens=REALISTIC_LENGTHS, masks=("causal",), dtypes=("bfloat16",), inputs=REALISTIC_INPUTS),
        Grid(impls=(BIGBIRD,), seq_lens=REALISTIC_LENGTHS, dtypes=("bfloat16",), inputs=REALISTIC_INPUTS),
    ],
}

def sparse_facts(run) -> dict:
    """The sparse pattern an approximating kernel applied to the problem (speed-ups are computed by reports)."""
    problem, impl = run.cell.problem, run.cell.impl
    if hasattr(impl, "pattern_problem"):
        return {"pattern": impl.pattern_problem(problem).mask.spec()}
    return {}


def test_sparse(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=sparse_facts)


@pytest.fixture(scope="module", autouse=True)
def sparse_summary(request):
    """At the end of a sweep, pytest's terminal summary prints reports' summary of the run just written."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is not None and request.config.getoption("benchmark_only", False):
        name = f"attnbench-{SUITE}-summary"
        if not request.config.pluginmanager.has_plugin(name):
            request.config.pluginmanager.register(TerminalSummary(SUITE, session.writer.run_dir), name)
