"""Build one report: result files → tidy frame (CSV) → self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from .answer import reading_order, with_questions
from .context import make_context
from .frame import tidy_frame
from .html import page
from .load import Results, load_results
from .plots import palette
from .quality import assess
from .repeats import combine_repeats
from .sections import ORDER
from .verdict import verdicts

DEFAULT_BASELINE = "sdpa"
GENERATED = Path(__file__).resolve().parent / "generated"
SUMMARY = "summary.txt"  # the run's verdict, one paragraph per device, beside the page


def with_counted(frame, ran):
    """The frame as cells.csv has it: ``question``, ``counted`` (the measurement the page counts for its cell),
    ``front`` (on its shape's Pareto front, as drawn) and ``error_rank`` (the error the front ranks)."""
    frame = with_questions(frame)
    frame["counted"] = frame.index.isin(ran.index)
    frame["front"] = False
    frame.loc[ran.index, "front"] = ran["front"].astype(bool)
    frame["error_rank"] = ran["error_rank"].reindex(frame.index)
    return frame


def build_report(results: list[str | Path], out_dir: str | Path, baseline: str = DEFAULT_BASELINE) -> Path:
    """Write ``index.html`` and ``cells.csv`` into ``out_dir``; returns the page's path.

    Raises ``reports.load.ResultFileError`` (one line, naming the file) when an input is not a result.
    The same inputs give byte-identical files.
    """
    return build_from(load_results(list(results)), out_dir, baseline)


def build_from(loaded: Results, out_dir: str | Path, baseline: str = DEFAULT_BASELINE) -> Path:
    """Like build_report, from results already loaded."""
    out_dir = Path(out_dir)
    frame = tidy_frame(assess(combine_repeats(loaded.records)))  # repeats merged with intervals; quality flags
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = make_context(frame, loaded.runs, baseline, palette(frame["impl"]), out_dir, loaded.notes)
    with_counted(frame, ctx.ran).to_csv(out_dir / "cells.csv", index=False)
    (out_dir / SUMMARY).write_text("\n\n".join(verdicts(reading_order(ctx.answer))) + "\n", encoding="utf-8")
    sections = [s for s in (module.render(ctx) for module in ORDER) if s is not None]
    machines = sorted(set(frame["machine"]))
    devices = sorted(set(frame["device_label"]))
    runs = sorted(set(frame["run_id"].dropna().astype(str)))
    title = "attnbench report" + (f" — {runs[0]}" if len(runs) == 1 else f" — {len(runs)} runs merged")
    subtitle = (f"{len(frame)} cells from {len(runs)} run(s) on {len(machines)} machine(s) and {len(devices)} device(s); "
                f"baseline {baseline}. The frame behind every number is cells.csv beside this page.")
    index = out_dir / "index.html"
    index.write_text(page(title, subtitle, sections), encoding="utf-8")
    return index


def default_out_dir(loaded: Results) -> Path:
    """reports/generated/<run_id> for one run; reports/generated/merged-<first>-<n>runs for several."""
    frame_runs = sorted({str(r.get("run_id")) for r in loaded.records})
    if len(frame_runs) == 1:
        return GENERATED / frame_runs[0]
    return GENERATED / f"merged-{frame_runs[0]}-{len(frame_runs)}runs"
