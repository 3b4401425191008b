"""Optional packages an implementation needs: imported once, quietly, and judged usable or not.

A package that is installed but broken (an xformers wheel built for another torch) prints several
lines of warnings on every import. Importing it here captures them once and turns them into the
implementation's unavailable reason (``python -m impls`` shows it), so no console is filled with them.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.util
import io
import logging
import warnings
from dataclasses import dataclass
from types import ModuleType

# Warnings about the package's own future, not about whether it works here.
HARMLESS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)


@dataclass(frozen=True)
class PackageState:
    name: str
    module: ModuleType | None
    problem: str | None  # one line: why it cannot be used here (not installed, fails to import, warns on import)

    @property
    def version(self) -> str | None:
        return getattr(self.module, "__version__", None) if self.module is not None else None


class Captured(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def probe(name: str) -> PackageState:
    """Whether ``name`` is installed (asked every time: cheap) and, when it is, how its one import went."""
    try:
        if importlib.util.find_spec(name) is None:
            return PackageState(name, None, "is not installed")
    except (ImportError, ValueError):
        return PackageState(name, None, "is not installed")
    return imported(name)


@functools.cache
def imported(name: str) -> PackageState:
    """Import ``name`` once with its warnings, log records and stderr captured."""
    handler, stderr = Captured(), io.StringIO()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stderr(stderr):
            warnings.simplefilter("always")
            module = importlib.import_module(name)
    except Exception as exc:  # noqa: BLE001 - a broken package may raise anything on import
        return PackageState(name, None, f"is installed but fails to import: {type(exc).__name__}: {one_line(str(exc))}")
    finally:
        root.removeHandler(handler)
    complaints = [str(w.message) for w in caught if not issubclass(w.category, HARMLESS)] + handler.messages
    complaints += [line for line in stderr.getvalue().splitlines() if line.strip()]
    return PackageState(name, module, f"is installed but warns on import: {one_line(complaints[0])}" if complaints else None)


def one_line(text: str, limit: int = 400) -> str:
    return " ".join(text.split())[:limit]
