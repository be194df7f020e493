"""Measure the slanted-edge SFR (ISO 12233:2023 e-SFR) of an edge, and of every edge on a chart.

Run from the repository root:

    .venv/bin/python examples/measure_sfr.py [OUT_DIR]

1. An analytic edge (Gaussian σ = 1 px ⊗ square pixel, 5°, 16-bit, SNR 100): the measured
   MTF50 next to the exact value.
2. The sfrmat3 demo edge h_edge.tif (if the shared test data is present): MTF50, angle and
   sampling efficiency, as sfrmat5 reports them.
3. A simulated 640×480 raw capture of camforge's slanted-edge chart: every edge found,
   with its field position, orientation and per-colour MTF50 — the same as
   ``camforge measure edges``.
Writes ``sfr_curves.png`` in OUT_DIR (default: a temporary folder).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np

from camforge.camera import Camera
from camforge.metrics._image import load_measurement_image
from camforge.metrics.edges import measure_edges
from camforge.metrics.sfr import analytic_edge, analytic_mtf50, sfr

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"


def main(out_dir: Path) -> None:
    # 1. analytic edge with a known MTF
    rng = np.random.default_rng(0)
    edge = analytic_edge((128, 128), 5.0, 1.0, dark=12500, light=50000)
    edge = np.round(edge + rng.normal(0, 375, edge.shape)).astype(np.uint16)
    r = sfr(edge)
    lo, hi = r.mtf50_ci95_cy_per_px
    print(f"analytic edge: MTF50 {r.mtf50_cy_per_px:.4f} cy/px (95% CI {lo:.4f}-{hi:.4f}), "
          f"exact {analytic_mtf50(5.0, 1.0):.4f}; angle {r.angle_deg:.2f} deg")

    # 2. a real edge (sfrmat's demo image)
    h_edge = DATA / "sfrmat3" / "h_edge.tif"
    if h_edge.exists():
        r2 = sfr(load_measurement_image(h_edge), npol=5)
        print(f"h_edge.tif: MTF50 {r2.mtf50_cy_per_px:.3f} cy/px, angle {r2.angle_deg:.1f} deg, "
              f"MTF10 {r2.mtf10_cy_per_px:.3f} cy/px (sfrmat5 published: 0.202 cy/px, 95.4 deg)")

    # 3. every edge of a simulated chart, measured per CFA colour on the raw mosaic
    cam = Camera({"name": "demo", "lens": {"focal_length_mm": 4.4, "f_number": 2.0},
                  "sensor": {"width_px": 640, "height_px": 480, "pixel_pitch_um": 1.4, "full_well_e": 6000}})
    raw = cam.capture(cam.chart("slanted-edge", layout="field", spectral=False), seed=0)
    res = measure_edges(raw)
    print(f"simulated chart: {len(res.edges)} edges")
    for e in res.edges[::4]:
        per = ", ".join(f"{k} {v.mtf50_cy_per_px:.3f}" for k, v in e.sfr.per_channel.items())
        print(f"  ({e.center_xy_px[0]:5.1f}, {e.center_xy_px[1]:5.1f}) field {e.field:.2f} {e.orientation:10s} "
              f"MTF50 {per}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(r.freq_cy_per_px, r.mtf, label="analytic edge, measured")
    f = r.freq_cy_per_px
    from camforge.metrics.sfr import analytic_edge_mtf

    ax.plot(f, analytic_edge_mtf(f, 5.0, 1.0), "--", label="exact")
    for k, v in res.edges[0].sfr.per_channel.items():
        ax.plot(v.freq_cy_per_px, v.mtf, lw=0.8, color={"r": "red", "g": "green", "b": "blue"}[k],
                label=f"simulated chart, centre edge, {k}")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("cy/px")
    ax.set_ylabel("SFR")
    ax.legend(fontsize=7)
    out = out_dir / "sfr_curves.png"
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp()))
