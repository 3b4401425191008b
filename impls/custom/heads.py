"""AttentionHeadManager: how many heads, of what size, how they share keys, talk, are pruned or routed.

- Layout at a fixed model dim: heads × head_dim = model_dim; kv_heads == heads is MHA, 1 < kv_heads <
  heads is GQA, kv_heads == 1 is MQA. Grouped heads share K/V without copying them: the queries of
  one group are stacked into one matmul against their shared key head (see grouped_matmul).
- Talking heads (Shazeer et al. 2020): learned heads × heads mixing of the logits before the softmax
  and of the weights after it. Both maps start at identity plus seeded noise, so they differ from MHA.
- Pruning: pruned heads are not computed at all (their output is zero; a model drops their output
  projection columns), so time falls with the number kept. ``rank_heads`` orders heads by importance.
- Routing (mixture-of-heads): a seeded linear router picks each token's top-k heads; only those
  (token, head) rows are computed, and each is scaled by its gate, k·softmax over the chosen logits
  (mean gate 1 keeps the output's scale). Compute falls to about k/heads of MHA's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from torch import nn

from .seeds import gaussian, part_generator

# attend(q, k, v, heads, rows) -> (B, h, n, d); heads: query-head indices or None (all); rows: (B, n)
# per-batch query-row indices when q holds a gathered subset of rows, else None.
Attend = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, "torch.Tensor | None", "torch.Tensor | None"], torch.Tensor]


def expand_kv(t: torch.Tensor, heads: int) -> torch.Tensor:
    """Key/value heads repeated so that query head i sees key head i // group (a copy; use only when needed)."""
    return t.repeat_interleave(heads // t.shape[1], dim=1) if t.shape[1] != heads else t


def grouped_matmul(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x (B, h, n, m) @ y (B, h_kv, m, p) → (B, h, n, p), query head i paired with y's head i // (h / h_kv).

    The group's queries are stacked along n, so shared keys/values are read once and never copied.
    """
    batch, heads, rows, inner = x.shape
    kv_heads = y.shape[1]
    if heads == kv_heads:
        return torch.matmul(x, y)
    if heads % kv_heads:
        raise ValueError(f"heads={heads} is not divisible by kv_heads={kv_heads} (kv_heads must divide heads)")
    group = heads // kv_heads
    stacked = x.reshape(batch, kv_heads, group * rows, inner)
    return torch.matmul(stacked, y).reshape(batch, heads, rows, y.shape[-1])


@dataclass(frozen=True)
class HeadLayout:
    model_dim: int
    heads: int
    kv_heads: int

    def __post_init__(self) -> None:
        if self.heads <= 0 or self.model_dim % self.heads:
            raise ValueError(f"model_dim={self.model_dim} is not divisible by heads={self.heads} (head_dim = model_dim / heads)")
        if self.kv_heads <= 0 or self.heads % self.kv_heads:
            raise ValueError(f"kv_heads={self.kv_heads} does not divide heads={self.heads} (kv_heads must divide heads)")

    @property
    def head_dim(self) -> int:
        return self.model_dim // self.heads

    @property
    def kind(self) -> str:
        return head_kind(self.heads, self.kv_heads)


def head_kind(heads: int, kv_heads: int) -> str:
    if kv_heads == heads:
        return "MHA"
    return "MQA" if kv_heads == 1 else "GQA"


class AttentionHeadManager(nn.Module):
    def __init__(self, heads: int, head_dim: int, kv_heads: int | None = None, talking: bool = False,
                 pruned: Iterable[int] = (), route_top_k: int = 0, seed: int = 0) -> None:
        super().__init__()
        kv_heads = kv_heads or heads
        if heads % kv_heads:
            raise ValueError(f"kv_heads={kv_heads} does not divide heads={heads} (kv_heads must divide heads)")
        if talking and (tuple(pruned) or route_top_k):
            raise ValueError("talking heads cannot be pruned or routed (mixing needs every head's logits)")
        if tuple(pruned) and route_top_k:
            raise ValueError("choose pruning or routing, not both (accepted: prune=..., or route=k)")
        if not 0 <= route_top_k <= heads:
            raise ValueError(f"route={route_top_k} must be in 1..heads={heads} (or 0 for no routing)")
        self.heads, self.head_dim, self.kv_heads = heads, head_dim, kv_heads
        self.talking, self.route_top_k, self.seed = talking, route_top_k, seed
        self.pruned: tuple[int, ...] = ()
        self.prune(pruned)
        if talking:
            generator = part_generator(seed, "heads.talking")
            noise = 1.0 / math.sqrt(heads)
            self.logit_mixing = nn.Parameter(torch.eye(heads) + gaussian((heads, heads), noise, generator))
            self.weight_mixing = nn.Parameter(torch.eye(heads) + gaussian((heads, heads), noise, generator))
        if route_top_k:
            generator = part_generator(seed, "heads.router")
            model_dim = heads * head_dim
            self.router = nn.Parameter(gaussian((model_dim, heads), 1.0 / math.sqrt(model_dim), generator))

    @classmethod
    def for_model_dim(cls, model_dim: int, heads: int, kv_heads: int | None = None, **options) -> AttentionHeadManager:
        layout = HeadLayout(model_dim, heads, kv_heads or heads)
        return cls(heads, layout.head_dim, layout.kv_heads, **options)

    @property
    def kind(self) -> str:
        return head_kind(self.heads, self.kv_heads)

    @property
    def group(self) -> int:
        return self.heads // self.kv_heads

    def extra_repr(self) -> str:
        return (f"heads={self.heads}, head_dim={self.head_dim}, kv_heads={self.kv_heads} ({self.kind}), talking={self.talking}, "
                f"pruned={list(self.pruned)}, route_top_k={self.route_top_k}")

    # --- pruning -------------------------------------------------------------------------------------
    def prune(self, heads: Iterable[int]) -> None:
        """Set the pruned heads (replacing any earlier set); at least one head must stay."""
        pruned = tuple(sorted({int(h) for h in heads}))
        bad = [h for h in pruned if not 0 <= h < self.heads]
        if bad:
            raise ValueError(f"cannot prune head {bad[0]} (heads are 0..{self.heads - 1})")
        if len(pruned) >= self.heads:
            raise ValueError(f"cannot prune all {self.heads} heads (keep at least one)")
        self.pruned = pruned

    def kept_heads(self) -> list[int]:
        return [h for h in range(self.heads) if h not in self.pruned]

    def computed_fraction(self) -> float:
        """Fraction of MHA's (token, head) rows this configuration computes."""
        if self.route_top_k:
            return self.route_top_k / self.heads
        return (self.heads - len(self.pruned)) / self.heads

    # --- talking heads ---------------------------------------------------------------------------------
    def mix_logits(self, logits: torch.Tensor) -> torch.Tensor:
        return torch.einsum("gh,bhqk->bgqk", self.logit_mixing, logits) if self.talking else logits

    def mix_weights(self, weights: torch.Tensor) -> torch.Tensor:
        return torch.einsum("gh,bhqk->bgqk", self.weight_mixing, weights) if self.talking else weights

    # --- routing -------------------------------------------------------------------------------------
    def route(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Each token's top-k heads (B, L, k) and their gates (B, L, k), from the token's queries of all heads."""
        batch, heads, length, head_dim = q.shape
        tokens = q.transpose(1, 2).reshape(batch, length, heads * head_dim)
        logits = torch.matmul(tokens, self.router)
        top = logits.topk(self.route_top_k, dim=-1)
        gates = self.route_top_k * torch.softmax(top.values, dim=-1)
        return top.indices, gates

    # --- running ---------------------------------------------------------------------------------------
    def run(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, attend: Attend) -> torch.Tensor:
        if q.shape[1] != self.heads or k.shape[1] != self.kv_heads:
            raise ValueError(f"inputs have {q.shape[1]} query and {k.shape[1]} key heads "
                             f"(this manager expects heads={self.heads}, kv_heads={self.kv_heads})")
        if self.route_top_k:
            return self._run_routed(q, k, v, attend)
        if self.pruned:
            return self._run_pruned(q, k, v, attend)
        return attend(q, k, v, None, None)

    def _run_pruned(self, q, k, v, attend):
        kept = torch.tensor(self.kept_heads(), device=q.device)
        kv_of_kept = kept // self.group
        result = attend(q.index_select(1, kept), k.index_select(1, kv_of_kept), v.index_select(1, kv_of_kept), kept, None)
        out = q.new_zeros(q.shape[0], self.heads, q.shape[2], v.shape[-1])
        return out.index_copy(1, kept, result)

    def _run_routed(self, q, k, v, attend):
        batch, heads, length, head_dim = q.shape
        chosen_heads, gates = self.route(q)
        dense_gates = q.new_zeros(batch, length, heads).scatter(-1, chosen_heads, gates)
        chosen = torch.zeros(batch, length, heads, dtype=torch.bool, device=q.device).scatter(-1, chosen_heads, True)
        outputs = []
        for head in range(heads):
            mine = chosen[:, :, head]
            count = int(mine.sum(dim=1).max())
            out = q.new_zeros(batch, length, v.shape[-1])
            if count:
                # This head's tokens first (stable), padded to the batch's largest count; padding rows are
                # tokens not routed here, whose gate is zero, so they write zeros back.
                rows = torch.argsort((~mine).to(torch.int8), dim=1, stable=True)[:, :count]
                q_rows = q[:, head].gather(1, rows[..., None].expand(batch, count, head_dim))
                kv = head // self.group
                heads_index = torch.tensor([head], device=q.device)
                result = attend(q_rows[:, None], k[:, kv:kv + 1], v[:, kv:kv + 1], heads_index, rows)[:, 0]
                result = result * dense_gates[:, :, head].gather(1, rows)[..., None]
                out = out.scatter(1, rows[..., None].expand(batch, count, result.shape[-1]), result)
            outputs.append(out)
        return torch.stack(outputs, dim=1)


# --- head importance -----------------------------------------------------------------------------------
def output_norm_importance(outputs: torch.Tensor) -> torch.Tensor:
    """Per-head importance from (B, H, L, d) outputs: the mean L2 norm of a head's output vectors."""
    return outputs.detach().to(torch.float64).norm(dim=-1).mean(dim=(0, 2))


def focus_importance(weights: torch.Tensor) -> torch.Tensor:
    """Per-head importance from (B, H, Lq, Lk) attention weights: minus the mean row entropy (focused heads rank high)."""
    w = weights.detach().to(torch.float64)
    entropy = -(w * torch.log(w.clamp_min(1e-300))).sum(dim=-1)
    return -entropy.mean(dim=(0, 2))


def rank_heads(importance: torch.Tensor) -> list[int]:
    """Head indices, most important first (ties broken by the lower index)."""
    values = importance.detach().to(torch.float64).cpu().tolist()
    return sorted(range(len(values)), key=lambda h: (-values[h], h))


def least_important(importance: torch.Tensor, count: int) -> list[int]:
    """The ``count`` heads to prune: the lowest ranked."""
    return sorted(rank_heads(importance)[len(importance) - count:]) if count else []
