"""How a cell ends other than measured: skipped or failed with a short code, or out of memory."""

from __future__ import annotations


class CellOutcome(Exception):
    """Ends a cell early with a status (``skipped``, ``failed``), a short code and a one-line reason."""

    def __init__(self, status: str, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def is_oom(exc: BaseException) -> bool:
    """An out-of-memory error from CUDA's allocator or the host (recorded as ``oom``, the sweep goes on)."""
    import torch

    if isinstance(exc, torch.OutOfMemoryError):
        return True
    text = str(exc)
    return isinstance(exc, (RuntimeError, MemoryError)) and (
        "out of memory" in text.lower() or "can't allocate memory" in text or isinstance(exc, MemoryError))


def one_line(exc: BaseException, limit: int = 500) -> str:
    """The exception's message on one line (its type's name when it has none)."""
    text = " ".join(str(exc).split())
    return text[:limit] if text else type(exc).__name__
