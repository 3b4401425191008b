"""A fleet run's shards (``python -m bench fleet``): where each ran, whether it finished, and what a failed one left undone."""

from __future__ import annotations

from ..context import ReportContext
from ..html import Column, Section, table
from ..units import format_seconds

UNDONE_SHOWN = 3  # cells named per shard; run.json lists them all


def shard_rows(runs: list[dict]) -> list[dict]:
    rows = []
    for run in runs:
        for shard in (run.get("fleet") or {}).get("shards") or []:
            undone = shard.get("undone") or []
            named = ", ".join(cell.split(" ", 1)[-1] for cell in undone[:UNDONE_SHOWN])
            rows.append({"run": run.get("run_id"), "shard": shard.get("shard"), "host": shard.get("host"), "status": shard.get("status"),
                         "cells": f"{shard.get('done')}/{shard.get('planned')}", "wall": shard.get("wall_s"),
                         "predicted": shard.get("predicted_s"), "reason": shard.get("reason"),
                         "undone": named + (f" and {len(undone) - UNDONE_SHOWN} more" if len(undone) > UNDONE_SHOWN else "")})
    return rows


def render(ctx: ReportContext) -> Section | None:
    rows = shard_rows(ctx.runs)
    if not rows:
        return None
    incomplete = sum(1 for row in rows if row["status"] != "complete")
    caption = (f"{len(rows)} shards; {incomplete} left cells undone (continue with python -m bench fleet --resume RUN)"
               if incomplete else f"{len(rows)} shards, all complete")
    body = table(rows, [Column("run", "run"), Column("shard", "shard"), Column("host", "host"), Column("status", "status"),
                        Column("cells", "cells done", numeric=True), Column("wall", "wall", format_seconds, numeric=True),
                        Column("predicted", "predicted", format_seconds, numeric=True), Column("reason", "why it stopped"),
                        Column("undone", "cells undone")], caption=caption)
    return Section("fleet", "Fleet shards", body)
