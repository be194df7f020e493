"""EMVA 1288 building blocks against analytic results and peer implementations (numpy, scipy)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from camforge.characterize.analysis import fit_line, fit_through_origin, linearity_fit, saturation_index
from camforge.characterize.reduce import _pair_statistics
from camforge.characterize.spatial import _histogram, spectrogram, variance_parts
from camforge.characterize.stack import channel_names, main_channel, site_offsets


def test_two_frame_statistics_match_the_definition():
    rng = np.random.default_rng(0)
    a = rng.poisson(500, (64, 96)).astype(np.uint16)
    b = (rng.poisson(500, (64, 96)) + 3).astype(np.uint16)  # an offset between the frames is removed
    for cfa in ("MONO", "RGGB"):
        tile, offsets = site_offsets(cfa)
        mean, var, ma, mb, sat, npx = _pair_statistics(a, b, tile, offsets, 4095)
        th, tw = tile
        for k, (r, c) in enumerate(offsets):
            pa = a[r::th, c::tw].astype(float)
            pb = b[r::th, c::tw].astype(float)
            assert mean[k] == pytest.approx(0.5 * (pa.mean() + pb.mean()), rel=1e-12)
            # R4: sigma2_y = 1/(2N) sum((yA - muA) - (yB - muB))^2 = var(yA - yB) / 2
            assert var[k] == pytest.approx(0.5 * np.var(pa - pb), rel=1e-10)
            assert npx[k] == pa.size
        assert np.all(sat == 0)


def test_fits_against_numpy_and_scipy():
    rng = np.random.default_rng(1)
    x = np.linspace(1, 100, 30)
    y = 0.37 * x + rng.normal(0, 0.5, x.size)
    m, se, n = fit_through_origin(x, y)
    ref, res, *_ = np.linalg.lstsq(x[:, None], y, rcond=None)
    assert m == pytest.approx(ref[0], rel=1e-12)
    # White's HC1 sandwich covariance in matrix form: n/(n-k) (X'X)^-1 X' diag(r^2) X (X'X)^-1
    X = x[:, None]
    r = y - X @ ref
    bread = np.linalg.inv(X.T @ X)
    cov = n / (n - 1) * bread @ (X.T @ np.diag(r**2) @ X) @ bread
    assert se == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-10)
    # with known sampling variances the larger of the two errors is reported
    big = np.full(n, 100.0)
    _, se2, _ = fit_through_origin(x, y, big)
    assert se2 == pytest.approx(math.sqrt(np.sum(x**2 * big)) / np.dot(x, x), rel=1e-12)
    y2 = 2.0 + 0.5 * x + rng.normal(0, 0.3, x.size)
    f = fit_line(x, y2)
    lr = stats.linregress(x, y2)
    assert f["b"] == pytest.approx(lr.slope, rel=1e-12)
    assert f["a"] == pytest.approx(lr.intercept, rel=1e-10)
    assert f["se_b"] == pytest.approx(lr.stderr, rel=1e-10)


def test_linearity_fit_minimises_relative_deviation():
    rng = np.random.default_rng(2)
    x = np.linspace(500, 30000, 20)
    y = 0.127 * x + 3.0 + rng.normal(0, 2.0, x.size)
    a, b = linearity_fit(x, y)
    # numpy's weighted polynomial fit with weights 1/y minimises sum(((y - fit) / y)^2)
    ref_a, ref_b = np.polyfit(x, y, 1, w=1.0 / y)
    assert a == pytest.approx(ref_a, rel=1e-9)
    assert b == pytest.approx(ref_b, rel=1e-6, abs=1e-9)


def test_saturation_index_is_variance_maximum():
    assert saturation_index([1, 5, 9, 12, 3, 0.1]) == 3


def test_variance_decomposition_recovers_known_row_column_pixel_parts():
    rng = np.random.default_rng(3)
    M, N, L = 400, 600, 8
    col = rng.normal(0, 2.0, N)
    row = rng.normal(0, 1.5, M)
    pix = rng.normal(0, 3.0, (M, N))
    fixed = 100 + col[None, :] + row[:, None] + pix
    temporal_sigma = 4.0
    frames = fixed[None] + rng.normal(0, temporal_sigma, (L, M, N))
    avg = frames.mean(axis=0)
    stack_var = float(frames.var(axis=0, ddof=1).mean())
    p = variance_parts(avg, stack_var, L)
    # the realised pattern variances are the reference
    assert p["s2"] == pytest.approx(np.var(fixed, ddof=1), rel=0.01)
    assert p["s2_col"] == pytest.approx(np.var(col, ddof=1), rel=0.03)
    assert p["s2_row"] == pytest.approx(np.var(row, ddof=1), rel=0.03)
    assert p["s2_pixel"] == pytest.approx(np.var(pix, ddof=1), rel=0.01)


def test_spectrogram_parseval_and_peak():
    M, N = 64, 256
    n = np.arange(N)
    img = 10 + 2.0 * np.sin(2 * np.pi * 32 / N * n)[None, :].repeat(M, 0)
    s = spectrogram(img, "horizontal", 1.0, "DN", 0.0)
    assert s.frequency_cy_per_px[np.argmax(s.amplitude)] == pytest.approx(32 / N)
    # Parseval: p(f) = <|Y(f)|^2>/n over lines of length n sums over all n bins to n * variance
    rng = np.random.default_rng(4)
    img = rng.normal(0, 3, (M, N))
    s = spectrogram(img, "vertical", 1.0, "DN", 0.0)  # lines are columns, n = M
    p = s.amplitude**2  # one-sided (M even): bins 1..M/2-1 appear twice in the full spectrum
    full = p[0] + p[-1] + 2 * p[1:-1].sum()
    assert full == pytest.approx(M * np.var(img), rel=1e-9)


def test_accumulated_histogram_counts_pixels_beyond_each_deviation():
    rng = np.random.default_rng(5)
    d = rng.integers(-40, 41, 10000) / 8.0  # an average of 8 integer frames
    h = _histogram("dsnu", "DN", d, quantum=1 / 8)
    assert h.counts.sum() == d.size
    assert np.all(h.counts[h.counts.size // 4: 3 * h.counts.size // 4] > 0)  # no empty bins from quantisation
    ref = np.array([100.0 * (np.abs(d) >= e).mean() for e in h.accumulated_edges])
    np.testing.assert_allclose(h.accumulated_pct, ref, atol=1e-9)


def test_channel_names():
    assert channel_names("MONO") == ["mono"]
    assert channel_names("RGGB") == ["R", "Gr", "Gb", "B"]
    assert channel_names("GBRG") == ["Gb", "B", "R", "Gr"]
    assert main_channel("BGGR") == "Gb"
    assert len(channel_names("QUAD_RGGB")) == 16


def test_spatial_analysis_in_dn_then_scaled_equals_the_direct_one_in_electrons():
    """The early (K-independent) spatial analysis computes the DSNU spectrograms, histogram and
    defect map in DN and converts with K at the end; the direct computation in e⁻ must agree."""
    from camforge.characterize.spatial import _robust_sigma, _sample, analyze_spatial, spatial_parts

    rng = np.random.default_rng(5)
    n = 16
    dark = np.round(rng.normal(100.0, 2.0, (60, 80)) * n) / n  # an average of 16 integer-ish frames
    dark[7, 9] += 40.0  # a hot pixel
    bright = dark + 2000.0 * (1 + 0.01 * rng.normal(size=dark.shape))
    K = 0.37
    parts = spatial_parts(bright, 25.0, n, dark, 4.0, n, defect_sigma=6.0)
    r = analyze_spatial(bright, 25.0, n, dark, 4.0, n, K, exposure_s=0.01, photons_per_px=1e4, parts=parts)
    dev_e = (dark - dark.mean()) / K
    for got, direction in zip(r.spectrograms[:2], ("horizontal", "vertical")):
        ref = spectrogram(dark, direction, 1 / K, "e", 4.0 / n)
        np.testing.assert_allclose(got.amplitude, ref.amplitude, rtol=1e-12)
        assert got.temporal_floor == pytest.approx(ref.temporal_floor, rel=1e-12) and got.unit == "e"
    ref_h = _histogram("dsnu", "e", dev_e, quantum=1.0 / (n * K))
    got_h = r.histograms[0]
    np.testing.assert_array_equal(got_h.counts, ref_h.counts)
    np.testing.assert_allclose(got_h.bin_edges, ref_h.bin_edges, rtol=1e-12)
    np.testing.assert_array_equal(got_h.accumulated_pct, ref_h.accumulated_pct)
    thr = 6.0 * _robust_sigma(dev_e)
    assert r.defects.dark_threshold_e == pytest.approx(thr, rel=1e-12)
    ref_map = np.abs(dev_e - np.median(_sample(dev_e))) > thr
    np.testing.assert_array_equal(r.defects.dark_map, ref_map)
    assert ref_map[7, 9] and ref_map.sum() == 1
