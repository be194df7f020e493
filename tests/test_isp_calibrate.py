"""Calibration and sensor-defect stages against simulated ground truth and colour-science."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from camforge import Camera
from camforge.errors import InputError, MeasurementError
from camforge.isp import Pipeline, black_level, calibrate_lsc, detect_defects, dpc, fit_ccm

LENS = {"focal_length_mm": 4.4, "f_number": 2.0}


def _block_means(z: torch.Tensor, b: int = 16) -> list[torch.Tensor]:
    out = []
    for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)):
        p = z[i::2, j::2]
        h, w = p.shape
        out.append(p[: h // b * b, : w // b * b].reshape(h // b, b, w // b, b).mean((1, 3)))
    return out


@pytest.fixture(scope="module")
def shaded_flats():
    """Two flat-field captures (different noise) of a lens with cos⁴ fall-off and vignetting."""
    lens = {**LENS, "relative_illumination": {"cra_corner_deg": 30.0, "vignetting_stop_ratio": 1.3,
                                              "vignetting_shift_corner": 0.6}}
    cam = Camera({"name": "lsc", "lens": lens,
                  "sensor": {"width_px": 256, "height_px": 192, "pixel_pitch_um": 1.4, "full_well_e": 6000}})
    scene = cam.chart("flat", lux=1000)
    return cam.capture(scene, seed=0), cam.capture(scene, seed=1)


def test_lsc_from_flat_field_makes_an_independent_flat_uniform(shaded_flats):
    """Calibrate on one capture, correct another: every CFA site is flat to < 1.5 % peak-to-peak
    (16 × 16-site block means), from ~68 % before. Stated tolerance: 1.5 %."""
    cal_frame, test_frame = shaded_flats
    cal = calibrate_lsc(cal_frame, grid=(9, 13))
    assert cal.gains.shape == (4, 9, 13)
    assert all(f > 40 for f in cal.falloff_pct)  # the simulated lens really shades
    before = Pipeline({"awb": {"enable": False}, "dpc": {"enable": False}})(test_frame, stop="black_level")
    after = Pipeline({"lsc": cal.to_config(), "awb": {"enable": False}, "dpc": {"enable": False}})(test_frame, stop="lsc")
    for m0, m1 in zip(_block_means(before.data[0, 0]), _block_means(after.data[0, 0])):
        assert float(m0.max() / m0.min()) - 1 > 0.5
        assert float(m1.max() / m1.min()) - 1 < 0.015


def test_lsc_calibration_file_roundtrip_and_errors(shaded_flats, tmp_path):
    cal = calibrate_lsc(shaded_flats[0], grid=(5, 7))
    path = cal.save(tmp_path / "lsc.npz")
    cfg = {"lsc": {"enable": True, "file": str(path)}, "awb": {"enable": False}}
    a = Pipeline(cfg)(shaded_flats[1], stop="lsc").data
    b = Pipeline({"lsc": cal.to_config(), "awb": {"enable": False}})(shaded_flats[1], stop="lsc").data
    assert torch.allclose(a, b, atol=1e-5)
    clipped = type(shaded_flats[0])(torch.full_like(shaded_flats[0].data, 1023.0), shaded_flats[0].meta)
    with pytest.raises(MeasurementError, match="clipped"):
        calibrate_lsc(clipped)
    dark = type(shaded_flats[0])(torch.full_like(shaded_flats[0].data, 64.0), shaded_flats[0].meta)
    with pytest.raises(MeasurementError, match="dark"):
        calibrate_lsc(dark)


# ---------------------------------------------------------------------------- CCM fit
def _checker_data():
    """Camera RGB of the 24 ColorChecker patches (simulated camera, spectral) and their sRGB."""
    colour = pytest.importorskip("colour")
    from camforge.spectral import colorchecker_reflectances, spectral_grid

    cam = Camera({"name": "cc", "lens": LENS, "sensor": {"width_px": 64, "height_px": 48, "pixel_pitch_um": 1.4,
                                                        "full_well_e": 6000}})
    g = spectral_grid()
    names, refl = colorchecker_reflectances(g)
    w = cam.sensor.electron_weights(g).double().numpy()  # [3, L]
    ill = colour.SDS_ILLUMINANTS["D65"].copy().align(colour.SpectralShape(400, 700, 10)).values
    cam_rgb = (refl * ill[None]) @ w.T
    cam_rgb = cam_rgb / cam_rgb[18]  # white patch → (1, 1, 1): white balanced
    cc = colour.CCS_COLOURCHECKERS["ColorChecker24 - After November 2014"]
    xyz = colour.xyY_to_XYZ(np.array(list(cc.data.values())))
    srgb = colour.XYZ_to_RGB(xyz, "sRGB", illuminant=cc.illuminant, chromatic_adaptation_transform="Bradford")
    return cam_rgb, srgb


def test_ccm_least_squares_matches_colour_science():
    colour = pytest.importorskip("colour")
    cam_rgb, srgb = _checker_data()
    fit = fit_ccm(cam_rgb, srgb, "least_squares")
    ref = colour.characterisation.matrix_colour_correction(cam_rgb, srgb, method="Cheung 2004", terms=3)
    assert np.allclose(fit.matrix, ref, atol=1e-10)


def test_ccm_white_preserving_is_the_constrained_optimum():
    """Closed form vs a generic constrained solver (scipy SLSQP) on the same problem."""
    scipy_opt = pytest.importorskip("scipy.optimize")
    cam_rgb, srgb = _checker_data()
    fit = fit_ccm(cam_rgb, srgb, "white_preserving")
    assert np.allclose(fit.matrix @ np.ones(3), np.ones(3), atol=1e-12)

    def loss(m):
        return np.sum((cam_rgb @ m.reshape(3, 3).T - srgb) ** 2)

    cons = {"type": "eq", "fun": lambda m: m.reshape(3, 3) @ np.ones(3) - 1.0}
    res = scipy_opt.minimize(loss, np.eye(3).ravel(), constraints=[cons], method="SLSQP",
                             options={"ftol": 1e-14, "maxiter": 500})
    assert np.allclose(fit.matrix, res.x.reshape(3, 3), atol=1e-5)
    ls = fit_ccm(cam_rgb, srgb, "least_squares")
    assert fit.rms_error >= ls.rms_error - 1e-12  # the constraint costs a little accuracy


def test_ccm_fit_improves_colour_accuracy():
    """ΔE00 over the 24 patches (colour-science): a fitted CCM beats camera RGB shown as sRGB."""
    colour = pytest.importorskip("colour")
    cam_rgb, srgb = _checker_data()
    fit = fit_ccm(cam_rgb, srgb, "white_preserving")

    def de(rgb):
        wp = colour.CCS_ILLUMINANTS["CIE 1931 2 Degree Standard Observer"]["D65"]
        lab = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(np.clip(rgb, 0, None), apply_cctf_decoding=False), wp)
        ref = colour.XYZ_to_Lab(colour.sRGB_to_XYZ(srgb, apply_cctf_decoding=False), wp)
        return colour.delta_E(lab, ref, method="CIE 2000")

    assert np.mean(de(cam_rgb @ fit.matrix.T)) < 0.5 * np.mean(de(cam_rgb))
    assert fit.to_config()["matrix"][0][0] == pytest.approx(fit.matrix[0, 0], abs=1e-6)


def test_ccm_fit_bad_input():
    with pytest.raises(InputError):
        fit_ccm(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(InputError, match="degenerate"):
        fit_ccm(np.ones((5, 3)), np.ones((5, 3)))
    with pytest.raises(InputError):
        fit_ccm(np.ones((5, 3)), np.ones((5, 2)))


# ---------------------------------------------------------------------------- defects
@pytest.fixture(scope="module")
def defect_cams():
    sens = {"width_px": 320, "height_px": 240, "pixel_pitch_um": 1.4, "full_well_e": 6000}
    defects = {"hot_ppm": 1000, "dead_ppm": 1000, "stuck_ppm": 500, "hot_dark_current_e_per_s": 20000}
    bad = Camera({"name": "d", "lens": LENS, "sensor": {**sens, "defects": defects}})
    good = Camera({"name": "g", "lens": LENS, "sensor": sens})
    return bad, good


def _norm(raw):
    return black_level(raw.data, raw.meta.cfa, raw.meta.black_level_dn, raw.meta.white_level_dn)


@pytest.mark.parametrize("chart,min_rate", [("flat", 0.99), ("slanted-edge", 0.85), ("star", 0.8)])
def test_dpc_detection_against_the_known_defect_map(defect_cams, chart, min_rate):
    """Detection rate among defects that stand out (> 0.15 of full scale from the defect-free,
    noise-free frame) and false positives among the good pixels, from Sensor.defect_map()."""
    bad, good = defect_cams
    scene = bad.chart(chart, lux=500)
    raw = bad.capture(scene, seed=0)
    ideal = good.capture(scene, exposure_s=raw.meta.exposure_s, analog_gain=raw.meta.analog_gain, seed=0, noise=False)
    known = bad.sensor.defect_map().any
    visible = known & ((_norm(raw) - _norm(ideal))[0, 0].abs() > 0.15)
    flagged = detect_defects(_norm(raw), "RGGB")[0]
    assert int(visible.sum()) > 100
    rate = float((flagged & visible).sum()) / float(visible.sum())
    false_pos = float((flagged & ~known).sum()) / float((~known).sum())
    assert rate >= min_rate, rate
    assert false_pos <= 1e-4, false_pos


def test_dpc_correction_restores_the_flat_field(defect_cams, tmp_path):
    bad, good = defect_cams
    scene = bad.chart("flat", lux=500)
    raw = bad.capture(scene, seed=0)
    ideal = _norm(good.capture(scene, exposure_s=raw.meta.exposure_s, analog_gain=raw.meta.analog_gain, seed=0,
                               noise=False))[0, 0]
    dm = bad.sensor.defect_map()
    before = (_norm(raw)[0, 0] - ideal).abs()
    visible = dm.any & (before > 0.15)
    # map mode fixes every listed pixel; detect mode every visible one (shot noise σ ≈ 0.012)
    for out, which in ((dpc(_norm(raw), "RGGB"), visible), (dpc(_norm(raw), "RGGB", defect_map=dm.any), dm.any)):
        err = (out[0, 0] - ideal).abs()
        assert float(before[which].max()) > 0.5
        assert float(err[which].max()) < 0.06
    # a map-mode pipeline reads the map from a .npy file
    np.save(tmp_path / "defects.npy", dm.any.numpy())
    pipe = Pipeline({"dpc": {"method": "map", "defect_map": str(tmp_path / "defects.npy")}, "awb": {"enable": False}})
    out = pipe(raw, stop="dpc").data[0, 0]
    assert float((out - ideal).abs()[dm.any].max()) < 0.06
    tiled = pipe.run_tiled(raw, tile=64, stop="dpc").data[0, 0]  # the map follows the tiles
    assert torch.allclose(tiled, out, atol=1e-6)
    with pytest.raises(InputError, match="defect map"):
        dpc(_norm(raw), "RGGB", defect_map=dm.any[:10])
