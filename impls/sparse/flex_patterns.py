"""FlexAttention versions of the patterns: ``flex-sliding-window[w=256]``, ``flex-bigbird[...]`` and so on.

The same imposed masks as patterns.py, computed by the core ``flex`` implementation: the pattern's
predicate is FlexAttention's mask_mod and its block mask is built once in build() on the inputs'
device. (On a problem whose own mask is sparse, plain ``flex`` already computes it exactly.)
"""

from __future__ import annotations

import torch

from ..exact.flex import Flex
from ..masks import BigBird, Fixed, Longformer, SlidingWindow, Strided
from ..registry import register
from ._pattern import Pattern


def _flex_entry(mask_cls):
    cls = type(f"Flex{mask_cls.__name__}Pattern", (Pattern,), {
        "name": f"flex-{mask_cls.kind}", "pattern": mask_cls, "params": dict(mask_cls.DEFAULTS),
        "dtypes": frozenset({torch.float32, torch.float16, torch.bfloat16}), "efficiency": Flex.efficiency,
        "description": f"imposes the {mask_cls.kind} mask with compiled FlexAttention (block mask built once)",
        "kernel": lambda self, patterned: Flex(), "__module__": __name__,
    })
    return register(cls)


for _mask in (SlidingWindow, Longformer, Strided, Fixed, BigBird):
    _flex_entry(_mask)
