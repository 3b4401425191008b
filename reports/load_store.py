"""Read runs back from the results store as the same plain records a run folder gives (``reports build --store``)."""

from __future__ import annotations

import json

from sqlalchemy import Engine, select

from store.records import CellRecord
from store.schema import cells, runs

from .load import ResultFileError, Results


def load_from_store(engine: Engine, run_ids: list[str], source: str) -> Results:
    """Every cell record of ``run_ids`` exactly as its JSONL line held it; ResultFileError naming a run the store lacks."""
    with engine.connect() as conn:
        found = {row.run_id: row for row in conn.execute(select(runs).where(runs.c.run_id.in_(run_ids)))}
        missing = [run_id for run_id in run_ids if run_id not in found]
        if missing:
            known = [r for (r,) in conn.execute(select(runs.c.run_id).order_by(runs.c.started.desc()).limit(5))]
            raise ResultFileError(f"{source}: no run {', '.join(missing)} in the store (latest: {', '.join(known) or 'none'})")
        records = [CellRecord.from_dict(json.loads(text)) for (text,) in conn.execute(
            select(cells.c.record).where(cells.c.run_id.in_(run_ids)).order_by(cells.c.run_id, cells.c.id))]
    results = Results(cells=records, sources=[f"{source} (runs {', '.join(run_ids)})"])
    for run_id in sorted(found):
        row = found[run_id]
        results.runs.append({"run_id": run_id, "preset": row.preset, "started": row.started.isoformat() if row.started else None,
                             "commit": (row.commit or "") + ("-dirty" if row.dirty else "") or None,
                             "machine": json.loads(row.machine or "{}"), "devices": json.loads(row.devices or "[]"),
                             "overrides": json.loads(row.options or "{}")})
    if not records:
        raise ResultFileError(f"{source}: runs {', '.join(run_ids)} hold no cells")
    return results
