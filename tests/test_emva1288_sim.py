"""EMVA 1288 on simulated data with known truth, Bayer sensors, defects and the digital twin.

The truth comes from the sensor model, not from the analysis: K and η(λ) from the
configuration and QE curves, σ_d from the noise parameters, the dark current from the
sensor instance's dark-current map, and μ_e.sat from the model's expected variance curve
(quadrature, :func:`expected_temporal_variance`), whose maximum is the R4 saturation point.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.constants as sc
import torch

from camforge.characterize import characterize_emva1288, sensor_config_from_emva1288, simulate_stack
from camforge.characterize.simulate import expected_temporal_variance, photons_from_irradiance
from camforge.sensor import Sensor

from conftest import need

MONO = {"width_px": 256, "height_px": 256, "pixel_pitch_um": 3.45, "cfa": "MONO", "full_well_e": 10000,
        "read_noise_e": 3.0, "adc_bits": 12, "black_level_dn": 64, "dark_current_e_per_s": 200.0,
        "prnu_pct": 1.0, "dsnu_e": 1.0, "exposure_max_s": 0.05, "conversion_gain_dn_per_e": 0.35,
        "qe": {"peak_qe": 0.7}, "seed": 2}

BAYER = {"width_px": 256, "height_px": 256, "pixel_pitch_um": 2.0, "cfa": "RGGB", "full_well_e": 6000,
         "read_noise_e": 2.0, "adc_noise_dn": 0.4, "adc_bits": 12, "black_level_dn": 64, "dark_current_e_per_s": 20.0,
         "prnu_pct": 0.8, "dsnu_e": 0.5, "exposure_max_s": 0.05, "defects": {"hot_ppm": 200}, "seed": 4}


def _quiet(fn, *a, **k):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fn(*a, **k)


@pytest.fixture(scope="module")
def mono():
    torch.set_num_threads(1)  # module fixtures run before the per-test thread setting of conftest
    st = simulate_stack(MONO, seed=1, spatial_frames=8, temperatures_c=[35.0, 45.0])
    return st, _quiet(characterize_emva1288, st)


@pytest.fixture(scope="module")
def bayer():
    torch.set_num_threads(1)
    st = simulate_stack(BAYER, seed=3, spatial_frames=8, wavelength_nm=550.0)
    return st, _quiet(characterize_emva1288, st)


def test_mono_truth(mono):
    st, r = mono
    t, m = st.truth, r.main
    assert m.k_dn_per_e == pytest.approx(t["K"], rel=0.01)
    assert m.sigma_d_e == pytest.approx(t["sigma_d_e"], rel=0.02)
    assert m.qe == pytest.approx(t["qe"], rel=0.02)
    assert m.mu_e_sat == pytest.approx(t["mu_e_sat"], rel=0.03)
    assert abs(m.saturation_step - t["saturation_step"]) <= 1
    dc = m.dark_current
    assert dc.from_mean_e_per_s == pytest.approx(t["dark_current_e_per_s"], rel=0.05)
    assert dc.from_var_e_per_s == pytest.approx(t["dark_current_e_per_s"], rel=0.05)
    assert dc.doubling_temperature_k == pytest.approx(t["doubling_temperature_k"], rel=0.05)
    assert dc.temperatures_c == (25.0, 35.0, 45.0)
    # intervals are honest: the truth lies inside (or within 1.5 half-widths) of the 95 % intervals
    for est, ci, true in ((m.k_dn_per_e, m.k_ci95, t["K"]), (m.qe, m.qe_ci95, t["qe"]),
                          (m.sigma_d_e, m.sigma_d_ci95, t["sigma_d_e"])):
        half = 0.5 * (ci[1] - ci[0])
        assert abs(est - true) < 1.5 * half, (est, ci, true)
    # spatial: PRNU of the model; DSNU = offset pattern ⊕ dark-current spread at the stack's exposure
    sp = m.spatial
    assert sp.prnu_pct == pytest.approx(MONO["prnu_pct"], rel=0.05)
    spread = math.sqrt(math.exp(0.2**2) - 1)  # log-normal dark-current spread of the default sensor
    dsnu = math.hypot(MONO["dsnu_e"], t["dark_current_e_per_s"] * t["spatial_exposure_s"] * spread)
    assert sp.dsnu_e == pytest.approx(dsnu, rel=0.1)
    # the SNR model passes through 1 at the absolute sensitivity threshold (R4 definition)
    assert m.snr_model(m.mu_p_min) == pytest.approx(1.0, rel=1e-9)
    assert r.snr_max_db == pytest.approx(20 * math.log10(math.sqrt(m.mu_e_sat)), rel=1e-12)


def test_bayer_per_channel(bayer):
    st, r = bayer
    t = st.truth
    assert list(r.channels) == ["R", "Gr", "Gb", "B"] and r.main_channel == "Gr"
    for name, ch in r.channels.items():
        assert ch.k_dn_per_e == pytest.approx(t["K"], rel=0.01), name
        assert ch.qe == pytest.approx(t["qe_by_channel"][name], rel=0.02), name
        assert ch.sigma_d_e == pytest.approx(t["sigma_d_e"], rel=0.02), name
        assert ch.mu_e_sat == pytest.approx(t["mu_e_sat_by_channel"][name], rel=0.03), name
    d = r.to_dict()
    assert d["K"] == d["channels"]["Gr"]["k_dn_per_e"]
    assert d["qe"] == pytest.approx(t["qe_by_channel"]["Gr"], rel=0.02)
    # red and blue never saturate at 550 nm: reported as lower bounds
    assert any("channel R" in w and "do not reach saturation" in w for w in r.warnings)


def test_defect_pixels_found(bayer):
    st, r = bayer
    hot = Sensor(BAYER).defect_map().hot.numpy()
    truth = {tuple(map(int, rc)) for rc in np.argwhere(hot)}
    found = set()
    for ch in r.channels.values():
        found |= set(ch.spatial.defects.dark_rc)
    assert len(truth) > 5
    assert truth <= found
    assert len(found - truth) <= 2  # at 6 robust sigma, false alarms are rare


def test_expected_variance_is_the_linear_model_below_saturation():
    s = Sensor(MONO)
    K = float(s.system_gain())
    mu_e = np.array([10.0, 500.0, 2000.0, 4000.0])
    t = 0.01
    ev = expected_temporal_variance(s, mu_e, t)
    dark = float(s.dark_current_at()) * t
    # EMVA linear model: σ²_y = K² (σ_read² + μ_e + dark e⁻) + 1/12 (PRNU does not enter the temporal variance)
    ref = K**2 * (MONO["read_noise_e"] ** 2 + mu_e * 1.0 + dark) + 1 / 12
    np.testing.assert_allclose(ev, ref, rtol=2e-3)


def test_photon_count_from_irradiance():
    e, pitch, t, lam = 0.05, 3.45, 0.01, 525.0
    ref = e * (pitch * 1e-6) ** 2 * t / (sc.h * sc.c / (lam * 1e-9))
    assert photons_from_irradiance(e, pitch, t, lam) == pytest.approx(ref, rel=1e-12)


def _round_trip(r, size=(256, 256), seed=5):
    cfg = sensor_config_from_emva1288(r)
    st = simulate_stack(Sensor(cfg), like=r, size=size, spatial_frames=4, seed=seed)
    return cfg, _quiet(characterize_emva1288, st)


def _assert_same(a, b):
    assert b.k_dn_per_e == pytest.approx(a.k_dn_per_e, rel=0.01)
    assert b.sigma_d_e == pytest.approx(a.sigma_d_e, rel=0.02)
    assert b.qe == pytest.approx(a.qe, rel=0.02)
    assert b.mu_e_sat == pytest.approx(a.mu_e_sat, rel=0.03)


def test_round_trip_simulated(mono):
    _, r = mono
    cfg, r2 = _round_trip(r)
    _assert_same(r.main, r2.main)
    assert cfg.conversion_gain_dn_per_e == pytest.approx(r.k_dn_per_e)
    assert r2.main.dark_current.from_mean_e_per_s == pytest.approx(r.main.dark_current.from_mean_e_per_s, rel=0.05)


def test_round_trip_real_sensor(data):
    ref = need(data / "emva1288_refset001" / "EMVA1288_Data.txt")
    r = _quiet(characterize_emva1288, ref)
    cfg, r2 = _round_trip(r)
    _assert_same(r.main, r2.main)
    assert r2.main.saturation_step == r.main.saturation_step == 36
    assert cfg.adc_bits == 12 and cfg.cfa == "MONO"


def test_irradiance_variation_with_one_dark_step():
    """R4 also allows varying the light at a fixed exposure: one dark pair serves every step."""
    torch.set_num_threads(1)
    cfg = dict(MONO, width_px=128, height_px=128)
    st = simulate_stack(cfg, photons_per_px=np.linspace(200, 20000, 25), seed=2, spatial_frames=0)
    assert len(st.select("dark", False)) == 1
    r = _quiet(characterize_emva1288, st)
    t = st.truth
    # 16 384 pixels: the per-step variance scatters by ~1.1 %, K by ~0.4 %
    assert r.k_dn_per_e == pytest.approx(t["K"], rel=0.015)
    assert r.qe == pytest.approx(t["qe"], rel=0.02)
    assert r.sigma_d_e == pytest.approx(t["sigma_d_e"], rel=0.02)
    assert r.main.dark_current is None and r.main.spatial is None


def test_written_descriptor_read_by_emva1288(tmp_path):
    """The reference implementation reads camforge's descriptor + PNGs and, at the same saturation
    point, finds the same figures (emva1288 searches its saturation point differently: from the
    top of the curve down to the first local maximum, which noise on the clipped plateau fools)."""
    import logging

    if not hasattr(np, "asfarray"):
        np.asfarray = lambda a, dtype=float: np.asarray(a, dtype=dtype)
    emva = pytest.importorskip("emva1288.process")
    from camforge.characterize import write_descriptor

    torch.set_num_threads(1)
    cfg = dict(MONO, width_px=64, height_px=64)
    st = simulate_stack(cfg, n_steps=30, spatial_frames=6, seed=0)
    path = write_descriptor(st, tmp_path)
    m = _quiet(characterize_emva1288, path).main
    parser = emva.ParseEmvaDescriptorFile(str(path), loglevel=logging.ERROR)
    loader = emva.LoadImageData(parser.images, loglevel=logging.ERROR)
    data = emva.Data1288(loader.data, loglevel=logging.ERROR)
    ref = emva.Results1288(data.data, index_u_ysat=m.saturation_step, loglevel=logging.ERROR)
    assert m.k_dn_per_e == pytest.approx(ref.K, rel=1e-9)
    assert 100 * m.qe == pytest.approx(ref.QE, rel=1e-9)
    assert m.mu_e_sat == pytest.approx(ref.u_e_sat, rel=1e-9)
    assert m.le_min_pct == pytest.approx(ref.LE_min, rel=1e-9)
    assert m.le_max_pct == pytest.approx(ref.LE_max, rel=1e-9)
    assert m.spatial.dsnu_e == pytest.approx(ref.DSNU1288, rel=2e-3)
    assert m.spatial.prnu_pct == pytest.approx(ref.PRNU1288, rel=2e-3)
