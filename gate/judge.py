"""From measurements to verdicts: per-benchmark entries, the overall verdict and the exit code."""

from __future__ import annotations

from .margins import error_verdict, memory_verdict
from .stats import Comparison, adjust, timing_verdict

PASS, REGRESSION, INCONCLUSIVE, INFRASTRUCTURE = 0, 1, 2, 3
# Most severe first: a benchmark's verdict is the worst of its time, memory, error and status verdicts.
# "failing": it fails (raises, runs out of memory) on both sides; "not runnable": unsupported or missing on both.
SEVERITY = ("regression", "failing", "inconclusive", "improvement", "new", "not runnable", "unchanged")
RUNS = ("ok",)
FAILS = ("failed", "oom")


def entry(cell: dict, base: dict | None, head: dict) -> dict:
    """A benchmark's skeleton: identity and both sides' setup status, memory and error."""
    base = base or {"status": "missing", "reason": "not measured"}
    result = {"id": cell["id"], "index": cell.get("index"), "impl": cell["impl"], "problem": cell["problem"], "clock": head.get("clock"),
              "status": {"base": base["status"], "head": head["status"]},
              "reason": {"base": base.get("reason"), "head": head.get("reason")}, "notes": []}
    both = base["status"] in RUNS and head["status"] in RUNS
    if base["status"] in RUNS and head["status"] not in RUNS:
        result["notes"].append(f"head {head['status']}: {head.get('reason')} (runs on the base)")
        result["status_verdict"] = "regression"
    elif head["status"] in RUNS and base["status"] not in RUNS:
        result["notes"].append(f"base {base['status']}: {base.get('reason')}")
        result["status_verdict"] = "new"
    elif not both:
        failing = base["status"] in FAILS or head["status"] in FAILS
        result["notes"].append(f"{'fails' if failing else 'cannot run'} on both sides: base {base['status']}: {base.get('reason')}; "
                               f"head {head['status']}: {head.get('reason')}")
        result["status_verdict"] = "failing" if failing else "not runnable"
    if head["status"] in RUNS and head.get("error") and not finite(head["error"]):
        result["error"] = {"verdict": "regression", "base": base.get("error"), "head": head.get("error"),
                           "why": "non-finite on both sides" if base.get("error") and not finite(base["error"]) else
                           "non-finite output on the head (NaN or Inf)", "tolerance": head.get("tolerance")}
        if not both:
            return result
    if both:
        verdict, why = memory_verdict(base.get("peak_bytes"), head.get("peak_bytes"))
        result["memory"] = {"verdict": verdict, "why": why, "base_bytes": base.get("peak_bytes"),
                            "head_bytes": head.get("peak_bytes"), "method": head.get("peak_method")}
        if "error" not in result:
            verdict, why = error_verdict(base.get("error"), head.get("error"), head.get("tolerance"))
            result["error"] = {"verdict": verdict, "why": why, "base": base.get("error"), "head": head.get("error"),
                               "tolerance": head.get("tolerance")}
    return result


def finite(error: dict) -> bool:
    """False when any checked part (output, dq, dk, dv) held NaN or Inf."""
    return all(part.get("finite", True) for part in error.values() if isinstance(part, dict))


def comparable(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["status"]["base"] in RUNS and e["status"]["head"] in RUNS]


def judge_timing(entries: list[dict], comparisons: list[Comparison], floors: list[float], alpha: float) -> list[dict]:
    """Attach timing results (Holm across these benchmarks); returns the entries to confirm: every
    regression and improvement, since either could be one process's luck."""
    adjust(comparisons, alpha)
    flagged = []
    for e, c, floor in zip(entries, comparisons, floors):
        verdict, why = timing_verdict(c, floor, alpha)
        e["time"] = {"verdict": verdict, "why": why, "floor": floor, **timing_fields(c)}
        if verdict in ("regression", "improvement"):
            flagged.append(e)
    return flagged


def timing_fields(c: Comparison) -> dict:
    return {"change": c.change, "interval": list(c.interval), "p": c.p_slower, "p_adjusted": c.p_slower_adjusted,
            "p_faster": c.p_faster, "p_faster_adjusted": c.p_faster_adjusted, "mde": c.mde, "pairs": c.samples,
            "standard_error": c.standard_error, **c.extra}


def settle_confirmation(e: dict, c: Comparison, alpha: float) -> None:
    """A flagged regression (or improvement) stands only if fresh worker processes flag it again."""
    timing = e["time"]
    again = timing_verdict(c, timing["floor"], alpha)[0]
    confirmed = again == timing["verdict"]
    p_name = "p_adjusted" if timing["verdict"] == "regression" else "p_faster_adjusted"
    p_again = c.p_slower_adjusted if timing["verdict"] == "regression" else c.p_faster_adjusted
    timing["confirmation"] = {"confirmed": confirmed, **timing_fields(c)}
    if not confirmed:
        timing["why"] = (f"flagged as {timing['verdict']} ({timing['change']:+.1%}, adjusted p={timing[p_name]:.2g}) but not "
                         f"reproduced by fresh worker processes ({c.change:+.1%}, adjusted p={p_again:.2g})")
        timing["verdict"] = "inconclusive"
    else:
        timing["why"] += f"; reproduced by fresh worker processes ({c.change:+.1%}, adjusted p={p_again:.2g})"


def settle_unmeasured(e: dict) -> None:
    e["time"]["confirmation"] = {"confirmed": False}
    e["time"]["verdict"] = "inconclusive"
    e["time"]["why"] += "; could not be re-measured by fresh worker processes"


def overall(e: dict) -> str:
    verdicts = [e.get("status_verdict")] + [e.get(part, {}).get("verdict") for part in ("time", "memory", "error")]
    present = [v for v in verdicts if v in SEVERITY]
    return min(present, key=SEVERITY.index) if present else "unchanged"


def decide(entries: list[dict], strict: bool) -> tuple[int, str]:
    """The exit code and its one-line reason."""
    for e in entries:
        e["verdict"] = overall(e)
    regressions = [e for e in entries if e["verdict"] == "regression"]
    if regressions:
        first = regressions[0]
        return REGRESSION, f"{len(regressions)} confirmed regression(s); first: {first['id']}: {regression_reason(first)}"
    inconclusive = [e for e in entries if e["verdict"] == "inconclusive"]
    failing = [e for e in entries if e["verdict"] == "failing"]
    counts = ", ".join(f"{sum(e['verdict'] == v for e in entries)} {v}" for v in SEVERITY if any(e["verdict"] == v for e in entries))
    if failing and strict:
        return INCONCLUSIVE, f"{len(failing)} cell(s) fail on both sides under --strict; first: {failing[0]['id']} ({counts})"
    if inconclusive and strict:
        return INCONCLUSIVE, f"{len(inconclusive)} inconclusive benchmark(s) under --strict ({counts})"
    return PASS, f"no regression ({counts})"


def regression_reason(e: dict) -> str:
    for part in ("error", "memory", "time"):
        if e.get(part, {}).get("verdict") == "regression":
            return f"{part}: {e[part]['why']}"
    return "; ".join(e["notes"]) or "regression"
