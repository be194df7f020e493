"""``camforge optimize``: studies from the command line, resume, reports and clear errors."""

from __future__ import annotations

import json

import pytest
import yaml

from camforge.cli import main


def _run(capsys, *args) -> tuple[int, str, str]:
    rc = main(["optimize", *map(str, args)])
    out, err = capsys.readouterr()
    return rc, out, err


def test_optimize_writes_a_resumable_study_and_a_report_that_renders(tmp_path, capsys):
    from browser import assert_renders

    out = tmp_path / "study"
    rc, o, e = _run(capsys, "phone_main", "--method", "sobol", "--budget", 5, "--executor", "serial", "--out", out,
                    "--json")
    assert rc == 0, e
    s = json.loads(o)
    assert s["evaluations"] == 5 and s["study"] == "phone_main-sobol-s0" and (out / "study.db").exists()
    rc, o, e = _run(capsys, "phone_main", "--method", "sobol", "--budget", 8, "--executor", "serial", "--out", out,
                    "--json")
    assert rc == 0 and json.loads(o)["evaluations"] == 8  # resumed, not restarted
    data = json.loads((out / "study.json").read_text())
    assert len(data["evaluations"]) == 8 and data["objectives"][0] == "mtf50_corner_lp_per_ph"
    assert len(data["hypervolume"]) == 8 and data["hypervolume"][-1] > 0
    html = (out / "study.html").read_text()
    assert "Pareto front" in html and "Parallel coordinates" in html and "Hypervolume" in html
    r = assert_renders(out / "study.html", tmp_path, min_images=5)  # 3 projections, HV, parallel coordinates
    assert r["n_images"] >= 5


def test_optimize_table_output_and_options(tmp_path, capsys):
    rc, o, e = _run(capsys, "automotive_front", "--method", "nsga2", "--budget", 6, "--executor", "serial",
                    "--out", tmp_path, "--option", "population_size=3")
    assert rc == 0, e
    assert "hypervolume" in o and "report:" in o and "rerun to resume" in o


def test_optimize_gradient(tmp_path, capsys):
    rc, o, e = _run(capsys, "examples/spaces/isp_tuning.yaml", "--method", "gradient", "--budget", 2, "--out", tmp_path,
                    "--json")
    assert rc == 0, e
    s = json.loads(o)
    assert s["steps"] == 2 and s["best_loss"] <= s["initial_loss"] and (tmp_path / "gradient.html").exists()


def _space(tmp_path, **change) -> str:
    d = yaml.safe_load(open("examples/spaces/phone_main.yaml"))
    d.update(change)
    p = tmp_path / "space.yaml"
    p.write_text(yaml.safe_dump(d, allow_unicode=True))
    return str(p)


def test_optimize_generative_proposes_designs_for_the_target(tmp_path, capsys):
    """--propose: after a generative study, new designs for the space's target spec, each with the
    critic's probability of meeting it; the designs respect the analytic constraints."""
    from camforge.design import Problem

    rc, o, e = _run(capsys, "phone_main", "--method", "generative", "--budget", 40, "--executor", "serial",
                    "--out", tmp_path, "--option", "n_init=32", "--option", "epochs=40", "--propose", 4, "--json")
    assert rc == 0, e
    s = json.loads(o)
    doc = json.loads(open(s["proposals"]).read())
    assert doc["trained_on"] == 40 and doc["target"] and len(doc["proposals"]) == 4
    pr = Problem("phone_main", "fast")
    for p in doc["proposals"]:
        assert 0.0 <= p["p_meets_target"] <= 1.0 and pr.space.is_feasible(p["params"])


@pytest.mark.parametrize("change, args, match", [
    ({}, ("--method", "sobol", "--propose", "3"), "--propose needs --method generative"),
    ({"target": []}, ("--method", "generative", "--propose", "3"), "has no target spec"),
    ({"constraints": ["z_height_mm <= 2.0"]}, (), "infeasible design space"),
    ({"constraints": ["cost_usd <= 5", "cost_usd >= 10"]}, (), "contradictory constraints"),
    ({"objectives": [{"name": "mtf50_corner_lp_per_pw", "direction": "maximize"}]}, (), "unknown quantity 'mtf50_corner_lp_per_pw'"),
    ({}, ("--method", "annealing"), "unknown optimization method"),
    ({}, ("--budget", "0"), "budget must be a positive"),
    ({}, ("--option", "population_size"), "key=value"),
    ({}, ("--executor", "cluster"), "unknown executor"),
])
def test_bad_input_is_one_clear_line(tmp_path, capsys, change, args, match):
    import re

    rc, o, e = _run(capsys, _space(tmp_path, **change), "--budget", 3, "--executor", "serial", "--out", tmp_path / "o",
                    *args)
    assert rc == 2
    lines = [ln for ln in e.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and re.search(match, lines[0]), e


def test_missing_space_file(tmp_path, capsys):
    rc, o, e = _run(capsys, tmp_path / "nope.yaml", "--budget", 2)
    assert rc == 2 and "not found" in e
