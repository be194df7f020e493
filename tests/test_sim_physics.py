"""Simulator physics against analytic results (issue 2 "must show").

Each test compares camforge's simulated output with a formula evaluated here, independently
of camforge's own image-formation code.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from camforge.scene import flat_field
from simhelpers import expected_electrons, fit_modulation, sinusoid_scene, small_camera


def centre(a: np.ndarray, frac: float = 0.5) -> np.ndarray:
    h, w = a.shape[-2:]
    dh, dw = int(h * (1 - frac) / 2), int(w * (1 - frac) / 2)
    return a[..., dh : h - dh, dw : w - dw]


@pytest.mark.parametrize("spectral", [True, False])
def test_flat_field_mean_electrons_equal_qe_times_photons(spectral):
    cam = small_camera(sensor={"read_noise_e": 0.0})
    scene = flat_field(lux=250.0, illuminant="D65", spectral=spectral)
    t = 0.01
    expected = expected_electrons(scene, cam, t)  # [3] R, G, B
    e_rate = cam.electron_rate(scene).double().numpy()[0]  # [3, H, W]
    got = centre(e_rate).mean(axis=(1, 2)) * t
    np.testing.assert_allclose(got, expected, rtol=5e-3)
    # and through the sensor: the raw mean in DN gives back the electrons (noise on, many pixels)
    raw = cam.capture(scene, exposure_s=t, seed=3)
    K = cam.sensor.system_gain().item()
    y = raw.numpy()
    idx = cam.sensor.mosaic(torch.arange(3.0).reshape(1, 3, 1, 1).expand(1, 3, *y.shape)).numpy()[0, 0]
    for c in range(3):
        sel = centre(idx) == c
        mean_e = (centre(y)[sel].mean() - 256.0) / K
        assert mean_e == pytest.approx(expected[c], rel=5e-3)


def test_rgb_fast_path_agrees_with_spectral_path():
    cam = small_camera()
    a = cam.electron_rate(flat_field(lux=100, spectral=True)).mean(dim=(0, 2, 3))
    b = cam.electron_rate(flat_field(lux=100, spectral=False)).mean(dim=(0, 2, 3))
    # 100 nm bands vs 10 nm bands on smooth D65 and QE curves: a few percent at most
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=0.04)


def test_temporal_variance_is_mean_plus_read_noise():
    """σ²_e = μ_e + σ_read² (+ quantization 1/(12 K²)): two-frame difference over 19 200 pixels."""
    read = 3.0
    cam = small_camera(sensor={"read_noise_e": read, "cfa": "MONO", "prnu_pct": 1.0, "dsnu_e": 2.0})
    scene = flat_field(lux=100.0, spectral=False)
    t = 0.02
    K = cam.sensor.system_gain().item()
    a = cam.capture(scene, exposure_s=t, seed=1).numpy().astype(np.float64)
    b = cam.capture(scene, exposure_s=t, seed=2).numpy().astype(np.float64)
    mu_e = ((a + b) / 2 - 256.0).mean() / K
    var_e = np.var(a - b, ddof=1) / 2 / K**2
    expected = mu_e + read**2 + 1 / (12 * K**2)
    n = a.size
    tol = 5 * math.sqrt(2 / n)  # 5 σ of a variance estimate from n samples
    assert var_e == pytest.approx(expected, rel=tol)
    assert 1000 < mu_e < 20000  # the test exercised a meaningful signal level


def test_photon_transfer_recovers_K_and_sigma_d():
    """EMVA 1288 linear model σ²_y = K²σ_d² + σ²_q + K(μ_y − μ_y.dark) fitted to simulated data."""
    cam = small_camera(width=128, height=128, sensor={
        "cfa": "MONO", "read_noise_e": 4.0, "adc_noise_dn": 0.8, "row_noise_e": 0.0,
        "dark_current_e_per_s": 50.0, "dark_current_spread": 0.0, "conversion_gain_dn_per_e": 0.35,
        "full_well_e": 15000, "adc_bits": 12, "black_level_dn": 64, "prnu_pct": 0.5, "dsnu_e": 1.0})
    t = 0.01
    K_true = cam.sensor.system_gain().item()
    sigma_d_true = cam.sensor.temporal_dark_noise_e(t)
    e_levels = np.linspace(0, 0.7 * 15000, 14)
    H, W = 128, 128
    mus, vs = [], []
    for i, lvl in enumerate(e_levels):
        rate = torch.full((1, 1, H, W), lvl / t)
        a = cam.sensor(rate, t, seed=2 * i).numpy().astype(np.float64)
        b = cam.sensor(rate, t, seed=2 * i + 1).numpy().astype(np.float64)
        mus.append(((a + b) / 2).mean())
        vs.append(np.var(a - b) / 2)
    mus, vs = np.array(mus), np.array(vs)
    mu_dark, var_dark = mus[0], vs[0]
    slope, intercept = np.polyfit(mus[1:] - mu_dark, vs[1:] - var_dark, 1)
    assert slope == pytest.approx(K_true, rel=0.02)
    sigma_d = math.sqrt(max(var_dark - 1 / 12, 0)) / slope
    assert sigma_d == pytest.approx(sigma_d_true, rel=0.02)


def _diffraction_mtf(nu: np.ndarray) -> np.ndarray:
    nu = np.clip(nu, 0, 1)
    phi = np.arccos(nu)
    return 2 / np.pi * (phi - np.cos(phi) * np.sin(phi))


@pytest.mark.parametrize("wavelength_nm,f_number", [(450.0, 2.0), (550.0, 2.8), (650.0, 4.0)])
def test_diffraction_limited_mtf_matches_circular_pupil(wavelength_nm, f_number):
    cam = small_camera(lens={"f_number": f_number})
    pitch = 0.25  # µm: samples the cut-off frequency with margin
    k = cam.lens.psf([wavelength_nm], pitch, 128).double()[0]
    otf = np.fft.fft2(np.fft.ifftshift(k.numpy()))
    f = np.fft.fftfreq(128, d=pitch)
    fc = 1.0 / (wavelength_nm * 1e-3 * f_number)
    sel = (f > 0) & (f <= 0.8 * fc)
    ref = _diffraction_mtf(f[sel] / fc)
    np.testing.assert_allclose(np.abs(otf[0, sel]), ref, atol=0.01)  # along x
    np.testing.assert_allclose(np.abs(otf[sel, 0]), ref, atol=0.01)  # along y
    assert k.sum().item() == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("sigma_px", [0.5, 1.0, 1.8])
def test_gaussian_blur_and_square_pixels_give_gaussian_times_sinc(sigma_px):
    """MTF of a Gaussian PSF (σ) and a 100 %-fill square pixel: exp(−2π²σ²f²)·sinc(f)."""
    W, H = 240, 32
    pitch = 1.4
    cam = small_camera(W, H, lens={"psf": {"enabled": False, "gaussian_sigma_um": sigma_px * pitch, "oversample": 2}},
                       sensor={"fill_factor": 1.0})
    for f in (0.05, 0.15, 0.25, 0.35, 0.45):
        e = cam.electron_rate(sinusoid_scene(f, W)).double().numpy()[0, 1]
        m = fit_modulation(e, f) / 0.5
        expected = math.exp(-2 * math.pi**2 * sigma_px**2 * f**2) * np.sinc(f)
        assert m == pytest.approx(expected, abs=0.01), f"f={f}"


def test_fill_factor_narrows_the_pixel_aperture():
    W = 240
    cam = small_camera(W, 32, lens={"psf": {"enabled": False}}, sensor={"fill_factor": 0.5})
    f = 0.4
    m = fit_modulation(cam.electron_rate(sinusoid_scene(f, W)).double().numpy()[0, 1], f) / 0.5
    a = math.sqrt(0.5)  # aperture width / pitch of a square aperture with half the area
    assert m == pytest.approx(np.sinc(a * f), abs=0.01)


def test_dark_current_doubles_per_doubling_temperature():
    td = 7.0
    base = {"cfa": "MONO", "read_noise_e": 0.5, "dark_current_e_per_s": 200.0, "dark_current_ref_temp_c": 25.0,
            "dark_current_doubling_k": td, "dark_current_spread": 0.1, "black_level_dn": 64,
            "conversion_gain_dn_per_e": 1.0, "adc_bits": 16, "full_well_e": 60000}
    dark = torch.zeros((1, 1, 120, 160))
    means = []
    for T in (25.0, 25.0 + td, 25.0 + 2 * td):
        cam = small_camera(sensor={**base, "temperature_c": T})
        raw = cam.sensor(dark, 1.0, seed=5)
        means.append((raw.numpy().astype(np.float64) - 64).mean())
    # 200 e- at 25 °C; 19 200 pixels → relative standard error well below 1 %
    assert means[0] == pytest.approx(200.0, rel=0.02)
    assert means[1] / means[0] == pytest.approx(2.0, rel=0.02)
    assert means[2] / means[0] == pytest.approx(4.0, rel=0.02)


def test_same_seed_same_raw_bit_for_bit():
    cam = small_camera(sensor={"prnu_pct": 1.0, "dsnu_e": 1.0, "row_noise_e": 0.5, "dark_current_e_per_s": 30.0,
                               "defects": {"hot_ppm": 1000, "dead_ppm": 1000}})
    scene = cam.chart("slanted-edge", lux=50, spectral=False)
    a = cam.capture(scene, seed=11).data
    b = cam.capture(scene, seed=11).data
    c = cam.capture(scene, seed=12).data
    assert torch.equal(a, b)
    assert not torch.equal(a, c)
    # a second camera instance of the same design has the same fixed pattern
    cam2 = small_camera(sensor={"prnu_pct": 1.0, "dsnu_e": 1.0, "row_noise_e": 0.5, "dark_current_e_per_s": 30.0,
                                "defects": {"hot_ppm": 1000, "dead_ppm": 1000}})
    assert torch.equal(cam2.capture(scene, seed=11).data, a)


def test_cos4_relative_illumination_on_a_flat_field():
    f_mm = 2.0
    cam = small_camera(200, 150, lens={"focal_length_mm": f_mm, "relative_illumination": {"cos4": True},
                                       "psf": {"enabled": False}})
    e = cam.electron_rate(flat_field(lux=100, spectral=False)).double().numpy()[0, 1]
    g = cam.geometry
    for (row, col) in [(0, 0), (75, 199), (149, 100), (40, 30)]:
        x, y = g.pixel_to_mm(col, row)
        theta = math.atan(math.hypot(x, y) / f_mm)
        expected = math.cos(theta) ** 4
        assert e[row, col] / e[74:76, 99:101].mean() == pytest.approx(expected, rel=2e-3)


def test_mechanical_vignetting_matches_circle_overlap():
    cam = small_camera(200, 150, lens={"relative_illumination": {"cos4": False, "vignetting_stop_ratio": 1.2,
                                                                   "vignetting_shift_corner": 0.8},
                                       "psf": {"enabled": False}})
    e = cam.electron_rate(flat_field(lux=100, spectral=False)).double().numpy()[0, 1]
    # corner pixel: decentre d = 0.8 * r / r_corner; overlap of unit circle with circle R = 1.2
    g = cam.geometry
    x, y = g.pixel_to_mm(0, 0)
    d = 0.8 * math.hypot(x, y) / g.half_diagonal_mm
    R = 1.2
    a1 = math.acos((d * d + 1 - R * R) / (2 * d))
    a2 = math.acos((d * d + R * R - 1) / (2 * d * R))
    area = a1 + R * R * a2 - 0.5 * math.sqrt((-d + 1 + R) * (d + 1 - R) * (d - 1 + R) * (d + 1 + R))
    assert e[0, 0] / e[74:76, 99:101].mean() == pytest.approx(area / math.pi, rel=2e-3)


def test_distortion_moves_the_dots_where_brown_conrady_says():
    k1 = -0.1
    f_mm = 0.45  # wide angle: the frame edge is at x/f ≈ 0.5, about 2.5 % barrel there
    cam = small_camera(320, 240, lens={"focal_length_mm": f_mm, "distortion": {"k1": k1}, "psf": {"enabled": False}})
    scene = cam.chart("grid", lux=200, spectral=False, n_cols=9)
    e = cam.electron_rate(scene).double().numpy()[0, 1]
    g = cam.geometry
    hw = g.half_width_mm
    # the outermost dot on the horizontal axis: ideal image position x_u = u * hw (scene fills the view)
    u = max(d[0] for d in scene.truth["dots"] if abs(d[1]) < 1e-9)
    xu = u * hw / f_mm
    xd = xu * (1 + k1 * xu * xu)  # Brown–Conrady, normalised by focal length
    col_expected, row_expected = g.mm_to_pixel(xd * f_mm, 0.0)
    # centroid of the dark dot (radius ~7 px) around that position, background = light level
    r0, c0 = int(round(row_expected)), int(round(col_expected))
    bg = np.percentile(e, 90)
    win = e[r0 - 12 : r0 + 13, c0 - 12 : c0 + 13]
    w = np.clip(bg - win, 0, None)
    rr, cc = np.mgrid[r0 - 12 : r0 + 13, c0 - 12 : c0 + 13]
    assert (w * cc).sum() / w.sum() == pytest.approx(col_expected, abs=0.05)
    assert (w * rr).sum() / w.sum() == pytest.approx(row_expected, abs=0.05)


def test_lateral_colour_shifts_the_psf_radially():
    cam = small_camera(lens={"lateral_color": {"shift_450nm_um": 2.0, "shift_650nm_um": -1.0}})
    g = cam.geometry
    x, y = g.half_width_mm, 0.0  # right edge, on the horizontal axis
    r_frac = math.hypot(x, y) / g.half_diagonal_mm
    pitch = 0.35
    n = 64
    k = cam.lens.psf([450.0, 550.0, 650.0], pitch, n, x_mm=x, y_mm=y, r_corner_mm=g.half_diagonal_mm).double()
    # displacement from the phase of the kernel's lowest non-zero frequency (the PSF of an
    # aberration-free pupil is symmetric, so its phase is exactly the shift's linear ramp)
    K = np.fft.fft2(np.fft.ifftshift(k.numpy(), axes=(-2, -1)))
    f1 = 1.0 / (n * pitch)
    sx = -np.angle(K[:, 0, 1]) / (2 * np.pi * f1)
    sy = -np.angle(K[:, 1, 0]) / (2 * np.pi * f1)
    np.testing.assert_allclose(sx, [2.0 * r_frac, 0.0, -1.0 * r_frac], atol=1e-3)
    np.testing.assert_allclose(sy, 0.0, atol=1e-3)


def test_cfa_layout_puts_red_at_row0_col0_for_rggb():
    for cfa, red_at in [("RGGB", (0, 0)), ("BGGR", (1, 1)), ("GRBG", (0, 1)), ("GBRG", (1, 0))]:
        cam = small_camera(16, 12, sensor={"cfa": cfa})
        rate = torch.zeros((1, 3, 12, 16))
        rate[:, 0] = 1e6  # only the red channel sees light
        y = cam.sensor(rate, 0.01, noise=False).numpy()
        bright = np.argwhere(y[:2, :2] > 1000)
        assert [tuple(b) for b in bright] == [red_at], cfa
    cam = small_camera(16, 12, sensor={"cfa": "QUAD_RGGB"})
    rate = torch.zeros((1, 3, 12, 16))
    rate[:, 0] = 1e6
    y = cam.sensor(rate, 0.01, noise=False).numpy()
    assert (y[:2, :2] > 1000).all() and (y[:4, :4] > 1000).sum() == 4


def test_defect_pixels_behave_and_follow_their_rates():
    cfg = {"cfa": "MONO", "read_noise_e": 1.0, "dark_current_e_per_s": 1.0, "black_level_dn": 64,
           "conversion_gain_dn_per_e": 0.5, "adc_bits": 12, "full_well_e": 8000,
           "defects": {"hot_ppm": 2000, "dead_ppm": 2000, "stuck_ppm": 1000, "hot_dark_current_e_per_s": 5000}}
    cam = small_camera(400, 300, sensor=cfg)
    dm = cam.sensor.defect_map()
    n = 400 * 300
    counts = dm.count()
    for kind, ppm in (("hot", 2000), ("dead", 2000), ("stuck", 1000)):
        lam = ppm * 1e-6 * n
        assert abs(counts[kind] - lam) < 5 * math.sqrt(lam), kind
    dark = cam.sensor(torch.zeros((1, 1, 300, 400)), 0.5, seed=0).numpy()
    assert dark[dm.hot.numpy()].mean() > 64 + 0.5 * 2500 * 0.8  # hot pixels glow in the dark
    bright = cam.sensor(torch.full((1, 1, 300, 400), 8000.0), 0.5, seed=0).numpy()
    assert np.abs(bright[dm.dead.numpy()] - 64).max() < 10  # dead pixels stay at black
    assert (bright[dm.stuck.numpy()] == 4095).all()  # stuck at the white level


def test_auto_exposure_puts_highlights_at_target():
    cam = small_camera(sensor={"cfa": "RGGB"})
    scene = cam.chart("step", lux=300, spectral=False)
    raw = cam.capture(scene, seed=0)
    y = raw.numpy() - 256.0
    sat = min(20000, (2**14 - 1 - 256) / 0.5)
    assert np.percentile(y / 0.5, 99.5) == pytest.approx(0.8 * sat, rel=0.05)
    assert raw.meta.extra["auto_exposure"] is True


def test_low_light_auto_exposure_raises_gain_at_the_exposure_limit():
    cam = small_camera(sensor={"exposure_max_s": 0.01, "max_analog_gain": 8.0})
    raw = cam.capture(cam.chart("flat", lux=0.5, spectral=False), seed=0)
    assert raw.meta.exposure_s == pytest.approx(0.01)
    assert raw.meta.analog_gain > 1.0


def test_window_capture_equals_the_crop_of_a_full_capture():
    cam = small_camera(96, 64, lens={"aberrations": [{"field": 0.0, "defocus_um": 0.05},
                                                     {"field": 1.0, "astigmatism_0_um": 0.1}],
                                     "distortion": {"k1": -0.05}, "psf": {"zones": [3, 2]}},
                       sensor={"prnu_pct": 1.0, "dsnu_e": 1.0, "defects": {"hot_ppm": 5000}})
    scene = cam.chart("slanted-edge", lux=200, spectral=False)
    full = cam.capture(scene, exposure_s=0.01, noise=False).data
    part = cam.capture(scene, exposure_s=0.01, noise=False, window=(30, 20, 40, 30)).data
    assert part.shape[-2:] == (30, 40)
    np.testing.assert_allclose(part.numpy(), full[..., 20:50, 30:70].numpy(), atol=1.0)  # ≤ 1 DN rounding
    e_full = cam.electron_rate(scene)
    e_part = cam.electron_rate(scene, window=(30, 20, 40, 30))
    # the window uses smaller FFT blocks; the compact prefilter-removal kernel differs by < 1e-3
    # of its weight beyond 16 fine samples, hence agreement to a few 1e-4
    torch.testing.assert_close(e_part, e_full[..., 20:50, 30:70], rtol=5e-4, atol=1e-3)


def test_zernike_coefficient_rotation_equals_rotating_the_pupil():
    from camforge.optics.psf import rotate_zernike
    from camforge.optics.zernike import NAMES, wavefront

    rng = np.random.default_rng(1)
    c = torch.tensor(rng.normal(size=len(NAMES)), dtype=torch.float64)
    rho = torch.tensor(rng.uniform(0, 1, 200), dtype=torch.float64)
    th = torch.tensor(rng.uniform(-math.pi, math.pi, 200), dtype=torch.float64)
    a = 0.7
    direct = wavefront(c, rho, th - a)
    rotated = wavefront(rotate_zernike(c, a), rho, th)
    torch.testing.assert_close(rotated, direct)


def test_off_axis_psf_turns_with_the_field_azimuth():
    """A rotationally symmetric lens: the PSF at the top of the field is the PSF at the right
    of the field turned by 90 degrees (astigmatism and coma point along the radius)."""
    cam = small_camera(lens={"aberrations": [{"field": 0.0}, {"field": 1.0, "astigmatism_0_um": 0.15,
                                                                  "coma_y_um": 0.08}]})
    g = cam.geometry
    r = 0.6 * g.half_diagonal_mm
    kx = cam.lens.psf([550.0], 0.5, 64, x_mm=r, y_mm=0.0, r_corner_mm=g.half_diagonal_mm)[0]
    ky = cam.lens.psf([550.0], 0.5, 64, x_mm=0.0, y_mm=r, r_corner_mm=g.half_diagonal_mm)[0]
    # image axes are (row = y, col = x); turning +x into +y is a transpose for this symmetric case
    torch.testing.assert_close(ky, kx.T, atol=2e-6, rtol=1e-3)
    assert not torch.allclose(kx, kx.T, atol=1e-4)  # the PSF is not itself symmetric


def test_a_batch_of_scenes_captures_like_each_scene_alone():
    from camforge.scene import natural_image
    from camforge.scene.base import Scene

    rng = np.random.default_rng(0)
    imgs = [rng.uniform(0, 1, (24, 32, 3)) for _ in range(2)]
    scenes = [natural_image(im, lux=300, encoding="linear", spectral=False) for im in imgs]
    batch = Scene(spectra=scenes[0].spectra, grid=scenes[0].grid,
                  maps=torch.cat([s.maps for s in scenes]), name="batch", lux=300)
    cam = small_camera(64, 48)
    out = cam.capture(batch, exposure_s=0.01, noise=False)
    assert out.data.shape == (2, 1, 48, 64)
    for i, s in enumerate(scenes):
        one = cam.capture(s, exposure_s=0.01, noise=False)
        np.testing.assert_allclose(out.data[i].numpy(), one.data[0].numpy(), atol=1.0)
    noisy = cam.capture(batch, exposure_s=0.01, seed=1)
    assert not torch.equal(noisy.data[0], noisy.data[1])  # independent noise per frame
