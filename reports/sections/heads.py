"""Design-space views (heads, score functions, training): time and memory against head count, and each suite's own metrics."""

from __future__ import annotations

import pandas as pd

from ..context import ReportContext
from ..frame import natural_key, shape_order
from ..html import Column, Section, esc, figure, table
from ..plots import heads_figure, palette
from ..units import format_bytes, format_seconds

DESIGN_SUITES = ("heads", "scores", "training")


def design_cells(ran: pd.DataFrame) -> pd.DataFrame:
    has_model_dim = ran["problem.model_dim"].notna() if "problem.model_dim" in ran else False
    return ran[has_model_dim | ran["suite"].isin(DESIGN_SUITES)]


def _head_layout(row) -> str:
    heads, kv = row.get("problem.heads"), row.get("problem.kv_heads")
    if pd.isna(kv) or kv == heads:
        return ""
    return " (MQA)" if kv == 1 else f" (GQA ×{int(heads // kv)})"


def _extra_columns(cells: pd.DataFrame) -> list[str]:
    """The suite's own metrics (record['extra']) that at least one of its cells recorded."""
    return sorted(c for c in cells.columns if c.startswith("extra.") and cells[c].notna().any())


def render(ctx: ReportContext):
    cells = design_cells(ctx.ran)
    if cells.empty:
        return None
    parts = ["<p class=\"lead\">Results of the design-space suites: how time and memory change with the number of heads at a "
             "fixed model dim (head_dim = model_dim / heads; MHA, GQA and MQA shown apart), and the metrics each suite adds "
             "(score functions, checkpointing, training stability).</p>"]
    if "problem.model_dim" in cells:
        with_dim = cells[cells["problem.model_dim"].notna()].copy()
        with_dim["impl"] = with_dim["impl"] + with_dim.apply(_head_layout, axis=1)
        colours = palette(with_dim["impl"])
        keys = ["device_label", "suite", "problem.model_dim", "problem.seq_len", "problem.dtype", "problem.mask_kind", "problem.mode"]
        keys = [k for k in keys if k in with_dim]
        for index, (key, group) in enumerate(sorted(with_dim.groupby(keys, dropna=False), key=lambda kv: natural_key(kv[0]))):
            if group["problem.heads"].nunique() < 2:
                continue
            labels = dict(zip(keys, key))
            title = (f"model_dim {int(labels.get('problem.model_dim'))} · L{int(labels.get('problem.seq_len', 0))} · "
                     f"{labels.get('problem.dtype')} {labels.get('problem.mask_kind')} {labels.get('problem.mode')} · "
                     f"{labels['device_label']} · suite {labels['suite']}")
            parts.append(f"<h3>{esc(title)}</h3>")
            parts.append(figure(heads_figure(group, colours, f"heads-{index}", title),
                                f"heads {', '.join(str(int(h)) for h in sorted(group['problem.heads'].unique()))}"))
    for suite, suite_cells in sorted(cells.groupby("suite"), key=lambda kv: kv[0]):
        extras = _extra_columns(suite_cells)
        ordered = suite_cells.sort_values([*shape_order(suite_cells), "time_s", "impl"], kind="mergesort")
        columns = [Column("impl", "implementation"), Column("shape", "shape"), Column("time_s", "median time", format_seconds, numeric=True),
                   Column("memory_bytes", "peak memory", format_bytes, numeric=True),
                   Column("error", "rel. L2 error", lambda v: f"{v:.2e}", numeric=True)]
        columns += [Column(c, c.removeprefix("extra."), _number, numeric=True) for c in extras]
        parts.append(f"<h3>Suite {esc(suite)}: every cell</h3>")
        parts.append(table(ordered.to_dict("records"), columns))
    return Section("design", "Heads and design space", "".join(parts))


def _number(value) -> str:
    """Integers in full with separators, other numbers to 4 significant digits, anything else as written."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, (int, float)):
        if float(value).is_integer() and abs(value) < 1e15:
            return f"{int(value):,}"
        return f"{float(value):.4g}"
    return str(value)
