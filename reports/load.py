"""Read result files into plain cell records (dicts), whatever form they come in.

Accepted inputs, any mix of them:
- a run folder ``results/<run_id>/`` (its ``run.json`` and every ``cells*.jsonl``, one per xdist worker),
- a folder holding run folders (``results/``),
- one ``cells*.jsonl`` file,
- a pytest-benchmark JSON file (``results/benchmarks/<machine>/NNNN_*.json``): each benchmark's
  ``extra_info`` is the cell record and its ``stats`` are the timing.

A file that is none of these raises ResultFileError, whose message is one line naming the file.
The same cell seen twice (a run folder and its pytest-benchmark JSON) is kept once, preferring the
JSONL record, which also holds the raw timing samples.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

ACCEPTED = "a run folder (results/<run_id>/), a folder of run folders, a cells*.jsonl file or a pytest-benchmark .json file"
# Keys every cell record has (see suites/session.py base_record); enough to tell a record from other JSON.
REQUIRED_KEYS = ("impl", "problem", "status")
TIMING_KEYS = ("min", "max", "mean", "stddev", "median", "iqr", "q1", "q3", "rounds", "iterations", "ops")


class ResultFileError(ValueError):
    """A path that is not a result file or folder; the message is one line and names the path."""


@dataclass
class Results:
    records: list[dict] = field(default_factory=list)
    runs: list[dict] = field(default_factory=list)  # run.json contents (and what pytest-benchmark JSON says of its run)
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # things the reader should know (a truncated last line...)


def load_results(paths: list[str | Path]) -> Results:
    """Every cell record found under ``paths``, deduplicated; raises ResultFileError on a bad path."""
    if not paths:
        raise ResultFileError(f"no result given (expected {ACCEPTED})")
    results = Results()
    for path in paths:
        _load_path(Path(path), results)
    results.records = _deduplicate(results.records)
    if not results.records:
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
        results.records.extend(_read_jsonl(path, results))
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
            results.runs.append(_read_json(run_json))
        for cell_file in cells:
            results.records.extend(_read_jsonl(cell_file, results))
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


def _read_jsonl(path: Path, results: Results) -> list[dict]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise ResultFileError(f"{path}: not a text file (expected {ACCEPTED})") from None
    except OSError as exc:
        raise ResultFileError(f"{path}: cannot be read ({exc.strerror})") from None
    numbered = [(number, line) for number, line in enumerate(lines, 1) if line.strip()]
    records = []
    for position, (number, line) in enumerate(numbered):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if position == len(numbered) - 1 and records:
                # An interrupted run can leave its last line half-written; everything before it is whole.
                results.notes.append(f"{path}: line {number} is incomplete (interrupted run?) and was left out")
                continue
            raise ResultFileError(f"{path}: line {number} is not JSON (expected one cell record per line)") from None
        _check_record(record, path, f"line {number}")
        records.append(record)
    return records


def _check_record(record, path: Path, where: str) -> None:
    if not isinstance(record, dict):
        raise ResultFileError(f"{path}: {where} is not a cell record (a JSON object with {', '.join(REQUIRED_KEYS)})")
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing or not isinstance(record.get("problem"), dict):
        raise ResultFileError(f"{path}: {where} is not a cell record (missing {', '.join(missing) or 'problem object'})")


def _read_benchmark_json(path: Path, results: Results) -> None:
    data = _read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("benchmarks"), list):
        raise ResultFileError(f"{path}: not a result file (a JSON file must be pytest-benchmark output with a 'benchmarks' list)")
    found = 0
    for index, bench in enumerate(data["benchmarks"]):
        info = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(info, dict) or "impl" not in info:
            continue  # a benchmark from some other suite: not ours to report
        record = dict(info)
        _check_record(record, path, f"benchmark {index} ({bench.get('name', '?')})")
        stats = bench.get("stats") or {}
        record.setdefault("time", {key: stats[key] for key in TIMING_KEYS if key in stats})
        if "data" in stats:
            record["time"]["data"] = stats["data"]
        record.setdefault("machine", _machine_from_benchmark(data.get("machine_info") or {}))
        results.records.append(record)
        found += 1
    if not found:
        raise ResultFileError(f"{path}: pytest-benchmark file without attnbench cells (no benchmark has extra_info with an impl)")
    commit = data.get("commit_info") or {}
    run_ids = sorted({str(r.get("run_id")) for r in results.records[-found:]})
    for run_id in run_ids:
        results.runs.append({"run_id": run_id, "started": data.get("datetime"), "commit": (commit.get("id") or "")[:12] or None,
                             "machine": _machine_from_benchmark(data.get("machine_info") or {})})


def _machine_from_benchmark(info: dict) -> dict:
    cpu = info.get("cpu") or {}
    return {"host": info.get("node"), "cpu": cpu.get("brand_raw") if isinstance(cpu, dict) else None}


def _deduplicate(records: list[dict]) -> list[dict]:
    """One record per (run, suite, cell); a record with raw timing samples wins over one without."""
    chosen: dict[tuple, dict] = {}
    order = []
    for record in records:
        key = (record.get("run_id"), record.get("suite"), record.get("cell_id") or json.dumps(record.get("problem"), sort_keys=True)
               + str(record.get("impl")))
        if key not in chosen:
            order.append(key)
            chosen[key] = record
        elif "data" in (record.get("time") or {}) and "data" not in (chosen[key].get("time") or {}):
            chosen[key] = record
    return [chosen[key] for key in order]
