"""The page's sections, in page order; each ``render(ctx)`` returns a Section or None when it has nothing to show."""

from . import capability, details, devices, fleet, fronts, header, heads, quality, recommendations, scaling, speedup

ORDER = (header, fleet, quality, recommendations, fronts, scaling, speedup, heads, capability, details, devices)
