"""ISP stages against independent references (numpy/scipy definitions, colour-science, scikit-image)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camforge.errors import ConfigError, InputError
from camforge.isp import (
    apply_ccm, bilateral, black_level, ccm_from_dng, gamma_curve, grey_edge, grey_world, lens_shading, nlm,
    rgb_to_yuv, s_curve, srgb_decode, srgb_encode, unsharp_mask, white_balance, white_patch, yuv_to_rgb,
)
from camforge.isp.lsc import LensShading

colour = pytest.importorskip("colour")


def _rng(seed=0):
    return np.random.default_rng(seed)


# ---------------------------------------------------------------------------- black level
def test_black_level_per_site_matches_numpy():
    x = _rng().uniform(0, 1023, (2, 1, 6, 8)).astype(np.float32)
    bl = np.array([[60.0, 64.0], [66.0, 62.0]])  # GRBG tile, row order
    got = black_level(torch.from_numpy(x), "GRBG", bl.ravel(), 1023.0).numpy()
    tile = np.tile(bl, (3, 4))
    assert np.allclose(got, (x - tile) / (1023.0 - tile), atol=1e-6)


def test_black_level_quad_bayer_accepts_2x2_values():
    x = torch.full((1, 1, 8, 8), 100.0)
    got = black_level(x, "QUAD_RGGB", [10.0, 20.0, 30.0, 40.0], 110.0)
    assert torch.allclose(got[0, 0, :2, :2], torch.full((2, 2), 0.9))      # R block
    assert torch.allclose(got[0, 0, 2:4, 2:4], torch.full((2, 2), 60 / 70))  # B block
    with pytest.raises(InputError):
        black_level(x, "RGGB", [1.0, 2.0, 3.0], 100.0)


# ---------------------------------------------------------------------------- white balance
def _planes(seed=1, h=24, w=32):
    rgb = _rng(seed).uniform(0.05, 0.9, (1, 3, h, w))
    rgb[0, 0] *= 0.6
    rgb[0, 2] *= 0.8
    return rgb


def test_grey_world_and_white_patch_match_numpy():
    rgb = _planes()
    t = torch.from_numpy(rgb)
    gw = grey_world(t)[0].numpy()
    m = rgb[0].reshape(3, -1).mean(1)
    assert np.allclose(gw, m / m[1], rtol=1e-10)
    wp = white_patch(t, percentile=95.0)[0].numpy()
    q = np.percentile(rgb[0].reshape(3, -1), 95.0, axis=1)
    assert np.allclose(wp, q / q[1], rtol=1e-10)


def test_grey_edge_matches_scipy_definition():
    """van de Weijer 2007, first order: Minkowski-p mean of |∇(G_σ * f)| per channel."""
    from scipy.ndimage import gaussian_filter

    rgb = _planes(2)
    p, sigma = 2.0, 1.0
    e = []
    for c in range(3):
        f = gaussian_filter(rgb[0, c], sigma, mode="mirror", truncate=3.0)
        gy, gx = np.gradient(f)
        mag = np.hypot(gx, gy)[1:-1, 1:-1]
        e.append(np.mean(mag**p) ** (1 / p))
    e = np.array(e)
    got = grey_edge(torch.from_numpy(rgb), p=p, sigma_px=sigma)[0].numpy()
    assert np.allclose(got, e / e[1], rtol=1e-6)


def test_white_balance_recovers_a_known_illuminant():
    """A grey scene under a coloured light: every estimator returns the light's colour."""
    g = torch.Generator().manual_seed(0)
    grey = 0.1 + 0.6 * torch.rand(1, 1, 32, 32, generator=g).repeat(1, 3, 1, 1)
    light = torch.tensor([0.55, 1.0, 0.8])
    mosaic = torch.zeros(1, 1, 64, 64)
    lit = grey * light[None, :, None, None]
    mosaic[..., 0::2, 0::2] = lit[:, 0]
    mosaic[..., 0::2, 1::2] = lit[:, 1]
    mosaic[..., 1::2, 0::2] = lit[:, 1]
    mosaic[..., 1::2, 1::2] = lit[:, 2]
    for method in ("grey_world", "white_patch", "grey_edge"):
        out = white_balance(mosaic, "RGGB", method=method)
        r, g_, b = out[0, 0, 0::2, 0::2], out[0, 0, 0::2, 1::2], out[0, 0, 1::2, 1::2]
        assert torch.allclose(r, g_, rtol=1e-5) and torch.allclose(b, g_, rtol=1e-5), method


def test_white_balance_rejects_black_frames():
    with pytest.raises(InputError, match="no signal"):
        white_balance(torch.zeros(1, 1, 8, 8), "RGGB", method="grey_world")


# ---------------------------------------------------------------------------- lens shading
def test_lsc_grid_interpolates_nodes_exactly_and_is_smooth():
    """Keys cubic interpolation passes through the nodes; a constant grid gives a constant map."""
    grid = torch.ones(4, 3, 3) * 1.5
    x = torch.full((1, 1, 16, 16), 0.4)
    assert torch.allclose(lens_shading(x, "RGGB", grid), torch.full_like(x, 0.6), atol=1e-6)
    # a grid that is linear in x is reproduced exactly (cubic convolution reproduces linear data)
    lin = torch.linspace(1.0, 2.0, 5)[None, None, :].repeat(4, 4, 1)
    W = 65
    y = lens_shading(torch.ones(1, 1, 32, 2 * W - 2 + 2), "RGGB", lin)
    cols = torch.arange(y.shape[-1], dtype=torch.float64)
    expect = 1.0 + cols / (y.shape[-1] - 1)
    assert torch.allclose(y[0, 0, 0].double(), expect, atol=1e-5)


def test_lsc_radial_and_strength():
    x = torch.ones(1, 1, 20, 30)
    y = lens_shading(x, "RGGB", radial=(0.5, 0.0))
    assert abs(float(y[0, 0, 0, 0]) - 1.5) < 1e-5          # corner: r = 1
    assert abs(float(y.min()) - 1.0) < 0.01                   # centre ≈ 1
    half = lens_shading(x, "RGGB", radial=(0.5, 0.0), strength=0.5)
    assert torch.allclose(half - 1, (y - 1) * 0.5, atol=1e-6)
    with pytest.raises(ConfigError):
        LensShading()


# ---------------------------------------------------------------------------- colour
def test_ccm_from_dng_matches_colour_science():
    """DNG ColorMatrix route against colour-science: camera → XYZ (scene white) → Bradford → sRGB."""
    CM = np.array([[0.70, 0.20, -0.10], [-0.30, 1.20, 0.10], [0.05, -0.20, 0.95]])  # XYZ -> camera
    xy_a = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["A"]
    XYZ_a = colour.xy_to_XYZ(xy_a)
    neutral = CM @ XYZ_a
    M = ccm_from_dng(CM.ravel(), neutral)
    XYZ = _rng(3).uniform(0.05, 0.9, (20, 3)) * XYZ_a  # surface colours under illuminant A
    cam_wb = (CM @ XYZ.T).T / neutral
    got = apply_ccm(torch.from_numpy(cam_wb.T.reshape(1, 3, 4, 5)), torch.from_numpy(M))[0].reshape(3, -1).T.numpy()
    ref = colour.XYZ_to_RGB(XYZ / XYZ_a[1], "sRGB", illuminant=xy_a, chromatic_adaptation_transform="Bradford",
                            apply_cctf_encoding=False)
    assert np.allclose(got, ref, atol=1e-10)
    # white → white (to the rounding of the IEC 61966-2-1 matrix against the D65 chromaticity)
    assert np.allclose(M @ np.ones(3), np.ones(3), atol=1e-3)


def test_srgb_encoding_matches_iec_61966_2_1():
    v = torch.linspace(0, 1, 10001, dtype=torch.float64)
    assert np.allclose(srgb_encode(v).numpy(), colour.cctf_encoding(v.numpy(), "sRGB"), atol=5e-8)
    assert np.allclose(srgb_decode(v).numpy(), colour.cctf_decoding(v.numpy(), "sRGB"), atol=1e-12)
    assert np.allclose(gamma_curve(v, 2.2).numpy(), np.maximum(v.numpy(), 1e-8) ** (1 / 2.2), atol=1e-12)


def test_s_curve_is_a_normalised_monotone_contrast_curve():
    v = torch.linspace(0, 1, 1001, dtype=torch.float64)
    y = s_curve(v, gamma=1.0, contrast=2.0, pivot=0.4)
    assert abs(float(y[0])) < 1e-6 and abs(float(y[-1]) - 1) < 1e-12
    assert bool((y[1:] >= y[:-1]).all())
    # steeper than identity around the pivot: a contrast curve
    i = 400
    slope = float((y[i + 1] - y[i - 1]) / (v[i + 1] - v[i - 1]))
    assert slope > 1.5


@pytest.mark.parametrize("std,key", [("bt601", "ITU-R BT.601"), ("bt709", "ITU-R BT.709")])
@pytest.mark.parametrize("rng", ["full", "limited"])
def test_yuv_matches_colour_science(std, key, rng):
    rgb = _rng(4).uniform(0, 1, (50, 3))
    ref = colour.RGB_to_YCbCr(rgb, K=colour.WEIGHTS_YCBCR[key], out_legal=rng == "limited", out_bits=8, out_int=False)
    t = torch.from_numpy(rgb.T.reshape(1, 3, 5, 10))
    got = rgb_to_yuv(t, std, rng)[0].reshape(3, -1).T.numpy()
    assert np.allclose(got, ref, atol=1e-12)
    assert torch.allclose(yuv_to_rgb(rgb_to_yuv(t, std, rng), std, rng), t, atol=1e-12)


# ---------------------------------------------------------------------------- sharpen
def test_unsharp_mask_rgb_matches_skimage():
    skf = pytest.importorskip("skimage.filters")
    img = _rng(5).uniform(0.3, 0.7, (40, 48, 3))
    # per channel (skimage 0.26 returns uninitialised memory with channel_axis + preserve_range)
    ref = np.stack([skf.unsharp_mask(img[..., c], radius=1.2, amount=0.8, preserve_range=True) for c in range(3)], -1)
    got = unsharp_mask(torch.from_numpy(np.moveaxis(img, -1, 0))[None], 0.8, 1.2, 0.0, "rgb", clip=False)
    got = np.moveaxis(got[0].numpy(), 0, -1)
    b = 6  # border modes differ (skimage: nearest, camforge: mirror)
    assert np.allclose(got[b:-b, b:-b], np.clip(ref, 0, 1)[b:-b, b:-b], atol=1e-6)


def test_unsharp_mask_luma_adds_the_same_detail_to_each_channel():
    img = torch.rand(1, 3, 20, 20, dtype=torch.float64) * 0.5 + 0.25
    out = unsharp_mask(img, 1.0, 1.0, 0.0, "luma", clip=False)
    d = out - img
    assert torch.allclose(d[:, 0], d[:, 1]) and torch.allclose(d[:, 1], d[:, 2])
    # coring: a threshold above every detail leaves the image unchanged
    assert torch.allclose(unsharp_mask(img, 1.0, 1.0, 10.0, "luma", clip=False), img)


# ---------------------------------------------------------------------------- denoise
def _literal_nlm(img, h, s, k):
    """Buades et al. 2005 by the definition: every offset, every patch, mirror padding."""
    P = s + k
    p = np.pad(img, P, mode="reflect")
    H, W = img.shape
    num = np.zeros_like(img)
    den = np.zeros_like(img)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            d = np.zeros_like(img)
            for oy in range(-k, k + 1):
                for ox in range(-k, k + 1):
                    a = p[P + oy : P + oy + H, P + ox : P + ox + W]
                    b = p[P + dy + oy : P + dy + oy + H, P + dx + ox : P + dx + ox + W]
                    d += (a - b) ** 2
            w = np.exp(-d / (2 * k + 1) ** 2 / h**2)
            num += w * p[P + dy : P + dy + H, P + dx : P + dx + W]
            den += w
    return num / den


def _literal_bilateral(img, sr, ss, s):
    """Tomasi & Manduchi 1998 by the definition, mirror padding."""
    p = np.pad(img, s, mode="reflect")
    H, W = img.shape
    num = np.zeros_like(img)
    den = np.zeros_like(img)
    for dy in range(-s, s + 1):
        for dx in range(-s, s + 1):
            v = p[s + dy : s + dy + H, s + dx : s + dx + W]
            w = np.exp(-(dy * dy + dx * dx) / (2 * ss * ss)) * np.exp(-((v - img) ** 2) / (2 * sr * sr))
            num += w * v
            den += w
    return num / den


def _noisy(seed=6, n=40):
    y, x = np.mgrid[0:n, 0:n] / n
    clean = 0.2 + 0.5 * (x > 0.5) + 0.2 * y
    return clean, clean + 0.03 * _rng(seed).standard_normal(clean.shape)


def test_nlm_equals_the_definition():
    _, noisy = _noisy()
    t = torch.from_numpy(noisy)[None, None]
    for band in (None, 7):  # bands (any height) give the same result as the whole frame
        got = nlm(t, 0.05, 5, 3, band_rows=band, guide=t)[0, 0].numpy()
        assert np.allclose(got, _literal_nlm(noisy, 0.05, 2, 1), atol=1e-12)


def test_bilateral_equals_the_definition():
    _, noisy = _noisy(7)
    t = torch.from_numpy(noisy)[None, None]
    got = bilateral(t, 0.05, 1.5, 5, band_rows=9, guide=t)[0, 0].numpy()
    assert np.allclose(got, _literal_bilateral(noisy, 0.05, 1.5, 2), atol=1e-12)


def test_nlm_quality_matches_scikit_image(data):
    """Best PSNR over a sweep of h: camforge's NLM vs skimage's fast NLM (same patch/window)."""
    skr = pytest.importorskip("skimage.restoration")
    iio = pytest.importorskip("imageio.v3")
    p = data / "kodak" / "kodim19.png"
    if not p.exists():
        pytest.skip(f"missing {p}")
    img = iio.imread(p).astype(np.float64).mean(-1)[100:228, 100:228] / 255
    noisy = img + 0.05 * _rng(0).standard_normal(img.shape)
    t = torch.from_numpy(noisy)[None, None]

    def psnr(a):
        return 10 * np.log10(1 / np.mean((a - img)[5:-5, 5:-5] ** 2))

    hs = (0.04, 0.06, 0.08, 0.1, 0.12, 0.15)
    ours = max(psnr(nlm(t, h, 5, 3, guide=t)[0, 0].numpy()) for h in hs)
    theirs = max(psnr(skr.denoise_nl_means(noisy, patch_size=3, patch_distance=2, h=h, fast_mode=True)) for h in hs)
    assert ours >= theirs - 0.1, (ours, theirs)
    assert ours > psnr(noisy) + 8  # it does denoise


def test_denoise_is_edge_preserving_and_strength_orders_smoothing():
    clean, noisy = _noisy(8)
    t = torch.from_numpy(noisy)[None, None]
    weak = nlm(t, 0.02, 5, 3, guide=t)[0, 0].numpy()
    strong = nlm(t, 0.08, 5, 3, guide=t)[0, 0].numpy()
    flat = (slice(5, 35), slice(3, 17))
    assert np.std(strong[flat]) < np.std(weak[flat]) < np.std(noisy[flat])
    # the step survives: contrast across the edge stays within 5 % of the clean one
    step = strong[:, 22:25].mean() - strong[:, 15:18].mean()
    assert abs(step - 0.5) < 0.025


def test_denoise_bad_input():
    with pytest.raises(InputError, match="NaN"):
        nlm(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(InputError, match="odd"):
        nlm(torch.rand(1, 3, 8, 8), 0.1, 4)
    with pytest.raises(InputError, match="> 0"):
        nlm(torch.rand(1, 3, 8, 8), 0.0)
