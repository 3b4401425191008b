"""Read result files into plain cell records (dicts), whatever form they come in.

Accepted inputs, any mix of them:
- a run folder ``results/<run_id>/`` (its ``run.json`` and every ``cells*.jsonl``, one per xdist worker),
- a folder holding run folders (``results/``),
- one ``cells*.jsonl`` file,
- a pytest-benchmark JSON file (``results/benchmarks/<machine>/NNNN_*.json``): each benchmark's
  ``extra_info`` is the cell record and its ``stats`` are the timing.

Run files are read by ``store.records`` (the one reader, which checks each record's schema). A file
that is none of these raises ResultFileError, whose message is one line naming the file. The same cell
seen twice (a run folder and its pytest-benchmark JSON) is kept once, preferring the JSONL record,
which also holds the raw timing samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from store.records import REQUIRED_PROBLEM_FIELDS, CellRecord, RecordFileError, check_record, read_cells, read_run_info

ACCEPTED = "a run folder (results/<run_id>/), a folder of run folders, a cells*.jsonl file or a pytest-benchmark .json file"
TIMING_KEYS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "iterations", "ops")


class ResultFileError(ValueError):
    """A path that is not a result file or folder; the message is one line and names the path."""


@dataclass
class Results:
    cells: list[CellRecord] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # run.json contents (and what pytest-benchmark JSON says of its run)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the reader should know (a truncated last line...)

    @property
    def records(self) -> list[dict]:
        """The cells as the plain dicts they were written as."""
        return [cell.to_dict() for cell in self.cells]


def load_results(paths: list[str | Path]) -> Results:
    """Every cell record found under ``paths``, deduplicated; raises ResultFileError on a bad path."""
    if not paths:
        raise ResultFileError(f"no result given (expected {ACCEPTED})")
    results = Results()
    for path in paths:
        try:
            _load_path(Path(path), results)
        except RecordFileError as exc:
            raise ResultFileError(str(exc)) from None
    results.cells = _deduplicate(results.cells)
    if not results.cells:
        raise ResultFileError(f"{', '.join(results.sources)}: no cell records found (expected {ACCEPTED})")
    runs = {}
    for run in results.runs:
        runs.setdefault(str(run.get("run_id")), run)
    results.runs = [runs[key] for key in sorted(runs)]
    return results


def _load_path(path: Path, results: Results) -> None:
    if not path.exists():
        raise ResultFileError(f"{path}: no such file or folder (expected {ACCEPTED})")
    if path.is_dir():
        _load_folder(path, results)
    elif path.name == "run.json":
        _load_folder(path.parent, results)
    elif path.suffix == ".jsonl":
        results.sources.append(str(path))
        _read_jsonl(path, results)
    elif path.suffix == ".json":
        results.sources.append(str(path))
        _read_benchmark_json(path, results)
    else:
        raise ResultFileError(f"{path}: not a result file (expected {ACCEPTED})")


def _load_folder(path: Path, results: Results) -> None:
    cells = sorted(path.glob("cells*.jsonl"))
    if cells:
        results.sources.append(str(path))
        run_json = path / "run.json"
        if run_json.exists():
            _read_json(run_json)  # a file that is not JSON says so in this reader's words
            results.runs.append(read_run_info(run_json).to_dict())
        for cell_file in cells:
            _read_jsonl(cell_file, results)
        return
    run_folders = sorted(p for p in path.iterdir() if p.is_dir() and any(p.glob("cells*.jsonl")))
    if not run_folders:
        raise ResultFileError(f"{path}: folder holds no cells*.jsonl and no run folders (expected {ACCEPTED})")
    for folder in run_folders:
        _load_folder(folder, results)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ResultFileError(f"{path}: not a text file (expected {ACCEPTED})") from None
    except json.JSONDecodeError as exc:
        raise ResultFileError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno}; expected {ACCEPTED})") from None
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot be read ({exc.strerror})") from None


def _read_jsonl(path: Path, results: Results) -> None:
    cells = read_cells(path, REQUIRED_PROBLEM_FIELDS)
    results.cells.extend(cells.records)
    results.notes.extend(cells.notes)


def _read_benchmark_json(path: Path, results: Results) -> None:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ResultFileError(f"{path}: not a result file (a JSON file must be pytest-benchmark output with a 'benchmarks' list)")
    found = 0
    for index, bench in enumerate(data["benchmarks"]):
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or "impl" not in info:
            continue  # a benchmark from some other suite: not ours to report
        cell = check_record(dict(info), f"{path}: benchmark {index} ({bench.get('name', '?')})", REQUIRED_PROBLEM_FIELDS)
        stats = bench.get("stats") or {}
        if cell.time is None:
            cell.time = {key: stats[key] for key in TIMING_KEYS if key in stats}
            if "data" in stats:
                cell.time["data"] = stats["data"]
        if cell.machine is None:
            cell.machine = _machine_from_benchmark(data.get("machine_info") or {})
        results.cells.append(cell)
        found += 1
    if not found:
        raise ResultFileError(f"{path}: pytest-benchmark file without attnbench cells (no benchmark has extra_info with an impl)")
    commit = data.get("commit_info") or {}
    run_ids = sorted({str(cell.run_id) for cell in results.cells[-found:]})
    for run_id in run_ids:
        results.runs.append({"run_id": run_id, "started": data.get("datetime"), "commit": (commit.get("id") or "")[:12] or None,
                             "machine": _machine_from_benchmark(data.get("machine_info") or {})})


def _machine_from_benchmark(info: dict) -> dict:
    cpu = info.get("cpu") or {}
    return {"host": info.get("node"), "cpu": cpu.get("brand_raw") if isinstance(cpu, dict) else None}


def _deduplicate(cells: list[CellRecord]) -> list[CellRecord]:
    """One record per (run, suite, cell); a record with raw timing samples wins over one without."""
    chosen: dict[tuple, CellRecord] = {}
    order = []
    for cell in cells:
        key = cell.key()
        if key not in chosen:
            order.append(key)
            chosen[key] = cell
        elif "data" in (cell.time or {}) and "data" not in (chosen[key].time or {}):
            chosen[key] = cell
    return [chosen[key] for key in order]
