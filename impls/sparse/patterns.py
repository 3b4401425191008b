"""Pattern approximations on our kernels: sliding-window, longformer, strided, fixed, bigbird.

Each imposes the mask of the same name (see _pattern) and runs it on our exact kernel: windows on
``banded``, block layouts on ``block-sparse`` at the layout's own block size.
"""

from __future__ import annotations

from ..masks import BigBird, Fixed, Longformer, SlidingWindow, Strided
from ..registry import register
from ._pattern import Pattern
from .banded import ALL_DTYPES, Banded
from .block_sparse import BlockSparse


def _pattern_entry(mask_cls, kernel, text: str):
    def kernel_for(self, patterned):
        return kernel(patterned)

    cls = type(f"{mask_cls.__name__}Pattern", (Pattern,), {
        "name": mask_cls.kind, "pattern": mask_cls, "params": dict(mask_cls.DEFAULTS), "dtypes": ALL_DTYPES,
        "description": text, "kernel": kernel_for, "efficiency": 0.2, "__module__": __name__,
    })
    return register(cls)


_banded = lambda patterned: Banded()  # noqa: E731
_blocks = lambda patterned: BlockSparse(block=patterned.mask.block)  # noqa: E731
_pattern_entry(SlidingWindow, _banded, "imposes a sliding window (causal, symmetric or dilated) with our banded kernel")
_pattern_entry(Longformer, _banded, "imposes Longformer's window + global tokens with our banded kernel")
_pattern_entry(Strided, _blocks, "imposes Sparse Transformer's strided block layout with our block-gather kernel")
_pattern_entry(Fixed, _blocks, "imposes Sparse Transformer's fixed block layout with our block-gather kernel")
_pattern_entry(BigBird, _blocks, "imposes BigBird's window + global + seeded random blocks with our block-gather kernel")
