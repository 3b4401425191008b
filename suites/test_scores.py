"""scores suite: the four score functions at one shape — time, memory, and error against scaled dot.

The error against scaled dot (the float64 oracle, which is scaled-dot attention) is in
``extra.error_vs_scaled_dot``, beside the softmax statistics at initialization (how flat or peaked each
score function starts). ``custom`` is the scaled-dot configuration.

    python -m pytest --benchmark-only --attn-preset design suites/test_scores.py
"""

from bench.presets import Grid
from bench.run_cell import run_cell
from impls import errors, reference
from impls.custom.statistics import logits_of, softmax_statistics

SUITE = "scores"
SCORE_IMPLS = ("custom[score=dot]", "custom", "custom[score=multiplicative]", "custom[score=additive]")

GRIDS = {
    "smoke": [Grid(impls=SCORE_IMPLS, seq_lens=(64,), heads=(2,), head_dims=(16,))],
    "design": [Grid(impls=SCORE_IMPLS, seq_lens=(512,), heads=(8,), head_dims=(64,), masks=("causal",), modes=("fwd", "fwd+bwd"))],
}


def score_metrics(attn):
    def extra(run) -> dict:
        problem = run.cell.problem
        q, k, v = run.inputs
        key = (problem.with_(dropout=0.0, mode="fwd"), attn.seed)
        scaled_dot = attn.oracle.get(key, "scores-suite:full-output", lambda: reference(problem, q, k, v))
        return {"score": run.cell.impl.values.get("score"), "error_vs_scaled_dot": errors(run.output, scaled_dot),
                **{f"init_{name}": value for name, value in softmax_statistics(logits_of(run.cell.impl, problem, q, k)).items()}}
    return extra


def test_scores(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=score_metrics(attn))
