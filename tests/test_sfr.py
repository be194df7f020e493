"""ISO 12233 e-SFR (camforge.metrics.sfr) against analytic edges.

Reference: a Gaussian-blurred (σ) straight edge sampled by 100 %-fill square pixels. Its
MTF along the edge normal is exactly

    MTF(f) = exp(−2π²σ²f²) · |sinc(f cos θ) · sinc(f sin θ)|

because the pixel box, projected on the normal, is the convolution of two boxes of widths
|cos θ| and |sin θ| (the Gaussian is isotropic). The reference MTF50 is the root of
MTF(f) = 0.5 (brentq). The test images are computed in closed form and checked here against
2-D Gauss–Legendre quadrature and against a direct 1-D convolution along the normal.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import special
from scipy.optimize import brentq

from camforge.errors import InputError, MeasurementError
from camforge.metrics.sfr import SFRResult, analytic_edge, analytic_edge_mtf, analytic_mtf50, sfr
from camforge.types import Image, Raw, RawMeta

SIGMAS = (0.5, 0.75, 1.0, 1.5, 2.0, 2.5)
ANGLES = (2.0, 3.0, 5.0, 8.0, 11.0, 15.0, 20.0)
DARK, LIGHT = 12500.0, 50000.0  # 4:1 contrast, 16-bit


def _edge16(shape, angle, sigma, *, snr=None, rng=None, center=None):
    a = analytic_edge(shape, angle, sigma, center_xy=center, dark=DARK, light=LIGHT)
    if snr:
        a = a + rng.normal(0.0, (LIGHT - DARK) / snr, a.shape)
    return np.clip(np.round(a), 0, 65535).astype(np.uint16)


def _reference_mtf50(angle, sigma):
    """Independent root of the stated reference formula (not via camforge)."""
    th = math.radians(angle)

    def m(f):
        return math.exp(-2 * (math.pi * sigma * f) ** 2) * abs(np.sinc(f * math.cos(th)) * np.sinc(f * math.sin(th)))

    return brentq(lambda f: m(f) - 0.5, 1e-6, 1.0 / math.cos(th) - 1e-9, xtol=1e-14)


# ----------------------------------------------------------------------------- the generator itself
@pytest.mark.parametrize("angle,sigma", [(2.0, 0.5), (11.0, 1.0), (20.0, 2.5), (-7.0, 0.75)])
def test_analytic_edge_equals_gauss_legendre_quadrature(angle, sigma):
    img = analytic_edge((12, 12), angle, sigma, center_xy=(5.3, 5.8))
    xg, wg = np.polynomial.legendre.leggauss(64)
    th = math.radians(angle)
    for r, c in [(0, 0), (5, 5), (6, 5), (5, 6), (11, 2), (3, 9), (8, 7)]:
        x = c + 0.5 * xg[:, None]
        y = r + 0.5 * xg[None, :]
        v = special.ndtr(((x - 5.3) * math.cos(th) + (y - 5.8) * math.sin(th)) / sigma)
        quad = 0.25 * float(np.sum(wg[:, None] * wg[None, :] * v))
        assert img[r, c] == pytest.approx(quad, abs=1e-10)


@pytest.mark.parametrize("angle,sigma", [(3.0, 0.5), (15.0, 2.0)])
def test_reference_mtf_is_the_edge_profile_along_the_normal(angle, sigma):
    """Pixel values equal the Gaussian ESF convolved with the projected pixel (a trapezoid)
    at the pixel centre's distance from the edge, and the Fourier transform of that kernel is
    the stated reference MTF."""
    th = math.radians(angle)
    c, s = abs(math.cos(th)), abs(math.sin(th))
    ds = 1e-4
    u = (np.arange(-40000, 40001)) * ds
    # density of t = x cos θ + y sin θ for (x, y) uniform on the pixel: box(c) ⊗ box(s), a trapezoid
    trap = np.clip(((c + s) / 2 - np.abs(u)) / (c * s), 0.0, 1.0 / c)
    assert np.sum(trap) * ds == pytest.approx(1.0, abs=1e-6)
    img = analytic_edge((9, 9), angle, sigma, center_xy=(4.1, 3.7))
    for r, col in [(4, 4), (4, 3), (2, 5), (6, 4)]:
        t = (col - 4.1) * math.cos(th) + (r - 3.7) * math.sin(th)
        val = float(np.sum(special.ndtr((t - u) / sigma) * trap) * ds)
        assert img[r, col] == pytest.approx(val, abs=2e-4)
    f = np.array([0.05, 0.1, 0.2, 0.3, 0.45])
    ft_trap = np.abs(np.exp(-2j * np.pi * f[:, None] * u[None, :]) @ trap) * ds  # numerical transform
    ft = np.exp(-2 * (np.pi * sigma * f) ** 2) * ft_trap  # times the Gaussian's transform
    np.testing.assert_allclose(ft, analytic_edge_mtf(f, angle, sigma), atol=1e-6)
    assert analytic_mtf50(angle, sigma) == pytest.approx(_reference_mtf50(angle, sigma), rel=1e-10)


# ----------------------------------------------------------------------------- accuracy
def test_mtf50_noise_free_grid_within_targets():
    """Noise-free, 16-bit quantised, 128×128: median |error| ≤ 0.15 %, worst ≤ 0.5 %."""
    errs = []
    for sigma in SIGMAS:
        for angle in ANGLES:
            r = sfr(_edge16((128, 128), angle, sigma, center=(63.8, 63.5)), bootstrap=0)
            errs.append(abs(r.mtf50_cy_per_px / _reference_mtf50(angle, sigma) - 1))
    errs = np.array(errs) * 100
    assert np.median(errs) <= 0.15
    assert errs.max() <= 0.5


def test_mtf_curve_matches_reference_up_to_nyquist():
    for angle, sigma in [(5.0, 0.5), (11.0, 1.5)]:
        r = sfr(_edge16((128, 128), angle, sigma), bootstrap=0)
        f = r.freq_cy_per_px
        band = f <= 0.5
        np.testing.assert_allclose(r.mtf[band], analytic_edge_mtf(f[band], angle, sigma), atol=2e-3)
        assert r.mtf_at_nyquist == pytest.approx(float(analytic_edge_mtf(0.5, angle, sigma)), abs=2e-3)
        assert r.mtf_at_nyquist_half == pytest.approx(float(analytic_edge_mtf(0.25, angle, sigma)), abs=2e-3)
        ref10 = analytic_mtf50(angle, sigma, level=0.1)
        assert r.mtf10_cy_per_px == pytest.approx(ref10, rel=3e-3)
        assert r.sampling_efficiency == pytest.approx(min(ref10, 0.5) / 0.5, rel=3e-3)
        assert r.mtf50p_cy_per_px == pytest.approx(r.mtf50_cy_per_px, rel=1e-9)  # monotone MTF: peak at 0
        assert r.tilt_deg == pytest.approx(angle, abs=0.01)  # sfrmat sign: -atan(dx/dy), dx/dy = -tan θ here


@pytest.mark.slow
def test_mtf50_noisy_edges_are_unbiased():
    """SNR 50/100/200 (edge step / noise σ), 40 seeded realisations per case.

    The bias of a case is estimated by the mean error over its realisations, with standard
    error SE = sd/√40 (up to ~0.2 % at SNR 50, where one realisation scatters by ~1.3 %).
    Targets: the median |bias| over the cases ≤ 0.15 %, and every case's bias ≤ 0.5 % —
    tested as |mean| ≤ 0.5 % + 2 SE (a 0.5 % bias would be caught; noise alone would not
    fail it)."""
    rng = np.random.default_rng(12233)
    biases = []
    for snr in (50, 100, 200):
        for sigma in (0.5, 1.0, 2.0):
            for angle in (3.0, 11.0):
                ref = _reference_mtf50(angle, sigma)
                e = np.array([sfr(_edge16((128, 128), angle, sigma, snr=snr, rng=rng,
                                          center=(63.5 + rng.uniform(-0.5, 0.5), 63.5)), bootstrap=0).mtf50_cy_per_px
                              / ref - 1 for _ in range(40)]) * 100
                se = e.std(ddof=1) / math.sqrt(len(e))
                assert abs(e.mean()) <= 0.5 + 2 * se, (snr, sigma, angle, e.mean(), se)
                biases.append(abs(e.mean()))
    assert np.median(biases) <= 0.15


@pytest.mark.parametrize("npol", [1, 3, 5])
def test_edge_fit_orders_and_windows(npol):
    a = _edge16((96, 96), 7.0, 1.0)
    ref = _reference_mtf50(7.0, 1.0)
    assert sfr(a, npol=npol, bootstrap=0).mtf50_cy_per_px == pytest.approx(ref, rel=2e-3)
    for kw in ({"window": "hamming"}, {"window": "none"}, {"window_px": "roi"}, {"window_alpha": 1.0},
               {"refine": False, "smooth_tails": False}, {"oversample": 8}):
        r = sfr(a, npol=npol, bootstrap=0, **kw)
        assert r.mtf50_cy_per_px == pytest.approx(ref, rel=5e-3), kw


def test_curved_edge_needs_the_polynomial_fit():
    """A bent edge (x = x0 + s·y + c·y², as lens distortion makes): the order-5 fit follows
    it, a straight line smears the ESF and lowers MTF50."""
    n, sigma, s, curv = 160, 0.8, math.tan(math.radians(6.0)), 1.2e-3
    k = 8  # sub-samples per pixel side (box integration of the blurred edge)
    sub = (np.arange(n * k) + 0.5) / k - 0.5
    X, Y = np.meshgrid(sub, sub)
    yc = Y - (n - 1) / 2
    xe = (n - 1) / 2 + s * yc + curv * yc**2
    slope = s + 2 * curv * yc
    d = (X - xe) / np.sqrt(1 + slope**2)  # distance to the curve (locally straight)
    img = special.ndtr(d / sigma).reshape(n, k, n, k).mean(axis=(1, 3))
    img = np.round(DARK + (LIGHT - DARK) * img)
    r5 = sfr(img, roi=(0, 30, n, 100), npol=5, bootstrap=0)
    r1 = sfr(img, roi=(0, 30, n, 100), npol=1, bootstrap=0)
    ref = _reference_mtf50(6.0, sigma)
    assert r5.mtf50_cy_per_px == pytest.approx(ref, rel=0.01)
    assert r1.mtf50_cy_per_px < 0.97 * ref
    assert r5.edge_fit_rms_px < 0.05 < r1.edge_fit_rms_px


def test_oecf_linearisation():
    lin = analytic_edge((96, 96), 5.0, 1.0, dark=0.2, light=0.8)
    enc = np.round(65535 * lin ** (1 / 2.2))  # gamma-encoded capture
    ref = _reference_mtf50(5.0, 1.0)
    raw = sfr(enc, bootstrap=0).mtf50_cy_per_px
    by_fn = sfr(enc, oecf=lambda v: (v / 65535) ** 2.2, bootstrap=0).mtf50_cy_per_px
    lut = (np.arange(65536) / 65535) ** 2.2
    by_lut = sfr(enc, oecf=lut, bootstrap=0).mtf50_cy_per_px
    assert by_fn == pytest.approx(ref, rel=2e-3)
    assert by_lut == pytest.approx(ref, rel=2e-3)
    assert abs(raw / ref - 1) > 0.01  # the encoding does change the answer


# ----------------------------------------------------------------------------- channels and CFA
def _mosaic(cfa: str, n: int, angle: float, sigmas: dict[int, float]) -> np.ndarray:
    from camforge.cfa import color_index_map

    cmap = color_index_map(cfa, n, n).numpy()
    out = np.zeros((n, n))
    for k, sig in sigmas.items():
        img = analytic_edge((n, n), angle, sig, dark=2000 * (0.6 + 0.2 * k), light=8000 * (0.6 + 0.2 * k))
        out[cmap == k] = img[cmap == k]
    return np.round(out)


@pytest.mark.parametrize("cfa,transpose,roi", [("RGGB", False, None), ("GBRG", False, (11, 7, 130, 140)),
                                                ("GRBG", True, (4, 9, 140, 131)), ("QUAD_RGGB", False, None)])
def test_cfa_channels_on_their_own_subgrids(cfa, transpose, roi):
    sig = {0: 1.3, 1: 1.0, 2: 1.6}
    m = _mosaic(cfa, 160, 6.0, sig)
    if transpose:  # horizontal edge; the transposed mosaic has the transposed pattern
        m = m.T
        cfa = {"RGGB": "RGGB", "BGGR": "BGGR", "GRBG": "GBRG", "GBRG": "GRBG"}[cfa]  # transposed tile
    raw = Raw(torch.as_tensor(m + 64, dtype=torch.float32), RawMeta(cfa=cfa, black_level_dn=64, white_level_dn=16383,
                                                                    bit_depth=14))
    r = sfr(raw, roi, bootstrap=0)
    assert r.channel == "g" and set(r.per_channel) == {"r", "g", "b"}
    for name, k in (("r", 0), ("g", 1), ("b", 2)):
        assert r.per_channel[name].mtf50_cy_per_px == pytest.approx(_reference_mtf50(6.0, sig[k]), rel=2e-3), name
    assert r.direction == ("horizontal" if transpose else "vertical")


def test_cfa_wrong_pattern_is_visible():
    """Negative control: telling the wrong CFA mixes colours and breaks the per-colour MTF."""
    sig = {0: 1.3, 1: 1.0, 2: 1.6}
    m = _mosaic("RGGB", 160, 6.0, sig)
    try:
        r = sfr(m, cfa="BGGR", bootstrap=0)
    except MeasurementError:
        return
    assert abs(r.per_channel["r"].mtf50_cy_per_px / _reference_mtf50(6.0, 1.3) - 1) > 0.02


def test_rgb_luminance_and_all_channels():
    sig = (1.4, 1.0, 0.8)
    rgb = np.stack([analytic_edge((100, 100), 4.0, s, dark=0.2, light=0.8) for s in sig], axis=-1)
    lum = rgb @ np.array([0.299, 0.587, 0.114])
    r = sfr(rgb, channel="all", bootstrap=0)
    assert list(r.per_channel) == ["r", "g", "b", "luminance"]
    for k, s in zip("rgb", sig):
        assert r.per_channel[k].mtf50_cy_per_px == pytest.approx(_reference_mtf50(4.0, s), rel=2e-3)
    assert r.mtf50_cy_per_px == pytest.approx(sfr(lum, bootstrap=0).mtf50_cy_per_px, rel=1e-12)
    assert sfr(rgb, channel="b", bootstrap=0).mtf50_cy_per_px == pytest.approx(_reference_mtf50(4.0, 0.8), rel=2e-3)
    assert sfr(rgb, channel=0, bootstrap=0).mtf50_cy_per_px == r.per_channel["r"].mtf50_cy_per_px


def test_input_types_agree():
    a = analytic_edge((80, 80), 5.0, 1.0, dark=0.2, light=0.8)
    ref = sfr(a, bootstrap=0).mtf50_cy_per_px
    t = torch.as_tensor(a)
    rgb = np.repeat(a[..., None], 3, axis=-1)
    for x in (t, t[None], t[None, None], Image(torch.as_tensor(rgb).permute(2, 0, 1)[None].float(), "linear_srgb"),
              rgb, rgb.astype(np.float32)):
        assert sfr(x, bootstrap=0).mtf50_cy_per_px == pytest.approx(ref, rel=1e-5)


def test_horizontal_edge_and_angle_convention():
    a = analytic_edge((100, 100), 6.0, 1.0)
    v = sfr(a, bootstrap=0)
    h = sfr(a.T, bootstrap=0)
    rot = sfr(np.rot90(a), bootstrap=0)  # sfrmat's rotation: the angle gains 90°
    assert v.direction == "vertical" and h.direction == "horizontal"
    assert h.mtf50_cy_per_px == pytest.approx(v.mtf50_cy_per_px, rel=1e-9)
    assert abs(v.angle_deg) == pytest.approx(6.0, abs=0.01)
    assert rot.angle_deg == pytest.approx(90 + v.angle_deg, abs=0.01)
    # the normal points from dark to light and the centre is on the edge
    assert v.normal_xy[0] > 0.99 and h.normal_xy[1] > 0.99
    assert v.center_xy_px == pytest.approx((49.5, 49.5), abs=0.05)


# ----------------------------------------------------------------------------- uncertainty, results
def test_bootstrap_interval_covers_the_truth():
    rng = np.random.default_rng(5)
    ref = _reference_mtf50(5.0, 1.0)
    hits = 0
    for k in range(30):
        a = _edge16((128, 128), 5.0, 1.0, snr=50, rng=rng, center=(63.5 + rng.uniform(-0.5, 0.5), 63.5))
        r = sfr(a, seed=k)
        lo, hi = r.mtf50_ci95_cy_per_px
        assert lo < r.mtf50_cy_per_px < hi
        hits += lo <= ref <= hi
    assert hits >= 25  # nominal 95 %: P(≤ 24 of 30) < 1 % for a calibrated interval
    quiet = sfr(_edge16((128, 128), 5.0, 1.0))
    assert np.diff(quiet.mtf50_ci95_cy_per_px)[0] < 1e-3 * ref


def test_result_dict_is_json_safe():
    r = sfr(_edge16((64, 64), 5.0, 1.0), bootstrap=20)
    assert isinstance(r, SFRResult)
    d = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    for key in ("mtf50", "angle_deg", "roi", "freq", "mtf", "mtf50p_cy_per_px", "mtf10_cy_per_px", "esf", "lsf",
                "sampling_efficiency", "mtf50_ci95_cy_per_px", "center_xy_px", "edge_poly"):
        assert key in d
    assert d["roi"] == [0, 0, 64, 64] and len(d["freq"]) == len(d["mtf"])
    assert r.mtf_at(r.mtf50_cy_per_px) == pytest.approx(0.5, abs=0.01)
    assert np.all(np.isnan(r.mtf_at([2.0])))
    with pytest.raises(Exception):
        r.mtf50_cy_per_px = 1.0  # frozen


# ----------------------------------------------------------------------------- bad input
def _bad_cases():
    rng = np.random.default_rng(0)
    edge = _edge16((64, 64), 5.0, 1.0)
    return {
        "uniform": (np.full((64, 64), 1000, np.uint16), "uniform"),
        "noise only": (rng.normal(30000, 500, (64, 64)).astype(np.uint16), "no edge"),
        "45 degrees": (_edge16((64, 64), 45.0, 1.0), "45°"),
        "0 degrees": (_edge16((64, 64), 0.0, 1.0), "0°"),
        "slope 1/2": (_edge16((64, 64), math.degrees(math.atan(0.5)), 1.0), "26.6°"),
        "clipped": (np.clip(np.round(analytic_edge((64, 64), 5, 1.0, dark=10000, light=90000)), 0, 65535)
                    .astype(np.uint16), "clipped"),
        "tiny ROI": (edge[:8, :8], "too small"),
        "bar (two edges)": ((_edge16((64, 64), 5, 1.0, center=(20, 32)).astype(float)
                             - _edge16((64, 64), 5, 1.0, center=(44, 32)) + 12500), "more than one edge"),
        "edge at the border": (_edge16((64, 64), 5, 1.0, center=(1, 32)), "leaves the ROI"),
    }


@pytest.mark.parametrize("name", list(_bad_cases()))
def test_bad_input_raises_measurement_error(name):
    img, words = _bad_cases()[name]
    with pytest.raises(MeasurementError, match=words):
        sfr(img, bootstrap=0)


def test_bad_arguments_raise_input_error():
    a = _edge16((64, 64), 5.0, 1.0)
    nan = a.astype(float)
    nan[3, 3] = np.nan
    for kwargs, words in [({"roi": (50, 50, 30, 30)}, "outside"), ({"channel": "x"}, "unknown channel"),
                          ({"npol": 7}, "npol"), ({"window": "kaiser"}, "window"), ({"channel": "r"}, "does not"),
                          ({"channel": "cfa"}, "mosaic"), ({"oversample": 0}, "oversample"),
                          ({"window_px": -1}, "window_px"), ({"roi": (0, 0, 0, 5)}, "positive")]:
        with pytest.raises(InputError, match=words):
            sfr(a, bootstrap=0, **kwargs)
    with pytest.raises(InputError, match="non-finite"):
        sfr(nan)
    with pytest.raises(InputError):
        sfr("h_edge.tif")
