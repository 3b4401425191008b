"""Scaling: time and memory against sequence length per implementation, fitted exponents, crossovers with the baseline."""

from __future__ import annotations

import math

import pandas as pd

from ..context import ReportContext
from ..frame import natural_key, shape_order
from ..html import Column, Section, esc, figure, table
from ..plots import scaling_figure
from ..quality import disturbed
from ..scaling import Crossover, crossover, fit_power_law


def series_order(ran: pd.DataFrame) -> list[tuple[str, str]]:
    """(device, series) pairs measured at two or more lengths, in reading order (device, then frame.SHAPE_ORDER)."""
    lengths = ran.groupby(["device_label", "series"])["problem.seq_len"].nunique()
    columns = [c for c in shape_order(ran) if c not in ("problem.seq_len", "problem.kv_seq_len", "shape")]
    firsts = ran.groupby(["device_label", "series"])[columns].first()
    keys = [key for key, count in lengths.items() if count >= 2]
    return sorted(keys, key=lambda k: (k[0], natural_key(tuple(firsts.loc[k])), k[1]))


def _per_length(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows.groupby("problem.seq_len")[column].median().dropna().sort_index()


def _exponent(rows: pd.DataFrame, column: str) -> str:
    values = _per_length(rows, column)
    values = values[values > 0]
    fit = fit_power_law(values.index.to_numpy(float), values.to_numpy(float))
    return fit.text() if fit else "—"


def series_table(series: pd.DataFrame, baseline: str) -> list[dict]:
    """One row per implementation: exponents and where it overtakes the baseline, lowest time exponent first."""
    base = _per_length(series[series["impl"] == baseline], "time_s")
    rows = []
    for impl, cells in sorted(series.groupby("impl"), key=lambda kv: kv[0]):
        times = _per_length(cells, "time_s")
        fit = fit_power_law(times.index.to_numpy(float), times.to_numpy(float))
        if impl == baseline:
            cross = "baseline"
        elif base.empty:
            cross = f"{baseline} not measured"
        else:
            common = times.index.intersection(base.index)
            cross = crossover(common.to_numpy(float), times[common].to_numpy(float), base[common].to_numpy(float)).text()
        rows.append({"impl": impl, "family": cells["family"].iloc[0], "time_exp": fit.text() if fit else "—",
                     "sort": fit.exponent if fit else math.inf, "memory_exp": _exponent(cells, "memory_bytes"),
                     "lengths": ", ".join(f"{int(v):,}" for v in times.index), "crossover": cross})
    rows.sort(key=lambda r: (r["sort"], r["impl"]))
    return rows


def family_crossovers(series: pd.DataFrame, baseline: str) -> list[dict]:
    """Per family (other than the baseline itself): the earliest length from which one of its implementations stays faster."""
    base = _per_length(series[series["impl"] == baseline], "time_s")
    if base.empty:
        return []
    result = []
    for family, cells in sorted(series[series["impl"] != baseline].groupby("family"), key=lambda kv: kv[0]):
        best: tuple[tuple, str, Crossover] | None = None
        for impl, impl_cells in sorted(cells.groupby("impl"), key=lambda kv: kv[0]):
            times = _per_length(impl_cells, "time_s")
            common = times.index.intersection(base.index)
            found = crossover(common.to_numpy(float), times[common].to_numpy(float), base[common].to_numpy(float))
            rank = ({"always": 0, "measured": 1, "extrapolated": 1, "never": 2}.get(found.kind, 3), found.length or 0.0)
            if best is None or rank < best[0]:
                best = (rank, impl, found)
        if best is not None:
            result.append({"family": family, "impl": best[1], "crossover": best[2].text()})
    return result


def render(ctx: ReportContext):
    flagged = disturbed(ctx.ran)
    ran = ctx.ran[~flagged]  # a fit or a crossover through a disturbed cell would report the disturbance
    keys = series_order(ran)
    if not keys:
        return None
    parts = [f"<p class=\"lead\">Median time per call, peak memory and achieved FLOP/s against sequence length, log-log. The band is "
             f"the fastest–slowest round. Exponents are least-squares slopes in log-log space ± their standard error (dense attention "
             f"is ≈2 in time at large L). A crossover is the length from which an implementation stays faster than "
             f"{esc(ctx.baseline)}, interpolated between measured lengths or extrapolated from both fits.</p>"]
    if flagged.any():
        parts.append(f'<p class="note">{int(flagged.sum())} disturbed cell(s) are left out of the plots, fits and crossovers '
                     '(see Measurement conditions).</p>')
    summary = []
    for index, (device, series_name) in enumerate(keys):
        series = ran[(ran["device_label"] == device) & (ran["series"] == series_name)]
        title = f"{series_name}  ·  {device}"
        parts.append(f"<h3>{esc(series_name)} <small>· {esc(device)}</small></h3>")
        parts.append(figure(scaling_figure(series, ctx.colours, f"scaling-{index}", title),
                            f"Sequence lengths {', '.join(f'{int(v):,}' for v in sorted(series['problem.seq_len'].unique()))}."))
        parts.append(table(series_table(series, ctx.baseline),
                           [Column("impl", "implementation"), Column("family", "family"), Column("time_exp", "time exponent", numeric=True),
                            Column("memory_exp", "memory exponent", numeric=True), Column("lengths", "lengths measured"),
                            Column("crossover", f"faster than {ctx.baseline} from")]))
        for row in family_crossovers(series, ctx.baseline):
            summary.append({"series": series_name, "device": device, **row})
    if summary:
        parts.append("<h3>Crossovers by family</h3>")
        parts.append(table(summary, [Column("series", "shape (all lengths)"), Column("device", "device"), Column("family", "family"),
                                     Column("impl", "earliest implementation"), Column("crossover", f"faster than {ctx.baseline} from")]))
    return Section("scaling", "Scaling with sequence length", "".join(parts))
