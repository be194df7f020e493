"""Small designs and single-section plans for the evaluation tests."""

from __future__ import annotations

import copy

import yaml

from camforge.evaluate.plan import TestPlan

SECTIONS = ("sharpness", "color", "noise", "tone", "shading", "distortion", "texture", "sensor")


def plan(*enabled: str, **overrides) -> dict:
    """A plan with only ``enabled`` sections switched on (quick settings)."""
    d = TestPlan(name="test").to_dict()
    for s in SECTIONS:
        d[s]["enabled"] = s in enabled
    d["sharpness"].update(bootstrap=0)
    d["color"].update(illuminants=["D65"], fill=0.4)
    d["sensor"].update(size_px=64, n_steps=16, spatial_frames=4)
    d["texture"].update(window_px=128)
    d["noise"].update(window_px=96)
    for k, v in overrides.items():
        d[k].update(v)
    return d


def design(designs_dir, name: str, *, width: int | None = None, height: int | None = None, **edits) -> dict:
    """A bundled design, optionally shrunk (same pixel pitch and field of view) and edited.

    ``edits`` are dotted paths: ``{"lens.f_number": 8.0, "sensor.read_noise_e": 6.0}``.
    """
    d = yaml.safe_load((designs_dir / f"{name}.yaml").read_text())
    d = copy.deepcopy(d)
    if width is not None:
        s = d["sensor"]
        scale = width / s["width_px"]
        s["width_px"] = width
        s["height_px"] = height or int(round(s["height_px"] * scale)) // 4 * 4
        d["lens"]["focal_length_mm"] *= scale  # keep the field of view
    for path, value in edits.items():
        node = d
        keys = path.split(".")
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return d
