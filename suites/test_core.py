"""The core sweep: exact kernels (naive, SDPA and each backend, xformers, FlexAttention) over the preset's grid."""

from bench.run_cell import run_cell

SUITE = "core"
# The core grids live in bench/presets.py (CORE_GRIDS): every preset has them.


def test_core(benchmark, cell, attn):
    run_cell(benchmark, cell, attn)
