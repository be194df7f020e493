"""Distortion from a simulated dot grid: the lens' Brown–Conrady k1 recovered, SMIA TV distortion
against the lens model, and a synthetic rotated grid."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.errors import InputError, MeasurementError
from camforge.metrics.distortion import find_dots, measure_distortion

PITCH_UM = 1.4
F_MM = 1.0


def _camera(k1):
    from camforge.camera import Camera

    return Camera({"name": "dist", "lens": {"focal_length_mm": F_MM, "f_number": 2.0, "psf": {"enabled": False},
                                            "distortion": {"k1": k1}, "relative_illumination": {"cos4": False}},
                   "sensor": {"width_px": 480, "height_px": 360, "pixel_pitch_um": PITCH_UM, "full_well_e": 6000,
                              "seed": 1}})


@pytest.fixture(scope="module", params=[-0.1, 0.06], ids=["barrel", "pincushion"])
def grid_capture(request):
    torch.set_num_threads(1)
    cam = _camera(request.param)
    scene = cam.chart("grid", lux=300, spectral=False)
    return request.param, cam, scene, cam.capture(scene, seed=3)


def _smia_from_lens(cam):
    """SMIA TV distortion of the lens model itself: the rectangle whose image corners touch the frame
    corners (ideal corner = lens.undistort(frame corner)); B = image height of its centre column."""
    g = cam.geometry
    f = float(cam.lens.focal_length_mm)
    xc, yc = g.width_px * g.pitch_um * 5e-4 / f, g.height_px * g.pitch_um * 5e-4 / f  # normalised corner
    xu, yu = cam.lens.undistort(torch.tensor(xc, dtype=torch.float64), torch.tensor(yc, dtype=torch.float64))
    _, yb = cam.lens.distort(torch.tensor(0.0, dtype=torch.float64), yu.double())
    A, B = 2 * yc, 2 * float(yb)
    return 100 * (A - B) / B


def test_k1_recovered_within_2_percent(grid_capture):
    """k1 (OpenCV normalisation, focal length in pixels) from the captured dots within 2 %, with one
    and with two radial terms; dot centres agree with the camera's own scene → pixel mapping."""
    k1, cam, scene, raw = grid_capture
    f_px = F_MM / (PITCH_UM * 1e-3)
    for n_terms in (1, 2):
        r = measure_distortion(raw, focal_length_px=f_px, n_terms=n_terms)
        assert r.k1 == pytest.approx(k1, rel=0.02), (n_terms, r.k1)
        assert r.normalization == "focal_length" and r.rms_residual_px < 0.1
    assert r.n_dots >= 150
    # measured dot centres vs the truth dots mapped through the lens (sub-pixel)
    u, v = zip(*scene.truth["dots"])
    col, row = cam.scene_to_pixel(scene, list(u), list(v))
    truth = np.stack([np.asarray(col), np.asarray(row)], 1)
    d = np.min(np.hypot(*(np.asarray(r.dots_px)[:, None, :] - truth[None]).transpose(2, 0, 1)), axis=1)
    assert d.max() < 0.15
    # SMIA TV distortion against the lens model (dominated by the k1 error: 2 % of it)
    expected = _smia_from_lens(cam)
    assert math.copysign(1, r.smia_tv_distortion_pct) == math.copysign(1, k1)
    assert r.smia_tv_distortion_pct == pytest.approx(expected, rel=0.03)
    assert r.tv_distortion_pct == pytest.approx(r.smia_tv_distortion_pct / 2)


def test_half_diagonal_normalisation_and_rotated_synthetic_grid():
    """Dots rendered analytically at p_d = c + (p_u − c)(1 + k1 ρ²), ρ = |p_u − c| / half-diagonal, on a
    grid turned by 4°: k1 and the rotation come back."""
    H, W, k1, pitch, rot = 300, 400, -0.08, 24.0, math.radians(4.0)
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    n = math.hypot(W / 2, H / 2)
    R = np.array([[math.cos(rot), -math.sin(rot)], [math.sin(rot), math.cos(rot)]])
    ij = np.array([(i, j) for i in range(-10, 11) for j in range(-8, 9)], dtype=float)
    pu = c + pitch * ij @ R.T
    r2 = np.sum((pu - c) ** 2, 1, keepdims=True) / n**2
    pd = c + (pu - c) * (1 + k1 * r2)
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    img = np.ones((H, W))
    for x0, y0 in pd:
        if -5 < x0 < W + 5 and -5 < y0 < H + 5:
            img -= 0.8 * np.clip(4.5 - np.hypot(xx - x0, yy - y0), 0, 1)  # anti-aliased disc, radius 4
    r = measure_distortion(img)
    assert r.normalization == "half_diagonal"
    assert r.k1 == pytest.approx(k1, rel=0.02)
    assert r.rotation_deg == pytest.approx(4.0, abs=0.05)
    assert r.pitch_px == pytest.approx(pitch, rel=0.002)
    assert r.to_dict()["n_dots"] == r.n_dots


def test_distortion_bad_input():
    with pytest.raises(MeasurementError, match="uniform"):
        measure_distortion(np.ones((100, 100)))
    with pytest.raises(MeasurementError):
        measure_distortion(np.random.default_rng(0).random((100, 100)))
    with pytest.raises(InputError, match="n_terms"):
        measure_distortion(np.ones((100, 100)), n_terms=3)
    with pytest.raises(InputError, match="too small"):
        find_dots(np.ones((8, 8)))
