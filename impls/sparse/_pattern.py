"""Pattern implementations: impose a named sparse mask on a denser problem (an approximation).

``sliding-window[w=256]`` as an implementation means: compute attention under the mask
``sliding-window[w=256]``, whatever the problem's own mask (none, causal, or another sparse
pattern). The name of the implementation is the spec of the mask it imposes, so a sweep over ``w``
is a list of names and traces an error–speed curve.

Exactness: a pattern implementation declares ``exact = False``, because on a causal or dense
problem its output differs from the oracle by design and that difference is its error metric. On a
problem whose mask *is* its pattern it computes that mask exactly (tests/test_sparse*.py prove it
against the float64 oracle); the exact, mask-following kernels are ``banded`` and ``block-sparse``.
"""

from __future__ import annotations

from typing import ClassVar

from ..masks import Mask
from ..registry import Impl, Reason

# Problem masks a pattern may approximate: dense, causal, or another sparse pattern.
APPROXIMATES = frozenset({"none", "causal", "sliding-window", "longformer", "strided", "fixed", "bigbird"})


class Pattern(Impl):
    family = "sparse"
    exact = False
    mask_kinds = APPROXIMATES
    pattern: ClassVar[type[Mask]]  # the mask kind this implementation imposes; params mirror its spec

    @property
    def full_name(self) -> str:
        """The pattern's own spec with this implementation's name: ``sliding-window[w=256]``, ``flex-bigbird[...]``."""
        spec = self.pattern(**self.values).spec()
        return self.name + spec[len(self.pattern.kind):]

    def check_params(self):
        """The imposed mask's values, checked once here, so ``sliding-window[w=-5]`` is refused by name, not per cell."""
        try:
            self.pattern(**self.values).check_values()
        except ValueError as exc:
            raise ValueError(str(exc) if str(exc).startswith(self.name) else f"{self.name}: {exc}") from None

    def pattern_problem(self, problem):
        """The same problem under the imposed mask (drawn for the problem's shape, e.g. BigBird's random blocks)."""
        return problem.with_(mask=self.pattern(**self.values).spec())

    def kernel(self, pattern_problem) -> Impl:
        """The implementation that computes the pattern exactly."""
        raise NotImplementedError

    def extra_reasons(self, problem):
        try:
            patterned = self.pattern_problem(problem)
        except ValueError as exc:
            return [Reason("params", f"{self.full_name} does not fit this problem: {exc}")]
        return self.kernel(patterned).not_supported_reasons(patterned)

    def build(self, problem, q, k, v):
        patterned = self.pattern_problem(problem)
        return self.kernel(patterned).build(patterned, q, k, v)

    def flops(self, problem):
        """Useful FLOPs of the approximation: the pairs its pattern keeps."""
        return self.pattern_problem(problem).flops()

    def executed_flops(self, problem):
        patterned = self.pattern_problem(problem)
        return self.kernel(patterned).executed_flops(patterned)

    def memory_estimate(self, problem):
        patterned = self.pattern_problem(problem)
        return self.kernel(patterned).memory_estimate(patterned)
