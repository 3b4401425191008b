"""attnbench implementations: the problem model, masks, the registry and the float64 oracle.

    from impls import Problem, registry, get, reference
"""

from .masks import MASK_KINDS, Causal, Mask, Padding, parse_mask, register_mask
from .problem import Problem
from .reference import TOLERANCES, Answer, errors, oracle, reference, reference_grads, tolerance
from .registry import Impl, Reason, get, names, register, registry, select

__all__ = [
    "MASK_KINDS", "Causal", "Mask", "Padding", "parse_mask", "register_mask", "Problem", "TOLERANCES", "Answer", "errors", "oracle",
    "reference", "reference_grads", "tolerance", "Impl", "Reason", "get", "names", "register", "registry", "select",
]
