"""checkpointed[of=NAME]: any implementation run under activation (gradient) checkpointing.

torch.utils.checkpoint (non-reentrant) keeps no intermediate of the wrapped forward for backward and
recomputes the forward during backward: memory held between forward and backward falls to the
inputs, at the price of a second forward. The wrapped implementation's capabilities and exactness
carry over unchanged (recomputation is the same arithmetic). In ``fwd`` mode it is the wrapped
implementation itself. Use ``checkpointed[of=custom[score=additive]]`` for a parameterized one
(one inner parameter: the name syntax splits on commas).
"""

from __future__ import annotations

from torch.utils.checkpoint import checkpoint

from ..registry import Impl, get, register

CAPABILITIES = ("exact", "devices", "dtypes", "mask_kinds", "head_dim_min", "head_dim_max", "gqa", "dropout", "backward",
                "cross_lengths", "requires", "install_hint")


@register
class Checkpointed(Impl):
    name = "checkpointed"
    family = "custom"
    description = "activation checkpointing around another implementation: fwd+bwd recomputes the forward"
    params = {"of": "naive"}
    variants = ({"of": "naive"}, {"of": "sdpa"}, {"of": "custom"})

    def check_params(self):
        if self.values["of"].split("[")[0] == self.name:
            raise ValueError("checkpointed[of=checkpointed] nests checkpointing (accepted: any other implementation)")
        self.inner = get(self.values["of"])
        for capability in CAPABILITIES:  # shown by `python -m impls`; the reasons come from the inner impl itself
            setattr(self, capability, getattr(self.inner, capability))
        self.efficiency = self.inner.efficiency  # the extra forward is counted in executed_flops

    def not_supported_reasons(self, problem):
        return self.inner.not_supported_reasons(problem)

    def build(self, problem, q, k, v):
        forward = self.inner.build(problem, q, k, v)
        if not problem.needs_grad:
            return forward
        # q, k, v are passed so autograd sees them as the checkpointed region's inputs; the inner callable holds the same tensors.
        return lambda: checkpoint(lambda *_inputs: forward(), q, k, v, use_reentrant=False)

    def flops(self, problem):
        return self.inner.flops(problem)

    def executed_flops(self, problem):
        extra_forward = self.inner.executed_flops(problem.with_(mode="fwd")) if problem.needs_grad else 0.0
        return self.inner.executed_flops(problem) + extra_forward

    def memory_estimate(self, problem):
        return self.inner.memory_estimate(problem)

    def logits(self, problem, q, k):
        inner_logits = getattr(self.inner, "logits", None)
        return inner_logits(problem, q, k) if inner_logits else None
