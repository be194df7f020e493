"""Shading from a flat field: the lens' relative illumination recovered from a simulated capture,
and colour shading recovered from an image with a known analytic colour fall-off."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camforge.errors import InputError, MeasurementError
from camforge.metrics.shading import corner_boxes_px, measure_shading


@pytest.fixture(scope="module")
def flat_capture():
    from camforge.camera import Camera

    torch.set_num_threads(1)
    cam = Camera({"name": "shade",
                  "lens": {"focal_length_mm": 2.2, "f_number": 2.0, "psf": {"enabled": False},
                           "relative_illumination": {"cos4": True, "vignetting_stop_ratio": 1.15,
                                                     "vignetting_shift_corner": 0.6}},
                  "sensor": {"width_px": 320, "height_px": 240, "pixel_pitch_um": 2.0, "full_well_e": 20000,
                             "adc_bits": 12, "seed": 1}})
    raw = cam.capture(cam.chart("flat", lux=300, spectral=False), seed=4)
    return cam, raw


def _ri_box_mean(cam, box):
    """Mean relative illumination over a full-frame box (x, y, w, h), from the lens model itself."""
    g = cam.geometry
    x, y, w, h = box
    cols, rows = np.meshgrid(np.arange(x, x + w), np.arange(y, y + h))
    xm, ym = g.pixel_to_mm(cols, rows)
    r = torch.as_tensor(np.hypot(xm, ym), dtype=torch.float64)
    return float(cam.lens.relative_illumination(r, g.half_diagonal_mm).double().mean())


def test_shading_recovers_relative_illumination(flat_capture):
    """cos⁴ + cat's-eye vignetting: corner/centre from the raw flat field equals the lens'
    relative illumination averaged over the same boxes. Tolerance 0.3 percentage points: the
    corner boxes hold ~190 samples per CFA site at SNR ≈ 80, so the noise on the ratio is ~0.05 points."""
    cam, raw = flat_capture
    res = measure_shading(raw)
    H, W = raw.height, raw.width
    # the boxes on the half-resolution CFA planes, in full-frame pixels
    boxes = corner_boxes_px(H // 2, W // 2, res.roi_fraction)
    full = {k: (2 * b[0], 2 * b[1], 2 * b[2], 2 * b[3]) for k, b in boxes.items()}
    centre = _ri_box_mean(cam, full["center"])
    expected = [100 * _ri_box_mean(cam, full[k]) / centre for k in ("top_left", "top_right", "bottom_left", "bottom_right")]
    assert expected[0] < 80  # a strong fall-off, so the test means something
    np.testing.assert_allclose(res.corner_pct, expected, atol=0.3)
    # the block map follows the lens too (interior block, 1 % of the value)
    bx, by = res.block_centers_px
    i, j = 1, 2
    blk = (int(round(bx[j] - W / 32)), int(round(by[i] - H / (2 * res.grid[0]))), W // 16, H // res.grid[0])
    assert res.luma_map[i][j] == pytest.approx(_ri_box_mean(cam, blk) / centre, rel=0.01)
    # relative illumination does not depend on wavelength here: no colour shading beyond noise
    assert max(res.color_deviation_max_pct.values()) < 1.5
    assert set(res.channels) == {"R", "Gr", "Gb", "B"}
    assert res.to_dict()["corner_pct"][0] == pytest.approx(res.corner_pct[0])


def test_colour_shading_of_an_analytic_fall_off():
    """R falls as 1 − 0.2 ρ², B rises as 1 + 0.1 ρ² (ρ = radius / half-diagonal): the R/G and B/G
    block maps equal the block means of those functions, normalised at the centre ROI."""
    H, W = 120, 160
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    rho2 = ((xx - (W - 1) / 2) ** 2 + ((yy - (H - 1) / 2)) ** 2) / ((W / 2) ** 2 + (H / 2) ** 2)
    fr, fb = 1 - 0.2 * rho2, 1 + 0.1 * rho2
    img = np.stack([0.5 * fr, 0.5 * np.ones_like(fr), 0.5 * fb], -1)
    res = measure_shading(img, grid=(6, 8))
    c = (slice(54, 66), slice(72, 88))  # the 10 % centre box
    r_norm, b_norm = fr / fr[c].mean(), fb / fb[c].mean()
    blocks = lambda a: a.reshape(6, 20, 8, 20).mean(axis=(1, 3))  # noqa: E731
    np.testing.assert_allclose(res.color_maps["R/G"], blocks(r_norm), rtol=1e-10)
    np.testing.assert_allclose(res.color_maps["B/G"], blocks(b_norm), rtol=1e-10)
    assert res.color_deviation_max_pct["R/G"] == pytest.approx(100 * np.abs(blocks(r_norm) - 1).max(), rel=1e-10)
    luma = 0.2126 * r_norm + 0.7152 + 0.0722 * b_norm
    assert res.corner_pct[0] == pytest.approx(100 * luma[:12, :16].mean() / luma[c].mean(), rel=1e-10)


def test_shading_bad_input():
    with pytest.raises(MeasurementError, match="black"):
        measure_shading(np.zeros((100, 100)))
    with pytest.raises(MeasurementError, match="clipped"):
        measure_shading(np.full((100, 100), 255, dtype=np.uint8))
    with pytest.raises(InputError, match="roi_fraction"):
        measure_shading(np.ones((100, 100)), roi_fraction=0.9)
    with pytest.raises(InputError, match="grid"):
        measure_shading(np.ones((100, 100)), grid=(1, 5))
    with pytest.raises(InputError, match="extends past"):
        measure_shading(np.ones((100, 100)), roi=(50, 50, 80, 80))
