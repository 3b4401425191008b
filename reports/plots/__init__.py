"""Figures as inline SVG text: Pareto fronts, scaling curves, speed-up heatmap, error strip, heads views.

Every figure function takes plain frames and returns the ``<svg>`` element as a string.
"""

from .errors import error_strip
from .heads import heads_figure
from .heatmap import speedup_heatmap
from .pareto import marker_areas, pareto_figure
from .scaling import scaling_figure
from .style import palette

__all__ = ["error_strip", "heads_figure", "speedup_heatmap", "marker_areas", "pareto_figure", "scaling_figure", "palette"]
