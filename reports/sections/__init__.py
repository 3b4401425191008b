"""The page's sections, in page order; each ``render(ctx)`` returns a Section or None when it has nothing to show."""

from . import answer, capability, details, devices, fleet, fronts, header, heads, quality, recommendations, scaling, speedup

ORDER = (answer, header, fleet, quality, scaling, recommendations, fronts, speedup, heads, capability, details, devices)
