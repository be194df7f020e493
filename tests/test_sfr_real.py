"""e-SFR and edge finding on real captures (../shared/data, see SOURCES.md).

Published reference (nssfr_sfrmat5 screenshots, sfrmat5 run on the whole image with
npol=5, Tukey window, weights .299/.587/.114): h_edge.tif — angle 95.4°, sampling
efficiency 68 %, SFR50 0.202 cy/px; v_edge.tif — 5.38°, 68 %, 0.203 cy/px. SOURCES.md gives
±0.005 cy/px for SFR50 (3 significant figures, NS-SFR variant); the same relative
tolerance (±2.5 %) is used for the MTF10 frequency behind the sampling efficiency, which
sfrmat computes as round(100 · f10 / 0.495).
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import need
from camforge.metrics._image import load_measurement_image
from camforge.metrics.edges import measure_edges
from camforge.metrics.sfr import sfr

PUBLISHED = {"h_edge.tif": (0.202, 95.4), "v_edge.tif": (0.203, 5.38)}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_sfrmat3_edges_match_published_sfrmat5(data, name):
    img = load_measurement_image(need(data / "sfrmat3" / name))
    r = sfr(img, npol=5, window="tukey", weights=(0.299, 0.587, 0.114))
    sfr50, angle = PUBLISHED[name]
    assert r.mtf50_cy_per_px == pytest.approx(sfr50, abs=0.005)
    assert r.angle_deg == pytest.approx(angle, abs=0.05)
    f10_published = 0.68 * 0.495  # sampling efficiency 68 % in sfrmat's definition
    assert r.mtf10_cy_per_px == pytest.approx(f10_published, rel=0.025)
    lo, hi = r.mtf50_ci95_cy_per_px
    assert lo < r.mtf50_cy_per_px < hi and hi - lo < 0.01
    assert r.clipped_fraction_high == 0.0


def test_sfrmat3_mono_edges_agree_with_rgb(data):
    """The _mono TIFFs are the same edges in grey: MTF50 within the bootstrap interval."""
    for stem in ("h_edge", "v_edge"):
        rgb = sfr(load_measurement_image(need(data / "sfrmat3" / f"{stem}.tif")))
        mono = sfr(load_measurement_image(need(data / "sfrmat3" / f"{stem}_mono.tif")))
        lo, hi = rgb.mtf50_ci95_cy_per_px
        assert lo - 0.002 < mono.mtf50_cy_per_px < hi + 0.002


def test_iso_chart_centre_square_found(data):
    img = load_measurement_image(need(data / "sfrmat3" / "ISO_DSC_300a.jpg"))
    res = measure_edges(img)
    H, W = img.data.shape[:2]
    centre = [e for e in res.edges if abs(e.center_xy_px[0] - W / 2) < 0.25 * W and
              abs(e.center_xy_px[1] - H / 2) < 0.25 * H]
    assert len(centre) == 4  # the four sides of the tilted centre square
    assert sorted(e.direction for e in centre) == ["horizontal", "horizontal", "vertical", "vertical"]
    for e in centre:
        assert 4.0 < e.angle_deg < 7.0  # the chart's square is tilted about 5°
        # the normal points away from the square (dark inside, light outside)
        out = np.array(e.center_xy_px) - np.array([W / 2, H / 2])
        assert np.dot(out, e.sfr.normal_xy) > 0
        assert e.orientation == "meridional"  # normals point along the radius
        assert 0.1 < e.mtf50_cy_per_px < 0.5


def test_openisp_raw_tilted_squares_found(data):
    raw = load_measurement_image(need(data / "openisp" / "test.RAW"), width=1920, height=1080, bit_depth=10,
                                 cfa="RGGB", black_level=0)
    res = measure_edges(raw)
    W, H = 1920, 1080
    centre = [e for e in res.edges if e.field < 0.15]
    assert len(centre) == 4  # the centre square's four sides
    quadrants = {(e.center_xy_px[0] > W / 2, e.center_xy_px[1] > H / 2) for e in res.edges if e.field > 0.45}
    assert quadrants == {(False, False), (False, True), (True, False), (True, True)}  # the four corner squares
    for e in res.edges:
        assert set(e.sfr.per_channel) == {"r", "g", "b"}
        assert 2.0 <= e.angle_deg <= 44.0
        assert 0.05 < e.mtf50_cy_per_px < 0.5
