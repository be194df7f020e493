"""Dead-leaves texture MTF against the known system MTF of a simulated camera, the power-law
fallback on a synthetic texture, and acutance against direct quadrature."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.errors import InputError, MeasurementError
from camforge.metrics.texture import acutance, csf_cpiq, measure_texture

W, H, PITCH_UM, SIGMA_PX = 256, 192, 1.4, 0.7
K_MAP = 3  # scene-map pixels per sensor pixel


@pytest.fixture(scope="module")
def dead_leaves_capture():
    from camforge.camera import Camera
    from camforge.scene import dead_leaves, flat_field

    torch.set_num_threads(1)
    cam = Camera({"name": "tex", "lens": {"focal_length_mm": 4.0, "f_number": 2.0,
                                          "psf": {"enabled": False, "gaussian_sigma_um": SIGMA_PX * PITCH_UM},
                                          "relative_illumination": {"cos4": False}},
                  "sensor": {"width_px": W, "height_px": H, "pixel_pitch_um": PITCH_UM, "full_well_e": 20000,
                             "adc_bits": 12, "cfa": "MONO", "seed": 1}})
    scene = dead_leaves(lux=1000, size_px=K_MAP * W, spectral=False, aspect=H / W, r_min=0.006, seed=1)
    raw = cam.capture(scene, seed=2)
    flat = cam.capture(flat_field(lux=1000 * scene.truth["reflectance_mean"], spectral=False), seed=5,
                       exposure_s=raw.meta.exposure_s)
    return cam, scene, raw, flat


def _system_mtf(f):
    """Pixel aperture (100 % fill: sinc), the extra Gaussian blur σ, and the bilinear interpolation
    of the chart's map onto the simulation grid (a triangle kernel of 1 map pixel: sinc² at f / K_MAP)."""
    return np.sinc(f) * np.exp(-2 * math.pi**2 * SIGMA_PX**2 * f**2) * np.sinc(f / K_MAP) ** 2


def test_texture_mtf_matches_the_system_mtf(dead_leaves_capture):
    """With the chart's own map as reference and the noise spectrum of a flat capture subtracted,
    the texture MTF equals the analytic system MTF within 0.02 up to 0.3 cycles/px (aliasing of
    the sinc-weighted spectrum above Nyquist adds ≲ 1 %; shot noise on the spectral ratio ≲ 1 %)."""
    cam, scene, raw, flat = dead_leaves_capture
    r = measure_texture(raw, reference=scene.maps[0, 0], reference_px_per_px=K_MAP, flat=flat)
    f = np.asarray(r.frequency_cy_per_px)
    m = np.asarray(r.mtf)
    sel = (f > 0.02) & (f <= 0.3)
    np.testing.assert_allclose(m[sel], _system_mtf(f[sel]), atol=0.02)
    assert r.reference == "image" and r.channel == "Y"
    # MTF50 of the analytic curve
    ff = np.linspace(0, 0.5, 50001)
    mtf50 = ff[np.argmax(_system_mtf(ff) < 0.5)]
    assert r.mtf50_cy_per_px == pytest.approx(mtf50, abs=0.01)
    # without noise subtraction the high frequencies read high (noise adds power)
    r_raw = measure_texture(raw, reference=scene.maps[0, 0], reference_px_per_px=K_MAP)
    hi = (f > 0.4) & (f < 0.5)
    assert np.nanmean(np.asarray(r_raw.mtf)[hi]) > np.nanmean(m[hi])
    assert 0 < r.acutance < 1


def test_power_law_reference_on_a_synthetic_texture():
    """Isotropic 1/f² texture (the dead-leaves law at mid frequencies) filtered by an MTF that is 1
    below 0.1 cycles/px and falls as a raised cosine to 0.2 at Nyquist: the power-law fallback fits
    η = 2 in the flat band and recovers the MTF within 0.05 averaged over bands 0.05 cy/px wide (one
    realisation of a random texture: single radial bins scatter by ~10 %, with no reference map to
    cancel it)."""
    rng = np.random.default_rng(0)
    n = 512
    fy, fx = np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n), indexing="ij")
    fr = np.hypot(fx, fy)
    amp = np.where(fr > 0, 1 / np.maximum(fr, 1.0 / n), 0.0)  # √PSD for PSD ∝ f⁻²

    def mtf_true(f):
        t = np.clip((f - 0.1) / 0.4, 0, 1)
        return 1 - 0.8 * (1 - np.cos(np.pi * t)) / 2

    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) * amp * mtf_true(fr)))
    img = 1.0 + 0.1 * field / field.std()
    r = measure_texture(img, fit_band_cy_per_px=(0.04, 0.095))
    assert r.power_law_exponent == pytest.approx(2.0, abs=0.15)
    f = np.asarray(r.frequency_cy_per_px)
    m = np.asarray(r.mtf)
    for lo in np.arange(0.05, 0.45, 0.05):
        band = (f >= lo) & (f < lo + 0.05)
        assert np.nanmean(m[band]) == pytest.approx(np.mean(mtf_true(f[band])), abs=0.05), lo


def test_acutance_against_quadrature():
    """A = ∫ MTF·CSF / ∫ CSF with the CPIQ CSF, against scipy.integrate.quad on a Gaussian MTF."""
    from scipy.integrate import quad

    s = 0.8
    f = np.linspace(0.0025, 0.5, 200)
    mtf = np.exp(-2 * math.pi**2 * s**2 * f**2)
    a, ppd = acutance(f, mtf, image_height_px=1080, display_height_cm=30, viewing_distance_cm=70)
    assert ppd == pytest.approx(1080 / 30 * 70 * math.pi / 180)
    num = quad(lambda nu: math.exp(-2 * math.pi**2 * s**2 * (nu / ppd) ** 2) * csf_cpiq(nu), 0, 0.5 * ppd)[0]
    den = quad(lambda nu: float(csf_cpiq(nu)), 0, 0.5 * ppd)[0]
    assert a == pytest.approx(num / den, rel=2e-3)
    assert acutance(f, np.ones_like(f), image_height_px=1000)[0] == pytest.approx(1.0)


def test_texture_bad_input(dead_leaves_capture):
    cam, scene, raw, flat = dead_leaves_capture
    with pytest.raises(InputError, match="reference_px_per_px"):
        measure_texture(raw, reference=scene.maps[0, 0])
    with pytest.raises(MeasurementError, match="32 × 32"):
        measure_texture(raw, roi=(0, 0, 20, 20))
    with pytest.raises(MeasurementError, match="mean of zero"):
        measure_texture(np.zeros((64, 64)))
    with pytest.raises(InputError, match="matching"):
        acutance([0.1, 0.2], [1.0], image_height_px=100)
