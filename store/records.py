"""The cell record and the run's metadata as typed data, and the one reader of a run's JSONL.

A run folder holds ``run.json`` (RunInfo) and ``cells*.jsonl`` (one CellRecord a line, one file per
pytest-xdist worker). A record is a JSON object; the fields below are the ones every reader may
rely on, everything else (``profile``, ``cuda``, an extension's fields) is kept as written in
``fields``. ``to_dict(from_dict(d)) == d``, key order included, so files written before this module
existed read and write back byte for byte. Torch-free.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

SCHEMA_VERSION = 1
# Keys every cell record has; enough to tell a record from other JSON.
REQUIRED_KEYS = ("impl", "problem", "status")
# Problem fields a report cannot do without (Problem.to_dict() writes them all).
REQUIRED_PROBLEM_FIELDS = ("batch", "seq_len", "heads", "head_dim", "dtype", "device", "mode")


# A problem's own fields in a record (Problem.to_dict()); any other key is an extra a suite attached (model_dim...).
PROBLEM_FIELDS = ("batch", "seq_len", "kv_seq_len", "heads", "kv_heads", "head_dim", "dtype", "device", "mask", "mask_kind",
                  "dropout", "mode", "scale", "inputs")
# The input distribution a record without ``inputs`` (written before it existed) was measured on.
DEFAULT_INPUTS = "gaussian"


def inputs_label(inputs: str | None) -> str:
    """``synthetic``, ``captured-charlm`` (a shipped alias), ``captured-<file stem>`` for a path."""
    inputs = inputs or DEFAULT_INPUTS
    if not inputs.startswith("captured:"):
        return inputs
    name = inputs.removeprefix("captured:").replace("\\", "/").rsplit("/", 1)[-1]
    return "captured-" + (name.rsplit(".", 1)[0] if "." in name else name)


def problem_label(problem: dict, *, length: bool = True, device: bool = True) -> str:
    """The one label of a problem, from its record fields: ``b1-h8kv2-L1024x2048-d64-float32-causal-fwd-cpu``.

    ``Problem.id()`` is this label (test ids, cell ids, file names); reports show it without the
    device. Without ``length`` the sequence lengths are left out and the mask is named by its kind:
    the label of a scaling series. A softmax scale other than 1/sqrt(head_dim), dropout, extras and
    an input distribution other than gaussian are appended (``s1``, ``p0.1``, ``model_dim512``, ``synthetic``).
    """
    get = lambda key: problem.get(key, "?")  # noqa: E731 - a partial record still gets a label
    heads, kv_heads = get("heads"), problem.get("kv_heads", get("heads"))
    parts = [f"b{get('batch')}", f"h{heads}" + (f"kv{kv_heads}" if kv_heads != heads else "")]
    seq, kv_seq = get("seq_len"), problem.get("kv_seq_len", get("seq_len"))
    if length:
        parts.append(f"L{seq}" + (f"x{kv_seq}" if kv_seq != seq else ""))
    elif kv_seq != seq:
        parts.append("cross")
    mask = problem.get("mask") if length else problem.get("mask_kind", problem.get("mask"))
    parts += [f"d{get('head_dim')}", str(get("dtype")), "nomask" if mask in (None, "", "none") else str(mask), str(get("mode"))]
    if device:
        parts.append(str(get("device")))
    if problem.get("dropout"):
        parts.append(f"p{problem['dropout']:g}")
    scale, head_dim = problem.get("scale"), problem.get("head_dim")
    if isinstance(scale, (int, float)) and isinstance(head_dim, int) and head_dim > 0 and scale != 1.0 / head_dim ** 0.5:
        parts.append(f"s{scale:g}")
    parts.extend(f"{key}{value}" for key, value in problem.items() if key not in PROBLEM_FIELDS)
    if problem.get("inputs", DEFAULT_INPUTS) != DEFAULT_INPUTS:
        parts.append(inputs_label(problem["inputs"]))
    return "-".join(parts)


class RecordFileError(ValueError):
    """A file that cannot be read as records; the message is one line naming the file (and line)."""


@dataclass
class CellRecord:
    """One cell: what ran (impl, problem, device), how it ended (status, reason) and what it measured."""

    impl: str
    problem: dict  # Problem.to_dict(): batch, seq_len, kv_seq_len, heads, kv_heads, head_dim, dtype, device, mask, mask_kind, ...
    status: str  # ok, skipped, failed, oom (running while the cell is measured)
    schema: int | None = None
    run_id: str | None = None
    suite: str | None = None
    cell_id: str | None = None
    preset: str | None = None
    timestamp: float | None = None
    commit: str | None = None
    impl_base: str | None = None
    family: str | None = None
    exact: bool | None = None
    impl_version: str | None = None
    device_name: str | None = None
    machine: dict | None = None
    reason_code: str | None = None
    reason: str | None = None
    error: dict | None = None  # {"output": {"max_abs", "rel_l2", "finite"}, "dq": ..., "rows_checked": n, "logit_max": x}
    peak_bytes: int | None = None
    peak_method: str | None = None
    time: dict | None = None  # pytest-benchmark's statistics in seconds per call, "data" the raw rounds
    flops: float | None = None
    flops_per_s: float | None = None
    peak_fraction: float | None = None
    device_peak_flops: float | None = None
    extra: dict | None = None  # the suite's own metrics
    fields: dict = field(default_factory=dict, repr=False)  # the whole record as written, in its key order

    @classmethod
    def from_dict(cls, data: dict) -> CellRecord:
        known = {f.name for f in dataclasses.fields(cls)} - {"fields"}
        return cls(**{k: v for k, v in data.items() if k in known}, fields=dict(data))

    def to_dict(self) -> dict:
        """The record as written: every field it was read with, in order; typed fields set since, after them."""
        out = dict(self.fields)
        for f in dataclasses.fields(self):
            if f.name == "fields":
                continue
            value = getattr(self, f.name)
            if f.name in out or value is not None:
                out[f.name] = value
        return out

    # --- what readers ask of a record ----------------------------------------------------------------------
    @property
    def median_s(self) -> float | None:
        return (self.time or {}).get("median")

    @property
    def output_error(self) -> dict:
        return (self.error or {}).get("output") or {}

    @property
    def host(self) -> str | None:
        return (self.machine or {}).get("host")

    @property
    def device(self) -> str | None:
        return self.problem.get("device")

    def key(self) -> tuple:
        """What makes a cell the same measurement within a run (a run folder and its pytest-benchmark JSON overlap)."""
        return (self.run_id, self.suite, self.cell_id or json.dumps(self.problem, sort_keys=True) + str(self.impl),
                self.fields.get("repeat"))  # --attn-repeat: each repeat of a cell is its own record


@dataclass
class RunInfo:
    """``run.json``: what a run was asked for and where it ran."""

    run_id: str | None = None
    schema: int | None = None
    preset: str | None = None
    started: str | None = None
    commit: str | None = None
    machine: dict | None = None
    overrides: dict | None = None
    devices: list | None = None
    device_assignment: dict | None = None
    fields: dict = field(default_factory=dict, repr=False)

    @classmethod
    def from_dict(cls, data: dict) -> RunInfo:
        known = {f.name for f in dataclasses.fields(cls)} - {"fields"}
        return cls(**{k: v for k, v in data.items() if k in known}, fields=dict(data))

    def to_dict(self) -> dict:
        out = dict(self.fields)
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.name != "fields" and (f.name in out or value is not None):
                out[f.name] = value
        return out


def check_record(data, where: str, problem_fields: tuple[str, ...] = ()) -> CellRecord:
    """A CellRecord from one JSON value; RecordFileError (one line, ``where`` names file and line) when it is none,
    or when its problem lacks one of ``problem_fields`` (a report needs REQUIRED_PROBLEM_FIELDS)."""
    if not isinstance(data, dict):
        raise RecordFileError(f"{where} is not a cell record (a JSON object with {', '.join(REQUIRED_KEYS)})")
    missing = [key for key in REQUIRED_KEYS if key not in data]
    if missing or not isinstance(data.get("problem"), dict):
        raise RecordFileError(f"{where} is not a cell record (missing {', '.join(missing) or 'problem object'})")
    missing = [f"problem.{key}" for key in problem_fields if key not in data["problem"]]
    if missing:
        raise RecordFileError(f"{where} is a cell record without {', '.join(missing)} (a record's problem has "
                              f"{', '.join(problem_fields)})")
    check_schema(data.get("schema"), where)
    return CellRecord.from_dict(data)


def check_schema(schema, where: str) -> None:
    """Records without a schema (pytest-benchmark's extra_info of old runs) read as version 1."""
    if schema is None:
        return
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 1:
        raise RecordFileError(f"{where} has schema {schema!r}, not a record schema version (this attnbench reads 1 to {SCHEMA_VERSION})")
    if schema > SCHEMA_VERSION:
        raise RecordFileError(f"{where} has schema {schema}, newer than this attnbench reads (1 to {SCHEMA_VERSION}); "
                              "upgrade attnbench to read it")


@dataclass
class CellFile:
    records: list[CellRecord]
    notes: list[str]  # what a reader should know (an incomplete last line)


def read_cells(path: str | Path, problem_fields: tuple[str, ...] = ()) -> CellFile:
    """Every record of one ``cells*.jsonl``. A damaged line (a write torn by a full disk or a kill, anywhere in the
    file) is left out with a note, and a whole record glued after it is kept; a file with no record at all, or
    a JSON line that is not a record, raises RecordFileError naming the file and line."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError as exc:
        raise RecordFileError(f"{path}: cannot be read ({exc.strerror})") from None
    result, damaged = CellFile([], []), []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            damaged.append(number)
            glued = record_at_end(line)
            if glued is not None:
                result.records.append(check_record(glued, f"{path}: line {number}", problem_fields))
            continue
        result.records.append(check_record(data, f"{path}: line {number}", problem_fields))
    if damaged and not result.records:
        raise RecordFileError(f"{path}: line {damaged[0]} is not JSON (expected one cell record per line)")
    if damaged:
        listed = ", ".join(str(n) for n in damaged[:5]) + (f" and {len(damaged) - 5} more" if len(damaged) > 5 else "")
        result.notes.append(f"{path}: line {listed} {'is' if len(damaged) == 1 else 'are'} incomplete (a torn write: "
                            "interrupted run or full disk?) and left out; every whole record was read")
    return result


def record_at_end(line: str) -> dict | None:
    """The whole record a damaged line ends with, when a torn write was glued to the next record."""
    start = line.find('{"', 1)
    while start != -1:
        try:
            data = json.loads(line[start:])
        except json.JSONDecodeError:
            start = line.find('{"', start + 1)
            continue
        return data if isinstance(data, dict) and all(key in data for key in REQUIRED_KEYS) else None
    return None


def read_run_info(path: str | Path) -> RunInfo:
    """``run.json`` of a run folder (the file itself or its folder)."""
    path = Path(path)
    path = path / "run.json" if path.is_dir() else path
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RecordFileError(f"{path}: not a readable run.json ({type(exc).__name__})") from None
    if not isinstance(data, dict):
        raise RecordFileError(f"{path}: not a run.json (expected a JSON object)")
    check_schema(data.get("schema"), str(path))
    return RunInfo.from_dict(data)


def read_run(run_dir: str | Path) -> tuple[RunInfo | None, list[CellRecord], list[str]]:
    """A run folder: its run.json (None when missing) and the records of every cells*.jsonl, with notes."""
    run_dir = Path(run_dir)
    info = read_run_info(run_dir) if (run_dir / "run.json").exists() else None
    records, notes = [], []
    for path in sorted(run_dir.glob("cells*.jsonl")):
        cells = read_cells(path)
        records.extend(cells.records)
        notes.extend(cells.notes)
    return info, records, notes


def json_default(value):
    """How the writer spells what JSON has no type for: torch dtypes and devices and paths as text, sets as lists."""
    if isinstance(value, Path) or type(value).__module__.split(".")[0] == "torch":
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return repr(value)
