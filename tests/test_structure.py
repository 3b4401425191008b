"""The code's shape: no function over about 60 lines, no private name imported across modules, modules of about 300 lines.

Checked with ``ast`` over the packages (impls, bench, store, suites, reports, gate). A private name
(``_x``) is one module's own business: another module that needs it needs a public name instead.
"""

from __future__ import annotations

import ast
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("impls", "bench", "store", "suites", "reports", "gate")
MAX_FUNCTION_LINES = 60
MAX_MODULE_LINES = 300


def modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def is_ours(module: str | None, level: int) -> bool:
    return level > 0 or (module or "").split(".")[0] in PACKAGES


def private_imports(tree: ast.Module) -> list[str]:
    """``from ours import _x``, and ``m._x`` where ``m`` is a module or name imported from our packages."""
    found, ours = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and is_ours(node.module, node.level):
            for alias in node.names:
                ours.add(alias.asname or alias.name)
                if is_private(alias.name):
                    found.append(f"line {node.lineno}: from {'.' * node.level}{node.module or ''} import {alias.name}")
        elif isinstance(node, ast.Import):
            ours.update((alias.asname or alias.name).split(".")[0] for alias in node.names if is_ours(alias.name, 0))
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in ours and is_private(node.attr):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


def long_functions(tree: ast.Module) -> list[str]:
    return [f"{node.name} (line {node.lineno}): {node.end_lineno - node.lineno + 1} lines" for node in ast.walk(tree)
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES]


@pytest.fixture(scope="module")
def trees() -> dict[Path, ast.Module]:
    return {path: parsed(path) for path in modules()}


def test_every_package_is_checked():
    assert all((ROOT / package / "__init__.py").exists() for package in PACKAGES if package != "suites"), PACKAGES


def test_no_private_name_is_imported_across_modules(trees):
    offences = [f"{path.relative_to(ROOT)} {where}" for path, tree in trees.items() for where in private_imports(tree)]
    assert not offences, "private names used outside their module:\n" + "\n".join(offences)


def test_no_function_is_over_60_lines(trees):
    offences = [f"{path.relative_to(ROOT)}: {what}" for path, tree in trees.items() for what in long_functions(tree)]
    assert not offences, f"functions over {MAX_FUNCTION_LINES} lines:\n" + "\n".join(offences)


def test_modules_over_300_lines_are_listed():
    long = [f"{path.relative_to(ROOT)}: {n} lines" for path in modules()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_MODULE_LINES]
    if long:  # a soft limit: listed, so a module that grows past it is seen
        warnings.warn(f"modules over {MAX_MODULE_LINES} lines: " + "; ".join(long), stacklevel=1)


def test_the_checks_catch_what_they_are_for():
    tree = ast.parse("from reports.frame import _x\nimport bench.cell as cell\nimport torch\n"
                     "def f():\n    return cell._y, torch._dynamo\n" + "def g():\n" + "    pass\n" * 61)
    assert private_imports(tree) == ["line 1: from reports.frame import _x", "line 5: cell._y"]
    assert long_functions(tree) == ["g (line 6): 62 lines"]
