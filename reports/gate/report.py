"""The gate's outputs: a terminal table, gate.json (everything) and gate.md (a pull-request comment)."""

from __future__ import annotations

import json
import math
from pathlib import Path

MARK = {"regression": "❌ regression", "inconclusive": "❔ inconclusive", "improvement": "✅ improvement",
        "unchanged": "✔ unchanged", "new": "🆕 new"}


def _pct(value: float | None, signed: bool = True) -> str:
    if value is None or not math.isfinite(value):
        return "-"
    return f"{value:+.1%}" if signed else f"{value:.1%}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if value >= scale:
            return f"{value / scale:.3g} {unit}"
    return f"{value * 1e9:.3g} ns"


def _memory(e: dict) -> str:
    m = e.get("memory")
    if not m or m["base_bytes"] is None or m["head_bytes"] is None:
        return "-"
    delta = m["head_bytes"] - m["base_bytes"]
    return f"{m['head_bytes'] / 2**20:.2f} MiB ({delta / 2**20:+.2f})"


def _error(e: dict) -> str:
    err = e.get("error")
    if not err or not err.get("head"):
        return "-"
    return f"{err['head']['output']['max_abs']:.2g} ({err['verdict']})"


def rows(result: dict) -> list[list[str]]:
    table = []
    for e in result["benchmarks"]:
        t = e.get("time", {})
        interval = t.get("interval")
        change = f"{_pct(t.get('change'))} [{_pct(interval[0])}, {_pct(interval[1])}]" if interval else "-"
        table.append([e["id"], _seconds(t.get("base_median_s")), _seconds(t.get("head_median_s")), change,
                      f"{t['p_adjusted']:.2g}" if "p_adjusted" in t else "-", _pct(t.get("mde"), signed=False),
                      _memory(e), _error(e), e["verdict"]])
    return table


HEADER = ["benchmark", "base", "head", "change [95% interval]", "adj. p", "MDE", "peak memory (Δ)", "error", "verdict"]


def table(result: dict) -> str:
    body = rows(result)
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [HEADER, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def notes(result: dict) -> list[str]:
    found = []
    for e in result["benchmarks"]:
        if e["verdict"] in ("regression", "inconclusive", "new"):
            for part in ("time", "memory", "error"):
                p = e.get(part)
                if p and p["verdict"] in ("regression", "inconclusive"):
                    found.append(f"{e['id']}: {part}: {p['why']}")
            found.extend(f"{e['id']}: {n}" for n in e["notes"])
    return found


def markdown(result: dict) -> str:
    code, reason = result["exit_code"], result["reason"]
    title = {0: "✅ passed", 1: "❌ regression", 2: "❔ inconclusive (strict)", 3: "⚠️ could not run"}[code]
    lines = [f"## attnbench gate: {title}", "", f"**{reason}**", ""]
    floors = sorted({e["time"]["floor"] for e in result.get("benchmarks", []) if "time" in e})
    floor_text = "floor " + "/".join(f"{f:.0%}" for f in floors) if floors else "no timed benchmark"
    if result.get("mode") == "paired":
        lines.append(f"base `{result['base']['ref']}` ({(result['base']['commit'] or '')[:12]}) vs head "
                     f"`{result['head']['ref']}` ({result['head']['commit']}): {result['settings']['pairs_used']} "
                     f"interleaved pairs of blocks, {result['settings']['workers']} worker processes per side, "
                     f"{floor_text}, α={result['settings']['alpha']} after Holm; a regression must reproduce in fresh processes.")
    elif result.get("mode") == "history":
        lines.append(f"against baseline `{result['baseline']['path']}` (commit {result['baseline']['commit']}, "
                     f"{result['baseline']['machine'].get('cpu')}), times normalized by a {result['reference']['size']}² matmul "
                     f"measured in the same blocks, {floor_text}.")
        lines += [f"> {note}" for note in result.get("notes", [])]
    if result.get("benchmarks"):
        lines += ["", "| " + " | ".join(HEADER[:-1] + ["verdict"]) + " |", "|" + "---|" * len(HEADER)]
        for r in rows(result):
            r[-1] = MARK.get(r[-1], r[-1])
            r[0] = f"`{r[0]}`"
            lines.append("| " + " | ".join(r) + " |")
    found = notes(result)
    if found:
        lines += ["", "<details><summary>why</summary>", ""] + [f"- {n}" for n in found] + ["", "</details>"]
    machine = result.get("machine") or {}
    lines += ["", f"<sub>{machine.get('cpu', '?')} · {machine.get('cores', '?')} cores · torch {machine.get('torch', '?')} · "
              f"load {result.get('load', {}).get('before')} · {result.get('wall_seconds', 0):.0f} s</sub>", ""]
    return "\n".join(lines)


def write(result: dict, out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "gate.json", out / "gate.md"
    json_path.write_text(json.dumps(result, indent=1, default=str, allow_nan=True) + "\n", encoding="utf-8")
    md_path.write_text(markdown(result), encoding="utf-8")
    return json_path, md_path
