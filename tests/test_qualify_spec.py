"""Specs: YAML limits → verdicts with reasons; lot yield and Pareto; bad specs name the field."""

import pytest

from camforge.cli import main
from camforge.errors import ConfigError
from camforge.qualify.spec import Spec, Verdict, evaluate, load_spec, summarize


def test_verdict_with_reasons():
    spec = load_spec({"name": "s", "limits": {"mtf50_corner_min_cy_per_px": {"min": 0.2},
                                              "defect_pixel_count": {"max": 10},
                                              "shading_corner_min_pct": {"min": 40, "max": 100}}})
    v = evaluate(spec, {"mtf50_corner_min_cy_per_px": 0.25, "defect_pixel_count": 10, "shading_corner_min_pct": 55})
    assert v.status == "pass" and v.reasons == ()
    v = evaluate(spec, {"mtf50_corner_min_cy_per_px": 0.15, "defect_pixel_count": 11, "shading_corner_min_pct": 55})
    assert v.status == "fail"
    assert [r.figure for r in v.reasons] == ["mtf50_corner_min_cy_per_px", "defect_pixel_count"]
    assert "0.15" in v.reasons[0].text and "min" in v.reasons[0].text
    v = evaluate(spec, {"defect_pixel_count": 0, "shading_corner_min_pct": 55},
                 {"mtf50_corner_min_cy_per_px": "no usable slanted edge"})
    assert v.status == "fail" and "no usable slanted edge" in v.text


def test_optional_figure():
    spec = load_spec({"limits": {"anomaly_score": {"max": 1.0, "on_missing": "pass"}}})
    assert evaluate(spec, {}).status == "pass"
    assert evaluate(spec, {"anomaly_score": 1.5}).status == "fail"


def test_summary_yield_and_pareto():
    vs = [Verdict("a", "pass"), Verdict("b", "pass"), Verdict("e", "error", error="truncated")]
    spec = load_spec({"limits": {"defect_pixel_count": {"max": 1}, "blemish_count": {"max": 0}}})
    vs.append(evaluate(spec, {"defect_pixel_count": 5, "blemish_count": 2}, module_id="c"))
    vs.append(evaluate(spec, {"defect_pixel_count": 5, "blemish_count": 0}, module_id="d"))
    s = summarize(vs)
    assert (s.n_modules, s.n_pass, s.n_fail, s.n_error) == (5, 2, 2, 1)
    assert s.yield_pct == pytest.approx(50.0)
    assert s.first_pass_yield_pct == pytest.approx(40.0)
    assert s.pareto[0] == ("defect_pixel_count", 2)
    assert ("blemish_count", 1) in s.pareto and ("error (unreadable)", 1) in s.pareto


@pytest.mark.parametrize("limits,field", [
    ({"mtf50_corner_mn_cy_per_px": {"min": 0.2}}, "limits.mtf50_corner_mn_cy_per_px"),
    ({"defect_pixel_count": {"maximum": 3}}, "limits.defect_pixel_count.maximum"),
    ({"defect_pixel_count": {}}, "limits.defect_pixel_count"),
    ({"defect_pixel_count": {"min": 5, "max": 1}}, "limits.defect_pixel_count"),
])
def test_bad_spec_names_the_field(limits, field):
    with pytest.raises(ConfigError) as e:
        load_spec({"name": "bad", "limits": limits})
    assert field in str(e.value)


def test_bad_spec_file_through_the_cli(tmp_path, capsys):
    p = tmp_path / "spec.yaml"
    p.write_text("name: x\nlimits:\n  blemish_contrst_max_pct: {max: 1}\n")
    (tmp_path / "lot").mkdir()
    assert main(["qualify", "run", str(tmp_path / "lot"), "--spec", str(p), "--no-db", "--no-report"]) == 2
    err = capsys.readouterr().err
    assert "limits.blemish_contrst_max_pct" in err and "blemish_contrast_max_pct" in err


def test_example_specs_load():
    from pathlib import Path

    for p in sorted((Path(__file__).resolve().parents[1] / "examples" / "specs").glob("*.yaml")):
        assert isinstance(Spec.from_yaml(p), Spec)
