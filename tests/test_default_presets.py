"""The default presets (cpu without a GPU, gpu with one) answer the user's question: every family next to the exact
kernels, the sub-quadratic members to the longest length swept, and the approximations' error on realistic inputs."""

from __future__ import annotations

import importlib

import pytest

from bench.presets import CORE_GRIDS

SUITES = ("sparse", "linear", "heads", "scores", "training")


def preset_cells(preset: str) -> list[tuple[object, object]]:
    """(problem, impl) of every suite's grids for ``preset``, as the session expands them (devices as on a GPU machine)."""
    device = "cuda" if preset == "gpu" else "cpu"
    grids = list(CORE_GRIDS.get(preset, []))
    for suite in SUITES:
        grids += importlib.import_module(f"suites.test_{suite}").GRIDS.get(preset, [])
    return [cell for grid in grids for cell in grid.cells(device)]


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_every_family_is_in_the_default_run(preset):
    cells = preset_cells(preset)
    names = {impl.full_name for _, impl in cells}
    assert {impl.family for _, impl in cells} >= {"exact", "sparse", "linear", "custom"}
    # The representatives the default page compares: a window, a block layout, the exact banded kernel, their
    # FlexAttention versions; linear, performer, linformer, nystrom; design-space variants.
    for wanted in ("sliding-window[w=256]", "flex-sliding-window[w=256]", "fixed[block=64]", "flex-fixed[block=64]", "banded[chunk=64]",
                   "block-sparse[block=64]", "linear", "performer[m=256]", "linformer[k=256]", "nystrom[m=64]", "custom[prune=4/8]",
                   "custom[route=2]", "custom[window=64]"):
        assert wanted in names, wanted


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_sub_quadratic_members_reach_the_longest_length_on_the_exact_kernels_shapes(preset):
    cells = preset_cells(preset)
    longest = max(problem.seq_len for problem, _ in cells)
    exact_shapes = {(p.mask_kind, p.dtype, p.heads, p.head_dim, p.seq_len) for p, impl in cells if impl.exact and p.inputs == "gaussian"}
    for family in ("sparse", "linear"):
        at_longest = [(p, impl) for p, impl in cells if impl.family == family and not impl.exact and p.seq_len == longest]
        assert at_longest, f"no approximate {family} member at L={longest}"
        # ... on a shape an exact kernel also ran, so they share a front
        assert any((p.mask_kind, p.dtype, p.heads, p.head_dim, p.seq_len) in exact_shapes for p, _ in at_longest)


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_approximations_are_measured_on_realistic_and_captured_inputs(preset):
    cells = preset_cells(preset)
    for inputs in ("synthetic", "captured:charlm"):
        families = {impl.family for p, impl in cells if p.inputs == inputs and not impl.exact}
        assert families >= {"sparse", "linear", "custom"}, (inputs, families)
        # the same members on gaussian inputs too, where the timing comparison with the exact kernels is drawn
        on_gaussian = {(p.seq_len, p.mask_kind, impl.full_name) for p, impl in cells if p.inputs == "gaussian"}
        assert {(p.seq_len, p.mask_kind, impl.full_name) for p, impl in cells if p.inputs == inputs} <= on_gaussian


@pytest.mark.parametrize("preset", ["cpu", "gpu"])
def test_an_exact_kernel_runs_on_every_realistic_distribution(preset):
    """The exact pick on the realistic inputs' fronts is measured there, error checked against the oracle too."""
    cells = preset_cells(preset)
    for inputs in ("synthetic", "captured:charlm"):
        exact = {(p.seq_len, p.mask_kind) for p, impl in cells if p.inputs == inputs and impl.exact}
        assert {(2048, "none"), (2048, "causal")} <= exact, (inputs, exact)
