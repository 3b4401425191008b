"""Seeded generators for the custom attention's parameters and dropout.

Each part draws from its own generator, derived from (seed, part name), so adding talking heads
does not change the score function's parameters: a result's recorded seed names every number.
Parameters are drawn on the CPU in float32 and then moved, so they are identical on every device.
"""

from __future__ import annotations

import zlib

import torch


def part_seed(seed: int, part: str) -> int:
    return (int(seed) * 1_000_003 + zlib.crc32(part.encode())) % (2**63 - 1)


def part_generator(seed: int, part: str) -> torch.Generator:
    return torch.Generator().manual_seed(part_seed(seed, part))


def gaussian(shape: tuple[int, ...], std: float, generator: torch.Generator) -> torch.Tensor:
    return torch.randn(shape, generator=generator, dtype=torch.float32) * std
