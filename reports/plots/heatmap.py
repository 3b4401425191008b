"""The speed-up heatmap: cells × implementations, coloured by log2 speed-up against the baseline."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm
from matplotlib.ticker import FuncFormatter

from .style import STYLE, to_svg


def speedup_heatmap(table: pd.DataFrame, baseline: str, name: str, title: str) -> str:
    """``table``: rows = cells (shape), columns = impls, values = baseline time / impl time."""
    rows, cols = table.shape
    ratios = table.to_numpy(dtype=float)
    logs = np.log2(ratios)
    finite = logs[np.isfinite(logs)]
    reach = max(1.0, float(np.abs(finite).max())) if finite.size else 1.0
    with plt.rc_context({**STYLE, "axes.grid": False}):
        fig, ax = plt.subplots(figsize=(min(2.2 + 1.05 * cols, 14), 0.9 + 0.28 * rows))
        masked = np.ma.masked_invalid(logs)
        cmap = plt.get_cmap("RdBu").with_extremes(bad="#eeeeee")
        image = ax.imshow(masked, cmap=cmap, norm=TwoSlopeNorm(0.0, -reach, reach), aspect="auto")
        for i in range(rows):
            for j in range(cols):
                value = ratios[i, j]
                text = "—" if not math.isfinite(value) else f"{value:.2g}×"
                dark = math.isfinite(logs[i, j]) and abs(logs[i, j]) > 0.6 * reach
                ax.text(j, i, text, ha="center", va="center", fontsize=7.5, color="white" if dark else "#222")
        ax.set_xticks(range(cols), [str(c) for c in table.columns], rotation=30, ha="right")
        ax.set_yticks(range(rows), [str(r) for r in table.index], fontsize=7.5)
        ax.tick_params(length=0)
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        bar = fig.colorbar(image, ax=ax, shrink=0.8, pad=0.02)
        bar.set_label(f"speed-up vs {baseline} (log2 colour; >1 = faster)")
        bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{2 ** v:.2g}×"))
        ax.set_title(title, loc="left")
        fig.tight_layout()
        return to_svg(fig, name)
