"""Blemish physics: the shadow of a particle on the cover glass, against a ray trace."""

import math

import numpy as np
import pytest

from camforge.errors import InputError
from camforge.qualify.blemish import (
    Occluder, mean_contrast, peak_contrast, shadow_diameter_um, shadow_transmission, single_shadow,
)


def ray_traced_contrast(rho_um, a_um, z_um, f_number, n=400_000, seed=0):
    """Monte-Carlo reference: rays from a uniformly lit exit pupil far above the pixel (telecentric),
    converging on a pixel at distance rho from the particle's foot; fraction stopped by an opaque
    disc of diameter a at height z."""
    rng = np.random.default_rng(seed)
    L = 50_000.0  # pupil distance [µm]
    R = L / (2 * f_number)  # pupil radius
    r = R * np.sqrt(rng.random(n))
    t = 2 * np.pi * rng.random(n)
    px, py = rho_um + r * np.cos(t), r * np.sin(t)  # pupil points above the pixel
    # ray from pupil point (height L) to the pixel (rho, 0) at height 0, position at height z
    x = rho_um + (px - rho_um) * z_um / L
    y = py * z_um / L
    return float(np.mean(x * x + y * y <= (a_um / 2) ** 2))


@pytest.mark.parametrize("a_um,z_um,N", [(20.0, 300.0, 2.0), (20.0, 300.0, 8.0), (50.0, 100.0, 1.8)])
def test_peak_contrast_matches_ray_trace(a_um, z_um, N):
    ref = ray_traced_contrast(0.0, a_um, z_um, N)
    assert peak_contrast(a_um, z_um, N) == pytest.approx(ref, abs=0.004)


def test_rendered_shadow_matches_ray_trace_profile():
    pitch, a, z, N = 2.0, 16.0, 200.0, 2.8
    H = W = 96
    occ = Occluder("disc", W * pitch / 2, H * pitch / 2, a, z)
    c = single_shadow(occ, (H, W), pitch, N, supersample=8)
    row = c[H // 2]
    for col in (W // 2, W // 2 + 5, W // 2 + 12, W // 2 + 20, W // 2 + 30):
        rho = (col + 0.5) * pitch - W * pitch / 2
        ref = ray_traced_contrast(rho, a, z, N, n=200_000)
        # the rendered map is averaged over the pixel area; allow for that and MC noise
        assert row[col] == pytest.approx(ref, abs=0.006), (col, row[col], ref)
    # support: nothing beyond the shadow radius (a + z/N)/2 (plus one pixel of area averaging)
    d_px = shadow_diameter_um(a, z, N) / pitch
    yy, xx = np.mgrid[0:H, 0:W]
    far = np.hypot(xx + 0.5 - W / 2, yy + 0.5 - H / 2) > d_px / 2 + 1.5
    assert c[far].max() < 1e-9


def test_flux_is_conserved_and_mean_contrast():
    pitch, a, z = 2.0, 20.0, 250.0
    H = W = 160
    for N in (1.8, 4.0, 8.0):
        occ = Occluder("disc", W, H, a, z)  # centre of the frame (µm)
        c = single_shadow(occ, (H, W), pitch, N, supersample=8)
        blocked_um2 = c.sum() * pitch**2
        assert blocked_um2 == pytest.approx(math.pi * a * a / 4, rel=0.01)
        d = shadow_diameter_um(a, z, N)
        assert blocked_um2 / (math.pi * d * d / 4) == pytest.approx(mean_contrast(a, z, N), rel=0.02)


def test_f8_shadow_is_smaller_and_darker_than_f18():
    pitch, a, z = 2.0, 20.0, 300.0
    occ = Occluder("disc", 160.0, 160.0, a, z)
    c18 = single_shadow(occ, (160, 160), pitch, 1.8)
    c8 = single_shadow(occ, (160, 160), pitch, 8.0)
    assert c8.max() > 10 * c18.max()
    assert (c8 > 1e-4).sum() < 0.2 * (c18 > 1e-4).sum()
    assert shadow_diameter_um(a, z, 8.0) < shadow_diameter_um(a, z, 1.8)


def test_particle_larger_than_cone_is_a_full_umbra():
    assert peak_contrast(60.0, 100.0, 2.0) == 1.0
    c = single_shadow(Occluder("disc", 100.0, 100.0, 60.0, 100.0), (100, 100), 2.0, 2.0)
    assert c.max() == pytest.approx(1.0, abs=1e-6)


def test_scratch_contrast_is_width_over_cone():
    pitch, w, z, N = 2.0, 3.0, 120.0, 2.0
    occ = Occluder("line", 20.0, 100.0, w, z, x2_um=180.0, y2_um=100.0)
    c = single_shadow(occ, (100, 100), pitch, N, supersample=8)
    # below the middle of a long line the strip of width w ≪ R crosses the cone's disc
    # (radius R = z / 2N) through its centre: blocked fraction w · 2R / (π R²) = 2 w / (π R)
    R = z / (2 * N)
    assert c[50, 50] == pytest.approx(2 * w / (math.pi * R), rel=0.05)
    T = shadow_transmission([occ], (100, 100), pitch, N, supersample=8)
    assert T[50, 50] == pytest.approx(1 - c[50, 50], abs=1e-9)


def test_bad_arguments():
    with pytest.raises(InputError):
        peak_contrast(-1.0, 100.0, 2.0)
    with pytest.raises(InputError):
        shadow_diameter_um(10.0, 100.0, 0.0)
    with pytest.raises(InputError):
        single_shadow(Occluder("triangle", 1, 1, 1, 1), (10, 10), 1.0, 2.0)
