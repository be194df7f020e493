"""Scenes: spectral radiance in physical units (see :class:`Scene`).

Charts: :func:`slanted_edge`, :func:`colorchecker`, :func:`flat_field`, :func:`step_chart`,
:func:`dead_leaves`, :func:`siemens_star`, :func:`dot_grid`; images: :func:`natural_image`.
Every generator takes ``lux`` and ``illuminant`` and ``spectral=True`` (31 bands) or
``spectral=False`` (the 3-band RGB fast path).
"""

from camforge.scene.base import Scene
from camforge.scene.charts import colorchecker, dead_leaves, dot_grid, flat_field, siemens_star, slanted_edge, step_chart
from camforge.scene.natural import natural_image, srgb_basis

#: Chart generators by CLI name.
CHARTS = {
    "slanted-edge": slanted_edge,
    "colorchecker": colorchecker,
    "flat": flat_field,
    "step": step_chart,
    "dead-leaves": dead_leaves,
    "star": siemens_star,
    "grid": dot_grid,
}

__all__ = [
    "Scene",
    "CHARTS",
    "colorchecker",
    "dead_leaves",
    "dot_grid",
    "flat_field",
    "natural_image",
    "siemens_star",
    "slanted_edge",
    "srgb_basis",
    "step_chart",
]
