"""CustomAttention: attention as three replaceable steps, scores → masking → output, run per head set.

    attention = CustomAttention.from_config(CustomConfig(score="additive", mask="causal"), heads=8, head_dim=64)
    out = attention(q, k, v)          # q (B, H, Lq, d), k and v (B, H_kv, Lk, d) → (B, H, Lq, d)

The head manager decides which heads and which rows are computed (GQA grouping, pruning, routing)
and calls ``attend`` on them; talking heads mix logits and weights inside ``attend``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .heads import AttentionHeadManager, focus_importance, least_important, output_norm_importance
from .masking import MaskStep, MaskStrategy
from .output import SoftmaxOutput
from .scores import ScoreFunction, canonical_score, make_score

HEAD_SCHEMES = ("standard", "talking")
IMPORTANCE = ("norm", "focus")


@dataclass(frozen=True)
class CustomConfig:
    """Names each choice. ``route`` is top-k head routing (0: off). Pruning is not a config entry: ranking
    heads needs inputs, so it is a call, ``CustomAttention.prune_least_important`` (or ``heads.prune``)."""

    score: str = "scaled-dot"
    mask: MaskStrategy = None
    heads: str = "standard"
    route: int = 0
    dropout: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "score", canonical_score(self.score))
        if self.heads not in HEAD_SCHEMES:
            raise ValueError(f"heads={self.heads!r} is not a head scheme (accepted: {', '.join(HEAD_SCHEMES)})")
        if self.route < 0:
            raise ValueError(f"route={self.route} must be >= 0 (0: no routing)")


class CustomAttention(nn.Module):
    def __init__(self, score: ScoreFunction, heads: AttentionHeadManager, output: SoftmaxOutput | None = None,
                 masking: MaskStep | None = None) -> None:
        super().__init__()
        self.score = score
        self.heads = heads
        self.output = output or SoftmaxOutput()
        self.masking = masking or MaskStep(None)

    @classmethod
    def from_config(cls, config: CustomConfig, heads: int, head_dim: int, kv_heads: int | None = None,
                    scale: float | None = None) -> CustomAttention:
        """Build every part from the config; parameters are drawn from ``config.seed``."""
        scale = scale if scale is not None else 1.0 / math.sqrt(head_dim)
        manager = AttentionHeadManager(heads, head_dim, kv_heads, talking=config.heads == "talking",
                                       route_top_k=config.route, seed=config.seed)
        return cls(make_score(config.score, heads, head_dim, scale, config.seed), manager,
                   SoftmaxOutput(config.dropout, config.seed), MaskStep(config.mask))

    def prepare(self, batch: int, q_len: int, kv_len: int, device) -> None:
        """Resolve and densify the mask for a shape (forward does it too; call it to keep that out of timing)."""
        self.masking.prepare(batch, q_len, kv_len, device)

    def forward(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        self.prepare(q.shape[0], q.shape[2], k.shape[2], q.device)
        return self.heads.run(q, k, v, self.attend)

    def attend(self, q, k, v, heads=None, rows=None) -> torch.Tensor:
        weights = self.weights(q, k, heads, rows)
        return self.output.combine(self.output.drop(weights), v)

    def weights(self, q, k, heads=None, rows=None) -> torch.Tensor:
        """Attention weights after the softmax and any talking-heads mixing, before dropout."""
        logits, empty = self.masking.apply(self.heads.mix_logits(self.score(q, k, heads)), rows)
        return self.heads.mix_weights(self.output.normalize(logits, empty))

    # --- inspection (stability statistics, head importance) --------------------------------------------
    def logits(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """Masked logits of every head (B, H, Lq, Lk), what the softmax sees; ignores pruning and routing."""
        self.prepare(q.shape[0], q.shape[2], k.shape[2], q.device)
        return self.masking.apply(self.heads.mix_logits(self.score(q, k, None)))[0]

    def head_importance(self, q, k, v, method: str = "norm") -> torch.Tensor:
        """Importance of each head on these inputs, from the unpruned attention: ``norm`` (mean output
        norm) or ``focus`` (minus mean attention entropy)."""
        self.prepare(q.shape[0], q.shape[2], k.shape[2], q.device)
        with torch.no_grad():
            if method == "focus":
                return focus_importance(self.weights(q, k))
            if method == "norm":
                return output_norm_importance(self.output.combine(self.weights(q, k), v))
        raise ValueError(f"unknown importance method {method!r} (accepted: {', '.join(IMPORTANCE)})")

    def prune_least_important(self, q, k, v, count: int, method: str = "norm") -> list[int]:
        """Prune the ``count`` least important heads on these inputs; returns them."""
        pruned = least_important(self.head_importance(q, k, v, method), count)
        self.heads.prune(pruned)
        return pruned
