"""Tone (OECF) and dynamic range on a simulated step chart, against the sensor's analytic model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.optimize import brentq

from camforge.errors import InputError, MeasurementError
from camforge.metrics.tone import measure_tone, step_chart_rois

H_PLANCK, C_LIGHT = 6.62607015e-34, 299792458.0


@pytest.fixture(scope="module")
def step_capture():
    from camforge.camera import Camera

    torch.set_num_threads(1)
    cam = Camera({"name": "tone", "lens": {"focal_length_mm": 4.4, "f_number": 2.0, "psf": {"enabled": False},
                                           "relative_illumination": {"cos4": False}},
                  "sensor": {"width_px": 480, "height_px": 360, "pixel_pitch_um": 1.4, "full_well_e": 6000,
                             "adc_bits": 12, "read_noise_e": 2.0, "dark_current_e_per_s": 0.0, "prnu_pct": 0.5,
                             "dsnu_e": 0.5, "seed": 2}})
    scene = cam.chart("step", lux=300, spectral=False, n_steps=20, max_density=4.0)
    raw = cam.capture(scene, seed=3)
    return cam, scene, raw


def _analytic(cam, raw):
    """Sensor model: σ²(μ) = μ + σ_read² + σ_dsnu² + (PRNU μ)² + 1/(12 K²) [e⁻²]; saturation at
    min(full well, (white − black) / K)."""
    s = cam.design.sensor
    K = raw.meta.conversion_gain_dn_per_e
    var = lambda mu: mu + s.read_noise_e**2 + s.dsnu_e**2 + (s.prnu_pct / 100 * mu) ** 2 + 1 / (12 * K * K)  # noqa: E731
    snr = lambda mu: mu / math.sqrt(var(mu))  # noqa: E731
    sat = min(s.full_well_e, (s.white_level_dn - s.black_level_dn) / K)
    mu1 = brentq(lambda m: snr(m) - 1, 1e-3, 100)
    mu10 = brentq(lambda m: snr(m) - 10, 1, 1000)
    return 20 * math.log10(sat / mu1), 20 * math.log10(sat / mu10)


def test_dynamic_range_matches_the_sensor_model(step_capture):
    """DR at SNR = 1 and 10 within 0.8 dB (10 %) of the analytic values. Each step ROI holds ~580
    green samples: σ is known to ~3 % and near SNR = 1 the mean to ~4 %, so the crossing exposure
    is uncertain by ~5 % (SNR = 1) / ~3 % (SNR = 10); 0.8 dB is about 2–3 σ."""
    cam, scene, raw = step_capture
    rois, refl = step_chart_rois(scene, cam)
    r = measure_tone(raw, rois, relative_exposures=refl)
    dr1, dr10 = _analytic(cam, raw)
    assert r.dynamic_range_snr1_db == pytest.approx(dr1, abs=0.8)
    assert r.dynamic_range_snr10_db == pytest.approx(dr10, abs=0.8)
    assert not r.snr1_extrapolated and not r.snr10_extrapolated
    assert r.dynamic_range_snr1_stops == pytest.approx(r.dynamic_range_snr1_db / (20 * math.log10(2)), rel=1e-12)
    # the same from automatically found steps with the chart's densities
    auto = measure_tone(raw, "auto", densities=np.linspace(0, 4, 20))
    assert len(auto.rois) == 20
    assert auto.dynamic_range_snr1_db == pytest.approx(dr1, abs=0.8)


def test_raw_oecf_is_linear_with_the_radiometric_slope(step_capture):
    """Slope of the raw OECF [DN per unit reflectance] = K · t · electrons/s of a white (ρ = 1)
    patch, computed here from first principles: E = π L T / (4 N²), photons = E Δλ p² t λ / (h c),
    electrons = Σ QE_G(λ) photons. 1 % tolerance (noise on the fitted slope < 0.1 %)."""
    from camforge.scene import flat_field

    cam, scene, raw = step_capture
    rois, refl = step_chart_rois(scene, cam)
    r = measure_tone(raw, rois, relative_exposures=refl)
    white = flat_field(lux=300, spectral=False)
    L = white.spectra[0].double().numpy().sum(0)
    wl, dl = np.asarray(white.grid.wavelengths_nm), np.asarray(white.grid.bandwidths_nm)
    E = math.pi * L * float(cam.lens.transmission) / (4 * float(cam.lens.f_number) ** 2)
    p = cam.design.sensor.pixel_pitch_um * 1e-6
    photons_per_s = E * dl * p * p * (wl * 1e-9) / (H_PLANCK * C_LIGHT)
    qe_g = cam.sensor.qe(white.grid).double().numpy()[1]
    slope = raw.meta.conversion_gain_dn_per_e * raw.meta.exposure_s * float(qe_g @ photons_per_s)
    assert r.oecf_slope == pytest.approx(slope, rel=0.01)
    # black level removed: offset ≈ 0; PRNU (0.5 %) averaged over ~580 samples leaves ~0.02 % of
    # the ~3000 DN bright steps on the fit, i.e. ±0.6 DN at the intercept
    assert abs(r.oecf_offset) < 3.0
    assert r.linearity_error_max_pct < 2.0


def test_tone_on_clipped_steps_finds_the_plateau():
    """Synthetic linear image: output = min(1000 H, 600) + noise; the linear fit meets the plateau at H = 0.6."""
    rng = np.random.default_rng(0)
    H = 10 ** -np.linspace(0, 2, 8)
    img = np.zeros((40, 8 * 40))
    rois = []
    for i, h in enumerate(H):
        img[:, 40 * i : 40 * (i + 1)] = min(1000 * h, 600) + rng.normal(0, 2, (40, 40))
        rois.append((40 * i + 5, 5, 30, 30))
    r = measure_tone(img, rois, relative_exposures=H, saturation_level=600)
    assert r.clipped == (False,) * 8  # float image: no white level, nothing flagged as clipped
    assert r.saturation_exposure == pytest.approx(0.6, rel=0.01)
    assert r.dynamic_range_snr1_db is not None and not r.saturation_extrapolated


def test_tone_bad_input(step_capture):
    cam, scene, raw = step_capture
    rois, refl = step_chart_rois(scene, cam)
    with pytest.raises(InputError, match="positive finite exposures"):
        measure_tone(raw, rois, relative_exposures=refl[:-1])
    with pytest.raises(InputError, match="not both"):
        measure_tone(raw, rois, relative_exposures=refl, densities=refl)
    with pytest.raises(MeasurementError, match="at least 3"):
        measure_tone(raw, rois[:2])
    with pytest.raises(MeasurementError, match="uniform step patches"):
        measure_tone(np.random.default_rng(0).random((100, 100)), "auto")
    with pytest.raises(InputError, match="no channel"):
        measure_tone(raw, rois, channel="Q")
    r = measure_tone(raw, rois)  # no exposures: OECF by step order only
    assert r.dynamic_range_snr1_db is None and len(r.signal) == 20
