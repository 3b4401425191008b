"""The implementation registry: capabilities as data, reasons derived from them.

An implementation subclasses :class:`Impl`, fills in class data (devices, dtypes, mask kinds,
head-dim range, GQA, dropout, backward, required packages) and writes ``build``. It writes no
checking code: :meth:`Impl.not_supported_reasons` derives every reason from the data, and
``extra_reasons`` adds what data cannot say (for example a backend's own verdict).

Parameterized implementations declare ``params`` (name → default, which also fixes the type)
and ``variants`` (the parameter sets listed by :func:`registry`); ``get("performer[m=64]")``
builds any other point.
"""

from __future__ import annotations

import fnmatch
import importlib
import importlib.util
import pkgutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar

import torch

from .packages import probe
from .problem import Problem, dtype_name
from .spec import format_spec, parse_params, parse_spec

FAMILIES = ("exact", "sparse", "linear", "custom")


@dataclass(frozen=True)
class Reason:
    """Why a problem cannot run: a short code a report can group by, and a sentence for people."""

    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


class Impl:
    # identity
    name: ClassVar[str] = ""
    family: ClassVar[str] = "exact"
    exact: ClassVar[bool] = True  # False: an approximation whose error is a metric, not a failure
    description: ClassVar[str] = ""
    version: ClassVar[str] = "1"
    # capabilities (data, not code)
    devices: ClassVar[frozenset[str]] = frozenset({"cpu", "cuda"})
    dtypes: ClassVar[frozenset[torch.dtype]] = frozenset({torch.float32, torch.float16, torch.bfloat16, torch.float64})
    mask_kinds: ClassVar[frozenset[str] | None] = None  # None: any mask (applied densely)
    head_dim_min: ClassVar[int] = 1
    head_dim_max: ClassVar[int | None] = None
    gqa: ClassVar[bool] = True
    dropout: ClassVar[bool] = False
    backward: ClassVar[bool] = True
    cross_lengths: ClassVar[bool] = True  # kv_seq_len may differ from seq_len
    requires: ClassVar[tuple[str, ...]] = ()  # optional packages, checked lazily
    install_hint: ClassVar[str] = ""
    # parameters
    params: ClassVar[dict[str, object]] = {}
    variants: ClassVar[tuple[dict[str, object], ...]] = ({},)
    # fraction of the device's matmul peak this kernel reaches; only used to predict time for budgets
    efficiency: ClassVar[float] = 0.3
    # seconds of one-off compilation per new shape in build() (outside the timed rounds); only used to plan a fleet's shards
    compile_seconds: ClassVar[float] = 0.0

    def __init__(self, **params: object) -> None:
        self.values = parse_params(self.name, params, self.params)
        self.check_params()

    def check_params(self) -> None:
        """Raise ValueError for impossible parameter values (override where it matters)."""

    # --- naming -----------------------------------------------------------------------------------
    @property
    def full_name(self) -> str:
        return format_spec(self.name, self.values)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.full_name}>"

    # --- capability checks ---------------------------------------------------------------------------
    def not_supported_reasons(self, problem: Problem) -> list[Reason]:
        reasons = list(self.missing_packages())
        if problem.device_type == "cuda" and not torch.cuda.is_available():
            reasons.append(Reason("device-absent", f"device={problem.device} is not available on this machine (no CUDA)"))
        elif problem.device_type not in self.devices:
            reasons.append(Reason("device", f"device={problem.device} (supported: {', '.join(sorted(self.devices))})"))
        if problem.dtype not in self.dtypes:
            supported = ", ".join(sorted(dtype_name(d) for d in self.dtypes))
            reasons.append(Reason("dtype", f"dtype={dtype_name(problem.dtype)} (supported: {supported})"))
        if self.mask_kinds is not None and problem.mask_kind not in self.mask_kinds:
            supported = ", ".join(sorted(self.mask_kinds))
            reasons.append(Reason("mask", f"mask={problem.mask_kind} (supported: {supported})"))
        if problem.head_dim < self.head_dim_min or (self.head_dim_max and problem.head_dim > self.head_dim_max):
            upper = self.head_dim_max or "any"
            reasons.append(Reason("head_dim", f"head_dim={problem.head_dim} (supported: {self.head_dim_min}..{upper})"))
        if problem.kv_heads != problem.heads and not self.gqa:
            reasons.append(Reason("gqa", f"kv_heads={problem.kv_heads} < heads={problem.heads} (supported: kv_heads == heads)"))
        if problem.dropout and not self.dropout:
            reasons.append(Reason("dropout", f"dropout={problem.dropout} (supported: 0)"))
        if problem.needs_grad and not self.backward:
            reasons.append(Reason("mode", f"mode={problem.mode} (supported: fwd)"))
        if problem.kv_seq_len != problem.seq_len and not self.cross_lengths:
            reasons.append(Reason("lengths", f"kv_seq_len={problem.kv_seq_len} != seq_len={problem.seq_len} (supported: equal lengths)"))
        if not reasons:
            reasons.extend(self.extra_reasons(problem))
        return reasons

    def supports(self, problem: Problem) -> bool:
        return not self.not_supported_reasons(problem)

    def missing_packages(self) -> list[Reason]:
        """A reason per required package that is not installed, or installed but unusable here (impls.packages)."""
        states = [probe(pkg) for pkg in self.requires]
        hint = f" (install with: pip install {self.install_hint})" if self.install_hint else ""
        missing = [s.name for s in states if s.module is None and s.problem == "is not installed"]
        reasons = [Reason("missing-package", f"{', '.join(missing)} is not installed{hint}")] if missing else []
        return reasons + [Reason("broken-package", f"{s.name} {s.problem}") for s in states if s.problem and s.name not in missing]

    def extra_reasons(self, problem: Problem) -> list[Reason]:
        """Reasons that capability data cannot express; only called when the data allows the problem."""
        return []

    # --- running -------------------------------------------------------------------------------------
    def build(self, problem: Problem, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> Callable[[], torch.Tensor]:
        """Do all setup (compilation, masks, random features) and return a zero-argument callable."""
        raise NotImplementedError

    def flops(self, problem: Problem) -> float:
        """Useful FLOPs; approximations with another cost model override this."""
        return problem.flops()

    def memory_estimate(self, problem: Problem) -> int:
        """Bytes this kernel is expected to hold at its peak (inputs included); used for budgets."""
        return problem.min_bytes()

    def time_estimate(self, problem: Problem, peak_flops: float) -> float:
        """Seconds per call predicted from the work done; only used to skip cells over budget."""
        return self.executed_flops(problem) / max(1.0, peak_flops * self.efficiency)

    def executed_flops(self, problem: Problem) -> float:
        """FLOPs actually executed (a dense kernel computes masked pairs too)."""
        return self.flops(problem)

    def info(self) -> dict:
        return {"impl": self.full_name, "impl_base": self.name, "family": self.family, "exact": self.exact,
                "impl_version": self.version, "params": dict(self.values)}


# --- the registry -----------------------------------------------------------------------------------
_CLASSES: dict[str, type[Impl]] = {}
_LOADED = False


def register(cls: type[Impl]) -> type[Impl]:
    """Class decorator: add an implementation to the registry under ``cls.name``."""
    if not cls.name:
        raise TypeError(f"{cls.__name__} has no name")
    if cls.name in _CLASSES and _CLASSES[cls.name] is not cls:
        raise TypeError(f"two implementations are named {cls.name!r}")
    _CLASSES[cls.name] = cls
    return cls


def _load_all() -> None:
    """Import every module of every family package, so a new implementation is a new file."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True
    for family in FAMILIES:
        package = importlib.import_module(f"{__package__}.{family}")
        for module in pkgutil.iter_modules(package.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{package.__name__}.{module.name}")


def registry() -> list[Impl]:
    """Every registered implementation, one instance per declared variant, in a stable order."""
    _load_all()
    instances = []
    for family in FAMILIES:
        for name in sorted(n for n, c in _CLASSES.items() if c.family == family):
            cls = _CLASSES[name]
            instances.extend(cls(**variant) for variant in cls.variants)
    return instances


def names() -> list[str]:
    _load_all()
    return sorted(_CLASSES)


def get(name: str) -> Impl:
    """The implementation named ``name`` or ``name[param=value,...]``."""
    _load_all()
    base, params = parse_spec(name)
    if base not in _CLASSES:
        raise ValueError(f"unknown implementation {base!r} (known: {', '.join(sorted(_CLASSES))})")
    return _CLASSES[base](**params)


def select(patterns: Iterable[str]) -> list[Impl]:
    """Resolve names, parameterized names and globs (``sdpa*``) into implementations, in order."""
    _load_all()
    chosen: list[Impl] = []
    seen: set[str] = set()
    for pattern in patterns:
        if any(ch in pattern for ch in "*?") and "[" not in pattern:
            matches = [i for i in registry() if fnmatch.fnmatch(i.full_name, pattern) or fnmatch.fnmatch(i.name, pattern)]
            if not matches:
                raise ValueError(f"no implementation matches {pattern!r} (known: {', '.join(sorted(_CLASSES))})")
        else:
            matches = [get(pattern)]
        for impl in matches:
            if impl.full_name not in seen:
                seen.add(impl.full_name)
                chosen.append(impl)
    return chosen
