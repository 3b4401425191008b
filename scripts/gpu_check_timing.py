"""gpu_check's timing cross-check: a few sweep cells timed again, independently of the sweep.

On CUDA by ``triton.testing.do_bench`` (L2 flushed, median) and by our CUDA-event timer; on the
CPU by ``torch.utils.benchmark``. Each row puts those next to the sweep's own numbers.
"""

from __future__ import annotations

import importlib.util

# Cells re-timed, most interesting first; flex is left out (a fresh process would compile it again).
CROSSCHECK_PREFERENCE = ("sdpa-flash", "sdpa-cudnn", "sdpa-efficient", "sdpa", "naive", "sdpa-math", "xformers")
CROSSCHECK_CELLS = 4
TIMING_TOLERANCE = 0.15  # ours vs the reference: a larger gap is flagged (a warning: timings are noisy, not wrong)


def pick_crosscheck_cells(records: list[dict], count: int = CROSSCHECK_CELLS) -> list[dict]:
    ok = [r for r in records if r.get("status") == "ok" and r.get("impl") in CROSSCHECK_PREFERENCE]
    ok.sort(key=lambda r: (CROSSCHECK_PREFERENCE.index(r["impl"]), -r["problem"]["seq_len"], r["problem"]["mode"]))
    chosen, seen_modes = [], {}
    for record in ok:  # spread over impls and modes rather than the first impl's every cell
        key = (record["impl"], record["problem"]["mode"])
        if key in seen_modes:
            continue
        seen_modes[key] = True
        chosen.append(record)
        if len(chosen) == count:
            break
    return chosen


def crosscheck_cell(record: dict) -> dict:
    """Re-time one sweep cell: do_bench and our event timer on CUDA, torch.utils.benchmark on the CPU."""
    import torch

    from bench.timing import timed_callable
    from impls import Problem, get

    problem = Problem.from_dict(record["problem"])
    impl = get(record["impl"])
    q, k, v = problem.make_inputs(seed=0)
    grad_out = problem.make_grad_output(seed=0) if problem.needs_grad else None
    call = timed_callable(problem, impl.build(problem, q, k, v), q, k, v, grad_out, synchronized=False)
    row = {"cell": f"{record['impl']} L{problem.seq_len} {problem.mode}", "sweep_bench_s": record["time"]["median"],
           "sweep_event_s": (record.get("cuda") or {}).get("event_median_s")}
    if problem.device_type == "cuda":
        from bench.devices.cuda_timing import L2Flusher, flush_bytes_for, l2_cache_bytes, time_with_events

        flush = L2Flusher(problem.device, flush_bytes_for(l2_cache_bytes(problem.device)))
        row["events_s"] = time_with_events(call, problem.device, rounds=100, flush=flush).median_s
        row["reference_s"], row["reference"] = do_bench_seconds(call)
    else:
        import torch.utils.benchmark as torch_benchmark

        timer = torch_benchmark.Timer(stmt="call()", globals={"call": call}, num_threads=torch.get_num_threads())
        row["reference_s"], row["reference"] = timer.blocked_autorange(min_run_time=0.2).median, "torch.utils.benchmark"
        row["events_s"] = None
    ours = row["events_s"] if row["events_s"] is not None else row["sweep_bench_s"]
    row["ratio"] = ours / row["reference_s"] if row["reference_s"] else None
    return row


def do_bench_seconds(call) -> tuple[float | None, str]:
    if importlib.util.find_spec("triton") is None:
        return None, "missing-package: triton"
    import inspect

    from triton.testing import do_bench

    kwargs = {"warmup": 25, "rep": 100}
    if "return_mode" in inspect.signature(do_bench).parameters:
        kwargs["return_mode"] = "median"
    else:
        kwargs["quantiles"] = [0.5]
    result = do_bench(call, **kwargs)
    milliseconds = result[0] if isinstance(result, (list, tuple)) else result
    return float(milliseconds) / 1e3, "triton.testing.do_bench"


def crosscheck(records: list[dict]) -> tuple[str, str, list[dict]]:
    """(status, detail, rows): ok, warn (a gap beyond TIMING_TOLERANCE), failed (a cell raised) or skipped."""
    cells = pick_crosscheck_cells(records)
    if not cells:
        return "skipped", "no measured cell to re-time (did the sweep run?)", []
    rows = []
    for record in cells:
        try:
            rows.append(crosscheck_cell(record))
        except Exception as exc:  # noqa: BLE001 - one cell's failure is reported in its row
            rows.append({"cell": f"{record['impl']} L{record['problem']['seq_len']} {record['problem']['mode']}",
                         "error": f"{type(exc).__name__}: {' '.join(str(exc).split())[:150]}"})
    off = [r for r in rows if r.get("ratio") is not None and abs(r["ratio"] - 1) > TIMING_TOLERANCE]
    errors = [r for r in rows if "error" in r]
    status = "failed" if errors else ("warn" if off else "ok")
    detail = f"{len(rows)} cells; {len(off)} beyond ±{TIMING_TOLERANCE:.0%}" + (f"; {len(errors)} errors" if errors else "")
    return status, detail, rows
