"""What every figure shares: matplotlib's style, colours, markers, log-axis ticks and SVG output.

Output is deterministic: the SVG id salt is fixed per figure, the date is left out, text stays text.
"""

from __future__ import annotations

import io
import math
import re

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FuncFormatter, NullLocator  # noqa: E402

STYLE = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, printable
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.titlesize": 9.5,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "axes.grid": True,
    "grid.alpha": 0.25,
    "axes.spines.top": False,
    "axes.spines.right": False,
}
FAMILY_MARKERS = {"exact": "o", "sparse": "s", "linear": "^", "custom": "D"}
# Plotted at this relative error when the measured error is exactly 0 (a log axis has no 0).
ERROR_FLOOR = 1e-12


def palette(impls) -> dict[str, str]:
    """A stable colour per implementation (sorted names → tab10, then tab20b/c)."""
    colours = list(plt.get_cmap("tab10").colors) + list(plt.get_cmap("tab20b").colors) + list(plt.get_cmap("tab20c").colors)
    result = {}
    for index, name in enumerate(sorted(set(impls))):
        r, g, b = colours[index % len(colours)][:3]
        result[name] = f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"
    return result


def nice_log_ticks(low: float, high: float, kind: str) -> list[float]:
    """Readable tick values in [low, high] on a log axis: powers of two for bytes, 1-2-5 × 10^k otherwise; at most ~7."""
    if not (low > 0 and high > low and math.isfinite(high)):
        return []
    if kind == "bytes":
        first, last = math.ceil(math.log2(low)), math.floor(math.log2(high))
        step = 1
        while (last - first) // step + 1 > 7:
            step *= 2
        start = first + (-first) % step  # keep 1 KiB, 1 MiB, 1 GiB on the grid when the step allows
        return [2.0 ** k for k in range(start, last + 1, step)]
    first, last = math.floor(math.log10(low)), math.ceil(math.log10(high))
    for mantissas, decade_step in (((1, 2, 5), 1), ((1, 3), 1), ((1,), 1), ((1,), 2), ((1,), 3), ((1,), 5)):
        ticks = [m * 10.0 ** k for k in range(first, last + 1) if k % decade_step == 0 for m in mantissas]
        ticks = [t for t in ticks if low <= t * (1 + 1e-9) and t <= high * (1 + 1e-9)]
        if len(ticks) <= 7:
            return ticks
    return ticks


def log_axis(axis, formatter, kind: str = "decimal") -> None:
    """Fixed readable ticks for the axis's current limits (call after the limits are final)."""
    low, high = axis.get_view_interval()
    low, high = min(low, high), max(low, high)
    axis.set_major_locator(matplotlib.ticker.FixedLocator(nice_log_ticks(low, high, kind)))
    axis.set_minor_locator(NullLocator())  # the 1-2-5 / power-of-two majors suffice; minors cost most of the drawing time
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: formatter(v)))


def length_axis(axis, lengths) -> None:
    axis.set_minor_locator(NullLocator())
    ticks = sorted(set(int(v) for v in lengths))
    axis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    axis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{int(v):,}" if v < 1e4 else f"{int(v) // 1024}k"))


def to_svg(fig, name: str) -> str:
    """The figure as an ``<svg>`` element; ids salted with ``name`` so several figures share one page."""
    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": f"attnbench-{name}"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    text = text[text.index("<svg"):]
    # Title lets assistive tech name the figure; the pt size stays as the natural size (CSS caps the width).
    return re.sub(r"<svg ", f'<svg role="img" aria-label="{svg_attribute(name)}" ', text, count=1)


def svg_attribute(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


def format_error_tick(value: float) -> str:
    if value <= ERROR_FLOOR * 1.0001:
        return "0"
    mantissa, exponent = f"{value:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def widen(ax) -> None:
    """A log y axis spanning at least a factor ~6, so it carries two or more ticks."""
    low, high = ax.get_ylim()
    if high / low < 6:
        centre = math.sqrt(low * high)
        ax.set_ylim(centre / 2.5, centre * 2.5)
