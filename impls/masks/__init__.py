"""Mask kinds: which (query, key) pairs a problem keeps. One module per kind or layout.

Specs: ``none``, ``causal``, ``padding`` (default per-batch key lengths, see :meth:`Padding.spread`),
``padding[lengths=300/150]``, the sparse layouts (``sliding-window[w=256]``, ``strided[block=64]``,
``fixed[block=64]``, ``bigbird[block=64]``, ``longformer[w=256,globals=0]``) and ``a+b`` for the
intersection of two masks.

    base            Mask, the registry of kinds (register_mask, MASK_KINDS), kind_of
    core            Causal, Padding
    intersection    Intersection (``a+b``)
    parse           parse_mask
    counting        shared by the layouts: parameter names, checks, kept-pair counting
    sliding_window, block_layout, strided, fixed, bigbird, longformer    the sparse layouts
"""

from .base import MASK_KINDS, Mask, Predicate, kind_of, register_mask
from .bigbird import BigBird
from .block_layout import BlockLayout
from .core import Causal, Padding
from .fixed import Fixed
from .intersection import Intersection
from .longformer import Longformer
from .parse import parse_mask
from .sliding_window import SlidingWindow
from .strided import Strided

__all__ = [
    "MASK_KINDS", "Mask", "Predicate", "kind_of", "register_mask", "Causal", "Padding", "Intersection", "parse_mask",
    "SlidingWindow", "BlockLayout", "Strided", "Fixed", "BigBird", "Longformer",
]
