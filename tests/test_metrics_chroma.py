"""Lateral chromatic aberration from the edges of a simulated slanted-edge chart, against the
displacement the lens model applies, weighted by each colour channel's spectral response."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.errors import InputError, MeasurementError
from camforge.metrics.chroma import measure_lateral_ca

PITCH_UM = 1.4
W, H = 640, 480


@pytest.fixture(scope="module")
def ca_capture():
    from camforge.camera import Camera

    torch.set_num_threads(1)
    cam = Camera({"name": "ca", "lens": {"focal_length_mm": 4.0, "f_number": 2.8,
                                         "lateral_color": {"shift_450nm_um": -2.0, "shift_650nm_um": 1.6},
                                         "relative_illumination": {"cos4": False}},
                  "sensor": {"width_px": W, "height_px": H, "pixel_pitch_um": PITCH_UM, "full_well_e": 20000,
                             "adc_bits": 12, "seed": 1}})
    scene = cam.chart("slanted-edge", lux=10000, spectral=False, square_size=0.18)
    return cam, scene, cam.capture(scene, seed=3)


def _expected_displacements(cam, scene):
    """Per-pixel-position function → displacement [px] of each colour channel's image (R, G, B) × (x, y).

    Derivation: the image at wavelength λ is displaced radially by s(λ, field) (the lens'
    quadratic-in-λ, linear-in-field lateral colour). A channel c integrates the bands with weights
    w_c(λ) = electrons per unit radiance (QE · λ/hc · Δλ · p²) × the edge's radiance step
    (light − dark spectrum), so its line spread function is the w-weighted mix of shifted copies and
    its centroid moves by s_c = Σ w_c s / Σ w_c. The simulator evaluates the PSF once per field zone
    (at the zone centre), so s is taken at the centre of the zone containing the point.
    """
    from camforge.optics.formation import _blocks  # zone layout of the image formation (test only)

    zx, zy = cam.lens.config.psf.zones
    zbx, zby = _blocks(W, zx), _blocks(H, zy)
    w = cam.sensor.electron_weights(scene.grid).double() * (scene.spectra[0, 0] - scene.spectra[0, 1]).double()[None]
    wl = scene.grid.tensor(torch.float64)
    r_corner = cam.geometry.half_diagonal_mm

    def at(x, y):
        zi = next(i for i, (a, b) in enumerate(zbx) if a - 0.5 <= x < b - 0.5)
        zj = next(j for j, (a, b) in enumerate(zby) if a - 0.5 <= y < b - 0.5)
        xc = ((zbx[zi][0] + zbx[zi][1]) / 2 - W / 2) * PITCH_UM * 1e-3
        yc = ((zby[zj][0] + zby[zj][1]) / 2 - H / 2) * PITCH_UM * 1e-3
        field = min(math.hypot(xc, yc) / r_corner, 1.0)
        s_um = (w * cam.lens.lateral_shift_um(wl, field).double()[None]).sum(1) / w.sum(1)
        phi = math.atan2(yc, xc)
        return np.outer(s_um.numpy(), [math.cos(phi), math.sin(phi)]) / PITCH_UM

    def channel_shift_um_at_field(field):
        return ((w * cam.lens.lateral_shift_um(wl, field).double()[None]).sum(1) / w.sum(1)).numpy()

    return at, channel_shift_um_at_field


def test_lateral_ca_recovered_within_0p1_px(ca_capture):
    """Every edge found on the chart (centre, half field, corners): R − G and B − G along the edge
    normal within 0.1 px of the expected displacement (averaged along the edge, which may cross a
    PSF zone boundary). Noise: ~450 R or B samples per edge at SNR ≈ 100 give ≈ 0.025 px RMS."""
    cam, scene, raw = ca_capture
    res = measure_lateral_ca(raw)
    at, _ = _expected_displacements(cam, scene)
    assert len(res.edges) >= 30
    errs = []
    for e in res.edges:
        n = np.array(e.normal)
        t = np.array([-n[1], n[0]])
        x0, y0, w, h = e.roi
        pts = [np.array(e.center_px) + s * t for s in np.linspace(-80, 80, 321)]
        pts = [q for q in pts if x0 <= q[0] <= x0 + w - 1 and y0 <= q[1] <= y0 + h - 1]
        D = np.mean([at(*q) for q in pts], axis=0)
        errs.append((e.r_minus_g_px - (D[0] - D[1]) @ n, e.b_minus_g_px - (D[2] - D[1]) @ n))
    errs = np.abs(np.array(errs))
    assert errs.max() < 0.1, errs.max(axis=0)
    # red is displaced outward and blue inward in this lens; the corner figure follows the model
    _, shift = _expected_displacements(cam, scene)
    s1 = shift(1.0) / PITCH_UM
    assert res.r_minus_g_corner_px == pytest.approx(s1[0] - s1[1], abs=0.1)
    assert res.b_minus_g_corner_px == pytest.approx(s1[2] - s1[1], abs=0.1)
    half_diag = math.hypot(W / 2, H / 2)
    assert res.r_minus_g_corner_pct == pytest.approx(100 * res.r_minus_g_corner_px / half_diag)


def test_no_lateral_colour_without_it(ca_capture):
    """Same chart through a lens without lateral colour: every displacement below 0.1 px."""
    from camforge.camera import Camera

    cam, scene, _ = ca_capture
    plain = Camera({"name": "plain", "lens": {"focal_length_mm": 4.0, "f_number": 2.8,
                                              "relative_illumination": {"cos4": False}},
                    "sensor": cam.design.sensor.model_dump()})
    res = measure_lateral_ca(plain.capture(scene, seed=5))
    assert res.max_abs_px < 0.1


def test_lateral_ca_on_rgb_image_and_bad_input():
    """An RGB image whose red channel is the green edge moved by +0.3 px and blue by −0.2 px."""
    from scipy.special import ndtr

    yy, xx = np.mgrid[0:60, 0:60].astype(float)
    a = math.radians(5)
    d = (xx - 30) * math.cos(a) - (yy - 30) * math.sin(a)  # distance along the normal (cos a, −sin a)
    img = np.stack([0.2 + 0.6 * ndtr((d - 0.3) / 1.0), 0.2 + 0.6 * ndtr(d / 1.0), 0.2 + 0.6 * ndtr((d + 0.2) / 1.0)], -1)
    r = measure_lateral_ca(img, (10, 10, 40, 40))
    e = r.edges[0]
    assert e.r_minus_g_px == pytest.approx(0.3, abs=0.01)
    assert e.b_minus_g_px == pytest.approx(-0.2, abs=0.01)
    with pytest.raises(InputError, match="R, G and B"):
        measure_lateral_ca(img[..., 0], (10, 10, 40, 40))
    with pytest.raises(MeasurementError, match="no edge could be measured"):
        measure_lateral_ca(np.full((60, 60, 3), 0.5), (10, 10, 40, 40))
    with pytest.raises(InputError, match="extends past"):
        measure_lateral_ca(img, (30, 30, 40, 40))
