"""sparse suite: our sparse kernels against SDPA and compiled FlexAttention, and the exact sparse masks.

The headline grid is a causal problem (heads=8, head_dim=64, fp32) from L=1024 to 16384, solved
exactly by ``sdpa`` (is_causal) and approximated by a causal window of w=256 keys: our banded kernel
(``sliding-window[w=256]``), compiled FlexAttention with the same window as a block mask
(``flex-sliding-window[w=256]``) and lucidrains' ``local-attention[w=256]`` when installed. The other
grids solve sparse masks exactly: a window, Sparse Transformer's strided and fixed layouts at block 64,
BigBird and Longformer, each by our kernels, by FlexAttention and densely by SDPA; and one fwd+bwd grid.

Each cell's ``extra`` has ``sdpa_median_s`` and ``speedup_vs_sdpa`` for the same problem. At the end a
summary is printed and written beside the run (``sparse_summary.md`` and ``.json``): per member of the
headline grid, time, speed-up over sdpa causal and peak memory per L, the fitted exponents of time and
peak memory against L, and the issue's goals with their verdicts.

    python -m pytest --benchmark-only --attn-preset sparse suites/test_sparse.py
    python -m suites.test_sparse results/<run> [results/<run> ...]     # the summary again, from the JSONL
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest

from bench.presets import Grid
from bench.run_cell import run_cell
from bench.stash import SESSION_KEY

SUITE = "sparse"
WINDOW, BLOCK = 256, 64
LENGTHS = (1024, 2048, 4096, 8192, 16384)
OURS, FLEX, PEER = f"sliding-window[w={WINDOW}]", f"flex-sliding-window[w={WINDOW}]", f"local-attention[w={WINDOW}]"
BASELINE = "sdpa"
BIGBIRD = f"bigbird[block={BLOCK},window=3,globals=2,random=3,seed=0]"
LAYOUTS = (f"strided[block={BLOCK}]", f"fixed[block={BLOCK}]", BIGBIRD, f"longformer[w={WINDOW},globals=0]")
EXACT_SPARSE = ("sdpa", "banded", f"block-sparse[block={BLOCK}]", "flex")

GRIDS = {
    "smoke": [
        Grid(impls=("sdpa", "sliding-window[w=32]", "local-attention[w=32]"), seq_lens=(200,), heads=(2,), kv_heads=("h", 1),
             head_dims=(32,), masks=("causal",), modes=("fwd", "fwd+bwd")),
        Grid(impls=("banded", "block-sparse[block=32]", "sdpa"), seq_lens=(200,), heads=(2,), head_dims=(32,),
             masks=("sliding-window[w=32]", "bigbird[block=32,window=3,globals=1,random=2,seed=0]", "longformer[w=16,globals=0/99]")),
    ],
    "sparse": [
        # The goals: a causal problem approximated by a window of 256 keys, against sdpa's causal kernel and flex.
        Grid(impls=(BASELINE, OURS, FLEX, PEER), seq_lens=LENGTHS, masks=("causal",)),
        # The window as the problem's own mask: every kernel is exact, sdpa computes it densely.
        Grid(impls=EXACT_SPARSE, seq_lens=(1024, 4096), masks=(f"sliding-window[w={WINDOW}]",)),
        # Block layouts, BigBird and Longformer, exact, at one length.
        Grid(impls=EXACT_SPARSE, seq_lens=(4096,), masks=LAYOUTS),
        # Training: forward and backward (FlexAttention has no CPU backward; its cells say so).
        Grid(impls=(BASELINE, OURS, FLEX), seq_lens=(1024, 4096), masks=("causal",), modes=("fwd+bwd",)),
    ],
}

# SDPA's median per problem in this process; cells are problem-major with sdpa first in the grids that compare.
_SDPA_MEDIANS: dict = {}


def sparse_facts(run) -> dict:
    problem, impl = run.cell.problem, run.cell.impl
    median = run.record.get("time", {}).get("median")
    if impl.name == BASELINE:
        _SDPA_MEDIANS[problem] = median
        return {}
    facts: dict = {}
    if hasattr(impl, "pattern_problem"):
        facts["pattern"] = impl.pattern_problem(problem).mask.spec()
    sdpa = _SDPA_MEDIANS.get(problem)
    if sdpa and median:
        facts.update(sdpa_median_s=sdpa, speedup_vs_sdpa=sdpa / median)
    return facts


def test_sparse(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=sparse_facts)


# --- the summary ---------------------------------------------------------------------------------------
GOALS_AT = {8192: 4.0, 16384: 8.0}  # minimum speed-up of OURS over sdpa causal at these lengths
MAX_TIME_EXPONENT = 1.15
MAX_MEMORY_EXPONENT = 1.15  # "peak memory grows linearly", with the same allowance for fixed costs


def read_records(run_dirs) -> list[dict]:
    records = []
    for run_dir in run_dirs:
        for path in sorted(Path(run_dir).glob("cells*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("suite") == SUITE:
                    records.append(record)
    return records


def headline(records: list[dict]) -> dict[str, dict[int, dict]]:
    """impl → {L: record} for the goal grid: causal, fwd, h8 d64 fp32, batch 1; a later run of a cell wins."""
    table: dict[str, dict[int, dict]] = {}
    for r in records:
        p = r["problem"]
        if (r["status"] == "ok" and p["mask"] == "causal" and p["mode"] == "fwd" and p["heads"] == 8 and p["head_dim"] == 64
                and p["dtype"] == "float32" and p["batch"] == 1 and p["kv_heads"] == 8 and p["seq_len"] == p["kv_seq_len"]):
            table.setdefault(r["impl"], {})[p["seq_len"]] = r
    return table


def summarize(records: list[dict]) -> dict:
    from reports.scaling import fit_power_law

    table = headline(records)
    baseline = table.get(BASELINE, {})
    rows, fits = [], {}
    for impl, by_length in sorted(table.items(), key=lambda kv: (kv[0] != BASELINE, kv[0])):
        lengths = sorted(by_length)
        for n in lengths:
            r, base = by_length[n], baseline.get(n)
            median = r["time"]["median"]
            rows.append({"impl": impl, "L": n, "time_s": median, "speedup_vs_sdpa": base["time"]["median"] / median if base else None,
                         "peak_bytes": r.get("peak_bytes"), "rel_l2": r["error"]["output"]["rel_l2"]})
        time_fit = fit_power_law(lengths, [by_length[n]["time"]["median"] for n in lengths])
        memory_fit = fit_power_law(lengths, [by_length[n].get("peak_bytes") or math.nan for n in lengths])
        fits[impl] = {"lengths": f"{lengths[0]}..{lengths[-1]}",
                      "time_exponent": time_fit.exponent if time_fit else None, "time_stderr": time_fit.stderr if time_fit else None,
                      "memory_exponent": memory_fit.exponent if memory_fit else None}
    return {"rows": rows, "fits": fits, "goals": goals(table, fits)}


def goals(table, fits) -> list[dict]:
    ours, flex, base = table.get(OURS, {}), table.get(FLEX, {}), table.get(BASELINE, {})
    median = lambda rec: rec["time"]["median"]  # noqa: E731
    verdicts = []
    for length, wanted in GOALS_AT.items():
        got = median(base[length]) / median(ours[length]) if length in ours and length in base else None
        verdicts.append({"goal": f"{OURS} ≥ {wanted:g}× faster than sdpa causal at L={length}", "measured": got,
                         "met": None if got is None else got >= wanted})
    if 8192 in ours and 8192 in flex:
        ratio = median(flex[8192]) / median(ours[8192])
        verdicts.append({"goal": f"{OURS} not slower than {FLEX} at L=8192 (flex time / ours)", "measured": ratio, "met": ratio >= 1.0})
    fit = fits.get(OURS, {})
    for key, limit, text in (("time_exponent", MAX_TIME_EXPONENT, "time"), ("memory_exponent", MAX_MEMORY_EXPONENT, "peak memory")):
        value = fit.get(key)
        verdicts.append({"goal": f"{text} exponent of {OURS} against L ≤ {limit}", "measured": value,
                         "met": None if value is None else value <= limit})
    return verdicts


def summary_markdown(summary: dict) -> str:
    def fmt(value, pattern):
        return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)

    lines = ["causal, batch 1, heads 8, head_dim 64, float32, forward; window w=256 for the window members", "",
             "| impl | L | time | speed-up vs sdpa causal | peak memory | rel-L2 vs causal oracle |", "|---|---|---|---|---|---|"]
    for r in summary["rows"]:
        lines.append(f"| {r['impl']} | {r['L']} | {fmt(r['time_s'] * 1e3, '{:.1f} ms')} | {fmt(r['speedup_vs_sdpa'], '{:.2f}×')} | "
                     f"{fmt((r['peak_bytes'] or math.nan) / 2**20, '{:.1f} MiB')} | {fmt(r['rel_l2'], '{:.3g}')} |")
    lines += ["", "| impl | lengths | time exponent | peak-memory exponent |", "|---|---|---|---|"]
    for impl, f in summary["fits"].items():
        stderr = f" ± {f['time_stderr']:.2f}" if f["time_stderr"] is not None and not math.isnan(f["time_stderr"]) else ""
        lines.append(f"| {impl} | {f['lengths']} | {fmt(f['time_exponent'], '{:.3f}')}{stderr} | {fmt(f['memory_exponent'], '{:.3f}')} |")
    lines += ["", "| goal | measured | met |", "|---|---|---|"]
    for g in summary["goals"]:
        met = "—" if g["met"] is None else ("yes" if g["met"] else "NO")
        lines.append(f"| {g['goal']} | {fmt(g['measured'], '{:.2f}')} | {met} |")
    return "\n".join(lines)


def write_summary(run_dirs, out_dir: Path | None = None) -> str:
    summary = summarize(read_records(run_dirs))
    text = summary_markdown(summary)
    if out_dir is not None and summary["rows"]:
        (out_dir / "sparse_summary.json").write_text(json.dumps(summary, indent=2))
        (out_dir / "sparse_summary.md").write_text(text + "\n")
    return text


class _SummaryPrinter:
    """Prints the summary in pytest's terminal summary (registered once, at the end of this module)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "sparse suite summary")
        for line in self.text.splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def sparse_summary(request):
    yield
    session = request.config.stash.get(SESSION_KEY, None)
    if session is None or not request.config.getoption("benchmark_only", False):
        return
    run_dir = session.writer.run_dir
    if not run_dir.exists():
        return
    try:
        text = write_summary([run_dir], run_dir)
    except ImportError as exc:  # the reports package (numpy) is missing: records are still complete
        text = f"sparse summary not computed ({exc})"
    if "| impl |" in text and summary_has_rows(text):
        request.config.pluginmanager.register(_SummaryPrinter(text), "attnbench-sparse-summary")


def summary_has_rows(text: str) -> bool:
    return any(line.startswith(f"| {BASELINE} |") or line.startswith(f"| {OURS} |") for line in text.splitlines())


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m suites.test_sparse RESULTS_RUN_DIR [RESULTS_RUN_DIR ...]")
    print(write_summary(sys.argv[1:]))
