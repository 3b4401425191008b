"""Whose code a worker runs: an import root per side, and what the head changes in the yardstick.

The yardstick (the problem model and input generation, the oracle and the tolerances, the
measuring runtime and the gate itself) comes from one tree, the base's by default; each side
contributes only its ``impls/`` (its registry and kernels). A worker's import root is a folder of
links: every package of the yardstick's tree, and the measured tree's ``impls/``. Torch-free.
"""

from __future__ import annotations

import filecmp
from pathlib import Path

# The yardstick's files: a head that changes one of them changes how it is judged.
YARDSTICK_PATHS = {
    "impls/problem.py": "the problem model and input generation",
    "impls/inputs": "the input distributions",
    "impls/reference.py": "the oracle and the tolerances",
    "impls/masks": "the masks",
    "bench": "the measuring runtime",
    "gate": "the gate",
}
SKIPPED = ("__pycache__",)


def import_root(yardstick: Path, measured: Path, folder: Path) -> Path:
    """``folder`` filled with links: the yardstick tree's top-level packages, and the measured tree's impls/."""
    folder.mkdir(parents=True, exist_ok=True)
    for entry in sorted(yardstick.iterdir()):
        if entry.name != "impls" and not entry.name.startswith(".") and (entry / "__init__.py").is_file():
            (folder / entry.name).symlink_to(entry.resolve(), target_is_directory=True)
    (folder / "impls").symlink_to((measured / "impls").resolve(), target_is_directory=True)
    return folder


def changed_yardstick_files(base: Path, head: Path) -> list[str]:
    """The yardstick files that differ between the two trees (added, removed or edited), as relative paths."""
    changed = []
    for path in YARDSTICK_PATHS:
        a, b = base / path, head / path
        if a.is_dir() or b.is_dir():
            changed += [f"{path}/{name}" for name in differing(a, b)]
        elif a.is_file() != b.is_file() or (a.is_file() and not filecmp.cmp(a, b, shallow=False)):
            changed.append(path)
    return changed


def differing(a: Path, b: Path) -> list[str]:
    """Relative names of the .py files that differ between two folders (missing on one side counts)."""
    def files(root: Path) -> set[str]:
        if not root.is_dir():
            return set()
        return {str(p.relative_to(root)) for p in root.rglob("*.py") if not any(s in p.parts for s in SKIPPED)}

    names = files(a) | files(b)
    return sorted(n for n in names if not ((a / n).is_file() and (b / n).is_file() and filecmp.cmp(a / n, b / n, shallow=False)))


def describe_changes(files: list[str], probed: dict[str, str]) -> str:
    """One phrase: which yardstick parts the head changes, by file and by what its own yardstick computes differently."""
    parts = []
    for name in files:
        top = next((p for p in YARDSTICK_PATHS if name == p or name.startswith(p + "/")), name)
        parts.append(f"{name} ({YARDSTICK_PATHS.get(top, 'yardstick')})")
    parts += [f"{what} on {cell}" for what, cell in probed.items()]
    shown = ", ".join(parts[:6]) + (f" and {len(parts) - 6} more" if len(parts) > 6 else "")
    return shown
