"""Simulated modules: spread, injected defects and their ground truth, measured back."""

import numpy as np
import pytest

from camforge.errors import InputError
from camforge.qualify.measure import measure_module
from camforge.qualify.simulate import KINDS, LotSimConfig, resized_design, simulate_module
from camforge.qualify.spec import evaluate, load_spec

DESIGN = {
    "name": "qual-test",
    "lens": {"focal_length_mm": 4.4, "f_number": 2.0, "relative_illumination": {"cra_corner_deg": 28},
             "aberrations": [{"field": 0.0, "defocus_um": 0.12},
                             {"field": 1.0, "defocus_um": 0.12, "astigmatism_0_um": 0.12}],
             "psf": {"zones": [4, 3]}},  # fewer PSF zones than the default 8 × 6: a faster chart
    "sensor": {"width_px": 256, "height_px": 192, "pixel_pitch_um": 2.8, "full_well_e": 9000, "prnu_pct": 0.8,
               "adc_bits": 12, "black_level_dn": 64},
}
FLAT_FIGS = ["hot_pixel_count", "dead_pixel_count", "stuck_pixel_count", "defect_pixel_count", "largest_cluster_px",
             "column_defect_count", "row_defect_count", "blemish_contrast_max_pct", "blemish_count"]


def test_same_seed_same_module():
    a = simulate_module(DESIGN, 3, seed=7, force_kinds=["dust", "hot_pixels"])
    b = simulate_module(DESIGN, 3, seed=7, force_kinds=["dust", "hot_pixels"])
    for k in a.captures:
        assert np.array_equal(a.captures[k].data.numpy(), b.captures[k].data.numpy())
    assert np.array_equal(a.truth.mask, b.truth.mask) and a.truth.to_dict() == b.truth.to_dict()
    c = simulate_module(DESIGN, 4, seed=7, force_kinds=[])
    assert not np.array_equal(a.captures["flat_hi"].data.numpy(), c.captures["flat_hi"].data.numpy())


@pytest.mark.parametrize("kind,figure", [("hot_pixels", "hot_pixel_count"), ("dead_pixels", "dead_pixel_count"),
                                         ("stuck_pixels", "stuck_pixel_count")])
def test_defect_pixels_counted_exactly(kind, figure):
    m = simulate_module(DESIGN, 2, seed=1, force_kinds=[kind])
    r = measure_module(m.captures, figures=FLAT_FIGS)
    truth = m.truth.defects[0]["count"]
    assert truth >= 5
    extra = m.truth.params["normal_hot_pixels"] if kind != "hot_pixels" and figure == "hot_pixel_count" else 0
    assert r.figures[figure] == truth + extra
    assert (m.truth.mask == KINDS.index(kind) + 1).sum() == truth


def test_cluster_size_and_lines():
    m = simulate_module(DESIGN, 5, seed=2, force_kinds=["cluster"])
    r = measure_module(m.captures, figures=FLAT_FIGS)
    assert r.figures["largest_cluster_px"] == max(m.truth.defects[0]["sizes_px"])
    for kind, axis in (("column", "columns"), ("row", "rows")):
        m = simulate_module(DESIGN, 6, seed=3, force_kinds=[kind])
        r = measure_module(m.captures, figures=FLAT_FIGS)
        assert r.figures[f"{kind}_defect_count"] == 1
        assert r.details[axis] == [m.truth.defects[0]["position_px"]]
        assert r.figures["defect_pixel_count"] <= 3  # the line's pixels are not counted as defect pixels


def test_blemish_contrast_measured_against_the_physics():
    for i in range(4):
        m = simulate_module(DESIGN, i, seed=11, force_kinds=["dust"])
        r = measure_module({"flat_hi": m.captures["flat_hi"]}, figures=["blemish_contrast_max_pct", "blemish_count"])
        c = 100 * m.truth.defects[0]["peak_contrast"]
        assert r.figures["blemish_count"] == 1
        assert abs(r.figures["blemish_contrast_max_pct"] - c) <= 0.12 * c + 0.3, (c, r.figures)


def test_shadow_is_applied_before_the_noise():
    """The transmission acts on the light, so the shot noise follows the shadowed signal:
    after dividing the frame by T the noise variance grows as 1/T (Poisson, var ∝ mean); a
    shadow applied to the read-out frame instead would leave it unchanged."""
    from scipy import ndimage

    from camforge.qualify.blemish import Occluder, single_shadow

    d = {**DESIGN, "sensor": {**DESIGN["sensor"], "prnu_pct": 0.0, "read_noise_e": 0.5}}
    cfg = {"defects": {"dust_contrast": (0.5, 0.55), "dust_shadow_frac": (0.3, 0.3)}}
    m = simulate_module(d, 1, seed=4, force_kinds=["dust"], config=cfg)
    t = m.truth.defects[0]
    occ = Occluder("disc", t["x_um"], t["y_um"], t["size_um"], t["z_um"])
    T = 1 - single_shadow(occ, (192, 256), 2.8, t["f_number"])
    flat = (m.captures["flat_hi"].data[0, 0].numpy().astype(float) - 64) / T
    g, Tg = flat[0::2, 1::2], T[0::2, 1::2]  # one green site
    res = g - ndimage.gaussian_filter(g, 2.0)
    inside = Tg < 0.6
    outside = ndimage.binary_erosion(Tg > 0.9999, iterations=6)
    ratio = res[inside].var() / res[outside].var()
    assert ratio == pytest.approx(np.mean(1 / Tg[inside]), rel=0.12)
    assert np.mean(1 / Tg[inside]) > 1.8


def test_tilt_lowers_one_corner_mtf():
    good = simulate_module(DESIGN, 9, seed=5, force_kinds=[])
    tilted = simulate_module(DESIGN, 9, seed=5, force_kinds=["tilt"])
    figs = ["mtf50_center_cy_per_px", "mtf50_corner_min_cy_per_px", "mtf50_corner_ratio"]
    a = measure_module({"chart": good.captures["chart"]}, figures=figs).figures
    b = measure_module({"chart": tilted.captures["chart"]}, figures=figs).figures
    assert tilted.truth.defects[0]["tilt_deg"] >= 1.5
    assert b["mtf50_corner_ratio"] < a["mtf50_corner_ratio"] - 0.1
    assert b["mtf50_center_cy_per_px"] == pytest.approx(a["mtf50_center_cy_per_px"], rel=0.15)


def test_decentre_makes_shading_asymmetric():
    figs = ["shading_corner_min_pct", "shading_asymmetry_pct"]
    centred = {"spread": {"decentre_frac": 0.0, "transmission_rel": 0.0, "color_shading_pct": 0.0}}
    off = {"spread": {"decentre_frac": 0.15, "transmission_rel": 0.0, "color_shading_pct": 0.0}}
    a = measure_module(simulate_module(DESIGN, 1, seed=0, force_kinds=[], config=centred).captures, figures=figs)
    b = measure_module(simulate_module(DESIGN, 1, seed=0, force_kinds=[], config=off).captures, figures=figs)
    assert a.figures["shading_asymmetry_pct"] < 1.5
    assert b.figures["shading_asymmetry_pct"] > 3 * a.figures["shading_asymmetry_pct"]


def test_good_modules_pass_the_example_spec():
    from pathlib import Path

    spec = load_spec(Path(__file__).resolve().parents[1] / "examples" / "specs" / "eol_basic.yaml")
    for i in range(3):
        m = simulate_module(DESIGN, i, seed=21, force_kinds=[])
        r = measure_module(m.captures, figures=list(spec.limits))
        v = evaluate(spec, r.figures, r.missing)
        assert v.status == "pass", v.text


def test_resized_design_keeps_the_image_area():
    d = resized_design(DESIGN, 128, 96)
    s0, s1 = DESIGN["sensor"], d["sensor"]
    assert s1["width_px"] * s1["pixel_pitch_um"] == pytest.approx(s0["width_px"] * s0["pixel_pitch_um"])
    assert s1["full_well_e"] == pytest.approx(s0["full_well_e"] * 4)


def test_bad_kind_and_config():
    with pytest.raises(InputError, match="unknown defect kind"):
        simulate_module(DESIGN, 0, force_kinds=["smudge"])
    from camforge.errors import ConfigError

    from camforge.config import validate

    with pytest.raises(ConfigError, match="defects.kinds"):
        validate(LotSimConfig, {"defects": {"kinds": {"smudge": 1}}}, "cfg")


@pytest.mark.parametrize("kind", ["dust", "scratch", "contamination"])
def test_recorded_detectability_matches_the_captures(kind):
    """Each area defect's ideal-observer d′ (truth ``detectability``) equals the d′ computed from
    the captures themselves: the defective minus the clean flat (same sensor and noise seeds;
    cdf-inversion Poisson couples the two draws, so the difference is the defect's mean change)."""
    from camforge.qualify.blemish import ideal_detectability
    from camforge.qualify.flatfield import black_subtracted
    from camforge.sensor import Sensor, SensorConfig

    K = float(Sensor(SensorConfig(**DESIGN["sensor"])).conversion_gain_dn_per_e)
    m = simulate_module(DESIGN, 5, seed=3, force_kinds=[kind], clean=True)
    bad = black_subtracted(m.captures["flat_hi"]).astype(float) / K
    clean = black_subtracted(m.clean["flat_hi"]).astype(float) / K
    got = ideal_detectability(bad - clean, clean, prnu_frac=m.truth.params["prnu_pct"] / 100, read_noise_e=2.0)
    assert m.truth.defects[0]["detectability"] == pytest.approx(got, rel=0.03)
    assert got > 5
