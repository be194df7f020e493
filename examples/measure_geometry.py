"""Shading, distortion and lateral colour of a simulated wide-angle camera, measured from its own
captures of a flat field, a dot grid and a slanted-edge chart, next to the lens model.

Run from the repository root:

    .venv/bin/python examples/measure_geometry.py
"""

from __future__ import annotations

import math

import torch

from camforge.camera import Camera
from camforge.metrics.chroma import measure_lateral_ca
from camforge.metrics.distortion import measure_distortion
from camforge.metrics.shading import measure_shading

PITCH_UM, F_MM = 1.4, 1.6
LENS = {"focal_length_mm": F_MM, "f_number": 2.4, "distortion": {"k1": -0.12},
        "relative_illumination": {"cos4": True, "vignetting_stop_ratio": 1.2, "vignetting_shift_corner": 0.5},
        "lateral_color": {"shift_450nm_um": -1.5, "shift_650nm_um": 1.2}}
SENSOR = {"width_px": 640, "height_px": 480, "pixel_pitch_um": PITCH_UM, "full_well_e": 20000, "adc_bits": 12, "seed": 2}


def main() -> None:
    torch.set_num_threads(1)
    cam = Camera({"name": "wide", "lens": LENS, "sensor": SENSOR})

    flat = cam.capture(cam.chart("flat", lux=500, spectral=False), seed=1)
    sh = measure_shading(flat)
    g = cam.geometry
    ri = float(cam.lens.relative_illumination(torch.tensor(g.half_diagonal_mm * 0.9), g.half_diagonal_mm))
    print("shading: corner/centre = {:.1f} / {:.1f} / {:.1f} / {:.1f} %  (lens RI at 0.9 field: {:.1f} %)".format(
        *sh.corner_pct, 100 * ri))
    print(f"  colour shading max deviation: R/G {sh.color_deviation_max_pct['R/G']:.2f} %, "
          f"B/G {sh.color_deviation_max_pct['B/G']:.2f} %")

    grid = cam.capture(cam.chart("grid", lux=500, spectral=False), seed=2)
    d = measure_distortion(grid, focal_length_px=F_MM / (PITCH_UM * 1e-3), n_terms=1)
    print(f"distortion: k1 = {d.k1:.4f} (lens {LENS['distortion']['k1']}), SMIA TV distortion {d.smia_tv_distortion_pct:.2f} %, "
          f"{d.n_dots} dots, residual {d.rms_residual_px:.3f} px")

    edges = cam.capture(cam.chart("slanted-edge", lux=5000, spectral=True, square_size=0.16), seed=3)
    ca = measure_lateral_ca(edges)
    half = math.hypot(g.width_px / 2, g.height_px / 2)
    print(f"lateral colour over {len(ca.edges)} edges: at the corner R−G {ca.r_minus_g_corner_px:+.2f} px "
          f"({ca.r_minus_g_corner_pct:+.3f} % of {half:.0f} px), B−G {ca.b_minus_g_corner_px:+.2f} px")


if __name__ == "__main__":
    main()
