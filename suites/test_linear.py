"""linear suite: the linear and low-rank family against SDPA, from short to very long sequences.

Every cell records time, peak memory and the error against the float64 softmax oracle (a metric
for these approximations). Each cell's ``extra`` has ``uniform_error``, the error of uniform
attention (the mean of the values a row may see) on the same rows, the level an approximation
must beat to say anything, and ``sdpa_median_s`` and ``speedup_vs_sdpa`` for the same problem
when SDPA ran. At the end of the module a summary is printed and written
beside the run (``linear_summary.json`` and ``.md``): per (shape, mask, mode) and member, the time
and speed-up at L=16384 (or the longest measured), the fitted exponents of time and peak memory against L (over
L ≥ 1024), the crossover length where it overtakes SDPA, and its error.

    python -m pytest --benchmark-only --attn-preset linear suites/test_linear.py
    python -m suites.test_linear results/<run> [results/<run> ...]     # the summary again, over several runs

SDPA at the longest lengths is over the preset's budget and is skipped with that reason; speed-ups
and crossovers use the lengths where both ran. performer-pytorch's causal path (without
fast-transformers' CUDA kernel) is a pure-PyTorch fallback about 50× slower than its non-causal one,
so its causal cells stop at L=8192.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
import torch

from bench.oracle_check import sample_rows
from bench.presets import Grid
from bench.run_cell import run_cell
from bench.stash import SESSION_KEY
from impls import errors, reference

SUITE = "linear"
MEMBERS = ("linear", "performer[m=256]", "performer-pytorch[m=256]", "linformer[k=256]", "nystrom[m=64]")
CAUSAL_MEMBERS = ("linear", "performer[m=256]")
LENGTHS = (128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
SHORTER = tuple(n for n in LENGTHS if n <= 8192)
REFERENCE_LENGTH = 16384
FIT_FROM = 1024  # exponents are fitted over L >= this (short lengths are dominated by fixed costs)

GRIDS = {
    "smoke": [
        Grid(impls=("sdpa", "linear", "performer[m=64]", "performer-pytorch[m=64]", "linformer[k=64]", "nystrom[m=16]"),
             seq_lens=(256,), heads=(2,), head_dims=(32,), modes=("fwd", "fwd+bwd")),
        Grid(impls=("sdpa", "linear", "performer[m=64]"), seq_lens=(256,), heads=(2,), head_dims=(32,),
             masks=("causal",), modes=("fwd", "fwd+bwd")),
    ],
    "linear": [
        Grid(impls=("sdpa",) + MEMBERS, seq_lens=LENGTHS),
        Grid(impls=("sdpa",) + CAUSAL_MEMBERS, seq_lens=LENGTHS, masks=("causal",)),
        Grid(impls=("performer-pytorch[m=256]",), seq_lens=SHORTER, masks=("causal",)),
        Grid(impls=("sdpa",) + MEMBERS, seq_lens=LENGTHS, modes=("fwd+bwd",)),
        Grid(impls=("sdpa",) + CAUSAL_MEMBERS, seq_lens=LENGTHS, masks=("causal",), modes=("fwd+bwd",)),
    ],
}

# SDPA's median per problem in this process; cells are problem-major with SDPA first in each grid.
_SDPA_MEDIANS: dict = {}


def uniform_output(problem, v: torch.Tensor, rows: torch.Tensor | None) -> torch.Tensor:
    """Uniform attention, the mean of the values each row may see (float64, on the CPU like the oracle's
    answer): the error any approximation should beat to be informative. Rows are ``rows`` (the harness's
    sample) or all."""
    values = v.detach().to(device="cpu", dtype=torch.float64)
    rows = torch.arange(problem.seq_len) if rows is None else rows.cpu()
    if problem.mask_kind == "causal":
        last = rows.clamp(max=problem.kv_seq_len - 1)
        means = values.cumsum(dim=2)[:, :, last] / (last + 1).to(values.dtype)[:, None]
    elif problem.mask_kind == "padding":
        lengths = torch.tensor(problem.mask.lengths)
        kept = torch.arange(problem.kv_seq_len)[None, :] < lengths[:, None]
        means = (values * kept[:, None, :, None]).sum(2, keepdim=True) / lengths[:, None, None, None]
    else:
        means = values.mean(dim=2, keepdim=True)
    return means.repeat_interleave(problem.gqa_ratio, dim=1).expand(-1, -1, rows.numel(), -1)


def linear_metrics(attn):
    def extra(run) -> dict:
        problem, impl = run.cell.problem, run.cell.impl
        median = run.record.get("time", {}).get("median")
        facts: dict = {}
        if problem.mask_kind in ("none", "causal", "padding"):
            rows = sample_rows(problem)
            expected = attn.oracle.get((problem.with_(dropout=0.0), attn.seed), "out", lambda: reference(problem, *run.inputs, rows=rows))
            facts["uniform_error"] = errors(uniform_output(problem, run.inputs[2], rows), expected.cpu())
        if impl.name == "sdpa":
            _SDPA_MEDIANS[problem] = median
            return facts
        if hasattr(impl, "block"):
            facts["block_rows"] = impl.block(problem)
        sdpa = _SDPA_MEDIANS.get(problem)
        if sdpa and median:
            facts.update(sdpa_median_s=sdpa, speedup_vs_sdpa=sdpa / median)
        return facts
    return extra


def test_linear(benchmark, cell, attn):
    run_cell(benchmark, cell, attn, extra=linear_metrics(attn))


# --- the summary ---------------------------------------------------------------------------------------
def read_records(run_dirs) -> list[dict]:
    records = []
    for run_dir in run_dirs:
        for path in sorted(Path(run_dir).glob("cells*.jsonl")):
            for line in path.read_text().splitlines():
                record = json.loads(line)
                if record.get("suite") == SUITE:
                    records.append(record)
    return records


def shape_of(problem: dict) -> str:
    kv = f"/{problem['kv_heads']}" if problem["kv_heads"] != problem["heads"] else ""
    return f"b{problem['batch']} h{problem['heads']}{kv} d{problem['head_dim']} {problem['dtype']}"


def summarize(records: list[dict]) -> list[dict]:
    """One row per (shape, mask, mode, member): time and speed-up at the reference length, exponents, crossover, error."""
    from reports.scaling import crossover, fit_power_law

    # (shape, mask, mode, impl) -> {L: record}. Of repeated measurements of a cell (several runs) the fastest
    # median is kept: on a shared machine other work only ever slows a cell down.
    ran: dict = {}
    for r in records:
        p = r["problem"]
        if r["status"] == "ok" and p["seq_len"] == p["kv_seq_len"]:
            cells = ran.setdefault((shape_of(p), p["mask_kind"], p["mode"], r["impl"]), {})
            kept = cells.get(p["seq_len"])
            if kept is None or r["time"]["median"] < kept["time"]["median"]:
                cells[p["seq_len"]] = r
    rows = []
    for (shape, mask, mode, impl), by_length in sorted(ran.items()):
        if impl == "sdpa":
            continue
        baseline = ran.get((shape, mask, mode, "sdpa"), {})
        lengths = sorted(by_length)
        median = {n: by_length[n]["time"]["median"] for n in lengths}
        long = [n for n in lengths if n >= FIT_FROM]
        time_fit = fit_power_law(long, [median[n] for n in long])
        memory_fit = fit_power_law(long, [by_length[n].get("peak_bytes") or math.nan for n in long])
        common = [n for n in lengths if n in baseline]
        cross = crossover(common, [median[n] for n in common], [baseline[n]["time"]["median"] for n in common])
        reference = REFERENCE_LENGTH if REFERENCE_LENGTH in by_length else lengths[-1]
        at, sdpa_at = by_length[reference], baseline.get(reference)
        rows.append({
            "shape": shape, "mask": mask, "mode": mode, "impl": impl, "lengths": f"{lengths[0]}..{lengths[-1]}",
            "reference_length": reference, "time_s": at["time"]["median"],
            "sdpa_s": sdpa_at["time"]["median"] if sdpa_at else None,
            "speedup": sdpa_at["time"]["median"] / at["time"]["median"] if sdpa_at else None,
            "time_exponent": time_fit.exponent if time_fit else None,
            "memory_exponent": memory_fit.exponent if memory_fit else None,
            "crossover": cross.text(), "crossover_length": cross.length,
            "rel_l2": at["error"]["output"]["rel_l2"], "peak_bytes": at.get("peak_bytes"),
            "uniform_rel_l2": at.get("extra", {}).get("uniform_error", {}).get("rel_l2"),
        })
    return rows


def summary_markdown(rows: list[dict]) -> str:
    def fmt(value, pattern):
        return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else pattern.format(value)

    header = (f"| shape | mask | mode | impl | L measured | at L | time | sdpa | speed-up | time exp. (L≥{FIT_FROM}) | "
              "memory exp. | overtakes sdpa | rel-L2 vs softmax | uniform attention's |")
    lines = [header, "|" + "---|" * 14]
    for r in rows:
        lines.append(f"| {r['shape']} | {r['mask']} | {r['mode']} | {r['impl']} | {r['lengths']} | {r['reference_length']} | "
                     f"{fmt(r['time_s'], '{:.4g} s')} | {fmt(r['sdpa_s'], '{:.4g} s')} | {fmt(r['speedup'], '{:.1f}×')} | "
                     f"{fmt(r['time_exponent'], '{:.2f}')} | {fmt(r['memory_exponent'], '{:.2f}')} | {r['crossover']} | "
                     f"{fmt(r['rel_l2'], '{:.3g}')} | {fmt(r['uniform_rel_l2'], '{:.3g}')} |")
    return "\n".join(lines)


def write_summary(run_dirs, out_dir: Path | None = None) -> str:
    rows = summarize(read_records(run_dirs))
    text = summary_markdown(rows)
    if out_dir is not None and rows:
        (out_dir / "linear_summary.json").write_text(json.dumps(rows, indent=2))
        (out_dir / "linear_summary.md").write_text(text + "\n")
    return text


class _SummaryPrinter:
    """Prints the summary in pytest's terminal summary (registered once, at the end of this module)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def pytest_terminal_summary(self, terminalreporter):
        terminalreporter.write_sep("-", "linear suite summary")
        for line in self.text.splitlines():
            terminalreporter.write_line(line)


@pytest.fixture(scope="module", autouse=True)
def linear_summary(request):
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
        text = f"linear summary not computed ({exc})"
    if text.count("\n") >= 2:
        request.config.pluginmanager.register(_SummaryPrinter(text), "attnbench-linear-summary")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m suites.test_linear RESULTS_RUN_DIR [RESULTS_RUN_DIR ...]")
    print(write_summary(sys.argv[1:]))
