"""Flat-field normalisation: golden shading reference, local noise model, detectability."""

import numpy as np
import pytest
from scipy.stats import norm

from camforge.errors import InputError
from camforge.qualify.blemish import ideal_detectability
from camforge.qualify.flatfield import analysis_map, as_raw, flat_relative, local_noise_sigma, shading_reference

H, W = 96, 128


def _shading(dx=0.0, dy=0.0, gain=1.0):
    """A lens-like falloff (cos⁴ of the field angle) about a decentred optical centre."""
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    r2 = ((xx + 0.5 - W / 2 - dx) ** 2 + (yy + 0.5 - H / 2 - dy) ** 2) / (0.9 * W) ** 2
    return gain / (1 + r2) ** 2


def _flat(rng, level_e=20000.0, glare=None, **kw):
    e = level_e * _shading(**kw)
    if glare is not None:
        e = e + glare * level_e
    return rng.poisson(e).astype(np.float32)


def _glare(cx=66, cy=46, s=12.0, peak=0.04):
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    return peak * np.exp(-((xx + 0.5 - cx) ** 2 + (yy + 0.5 - cy) ** 2) / (2 * s * s))


def test_reference_is_the_nominal_shading_and_ignores_a_blemished_golden_module():
    rng = np.random.default_rng(1)
    frames = [_flat(rng, gain=rng.uniform(0.9, 1.1)) for _ in range(12)]
    dark = frames[0].copy()
    dark[30:50, 40:60] *= 0.5  # a golden module with a deep blemish
    ref = shading_reference(frames[1:] + [dark])
    truth = _shading() / _shading().mean()
    assert ref.shape == (1, H, W) and ref.dtype == np.float32
    # shot noise ≤ 1.05 % per corner pixel, ÷ √(~8 kept frames), ÷ 3.5 by the 1-px smoothing → σ ≤ 0.1 %
    assert np.abs(ref[0] / truth - 1).max() < 0.006
    # the trimmed mean leaves the blemished module out where the plain mean would not
    assert ref[0, 30:50, 40:60].mean() / truth[30:50, 40:60].mean() == pytest.approx(1, abs=0.005)
    plain = np.mean([f / f.mean() for f in frames[1:] + [dark]], axis=0)
    assert plain[30:50, 40:60].mean() / truth[30:50, 40:60].mean() < 0.97


def test_reference_model_keeps_broad_glare_that_a_per_module_fit_absorbs():
    """A 4 % contamination glare of σ = 12 px near the optical centre: with the golden reference
    the relative response keeps at least 80 % of it (analytic: rel − 1 = glare / shading; the
    gain-gradient-r² correction takes the rest); the per-module radial fit, free to move its
    centre onto the glare, absorbs more than half."""
    rng = np.random.default_rng(2)
    ref = shading_reference([_flat(rng, dx=rng.normal(0, 2), dy=rng.normal(0, 2)) for _ in range(10)])
    g = _glare()
    module = _flat(rng, dx=1.5, dy=-1.0, gain=0.97, glare=g)
    expected = g / (0.97 * _shading(dx=1.5, dy=-1.0))
    inside = g >= 0.5 * g.max()
    rel_ref = flat_relative(as_raw(module), model="reference", reference=ref).rel
    rel_rad = flat_relative(as_raw(module), model="radial").rel
    kept_ref = (rel_ref - 1)[inside].mean() / expected[inside].mean()
    kept_rad = (rel_rad - 1)[inside].mean() / expected[inside].mean()
    assert 0.8 <= kept_ref <= 1.05
    assert kept_rad < 0.6 * kept_ref
    # outside the glare the reference model is flat (no ring, no tilt)
    far = g < 1e-4 * g.max()
    assert abs((rel_ref - 1)[far].mean()) < 0.002


def test_reference_errors():
    rng = np.random.default_rng(3)
    ref = shading_reference([_flat(rng) for _ in range(3)])
    with pytest.raises(InputError, match="needs a reference"):
        flat_relative(as_raw(_flat(rng)), model="reference")
    with pytest.raises(InputError, match="size and CFA"):
        flat_relative(as_raw(_flat(rng)[:64]), model="reference", reference=ref)
    with pytest.raises(InputError, match="one size"):
        shading_reference([_flat(rng), _flat(rng)[:64]])
    with pytest.raises(InputError, match="at least one"):
        shading_reference([])
    with pytest.raises(InputError, match="noise"):
        analysis_map(as_raw(_flat(rng)), noise="weird")


def test_local_noise_follows_the_photon_transfer_model():
    """Noise σ² = a + b/S drawn exactly; the fitted σ map matches it within 5 % everywhere."""
    rng = np.random.default_rng(4)
    S = 20000 * _shading()
    a, b = (0.004) ** 2, 1.0  # PRNU-like 0.4 % and shot noise 1/S
    sig = np.sqrt(a + b / S)
    m = 1 + rng.standard_normal((H, W)) * sig
    m[40:50, 60:70] -= 0.05  # a blemish does not bias the robust fit
    est = local_noise_sigma(m, S)
    assert np.abs(est / sig - 1).max() < 0.05
    # z in local units: unit variance in the centre and in the corners alike
    am = analysis_map(as_raw(_flat(rng, level_e=3000.0)), model="radial", noise="local")
    z = am.z
    c = (slice(H // 2 - 16, H // 2 + 16), slice(W // 2 - 16, W // 2 + 16))
    corners = np.concatenate([z[:16, :16].ravel(), z[:16, -16:].ravel(), z[-16:, :16].ravel(), z[-16:, -16:].ravel()])
    assert z[c].std() == pytest.approx(1, abs=0.08)
    assert corners.std() == pytest.approx(1, abs=0.08)
    # with one global σ the vignetted corners are noisier, as shot noise predicts: σ ∝ 1/√S
    g = analysis_map(as_raw(_flat(rng, level_e=3000.0)), model="radial")
    S = _shading()
    pred = np.sqrt(np.mean(1 / S[:16, :16])) / np.sqrt(np.median(1 / S))
    assert np.concatenate([g.z[:16, :16].ravel()]).std() == pytest.approx(pred, rel=0.12)
    assert pred > 1.15


def test_ideal_detectability_analytic_and_monte_carlo():
    # uniform contrast c over N pixels at signal S, shot noise only: d′ = c √S √N
    S, c, N = 5000.0, 0.01, 400
    delta = np.zeros(1000)
    delta[:N] = c * S
    assert ideal_detectability(delta, S) == pytest.approx(c * np.sqrt(S) * np.sqrt(N), rel=1e-12)
    # with PRNU and read noise the variance adds
    d = ideal_detectability(delta, S, prnu_frac=0.01, read_noise_e=3.0)
    assert d == pytest.approx(c * S * np.sqrt(N) / np.sqrt(S + (0.01 * S) ** 2 + 9), rel=1e-12)
    # Monte Carlo: the prewhitened matched filter separates blemish from clean by d′ (in its σ)
    rng = np.random.default_rng(5)
    prof = np.exp(-np.linspace(-3, 3, 64) ** 2)[:, None] * np.exp(-np.linspace(-3, 3, 64) ** 2)[None]
    Sm = 2000 + 1000 * rng.random((64, 64))
    dS = 0.004 * Sm * prof
    var = Sm + (0.008 * Sm) ** 2
    dp = ideal_detectability(dS, Sm, prnu_frac=0.008)
    w = dS / var
    clean = np.array([(w * rng.normal(0, np.sqrt(var))).sum() for _ in range(3000)])
    bad = np.array([(w * (dS + rng.normal(0, np.sqrt(var)))).sum() for _ in range(3000)])
    sep = (bad.mean() - clean.mean()) / clean.std()
    assert sep == pytest.approx(dp, rel=0.06)
    # and the known-location AUROC is Φ(d′/√2)
    auc = (bad[:, None] > clean[None, :1000]).mean()
    assert auc == pytest.approx(norm.cdf(dp / np.sqrt(2)), abs=0.02)
