"""Which cells a sweep runs when it is one shard of a fleet or continues an interrupted run.

- ``--attn-cells FILE``: only the cells listed, one per line: ``<suite> <cell id>`` or a bare cell
  id (any suite); blank lines and ``#`` comments are ignored.
- ``--attn-resume RUN``: skip the cells RUN already finished (any recorded outcome: ran, skipped,
  failed, oom) for the same problem, implementation, device and commit; a cell that was in flight
  when the run stopped has no record and runs again. New records go into RUN unless
  ``--attn-run-id`` names another run.

Plain functions on paths and records, no pytest; the plugin (bench/resume_plugin.py) applies them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path


class ResumeError(ValueError):
    """A bad --attn-cells file or --attn-resume run; the message is one line."""


@dataclass(frozen=True)
class CellSelection:
    """Cells named by a file: (suite, cell id) pairs and bare ids that match in any suite."""

    in_suite: frozenset[tuple[str, str]]
    any_suite: frozenset[str]

    def __contains__(self, suite_and_id: tuple[str, str]) -> bool:
        return suite_and_id in self.in_suite or suite_and_id[1] in self.any_suite

    def __len__(self) -> int:
        return len(self.in_suite) + len(self.any_suite)


def read_cell_selection(path: str | Path) -> CellSelection:
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ResumeError(f"--attn-cells: cannot read {path} ({exc.strerror}; expected a file of cell ids, one per line)") from None
    in_suite, any_suite = set(), set()
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.split()
        if len(parts) == 1:
            any_suite.add(parts[0])
        elif len(parts) == 2:
            in_suite.add((parts[0], parts[1]))
        else:
            raise ResumeError(f"--attn-cells: {path} line {number}: {text!r} (expected '<suite> <cell id>' or '<cell id>')")
    return CellSelection(frozenset(in_suite), frozenset(any_suite))


def write_cell_selection(path: str | Path, cells: list[tuple[str, str]]) -> None:
    Path(path).write_text("".join(f"{suite} {cell_id}\n" for suite, cell_id in cells), encoding="utf-8")


def problem_key(problem: dict) -> str:
    return json.dumps(problem, sort_keys=True, default=str)


def cell_key(suite: str, impl: str, problem: dict, commit: str | None, repeat: int | None = None) -> tuple:
    """What makes two measurements the same cell: suite, implementation, full problem (device included), commit,
    and under --attn-repeat the repeat (a cell finished in repeat 1 still owes its later repeats)."""
    return (suite, impl, problem_key(problem), commit, repeat)


@dataclass
class RunToResume:
    run_dir: Path
    run_id: str
    finished: set[tuple] = field(default_factory=set)
    records: int = 0
    commits: set[str | None] = field(default_factory=set)


def locate_run(run: str, results_dir: Path) -> Path:
    """A run folder given as a path, or a run id under the results directory."""
    candidate = Path(run)
    if candidate.is_dir() and (any(candidate.glob("cells*.jsonl")) or (candidate / "run.json").exists()
                               or (candidate / "fleet").is_dir()):
        return candidate
    folder = Path(results_dir) / run
    if folder.is_dir():
        return folder
    known = sorted((p.name for p in Path(results_dir).iterdir() if p.is_dir() and any(p.glob("cells*.jsonl"))),
                   reverse=True) if Path(results_dir).is_dir() else []
    hint = f" (latest runs there: {', '.join(known[:3])})" if known else ""
    raise ResumeError(f"--attn-resume: no run {run!r}: neither a run folder nor a run id under {results_dir}{hint}")


def read_run(run_dir: Path) -> RunToResume:
    """The keys of every cell the run recorded, from all of its cells*.jsonl files."""
    from store.records import RecordFileError
    from store.records import read_run as read_run_folder

    try:
        info, records, _notes = read_run_folder(run_dir)
    except RecordFileError as exc:
        raise ResumeError(f"--attn-resume: {exc}") from None
    state = RunToResume(run_dir, (info.run_id if info else None) or run_dir.name)
    for record in records:
        state.finished.add(cell_key(record.suite, record.impl, record.problem, record.commit, record.fields.get("repeat")))
        state.commits.add(record.commit)
        state.records += 1
    return state
