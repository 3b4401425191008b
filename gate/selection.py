"""Which cells the gate measures: every runnable implementation once, more for what a change touches.

Runs in the yardstick's worker (imports torch and the yardstick's registry), so the base decides
what is measured; a head that edits its presets cannot drop a cell.

- The default selection (``--attn-preset gate``) gives every registered implementation one small
  cell: batch 1, 2 heads, L=256, head_dim 32, forward, on the first mask and dtype of
  ``CANDIDATE_MASKS`` × ``CANDIDATE_DTYPES`` the implementation supports on this machine. An
  implementation that can run none of them is listed with its reasons, not silently dropped.
- Focused implementations (those whose files, or shared helpers they import, the change touches)
  also get L=1024 forward and L=256 forward+backward.
- Explicit ``--attn-*`` options replace all of this with the sweep's own expansion of them.
"""

from __future__ import annotations

import ast
from pathlib import Path

GATE_PRESET = "gate"
CANDIDATE_MASKS = ("causal", "none", "sliding-window[w=64]")
CANDIDATE_DTYPES = ("float32", "bfloat16")
BASE_SHAPE = {"batch": 1, "heads": 2, "seq_len": 256, "head_dim": 32, "mode": "fwd"}
FOCUS_VARIANTS = ({"seq_len": 1024, "kv_seq_len": 1024}, {"mode": "fwd+bwd"})
# Files of impls/ that define the yardstick or the registry itself: a change there is reported as a
# yardstick change (or touches every implementation alike), not as a change to particular kernels.
NOT_HELPERS = ("impls/__init__.py", "impls/__main__.py", "impls/registry.py", "impls/problem.py", "impls/reference.py")


def auto_device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def first_runnable(impl, device: str):
    """The first candidate problem the implementation supports, or (None, its reasons on the first candidate)."""
    from impls import Problem

    first_reasons = None
    for dtype in CANDIDATE_DTYPES:
        for mask in CANDIDATE_MASKS:
            problem = Problem(**BASE_SHAPE, dtype=dtype, device=device, mask=mask)
            reasons = impl.not_supported_reasons(problem)
            if not reasons:
                return problem, None
            first_reasons = first_reasons or reasons
    return None, "; ".join(map(str, first_reasons or []))


def default_cells(focus: dict[str, list[str]], only: list[str] | None = None,
                  why: str = "every implementation: one cell") -> tuple[list[tuple], list[dict]]:
    """(problem, impl, why) for every runnable implementation (or those named in ``only``), and the
    implementations not gated here with why.

    ``focus`` maps an implementation's full name to the changed files that touch it."""
    from impls import registry

    device, cells, not_gated = auto_device(), [], []
    for impl in registry():
        if only is not None and impl.full_name not in only:
            continue
        problem, reasons = first_runnable(impl, device)
        if problem is None:
            not_gated.append({"impl": impl.full_name, "reason": reasons})
            continue
        cells.append((problem, impl, why))
        touched = focus.get(impl.full_name)
        if touched:
            why = f"the change touches {', '.join(touched[:3])}" + (" ..." if len(touched) > 3 else "")
            for variant in FOCUS_VARIANTS:
                extra = problem.with_(**variant)
                if not impl.not_supported_reasons(extra):
                    cells.append((extra, impl, why))
    return cells, not_gated


def sweep_cells(options: dict) -> list[tuple]:
    """The sweep's expansion of explicit ``--attn-*`` options over the core grids (the preset's budget ignored)."""
    import tempfile

    from bench.session import SweepSession

    with tempfile.TemporaryDirectory() as scratch:  # the session writes nothing here; a run folder is still required
        session = SweepSession(options, Path(scratch), "gate", None, ignore_budget=True)
        # A preset's cells on a captured set that the given axes do not fit are skipped, as the sweep skips them.
        return [(c.problem, c.impl, "selected by the --attn-* options") for c in session.cells("core")
                if not c.problem.input_conflicts()]


# --- which implementations a change touches ----------------------------------------------------------------
def impl_files(tree: Path) -> dict[str, list[str]]:
    """Every implementation's source files, relative to the tree: its own module and the impls/ modules it imports,
    transitively (shared helpers), without the registry and yardstick modules every implementation uses."""
    import inspect

    from impls import registry

    found = {}
    for impl in registry():
        module = Path(inspect.getfile(type(impl))).resolve()
        files = sorted(str(f.relative_to(tree)) for f in imported_files(module, tree))
        found[impl.full_name] = [f for f in files if f not in NOT_HELPERS]
    return found


def imported_files(start: Path, tree: Path) -> set[Path]:
    """``start`` and the files of impls/ it imports, directly or through each other (not through NOT_HELPERS)."""
    seen, todo = set(), [start]
    while todo:
        path = todo.pop()
        if path in seen or not path.is_file():
            continue
        seen.add(path)
        if str(path.relative_to(tree)) not in NOT_HELPERS:  # every implementation imports these: not a helper
            todo.extend(module_files(path, tree))
    return seen


def module_files(path: Path, tree: Path) -> list[Path]:
    """The files of impls/ that ``path``'s import statements name (relative or ``impls.`` imports)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = path.parent
                for _ in range(node.level - 1):
                    base = base.parent
            elif (node.module or "").split(".")[0] == "impls":
                base = tree
            else:
                continue
            parts = [p for p in (node.module or "").split(".") if p]
            target = base.joinpath(*parts)
            found += candidates(target)
            found += [c for alias in node.names for c in candidates(target / alias.name)]
        elif isinstance(node, ast.Import):
            found += [c for alias in node.names if alias.name.split(".")[0] == "impls"
                      for c in candidates(tree.joinpath(*alias.name.split(".")))]
    return found


def candidates(target: Path) -> list[Path]:
    return [p for p in (target.with_suffix(".py"), target / "__init__.py") if p.is_file()]
