"""The output step: softmax over the keys, optional seeded attention dropout, weighted sum of values.

Dropout draws its keep-mask from a generator seeded from (seed, "output.dropout"), so a run is
reproducible call by call; each call advances the generator (a fresh mask per step, as in training).
Kept weights are scaled by 1/(1−p), so the expected output equals the output without dropout.
Error against the oracle is always measured with p = 0.
"""

from __future__ import annotations

import torch
from torch import nn

from .heads import grouped_matmul
from .seeds import part_seed


class SoftmaxOutput(nn.Module):
    def __init__(self, dropout: float = 0.0, seed: int = 0) -> None:
        super().__init__()
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout={dropout!r} must be in [0, 1)")
        self.dropout, self.seed = float(dropout), seed
        self._generators: dict[str, torch.Generator] = {}

    def extra_repr(self) -> str:
        return f"dropout={self.dropout:g}, seed={self.seed}"

    def reset_dropout(self) -> None:
        """Restart the dropout masks from the seed (the next calls repeat the first calls' masks)."""
        self._generators.clear()

    def _generator(self, device: torch.device) -> torch.Generator:
        key = str(device)
        if key not in self._generators:
            self._generators[key] = torch.Generator(device=device).manual_seed(part_seed(self.seed, "output.dropout"))
        return self._generators[key]

    def normalize(self, logits: torch.Tensor, empty_rows: torch.Tensor | None) -> torch.Tensor:
        weights = torch.softmax(logits, dim=-1)
        if empty_rows is not None:  # an all −inf row gives NaN; the convention is a zero row
            weights = weights.masked_fill(empty_rows, 0.0)
        return weights

    def drop(self, weights: torch.Tensor) -> torch.Tensor:
        if not self.dropout:
            return weights
        keep = torch.empty_like(weights).bernoulli_(1.0 - self.dropout, generator=self._generator(weights.device))
        return weights * keep / (1.0 - self.dropout)

    def combine(self, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return grouped_matmul(weights, v)
