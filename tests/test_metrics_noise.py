"""Noise metrics on simulated flat fields against the sensor's analytic noise model, and the noise
power spectrum against analytic spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.errors import InputError, MeasurementError
from camforge.metrics.noise import measure_noise, noise_power_spectrum, temporal_fixed_pattern
from camforge.types import Raw

H_PLANCK, C_LIGHT = 6.62607015e-34, 299792458.0
EXPOSURE_S = 0.004


@pytest.fixture(scope="module")
def flat_frames():
    """Eight frames of a flat field at a fixed exposure: (camera, Raw batch [8, 1, H, W], μ_e per colour)."""
    from camforge.camera import Camera
    from camforge.scene import flat_field

    torch.set_num_threads(1)
    cam = Camera({"name": "noise", "lens": {"focal_length_mm": 4.0, "f_number": 2.0, "psf": {"enabled": False},
                                            "relative_illumination": {"cos4": False}},
                  "sensor": {"width_px": 320, "height_px": 240, "pixel_pitch_um": 1.4, "full_well_e": 10000,
                             "adc_bits": 12, "conversion_gain_dn_per_e": 0.35, "read_noise_e": 3.0,
                             "dark_current_e_per_s": 0.0, "prnu_pct": 1.0, "dsnu_e": 2.0, "column_fpn_e": 1.5,
                             "seed": 7}})
    scene = flat_field(lux=200, spectral=False)
    rate = cam.electron_rate(scene)
    frames = [cam.sensor(rate, EXPOSURE_S, seed=i) for i in range(8)]
    raw = Raw(torch.cat([f.data for f in frames]), frames[0].meta)
    # expected mean electrons per colour from first principles (independent of the formation code)
    L = scene.spectra[0].double().numpy().sum(0)
    wl, dl = np.asarray(scene.grid.wavelengths_nm), np.asarray(scene.grid.bandwidths_nm)
    E = math.pi * L * float(cam.lens.transmission) / (4 * float(cam.lens.f_number) ** 2)
    p = cam.design.sensor.pixel_pitch_um * 1e-6
    photons = E * dl * p * p * EXPOSURE_S * (wl * 1e-9) / (H_PLANCK * C_LIGHT)
    mu_e = cam.sensor.qe(scene.grid).double().numpy() @ photons  # [R, G, B]
    return cam, raw, mu_e


def _colour(site):
    return {"R": 0, "Gr": 1, "Gb": 1, "B": 2}[site]


def test_patch_snr_matches_the_sensor_model(flat_frames):
    """SNR of a 160 × 120 patch of one frame, per CFA site: μ / √(μ + σ_r² + σ_dsnu² + (PRNU μ)²
    + σ_col² + 1/(12 K²)) [e⁻]. Each site holds 4800 samples: σ is known to 1/√(2n) = 1 %, so 4 %."""
    cam, raw, mu_e = flat_frames
    s = cam.design.sensor
    K = raw.meta.conversion_gain_dn_per_e
    res = measure_noise(raw[0], (80, 60, 160, 120))
    assert {p.channel for p in res.patches} == {"R", "Gr", "Gb", "B"}
    for p in res.patches:
        mu = mu_e[_colour(p.channel)]
        var = mu + s.read_noise_e**2 + s.dsnu_e**2 + (s.prnu_pct / 100 * mu) ** 2 + s.column_fpn_e**2 + 1 / (12 * K * K)
        assert p.mean == pytest.approx(K * mu, rel=0.01)
        assert p.snr == pytest.approx(mu / math.sqrt(var), rel=0.04), p.channel
        assert p.snr_db == pytest.approx(20 * math.log10(p.snr))
    assert res.to_dict()["patches"][0]["channel"] == "R"


def test_temporal_and_fixed_pattern_noise_match_the_sensor_model(flat_frames):
    """Eight frames, 19 200 pixels per CFA site. Temporal σ² = K²(μ + σ_r²) + 1/12 [DN²] (within 2 %:
    the estimate's relative error is √(2/((N−1)P)) = 0.4 % on σ²). Fixed pattern: pixel part
    K²(σ_dsnu² + (PRNU μ)²), column part K² σ_col² — the pixel part within 4 standard errors: it
    is the spatial variance of the mean of N frames less σ_t²/N, so its relative standard error
    on σ is ½·√(2/P)·(1 + σ_t²/(N σ_pix²)) ≈ 2.1 % here (the temporal noise left in the mean
    image dominates; measured over ten seed sets: 1.5–2.4 %); the column part within 25 %
    (only 160 columns per site, so σ²_col is known to √(2/160) = 11 %, σ to 6 %)."""
    cam, raw, mu_e = flat_frames
    s = cam.design.sensor
    K = raw.meta.conversion_gain_dn_per_e
    res = temporal_fixed_pattern(raw)
    N = raw.data.shape[0]
    P = raw.data[0, 0].numel() / 4
    for ch in res.channels:
        mu = mu_e[_colour(ch.channel)]
        t = math.sqrt(K * K * (mu + s.read_noise_e**2) + 1 / 12)
        pix = K * math.sqrt(s.dsnu_e**2 + (s.prnu_pct / 100 * mu) ** 2)
        col = K * s.column_fpn_e
        se_pix = 0.5 * math.sqrt(2 / P) * (1 + t * t / (N * pix * pix))
        assert 0.01 < se_pix < 0.03  # the budget above
        assert ch.sigma_temporal == pytest.approx(t, rel=0.02), ch.channel
        assert ch.sigma_fpn_pixel == pytest.approx(pix, rel=4 * se_pix), ch.channel
        assert ch.sigma_fpn_col == pytest.approx(col, rel=0.25), ch.channel
        assert ch.sigma_fpn_row < 0.2 * col  # no row pattern in this sensor
        assert ch.sigma_fpn == pytest.approx(math.hypot(pix, ch.sigma_fpn_col), rel=4 * se_pix)
        assert ch.n_frames == 8
    # more frames do not change the (unbiased) FPN estimate beyond its noise
    two = temporal_fixed_pattern(raw.data[:2, 0].numpy())
    assert two.channels[0].sigma_fpn == pytest.approx(
        math.hypot(two.channels[0].sigma_fpn_pixel, two.channels[0].sigma_fpn_col, two.channels[0].sigma_fpn_row), rel=0.05)


def test_nps_of_white_and_filtered_noise():
    """White noise σ = 2: NPS = σ² at every frequency and Σ NPS Δf² = σ². Noise filtered with a known
    transfer function H(f) = exp(−2π² s² f²) (applied in the Fourier domain): NPS = σ² H(f)²."""
    # tolerances: ~900 overlapping 64² blocks; the lowest radial bin averages 8 frequency samples, so
    # its relative standard error is ≈ 1/√(8 · 450) ≈ 1.7 % — 8 % is over 4 σ
    rng = np.random.default_rng(0)
    white = rng.normal(10, 2, (1024, 1024))
    r = noise_power_spectrum(white, block_px=64, detrend_order=0)
    assert r.variance == pytest.approx(4.0, rel=0.01)
    np.testing.assert_allclose(r.nps_radial, 4.0, rtol=0.08)
    f = np.fft.fftfreq(1024)
    s = 0.8  # gentle enough that rectangular-window leakage stays < 1 % up to 0.3 cy/px
    Hf = np.exp(-2 * math.pi**2 * s**2 * (f[:, None] ** 2 + f[None, :] ** 2))
    coloured = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(0, 2, (1024, 1024))) * Hf))
    r2 = noise_power_spectrum(coloured, block_px=64, detrend_order=1)
    fb = np.fft.fftshift(np.fft.fftfreq(64))
    fr = np.hypot(fb[None, :], fb[:, None])
    ratio = r2.nps_2d / (4 * np.exp(-4 * math.pi**2 * s**2 * fr**2))  # measured / analytic, per 2-D bin
    for lo in (0.05, 0.1, 0.15, 0.2, 0.25):
        ring = (fr >= lo) & (fr < lo + 0.05)  # 40–80 bins × ~450 independent blocks: ±1 %
        assert ratio[ring].mean() == pytest.approx(1.0, abs=0.05), lo
    assert r2.to_dict()["nps_2d"]["shape"] == [64, 64]


def test_nps_on_raw_uses_one_cfa_site(flat_frames):
    cam, raw, mu_e = flat_frames
    r = noise_power_spectrum(raw[0], block_px=32)
    assert r.channel == "Gr"
    # column FPN (σ_col, constant down each column) adds σ_col² · B to every bin of the f_y = 0 line
    # of a B × B block's NPS; 54 blocks give each bin a ~14 % error, the line mean ~4 %: 40 % tolerance
    c = r.block_px // 2
    excess = r.nps_2d[c, c + 3 :].mean() - r.nps_2d[c + 3 :, c + 3 :].mean()
    sigma_col_dn = cam.design.sensor.column_fpn_e * raw.meta.conversion_gain_dn_per_e
    assert excess == pytest.approx(sigma_col_dn**2 * r.block_px, rel=0.4)


def test_noise_bad_input(flat_frames):
    cam, raw, mu_e = flat_frames
    with pytest.raises(MeasurementError, match="at least 2 frames"):
        temporal_fixed_pattern(raw.data[:1, 0].numpy())
    with pytest.raises(MeasurementError, match="samples"):
        measure_noise(raw[0], (0, 0, 8, 8))
    with pytest.raises(InputError, match="extends past"):
        measure_noise(raw[0], (300, 200, 100, 100))
    with pytest.raises(InputError, match="x,y,w,h"):
        measure_noise(raw[0], "1,2,3")
    with pytest.raises(MeasurementError, match="clipped"):
        measure_noise(np.full((64, 64), 255, dtype=np.uint8))
    with pytest.raises(MeasurementError, match="block"):
        noise_power_spectrum(np.zeros((40, 40)), block_px=64)
    with pytest.raises(InputError, match="same size"):
        temporal_fixed_pattern([np.zeros((10, 10)), np.zeros((12, 10))])
