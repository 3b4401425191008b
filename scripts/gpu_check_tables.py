"""gpu_check's tables: plain text, fixed-width, printed last."""

from __future__ import annotations

from gpu_check_timing import TIMING_TOLERANCE


def render_table(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in column) for column in zip(headers, *rows)] if rows else [len(h) for h in headers]
    line = lambda cells: "  ".join(str(c).ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _ms(seconds) -> str:
    return f"{seconds * 1e3:.3f}" if isinstance(seconds, (int, float)) else "-"


def correctness_table(outcomes: list[dict]) -> str:
    dtypes = sorted({o["dtype"] for o in outcomes}, key=("bfloat16", "float16", "float32").index)
    rows = []
    for impl in sorted({o["impl"] for o in outcomes}):
        cells = []
        for dtype in dtypes:
            mine = [o for o in outcomes if o["impl"] == impl and o["dtype"] == dtype]
            counts = {kind: sum(o["outcome"] == kind for o in mine) for kind in ("passed", "failed", "skipped")}
            text = f"{counts['passed']} ok" + (f" {counts['failed']} FAIL" if counts["failed"] else "") + \
                (f" {counts['skipped']} skip" if counts["skipped"] else "")
            cells.append(text if mine else "-")
        rows.append([impl, *cells])
    return render_table(["impl", *dtypes], rows)


def sweep_table(records: list[dict]) -> str:
    rows = []
    for r in sorted(records, key=lambda r: (r["impl"], r["problem"]["seq_len"], r["problem"]["mode"])):
        cuda = r.get("cuda") or {}
        if r["status"] != "ok":
            rows.append([r["impl"], r["problem"]["seq_len"], r["problem"]["mode"], r["status"] + ": " + str(r.get("reason_code")),
                         *["-"] * 7])
            continue
        agreement = cuda.get("agreement")
        rows.append([r["impl"], r["problem"]["seq_len"], r["problem"]["mode"], _ms(r["time"]["median"]), _ms(cuda.get("event_median_s")),
                     f"{agreement:.2f}" if agreement else "-", _ms(cuda.get("graph_median_s")) if "graph_median_s" in cuda else "-",
                     f"{r.get('flops_per_s', 0) / 1e12:.2f}", f"{100 * r.get('peak_fraction', 0):.0f}%",
                     f"{100 * r['bandwidth_fraction']:.0f}%" if r.get("bandwidth_fraction") else "-",
                     ("THROTTLED " if cuda.get("throttled") else "") + str(cuda.get("sm_clock_mhz") or "-")])
    return render_table(["impl", "L", "mode", "bench ms", "event ms", "ev/bench", "graph ms", "TFLOP/s", "%peak", "%bw", "SM MHz"], rows)


def crosscheck_table(rows: list[dict]) -> str:
    body = []
    for r in rows:
        if "error" in r:
            body.append([r["cell"], r["error"], "", "", "", "", ""])
            continue
        ratio = r.get("ratio")
        flag = "" if ratio is None or abs(ratio - 1) <= TIMING_TOLERANCE else " !"
        body.append([r["cell"], _ms(r.get("reference_s")), _ms(r.get("events_s")), _ms(r.get("sweep_event_s")), _ms(r.get("sweep_bench_s")),
                     (f"{ratio:.3f}" if ratio else "-") + flag, r.get("reference", "")])
    return render_table(["cell", "ref ms", "events ms", "sweep ev ms", "sweep bench ms", "ours/ref", "reference"], body)


def summary_table(steps: list) -> str:
    """One row per step (gpu_check.StepResult: name, status, seconds, detail)."""
    return render_table(["step", "status", "seconds", "detail"], [[s.name, s.status, f"{s.seconds:.0f}", s.detail] for s in steps])
