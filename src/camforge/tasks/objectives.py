"""Task metrics as design objectives and as a scorecard section.

* :func:`task_objective` — one number per design (accuracy or mIoU at one illuminance), for
  ``camforge optimize``: seeded, so every candidate design sees the same scenes and the same
  noise seeds (common random numbers make design comparisons far less noisy).
* :data:`OBJECTIVES` — the objectives by name, with their direction and unit.
* :func:`scorecard_section` — the ``tasks`` section of ``camforge evaluate``: measurement rows,
  plot data and quick-look PNGs, in the format of :mod:`camforge.evaluate.jobs`.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np

from camforge.errors import InputError
from camforge.tasks.evaluate import (
    _render_px, _resolve_camera, condition_rows, evaluation_scenes, measure_condition, resolve_models,
)

METRICS = ("accuracy", "miou")


def task_objective(camera_or_design, *, metric: str = "accuracy", lux: float = 10.0, n_images: int = 64,
                   seed: int = 0, illuminant: str = "D65", window_px: int | None = None, models=None) -> float:
    """Task accuracy (``metric="accuracy"``) or mIoU (``"miou"``) of a design at ``lux`` —
    a fraction in [0, 1], higher is better. Deterministic for ``seed``."""
    if metric not in METRICS:
        raise InputError(f"unknown task metric {metric!r}; use one of {', '.join(METRICS)}")
    cam = _resolve_camera(camera_or_design)
    m = resolve_models(models)
    w = int(window_px or m.input_px)
    scenes = evaluation_scenes(n_images, seed, _render_px(w, m.input_px))
    r = measure_condition(cam, float(lux), models=m, scenes=scenes, seed=seed, illuminant=illuminant, window_px=w,
                          n_boot=1)
    sc = r["scores"]
    return float(sc.accuracy if metric == "accuracy" else sc.miou)


def _accuracy(camera_or_design, **kw) -> float:
    return task_objective(camera_or_design, metric="accuracy", **kw)


def _miou(camera_or_design, **kw) -> float:
    return task_objective(camera_or_design, metric="miou", **kw)


#: Objectives for ``camforge optimize``: name → {fn(camera_or_design, **kw) -> float, direction, unit}.
OBJECTIVES: dict[str, dict[str, Any]] = {
    "task_accuracy": {"fn": _accuracy, "direction": "maximize", "unit": "fraction",
                      "doc": "recognition accuracy of the shipped classifier at `lux` (default 10 lx)"},
    "task_miou": {"fn": _miou, "direction": "maximize", "unit": "fraction",
                  "doc": "segmentation mIoU of the shipped U-Net at `lux` (default 10 lx)"},
}


def _png_grid(images, n: int = 8) -> bytes:
    from PIL import Image as PILImage

    a = images[:n].permute(0, 2, 3, 1).clamp(0, 1).numpy()
    row = np.concatenate(list(a), axis=1)
    im = PILImage.fromarray((row * 255 + 0.5).astype(np.uint8)).resize((row.shape[1] * 3, row.shape[0] * 3),
                                                                          PILImage.NEAREST)
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def scorecard_section(cam, *, lux_levels: Sequence[float] = (1000.0, 100.0, 10.0, 1.0, 0.3), n_images: int = 100,
                      seed: int = 0, illuminant: str = "D65", window_px: int | None = None,
                      with_iq: bool = False, models=None) -> dict[str, Any]:
    """The ``tasks`` scorecard section: ``{"rows", "plots", "quicklooks"}``.

    Rows: ``task_accuracy_{lux}lx`` and ``task_miou_{lux}lx`` (fraction, with ``ci95``); plot
    data: accuracy and mIoU vs lux with CIs; quick looks: eight classification captures at the
    brightest and the darkest level.
    """
    cam = _resolve_camera(cam)
    m = resolve_models(models)
    w = int(window_px or m.input_px)
    scenes = evaluation_scenes(n_images, seed, _render_px(w, m.input_px))
    rows, curve, looks = [], [], {}
    levels = [float(v) for v in lux_levels]
    if not levels:
        raise InputError("the tasks section needs at least one lux level")
    for lux in levels:
        r = measure_condition(cam, lux, models=m, scenes=scenes, seed=seed, illuminant=illuminant, window_px=w,
                              with_iq=with_iq, keep_images=lux in (max(levels), min(levels)))
        rows += condition_rows(cam, m, lux, r, window_px=w, illuminant=illuminant, with_iq=with_iq)
        curve.append({"lux": lux, **r["scores"].to_dict()})
        if "images" in r:
            looks[f"tasks_{lux:g}lx"] = _png_grid(r["images"])
    return {"rows": rows, "plots": {"tasks": curve}, "quicklooks": looks}
