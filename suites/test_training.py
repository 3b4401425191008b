"""training suite: what a training step costs, and how stable attention starts.

Cost: fwd+bwd of naive, sdpa and custom with and without activation checkpointing
(``checkpointed[of=...]``, torch.utils.checkpoint): time and peak memory of one step as every cell measures them,
and in ``extra.held_for_backward_bytes`` the memory a forward leaves allocated until its backward —
what checkpointing saves per layer in a deep model (an isolated layer's peak hardly changes, because
the backward recomputes the same intermediates).

Stability: at initialization, per cell, the gradient norms of q, k, v against the float64 oracle's,
and the softmax entropy and max logit, with score scaling (scale = 1/sqrt(head_dim)) and without it
(scale = 1), for every score function and head scheme. Unscaled logits grow like sqrt(head_dim): the
softmax saturates, entropy collapses and gradients shrink.

    python -m pytest --benchmark-only --attn-preset design suites/test_training.py
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from bench.oracle_check import ORACLE_GRAD_ELEMENTS, oracle_key
from bench.presets import Grid
from bench.run_cell import run_cell
from impls import reference_grads
from impls.custom.statistics import logits_of, softmax_statistics

SUITE = "training"


@dataclass(frozen=True)
class ScalingGrid(Grid):
    """A grid with the problem's softmax scale as one more axis (None: 1/sqrt(head_dim); 1.0: unscaled)."""

    scales: tuple[float | None, ...] = (None,)

    def problems(self, auto_device):
        return [p if scale is None else dataclasses.replace(p, scale=scale)
                for p in super().problems(auto_device) for scale in self.scales]


COST_IMPLS = ("naive", "checkpointed[of=naive]", "sdpa", "checkpointed[of=sdpa]", "custom", "checkpointed[of=custom]")
STABILITY_IMPLS = ("naive", "sdpa", "custom", "custom[score=dot]", "custom[score=multiplicative]", "custom[score=additive]",
                   "custom[heads=talking]")

GRIDS = {
    "smoke": [
        Grid(impls=("naive", "checkpointed[of=naive]"), seq_lens=(64,), heads=(2,), head_dims=(16,), modes=("fwd+bwd",)),
        ScalingGrid(impls=("custom", "custom[score=additive]"), seq_lens=(32,), heads=(2,), head_dims=(16,), modes=("fwd+bwd",),
                    scales=(None, 1.0)),
    ],
    "design": [
        Grid(impls=COST_IMPLS, seq_lens=(1024, 2048), heads=(8,), head_dims=(64,), masks=("causal",), modes=("fwd+bwd",)),
        ScalingGrid(impls=STABILITY_IMPLS, seq_lens=(256,), heads=(8,), head_dims=(64,), masks=("causal",), modes=("fwd+bwd",),
                    scales=(None, 1.0)),
    ],
}


def held_for_backward(forward, device: str) -> int | None:
    """Bytes a forward leaves allocated (its output and everything autograd saved) until backward runs."""
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)
        before = torch.cuda.memory_allocated(device)
        out = forward()
        torch.cuda.synchronize(device)
        held = torch.cuda.memory_allocated(device) - before
        del out
        return held
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        out = forward()
    del out
    return sum(e.nbytes() for e in prof.profiler.kineto_results.events() if e.name() == "[memory]")


def _norms(tensors) -> dict[str, float]:
    return {name: float(t.detach().to(torch.float64).norm()) for name, t in zip(("dq", "dk", "dv"), tensors)}


def training_metrics(attn):
    def extra(run) -> dict:
        problem, impl = run.cell.problem, run.cell.impl
        q, k, v = run.inputs
        metrics: dict = {"score_scaling": problem.scale is None, "softmax_scale": problem.softmax_scale}
        if problem.needs_grad:
            with torch.enable_grad():
                metrics["held_for_backward_bytes"] = held_for_backward(impl.build(problem, q, k, v), problem.device)
                grads = run.call()
            metrics["grad_norm"] = _norms(grads)
            elements = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len
            if elements <= ORACLE_GRAD_ELEMENTS:
                grad_out = problem.make_grad_output(attn.seed)
                expected = attn.oracle.get(oracle_key(problem, attn.seed), "grads", lambda: reference_grads(problem, q, k, v, grad_out))
                metrics["oracle_grad_norm"] = _norms(expected)
                metrics["grad_norm_ratio"] = {n: metrics["grad_norm"][n] / max(metrics["oracle_grad_norm"][n], 1e-300)
                                              for n in metrics["grad_norm"]}
        metrics.update({f"init_{name}": value for name, value in softmax_statistics(logits_of(impl, problem, q, k)).items()})
        return metrics
    return extra


def test_training(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=training_metrics(attn))
