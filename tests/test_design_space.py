"""Design spaces: YAML, geometry, Seidel scaling, models, encodings, constraints and bad input."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from camforge.design import DesignSpace, Problem, bundled_spaces, load_space
from camforge.design.expr import parse_constraints
from camforge.design.models import module_cost, module_size, sensor_power
from camforge.design.space import OPTICAL_FORMATS_MM
from camforge.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
BASE = {"name": "b", "lens": {"focal_length_mm": 4.0, "f_number": 2.0,
                              "aberrations": [{"field": 0.0, "spherical_um": 0.04, "defocus_um": 0.02},
                                              {"field": 1.0, "astigmatism_0_um": 0.1, "coma_y_um": 0.05}]},
        "sensor": {"width_px": 4000, "height_px": 3000, "pixel_pitch_um": 1.0, "full_well_e": 5000}}


def space(**over) -> dict:
    d = {"name": "t", "base_design": BASE,
         "parameters": {"pixel_pitch_um": {"low": 0.8, "high": 2.0, "log": True},
                        "sensor_format": {"choices": ["1/2.55", "1/1.7"]},
                        "f_number": {"low": 1.6, "high": 2.8}},
         "objectives": [{"name": "cost_usd", "direction": "minimize", "reference": 50}]}
    d.update(over)
    return d


def test_bundled_problems_and_example_copies():
    assert {"phone_main", "automotive_front"} <= set(bundled_spaces())
    for name in ("phone_main", "automotive_front"):
        sp = load_space(name)
        assert sp.check_feasible() > 0.05
        # examples/spaces keeps an identical copy of each bundled problem for users to read
        ex = REPO / "examples" / "spaces" / f"{name}.yaml"
        bundled = REPO / "src" / "camforge" / "data" / "fronts" / f"{name}.space.yaml"
        assert ex.read_text() == bundled.read_text()


def test_geometry_is_solved_from_pitch_and_format():
    sp = DesignSpace.from_dict(space())
    p = {"pixel_pitch_um": 1.4, "sensor_format": "1/2.55", "f_number": 2.0}
    q = sp.quantities(p)
    # diagonal in pixels = diagonal / pitch; 4:3 aspect keeps w = 0.8·d, h = 0.6·d (to 4-pixel rounding)
    d_px = OPTICAL_FORMATS_MM["1/2.55"] * 1e3 / 1.4
    assert q["width_px"] == pytest.approx(0.8 * d_px, abs=4)
    assert q["height_px"] == pytest.approx(0.6 * d_px, abs=4)
    assert q["sensor_diagonal_mm"] == pytest.approx(7.06, abs=0.01)
    assert q["resolution_mp"] == pytest.approx(12.2, rel=0.01)  # the IMX363 class: 4032 x 3024
    d = sp.design(p)
    assert (d.sensor.width_px, d.sensor.height_px) == (q["width_px"], q["height_px"])
    assert d.sensor.width_px % 4 == 0 and d.sensor.height_px % 4 == 0


def test_fixed_field_of_view_sets_focal_length_and_seidel_scaling():
    sp = DesignSpace.from_dict(space(fixed={"dfov_deg": 79.0}))
    p = {"pixel_pitch_um": 1.4, "sensor_format": "1/2.55", "f_number": 1.6}
    q = sp.quantities(p)
    assert q["dfov_deg"] == pytest.approx(79.0, abs=0.05)
    assert q["focal_length_mm"] == pytest.approx(q["sensor_diagonal_mm"] / 2 / math.tan(math.radians(39.5)), rel=1e-3)
    d = sp.design(p)
    k_scale = q["focal_length_mm"] / 4.0
    n0, n1 = d.lens.aberrations
    # W ∝ f · (N0/N)^order: spherical order 4, defocus and astigmatism 2, coma 3
    assert n0.spherical_um == pytest.approx(0.04 * k_scale * (2.0 / 1.6) ** 4, rel=1e-9)
    assert n0.defocus_um == pytest.approx(0.02 * k_scale * (2.0 / 1.6) ** 2, rel=1e-9)
    assert n1.astigmatism_0_um == pytest.approx(0.1 * k_scale * (2.0 / 1.6) ** 2, rel=1e-9)
    assert n1.coma_y_um == pytest.approx(0.05 * k_scale * (2.0 / 1.6) ** 3, rel=1e-9)


def test_paths_full_well_density_and_isp_parameters():
    sp = DesignSpace.from_dict(space(
        parameters={"pixel_pitch_um": {"low": 1.0, "high": 2.0}, "isp.sharpen.amount": {"low": 0.0, "high": 1.0},
                    "sensor.dark_current_e_per_s": {"low": 1.0, "high": 10.0}, "cfa": {"choices": ["RGGB", "GRBG"]}},
        fixed={"full_well_e_per_um2": 3000}))
    p = {"pixel_pitch_um": 1.5, "isp.sharpen.amount": 0.7, "sensor.dark_current_e_per_s": 4.0, "cfa": "GRBG"}
    d = sp.design(p)
    assert d.sensor.full_well_e == pytest.approx(3000 * 1.5**2)
    assert d.isp["sharpen"]["amount"] == 0.7 and d.sensor.dark_current_e_per_s == 4.0 and d.sensor.cfa == "GRBG"
    assert sp.quantities(p)["full_well_e"] == pytest.approx(6750)


def test_encode_decode_round_trip_and_sampling():
    sp = DesignSpace.from_dict(space(parameters={
        "pixel_pitch_um": {"low": 0.8, "high": 2.0, "log": True}, "adc_bits": {"type": "int", "low": 10, "high": 14},
        "sensor_format": {"choices": ["1/2.55", "1/1.7", "1/1.28"]}}))
    pts = sp.sample(40, seed=3, method="sobol")
    for p in pts:
        for oh in (True, False):
            q = sp.decode(sp.encode(p, onehot=oh), onehot=oh)
            assert q["sensor_format"] == p["sensor_format"] and q["adc_bits"] == p["adc_bits"]
            assert q["pixel_pitch_um"] == pytest.approx(p["pixel_pitch_um"], rel=1e-12)
    assert sp.dim(onehot=True) == 5 and sp.dim(onehot=False) == 3
    # log scaling: the middle of the encoded range is the geometric mean
    assert sp.decode([0.5, 0.5, 0.0, 0.0, 1.0])["pixel_pitch_um"] == pytest.approx(math.sqrt(0.8 * 2.0))
    assert sp.sample(5, seed=1) == sp.sample(5, seed=1) != sp.sample(5, seed=2)


def test_analytic_constraints_are_enforced_by_sampling():
    sp = DesignSpace.from_dict(space(fixed={"dfov_deg": 79.0}, constraints=["z_height_mm <= 7.0", "resolution_mp >= 8"]))
    assert len(sp.analytic_constraints) == 2 and not sp.outcome_constraints
    frac = sp.check_feasible()
    assert 0.05 < frac < 0.95
    for p in sp.sample(30, seed=0):
        q = sp.quantities(p)
        assert q["z_height_mm"] <= 7.0 and q["resolution_mp"] >= 8


def test_models_follow_their_documented_formulas():
    q = {"focal_length_mm": 4.4, "entrance_pupil_mm": 2.2, "dfov_deg": 79.0, "sensor_width_mm": 5.6,
         "sensor_height_mm": 4.2, "pixel_pitch_um": 1.4, "read_noise_e": 2.0, "qe_peak": 0.75, "adc_bits": 10,
         "aberration_scale": 1.0, "width_px": 4000, "height_px": 3000, "frame_rate_fps": 30.0}
    s = module_size(q)
    assert s["total_track_mm"] == pytest.approx(1.05 * 4.4 + 0.15 * 2.2)
    assert s["image_circle_mm"] == pytest.approx(2 * 4.4 * math.tan(math.radians(39.5)))
    c = module_cost(q)
    area = 5.6 * 4.2 * 1.3
    assert c["cost_sensor_usd"] == pytest.approx(0.08 * area / math.exp(-0.002 * area))
    assert c["cost_usd"] == pytest.approx(sum(c[k] for k in ("cost_sensor_usd", "cost_package_usd", "cost_lens_usd")) + 2.0)
    assert module_cost({**q, "read_noise_e": 1.0})["cost_usd"] > c["cost_usd"]
    assert module_cost({**q, "pixel_pitch_um": 0.7})["cost_sensor_usd"] > c["cost_sensor_usd"]
    p = sensor_power(q)
    assert p["power_mw"] == pytest.approx(40 + 360e6 * 0.6e-9 * 1e3 + 30 * 3.6)


def test_replaceable_model_function_and_coefficients(tmp_path, monkeypatch):
    (tmp_path / "mycost.py").write_text("def cost(q, *, per_mm2=1.0):\n    return {'cost_usd': per_mm2 * q['sensor_width_mm'] * q['sensor_height_mm']}\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    sp = DesignSpace.from_dict(space(models={"cost": {"function": "mycost:cost", "coefficients": {"per_mm2": 2.0}},
                                             "size": {"coefficients": {"back_stack_mm": 2.0}}}))
    p = sp.sample(1)[0]
    q = sp.quantities(p)
    assert q["cost_usd"] == pytest.approx(2.0 * q["sensor_width_mm"] * q["sensor_height_mm"])
    assert q["z_height_mm"] == pytest.approx(q["total_track_mm"] + 2.0)
    with pytest.raises(ConfigError, match="unknown coefficient"):
        DesignSpace.from_dict(space(models={"size": {"coefficients": {"bogus": 1}}}))
    with pytest.raises(ConfigError, match="cannot be imported"):
        DesignSpace.from_dict(space(models={"cost": {"function": "nosuchmodule:cost"}}))


def test_expressions_are_safe_and_constraints_parse():
    (k,) = parse_constraints("z_height_mm <= 7.5")
    assert k.violation({"z_height_mm": 8.0}) == pytest.approx(0.5) and k.bound() == ("z_height_mm", "<=", 7.5)
    lo, hi = parse_constraints("8 <= resolution_mp <= 50")
    assert lo.violation({"resolution_mp": 5}) == pytest.approx(3) and hi.violation({"resolution_mp": 5}) < 0
    (g,) = parse_constraints("hfov_deg >= 2 * degrees(atan(0.5))")
    assert g.violation({"hfov_deg": 60}) < 0
    for bad in ("__import__('os').system('x') <= 1", "a.b <= 1", "[1][0] <= 1", "x", "lambda: 1 <= 2"):
        with pytest.raises(ConfigError):
            parse_constraints(bad)
    assert math.isinf(k.violation({"z_height_mm": float("nan")}))


@pytest.mark.parametrize("change, match", [
    ({"parameters": {"pixel_pitch": {"low": 1, "high": 2}}}, "unknown parameter 'pixel_pitch'"),
    ({"parameters": {"f_number": {"low": 2.8, "high": 1.6}}}, "low .* must be below high"),
    ({"parameters": {"pixel_pitch_um": {"low": 1, "high": 2}, "resolution_mp": {"low": 8, "high": 20},
                     "sensor_format": {"choices": ["1/2.55", "1/2"]}}}, "over-determine"),
    ({"parameters": {"sensor_format": {"choices": ["1/2.55", "2/3.3"]}}}, "optical formats"),
    ({"parameters": {"f_number": {"low": 0.1, "high": 2.0}}}, "f_number"),
    ({"constraints": ["f_number >= 3.0"]}, "excludes the whole range of parameter f_number"),
    ({"constraints": ["cost_usd <= 5", "cost_usd >= 9"]}, "contradictory constraints"),
    ({"fixed": {"dfov": 79}}, "unknown fixed quantity 'dfov'"),
    ({"objectives": []}, "at least one objective"),
    ({"bogus_field": 1}, "bogus_field: unknown field"),
])
def test_bad_spaces_raise_clear_errors(change, match):
    with pytest.raises(ConfigError, match=match):
        DesignSpace.from_dict(space(**change))


def test_infeasible_space_is_detected_with_the_constraint_named():
    sp = DesignSpace.from_dict(space(constraints=["z_height_mm <= 1.0"]))
    with pytest.raises(ConfigError, match="infeasible design space.*z_height_mm <= 1.0"):
        sp.check_feasible()
    # each constraint alone can be met, but not both together
    sp2 = DesignSpace.from_dict(space(constraints=["pixel_pitch_um >= 1.5", "resolution_mp >= 14",
                                                   "sensor_diagonal_mm <= 7.1"]))
    with pytest.raises(ConfigError, match="never all at once"):
        sp2.check_feasible()


def test_unknown_objective_or_metric_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown quantity 'mtf50_corner'.*did you mean"):
        Problem(space(objectives=[{"name": "mtf50_corner", "direction": "maximize"}]), "fast")
    with pytest.raises(ConfigError, match="snr_18pct_db_5lx"):
        Problem(space(constraints=["snr_18pct_db_5lx >= 20"]), "scorecard")
    # the fast model produces SNR at the illuminances it is given
    Problem(space(constraints=["snr_18pct_db_5lx >= 20"]), {"kind": "fast", "lux": [5, 50]})


def test_space_file_errors_name_the_file(tmp_path):
    p = tmp_path / "s.yaml"
    d = space()
    d["parameters"]["f_number"]["hihg"] = 3
    p.write_text(yaml.safe_dump(d))
    with pytest.raises(ConfigError, match=r"s\.yaml.*parameters\.f_number\.hihg: unknown field"):
        DesignSpace.from_yaml(p)
    with pytest.raises(ConfigError, match="not found"):
        load_space(tmp_path / "missing.yaml")


def test_relative_base_design_path(tmp_path):
    shutil.copy(REPO / "examples" / "designs" / "automotive_2mp.yaml", tmp_path / "car.yaml")
    d = space(base_design="car.yaml")
    (tmp_path / "sp.yaml").write_text(yaml.safe_dump(d))
    sp = DesignSpace.from_yaml(tmp_path / "sp.yaml")
    assert sp.base_design.sensor.pixel_pitch_um == 3.0
    assert np.isfinite(sp.quantities(sp.sample(1)[0])["cost_usd"])
