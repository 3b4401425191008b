"""custom: the composable attention in the registry, one parameter per design choice.

    custom                        scaled-dot, standard heads (MHA/GQA/MQA from the problem's kv_heads): exact
    custom[score=additive]        dot | scaled-dot | multiplicative (alias general) | additive
    custom[heads=talking]         talking heads
    custom[prune=4/8]             prune 4 heads in every 8 (at heads=16: 8), least important first (rank=norm|focus)
    custom[prune=3]               prune 3 heads
    custom[route=2]               each token's top-2 heads only (mixture-of-heads routing)
    custom[window=64]             a local window |i − j| <= 64 (sliding-window, symmetric) on top of the problem's mask
    custom[seed=1]                another draw of every parameter (score weights, mixing, router, dropout)

Exactness is per variant: only the scaled-dot score with standard heads and nothing removed computes the
problem's attention, so only it is exact (its error must meet the dtype tolerance). Every other variant
computes a different function on purpose; its error against the oracle is a measured metric, and its own
correctness is checked against a loop-based float64 formulation in tests/test_custom_*.py.
Parameters do not require gradients here: a cell measures attention with respect to its inputs, like every
other implementation.
"""

from __future__ import annotations

from ..masks import SlidingWindow
from ..problem import MODE_FLOP_FACTOR
from ..registry import Impl, Reason, register
from ..spec import format_spec
from .attention import HEAD_SCHEMES, IMPORTANCE, CustomAttention, CustomConfig
from .masking import intersect
from .scores import SCORES, canonical_score


@register
class Custom(Impl):
    name = "custom"
    family = "custom"
    description = "composable attention: score function × masking × head scheme (talking, pruned, routed) × dropout"
    dropout = True
    efficiency = 0.15
    params = {"score": "scaled-dot", "heads": "standard", "prune": (), "rank": "norm", "route": 0, "window": 0, "seed": 0}
    variants = ({}, {"score": "dot"}, {"score": "multiplicative"}, {"score": "additive"}, {"heads": "talking"},
                {"prune": (4, 8)}, {"route": 2}, {"window": 64})

    def check_params(self):
        values = self.values
        values["score"] = canonical_score(values["score"])
        if values["heads"] not in HEAD_SCHEMES:
            raise ValueError(f"custom[heads={values['heads']}] is not a head scheme (accepted: {', '.join(HEAD_SCHEMES)})")
        if values["rank"] not in IMPORTANCE:
            raise ValueError(f"custom[rank={values['rank']}] is not an importance measure (accepted: {', '.join(IMPORTANCE)})")
        prune = tuple(values["prune"])
        if len(prune) > 2 or any(n < 0 for n in prune) or (len(prune) == 2 and not prune[0] < prune[1]):
            raise ValueError(f"custom[prune={'/'.join(map(str, prune))}] must be a count N or a fraction N/M with N < M")
        for key in ("route", "window", "seed"):
            if values[key] < 0:
                raise ValueError(f"custom[{key}={values[key]}] must be >= 0")
        if values["heads"] == "talking" and (any(prune) or values["route"]):
            raise ValueError("custom[heads=talking] cannot be pruned or routed (mixing needs every head's logits)")
        if any(prune) and values["route"]:
            raise ValueError("custom: choose prune or route, not both")
        # Per variant: only the problem's own formula is exact (see the module docstring).
        self.exact = (values["score"] == "scaled-dot" and values["heads"] == "standard" and not any(prune)
                      and not values["route"] and not values["window"])
        if values["score"] == "additive":
            self.efficiency = 0.02  # elementwise tanh over (pairs × a), far from matmul speed

    @property
    def full_name(self) -> str:
        """Only the parameters that differ from the defaults, so ``custom[score=additive]`` names itself."""
        changed = {k: v for k, v in self.values.items() if v != self.params[k]}
        return format_spec(self.name, changed)

    # --- the problem this variant computes ---------------------------------------------------------------
    def pruned_count(self, heads: int) -> int | None:
        """Heads to prune at this head count, or None when the fraction is not a whole number of heads."""
        prune = tuple(self.values["prune"])
        if not prune:
            return 0
        if len(prune) == 1:
            return prune[0]
        count, every = prune
        return None if (heads * count) % every else heads * count // every

    def config(self, problem) -> CustomConfig:
        window = self.values["window"]
        mask = intersect(problem.mask, SlidingWindow(w=window, causal=False) if window else None)
        return CustomConfig(score=self.values["score"], mask=mask, heads=self.values["heads"], route=self.values["route"],
                            dropout=problem.dropout, seed=self.values["seed"])

    def extra_reasons(self, problem):
        reasons = []
        pruned = self.pruned_count(problem.heads)
        if pruned is None:
            prune = "/".join(map(str, self.values["prune"]))
            reasons.append(Reason("params", f"prune={prune} of heads={problem.heads} is not a whole number of heads "
                                            f"(heads must be a multiple of {self.values['prune'][1]})"))
        elif pruned >= problem.heads:
            reasons.append(Reason("params", f"prune={pruned} heads of heads={problem.heads} leaves none (keep at least one)"))
        if self.values["route"] > problem.heads:
            reasons.append(Reason("params", f"route={self.values['route']} > heads={problem.heads} (supported: route <= heads)"))
        return reasons

    def attention(self, problem, device=None, dtype=None) -> CustomAttention:
        """A fresh attention module for this problem, parameters drawn from the seed; nothing pruned yet."""
        attention = CustomAttention.from_config(self.config(problem), problem.heads, problem.head_dim, problem.kv_heads,
                                                scale=problem.softmax_scale)
        attention.to(device=device or problem.device, dtype=dtype or problem.dtype).requires_grad_(False)
        attention.prepare(problem.batch, problem.seq_len, problem.kv_seq_len, device or problem.device)
        return attention

    def build(self, problem, q, k, v):
        attention = self.attention(problem, q.device, q.dtype)
        count = self.pruned_count(problem.heads)
        if count:  # ranking needs one unpruned forward on the inputs: setup, outside the timed calls
            attention.prune_least_important(q, k, v, count, self.values["rank"])
        return lambda: attention(q, k, v)

    def logits(self, problem, q, k):
        """What this variant's softmax sees at initialization (B, H, Lq, Lk), for stability statistics."""
        return self.attention(problem, q.device, q.dtype).logits(q, k)

    # --- cost model ------------------------------------------------------------------------------------
    def computed_fraction(self, problem) -> float:
        if self.values["route"]:
            return self.values["route"] / problem.heads
        return (problem.heads - (self.pruned_count(problem.heads) or 0)) / problem.heads

    def _flops(self, problem, pairs: int) -> float:
        score = SCORES[self.values["score"]]
        d, heads = problem.head_dim, problem.heads
        per_pair = score.pair_flops(d) + 2.0 * d  # logit, then weights · values
        if self.values["heads"] == "talking":
            per_pair += 4.0 * heads  # mixing logits and weights: heads multiply-adds each, per head
        projection = problem.batch * score.projection_flops(d, problem.seq_len, problem.kv_seq_len)
        total = heads * self.computed_fraction(problem) * (pairs * per_pair + projection)
        if self.values["route"]:
            total += 2.0 * problem.batch * problem.seq_len * heads * d * heads  # the router
        return total * MODE_FLOP_FACTOR[problem.mode]

    def _masked(self, problem):
        window = self.values["window"]
        return problem if not window else problem.with_(mask=intersect(problem.mask, SlidingWindow(w=window, causal=False)))

    def flops(self, problem):
        """Useful FLOPs of the function this variant computes (its own cost model)."""
        return self._flops(problem, self._masked(problem).pairs())

    def executed_flops(self, problem):
        return self._flops(problem, problem.batch * problem.seq_len * problem.kv_seq_len)  # dense: masked pairs too

    def memory_estimate(self, problem):
        fraction = self.computed_fraction(problem)
        scores = problem.batch * problem.heads * problem.seq_len * problem.kv_seq_len * problem.element_size() * fraction
        buffers = 3 if problem.mode == "fwd" else 5
        buffers += 2 if self.values["heads"] == "talking" else 0
        buffers += 1 if problem.dropout else 0
        total = problem.min_bytes() + scores * buffers
        if self.values["score"] == "additive":  # (pairs × a) tanh intermediate: a chunk forward, all of it for backward
            hidden = scores * problem.head_dim
            total += min(hidden, (1 << 26) * problem.element_size()) if problem.mode == "fwd" else 2 * hidden
        return int(total)
