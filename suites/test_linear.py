"""linear suite: the linear and low-rank family against SDPA, from short to very long sequences.

Every cell records time, peak memory and the error against the float64 softmax oracle (a metric
for these approximations). Each cell's ``extra`` has ``uniform_error``, the error of uniform
attention (the mean of the values a row may see) on the same rows, the level an approximation
must beat to say anything. At the end of a sweep, reports' summary of the run
(reports/summaries/linear.py) is printed and written beside the run (``linear_summary.json`` and
``.md``): per shape and member, the time and speed-up over SDPA at L=16384 (or the longest measured),
the fitted exponents of time and peak memory against L (over L ≥ 1024), the crossover length where
it overtakes SDPA, and its error.

    python -m pytest --benchmark-only --attn-preset linear suites/test_linear.py
    python -m reports summary linear results/<run> [results/<run> ...]     # the summary again, over several runs

SDPA at the longest lengths is over the preset's budget and is skipped with that reason; speed-ups
and crossovers use the lengths where both ran. performer-pytorch's causal path (without
fast-transformers' CUDA kernel) is a pure-PyTorch fallback about 50× slower than its non-causal one,
so its causal cells stop at L=8192.
"""

from __future__ import annotations

import pytest
import torch

from bench.oracle_check import cached_oracle
from bench.presets import REALISTIC_INPUTS, REALISTIC_LENGTHS, Grid
from bench.run_cell import run_cell
from bench.stash import SESSION_KEY
from impls import errors
from reports.summaries import TerminalSummary

SUITE = "linear"
MEMBERS = ("linear", "performer[m=256]", "performer-pytorch[m=256]", "linformer[k=256]", "nystrom[m=64]")
CAUSAL_MEMBERS = ("linear", "performer[m=256]")
DEFAULT_MEMBERS = ("linear", "performer[m=256]", "linformer[k=256]", "nystrom[m=64]")
LENGTHS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
SHORTER = tuple(n for n in LENGTHS if n <= 8192)

GRIDS = {
    "smoke": [
        Grid(impls=("sdpa", "linear", "performer[m=64]", "performer-pytorch[m=64]", "linformer[k=64]", "nystrom[m=16]"),
             seq_lens=(256,), heads=(2,), head_dims=(32,), modes=("fwd", "fwd+bwd")),
        Grid(impls=("sdpa", "linear", "performer[m=64]"), seq_lens=(256,), heads=(2,), head_dims=(32,),
             masks=("causal",), modes=("fwd", "fwd+bwd")),
    ],
    "linear": [
        Grid(impls=("sdpa",) + MEMBERS, seq_lens=LENGTHS),
        Grid(impls=("sdpa",) + CAUSAL_MEMBERS, seq_lens=LENGTHS, masks=("causal",)),
        Grid(impls=("performer-pytorch[m=256]",), seq_lens=SHORTER, masks=("causal",)),
        Grid(impls=("sdpa",) + MEMBERS, seq_lens=LENGTHS, modes=("fwd+bwd",)),
        Grid(impls=("sdpa",) + CAUSAL_MEMBERS, seq_lens=LENGTHS, masks=("causal",), modes=("fwd+bwd",)),
    ],
    # The default presets: the members on the core grid's shapes, so they share its fronts (sdpa comes from there).
    "cpu": [
        Grid(impls=DEFAULT_MEMBERS, seq_lens=(1024, 2048, 4096, 8192)),
        Grid(impls=CAUSAL_MEMBERS, seq_lens=(1024, 2048, 4096, 8192), masks=("causal",)),
        Grid(impls=DEFAULT_MEMBERS, seq_lens=REALISTIC_LENGTHS, inputs=REALISTIC_INPUTS),
        Grid(impls=CAUSAL_MEMBERS, seq_lens=REALISTIC_LENGTHS, masks=("causal",), inputs=REALISTIC_INPUTS),
    ],
    "gpu": [
        Grid(impls=DEFAULT_MEMBERS, seq_lens=(1024, 2048, 4096, 8192, 16384, 32768), dtypes=("bfloat16",)),
        Grid(impls=CAUSAL_MEMBERS, seq_lens=(1024, 2048, 4096, 8192, 16384, 32768), masks=("causal",), dtypes=("bfloat16",)),
        Grid(impls=DEFAULT_MEMBERS, seq_lens=REALISTIC_LENGTHS, dtypes=("bfloat16",), inputs=REALISTIC_INPUTS),
        Grid(impls=CAUSAL_MEMBERS, seq_lens=REALISTIC_LENGTHS, masks=("causal",), dtypes=("bfloat16",), inputs=REALISTIC_INPUTS),
    ],
}

def uniform_output(problem, v: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """Uniform attention, the mean of the values each row may see (float64, on the CPU like the oracle's
    answer): the error any approximation should beat to be informative. Rows are ``rows`` (the oracle check's
    sample) or all."""
    values = v.detach().to(device="cpu", dtype=torch.float64)
    rows = torch.arange(problem.seq_len) if rows is None else rows.cpu()
    if problem.mask_kind == "causal":
        last = rows.clamp(max=problem.kv_seq_len - 1)
        means = values.cumsum(dim=2)[:, :, last] / (last + 1).to(values.dtype)[:, None]
    elif problem.mask_kind == "padding":
        lengths = torch.tensor(problem.mask.lengths)
        kept = torch.arange(problem.kv_seq_len)[None, :] < lengths[:, None]
        means = (values * kept[:, None, :, None]).sum(2, keepdim=True) / lengths[:, None, None, None]
    else:
        means = values.mean(dim=2, keepdim=True)
    return means.repeat_interleave(problem.gqa_ratio, dim=1).expand(-1, -1, rows.numel(), -1)


def linear_metrics(attn):
    def extra(run) -> dict:
        problem, impl = run.cell.problem, run.cell.impl
        facts: dict = {}
        if problem.mask_kind in ("none", "causal", "padding"):
            rows, expected, _ = cached_oracle(attn.oracle, problem, *run.inputs, attn.seed)
            facts["uniform_error"] = errors(uniform_output(problem, run.inputs[2], rows), expected.cpu())
        if hasattr(impl, "block"):
            facts["block_rows"] = impl.block(problem)
        return facts
    return extra


def test_linear(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=linear_metrics(attn))


@pytest.fixture(scope="module", autouse=True)
def linear_summary(request):
    """At the end of a sweep, pytest's terminal summary prints reports' summary of the run just written."""
    session = request.config.stash.get(SESSION_KEY, None)
    if session is not None and request.config.getoption("benchmark_only", False):
        name = f"attnbench-{SUITE}-summary"
        if not request.config.pluginmanager.has_plugin(name):
            request.config.pluginmanager.register(TerminalSummary(SUITE, session.writer.run_dir), name)
