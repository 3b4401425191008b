"""A pytest plugin (loaded with -p) that registers implementations which fail on purpose.

Used by tests/test_sweep.py to check that a raising or out-of-memory cell is recorded and the
sweep goes on. It is never part of a real sweep.
"""

import torch

from impls import Impl, register


@register
class Raises(Impl):
    name = "test-raises"
    description = "raises inside the call (test only)"

    def build(self, problem, q, k, v):
        def boom():
            raise RuntimeError("deliberate failure for the test")
        return boom


@register
class OutOfMemory(Impl):
    name = "test-oom"
    description = "runs out of memory inside the call (test only)"

    def build(self, problem, q, k, v):
        def boom():
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB (test)")
        return boom


@register
class WrongAnswer(Impl):
    name = "test-wrong"
    description = "an 'exact' implementation that forgets the scale (test only)"

    def build(self, problem, q, k, v):
        return lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=1.0)


@register
class SlowToBuild(Impl):
    name = "test-slow-build"
    description = "takes a minute to set up, so a test can interrupt a sweep mid-cell (test only)"

    def build(self, problem, q, k, v):
        import time

        time.sleep(60)
        return lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v)
