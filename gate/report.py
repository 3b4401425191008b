"""The gate's outputs: a terminal table, gate.json (everything) and gate.md (a pull-request comment)."""

from __future__ import annotations

import json
from pathlib import Path

from reports.units import format_bytes, format_number, format_percent, format_seconds

MARK = {"regression": "❌ regression", "failing": "⛔ fails on both", "inconclusive": "❔ inconclusive",
        "improvement": "✅ improvement", "unchanged": "✔ unchanged", "new": "🆕 new", "not runnable": "➖ not runnable"}
HEADER = ["benchmark", "base", "head", "change [95% interval]", "adj. p", "MDE", "peak memory (Δ)", "error", "verdict"]


def _memory(e: dict) -> str:
    m = e.get("memory")
    if not m:
        return "-"
    if m["base_bytes"] is None or m["head_bytes"] is None:
        return "unmeasured"
    return f"{format_bytes(m['head_bytes'])} ({(m['head_bytes'] - m['base_bytes']) / 2**20:+.2f} MiB)"


def _error(e: dict) -> str:
    err = e.get("error")
    if not err or not err.get("head"):
        return "-"
    return f"{format_number(err['head']['output']['max_abs'], '.2g', 'NaN')} ({err['verdict']})"


def rows(result: dict) -> list[list[str]]:
    table = []
    for e in result["benchmarks"]:
        t = e.get("time", {})
        interval = t.get("interval")
        change = (f"{format_percent(t.get('change'), signed=True)} [{format_percent(interval[0], signed=True)}, "
                  f"{format_percent(interval[1], signed=True)}]") if interval else "-"
        table.append([e["id"], format_seconds(t.get("base_median_s"), "-"), format_seconds(t.get("head_median_s"), "-"), change,
                      f"{t['p_adjusted']:.2g}" if "p_adjusted" in t else "-", format_percent(t.get("mde"), missing="-"),
                      _memory(e), _error(e), e["verdict"]])
    return table


def table(result: dict) -> str:
    body = rows(result)
    widths = [max(len(r[i]) for r in [HEADER, *body]) for i in range(len(HEADER))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths)).rstrip() for r in [HEADER, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def headline(result: dict) -> list[str]:
    """Lines for the top of every output: a changed yardstick, cells failing on both sides, implementations not gated."""
    lines = []
    notice = (result.get("yardstick") or {}).get("line")
    if notice:
        lines.append(notice)
    failing = [e for e in result.get("benchmarks", []) if e.get("verdict") == "failing"]
    if failing:
        lines.append(f"{len(failing)} cell(s) fail on both sides (a failure under --strict): "
                     + ", ".join(e["id"] for e in failing[:5]) + (" ..." if len(failing) > 5 else ""))
    return lines


def notes(result: dict) -> list[str]:
    found = []
    for e in result["benchmarks"]:
        if e["verdict"] in ("regression", "inconclusive", "new", "failing"):
            for part in ("time", "memory", "error"):
                p = e.get(part)
                if p and p["verdict"] in ("regression", "inconclusive"):
                    found.append(f"{e['id']}: {part}: {p['why']}")
            found.extend(f"{e['id']}: {n}" for n in e["notes"])
        if e.get("memory", {}).get("verdict") == "unmeasured":
            found.append(f"{e['id']}: {e['memory']['why']}")
    found += [f"{m['id']}: in the baseline, missing from this run's selection" for m in result.get("missing_from_selection", [])]
    return found


def why_these_cells(result: dict) -> list[str]:
    """gate.md's "why these cells": the default rule, the change's focus, what could not be gated here."""
    lines = ["", "<details><summary>why these cells</summary>", ""]
    why: dict[str, list[str]] = {}
    for e in result.get("benchmarks", []):
        why.setdefault((e.get("inputs") or {}).get("why", "selected"), []).append(e["id"])
    for reason, ids in why.items():
        lines.append(f"- {reason}: {len(ids)} cell(s)" + (f" ({', '.join(f'`{i}`' for i in ids)})" if len(ids) <= 12 else ""))
    lines += [f"- not gated here: `{n['impl']}`: {n['reason']}" for n in result.get("not_gated", [])]
    for impl, files in sorted((result.get("focus") or {}).items()):
        lines.append(f"- `{impl}` gets more cells: the change touches {', '.join(f'`{f}`' for f in files)}")
    return lines + ["", "</details>"]


def markdown(result: dict) -> str:
    code, reason = result["exit_code"], result["reason"]
    title = {0: "✅ passed", 1: "❌ regression", 2: "❔ inconclusive (strict)", 3: "⚠️ could not run"}[code]
    lines = [f"## attnbench gate: {title}", ""] + [f"> **{line}**" for line in headline(result)] + ["", f"**{reason}**", ""]
    floors = sorted({e["time"]["floor"] for e in result.get("benchmarks", []) if "time" in e})
    floor_text = "floor " + "/".join(f"{f:.0%}" for f in floors) if floors else "no timed benchmark"
    if result.get("mode") == "paired":
        lines.append(f"base `{result['base']['ref']}` ({(result['base']['commit'] or '')[:12]}) vs head "
                     f"`{result['head']['ref']}` ({result['head']['commit']}): {result['settings']['pairs_used']} "
                     f"interleaved pairs, {result['settings']['workers']} worker processes per side, "
                     f"{floor_text}, α={result['settings']['alpha']} after Holm; a regression must reproduce in fresh processes. "
                     f"Yardstick (oracle, inputs, tolerances, measuring code): the {result['yardstick']['judged_with']}'s.")
    elif result.get("mode") == "history":
        lines.append(f"against baseline `{result['baseline']['path']}` (commit {result['baseline']['commit']}, "
                     f"{result['baseline']['machine'].get('cpu')}), times normalized by a {result['reference']['size']}² matmul "
                     f"measured in the same blocks, {floor_text}.")
        lines += [f"> {note}" for note in result.get("notes", [])]
    if result.get("benchmarks"):
        lines += ["", "| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
        for r in rows(result):
            r[-1] = MARK.get(r[-1], r[-1])
            r[0] = f"`{r[0]}`"
            lines.append("| " + " | ".join(r) + " |")
    failing = [e for e in result.get("benchmarks", []) if e.get("verdict") == "failing"]
    if failing:
        lines += ["", "### Failing on both sides", ""] + [f"- `{e['id']}`: {'; '.join(e['notes'])}" for e in failing]
    found = notes(result)
    if found:
        lines += ["", "<details><summary>why</summary>", ""] + [f"- {n}" for n in found] + ["", "</details>"]
    if result.get("mode") == "paired":
        lines += why_these_cells(result)
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
