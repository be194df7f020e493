"""camforge evaluate: physics orderings across designs, outputs, report in a browser, database."""

from __future__ import annotations

import json
import math
import multiprocessing as mp

import pytest

from browser import assert_renders
from camforge.cli import main
from camforge.errors import ConfigError
from camforge.evaluate import evaluate, load_plan
from evalhelpers import design, plan


def _eval(d, p, **kw):
    return evaluate(d, p, **kw)


# ------------------------------------------------------------------ physics orderings


def test_bigger_pixels_beat_small_pixels_on_low_light_snr(designs_dir):
    """3 µm pixels collect (3/1.4)² = 4.6× the light of 1.4 µm pixels at equal f-number and
    exposure: higher SNR of 18 % grey at 1 lx and a lower low-light limit."""
    common = {"lens.f_number": 1.8, "sensor.exposure_max_s": 1 / 30, "sensor.max_analog_gain": 16.0}
    small = _eval(design(designs_dir, "phone_main_12mp", **common), plan("noise"))
    big = _eval(design(designs_dir, "automotive_2mp", **common, **{"sensor.temperature_c": 40.0}), plan("noise"))
    assert big.value("snr_18pct_raw_db_1lx") > small.value("snr_18pct_raw_db_1lx") + 3.0
    assert big.value("low_light_limit_lux") < small.value("low_light_limit_lux")


def test_stopping_down_lowers_diffraction_limited_mtf50(designs_dir):
    """f/1.8 → f/8 on 1.4 µm pixels: the diffraction cut-off 1/(λN) falls from 1.4 to 0.3 cy/px."""
    p = plan("sharpness", sharpness={"fields": [0.0]})
    ideal = {"lens.aberrations": [], "lens.distortion": {}, "lens.lateral_color": {}}
    fast = _eval(design(designs_dir, "phone_main_12mp", **ideal, **{"lens.f_number": 1.8}), p)
    slow = _eval(design(designs_dir, "phone_main_12mp", **ideal, **{"lens.f_number": 8.0}), p)
    assert slow.value("mtf50_center") < 0.7 * fast.value("mtf50_center")


def test_more_read_noise_lowers_dynamic_range(designs_dir):
    p = plan("tone", "sensor")
    quiet = _eval(design(designs_dir, "machine_vision_5mp", width=480, **{"sensor.read_noise_e": 2.0}), p)
    noisy = _eval(design(designs_dir, "machine_vision_5mp", width=480, **{"sensor.read_noise_e": 12.0}), p)
    # DR = saturation / noise floor: 6× the read noise costs ~14 dB (less where shot noise of dark current adds)
    assert noisy.value("dynamic_range_db") < quiet.value("dynamic_range_db") - 8
    assert noisy.value("sensor_dynamic_range_db") < quiet.value("sensor_dynamic_range_db") - 8
    assert noisy.value("sensor_read_noise_e") > 4 * quiet.value("sensor_read_noise_e")


def test_larger_full_well_raises_maximum_snr(designs_dir):
    p = plan("sensor")
    a = _eval(design(designs_dir, "phone_main_12mp", **{"sensor.full_well_e": 4000}), p)
    b = _eval(design(designs_dir, "phone_main_12mp", **{"sensor.full_well_e": 16000}), p)
    # SNR_max = √μ_e.sat: 4× the well is +6 dB
    assert b.value("sensor_snr_max_db") - a.value("sensor_snr_max_db") == pytest.approx(6.0, abs=1.0)


def test_wider_field_darkens_the_corners(designs_dir):
    """cos⁴ of the chief-ray angle: a shorter focal length on the same sensor vignettes more."""
    p = plan("shading")
    base = {"lens.relative_illumination": {"cos4": True}}
    tele = _eval(design(designs_dir, "machine_vision_5mp", width=320, **base), p)
    wide = _eval(design(designs_dir, "machine_vision_5mp", width=320, **base,
                        **{"lens.focal_length_mm": 16.0 * 320 / 2448 / 3}), p)
    assert wide.value("luma_shading_corner_pct") < tele.value("luma_shading_corner_pct") - 10


def test_snr_falls_with_illuminance(designs_dir):
    card = _eval(design(designs_dir, "automotive_2mp"), plan("noise", noise={"lux": [1000, 100, 10, 1]}))
    snr = [card.value(f"snr_18pct_db_{lux}lx") for lux in (1000, 100, 10, 1)]
    assert all(a > b for a, b in zip(snr, snr[1:]))


def test_barrel_distortion_is_negative_tv_distortion(designs_dir):
    p = plan("distortion", distortion={"n_cols": 13})
    mild = _eval(design(designs_dir, "automotive_2mp", width=480, **{"lens.distortion": {"k1": -0.03}}), p)
    strong = _eval(design(designs_dir, "automotive_2mp", width=480, **{"lens.distortion": {"k1": -0.12}}), p)
    assert strong.value("tv_distortion_pct") < mild.value("tv_distortion_pct") < 0


# ------------------------------------------------------------------ outputs, report, database


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, designs_dir_module):
    out = tmp_path_factory.mktemp("eval")
    p = plan(*("sharpness", "color", "noise", "tone", "shading", "distortion", "texture", "sensor"))
    d = design(designs_dir_module, "automotive_2mp", width=640)
    card = evaluate(d, p, out=out / "run", db=f"sqlite:///{out / 'r.db'}", executor="local:2")
    return card, out


@pytest.fixture(scope="module")
def designs_dir_module():
    from pathlib import Path

    return Path(__file__).resolve().parents[1] / "examples" / "designs"


def test_scorecard_json_has_every_section(full_run):
    card, out = full_run
    data = json.loads((out / "run" / "scorecard.json").read_text())
    assert data["design"]["name"] == "automotive-2mp" and len(data["design"]["hash"]) == 64
    m = data["metrics"]
    for name in ("mtf50_center", "mtf50_corner_sagittal", "mtf50_corner_meridional", "low_light_limit_lux",
                 "dynamic_range_db", "delta_e00_mean_D65", "delta_e00_max_D65", "luma_shading_corner_pct",
                 "color_shading_max_pct", "tv_distortion_pct", "lateral_ca_px", "texture_acutance",
                 "sensor_K_dn_per_e", "sensor_read_noise_e", "sensor_full_well_e", "sensor_dynamic_range_db"):
        assert name in m and m[name]["value"] is not None and math.isfinite(m[name]["value"]), name
        assert "unit" in m[name]
    assert m["sensor_K_dn_per_e"]["value"] == pytest.approx(0.327, rel=0.03)  # the design's K (DN/e⁻)
    assert data["errors"] == {}
    assert sorted(p.name for p in (out / "run" / "captures").iterdir())


def test_report_renders_in_a_real_browser(full_run, tmp_path):
    card, out = full_run
    r = assert_renders(out / "run" / "report.html", tmp_path, min_images=8)
    assert r["n_images"] >= 8


def test_run_is_stored_with_its_measurements(full_run):
    from camforge.store import Store

    card, out = full_run
    with Store(f"sqlite:///{out / 'r.db'}") as s:
        run = s.get_run(card.run_id)
        assert run.status == "complete" and run.kind == "evaluate"
        rows = s.measurements(card.run_id)
        assert {r.metric for r in rows} == set(card.metrics)
        kinds = {a.kind for a in s.run_detail(card.run_id).artifacts}
        assert {"scorecard", "report"} <= kinds


def test_two_evaluations_store_two_runs_and_compare(tmp_path, designs_dir):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    p = plan("noise", "sensor")
    a = evaluate(design(designs_dir, "automotive_2mp"), p, db=db, out=tmp_path / "a")
    b = evaluate(design(designs_dir, "phone_main_12mp"), p, db=db, out=tmp_path / "b")
    from camforge.store import Store

    with Store(db) as s:
        runs = s.runs(kind="evaluate")
        assert {r.id for r in runs} == {a.run_id, b.run_id}
        assert all(r.status == "complete" for r in runs)
    code = main(["compare", str(a.run_id), str(b.run_id), "--db", db, "--out", str(tmp_path / "cmp")])
    assert code == 0
    table = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert set(table) == {"automotive-2mp", "phone-main-12mp"}
    assert table["automotive-2mp"]["sensor_K_dn_per_e"] != table["phone-main-12mp"]["sensor_K_dn_per_e"]


def test_a_failing_section_fails_the_run_and_keeps_what_was_measured(tmp_path, designs_dir, monkeypatch):
    from camforge.evaluate import jobs
    from camforge.store import Store

    def boom(cam, plan, seed):
        raise RuntimeError("simulated crash in the middle of the run")

    # whichever job finishes first, the crash of one is raised only after the other's
    # measurements are committed; in either executor
    monkeypatch.setitem(jobs.SECTIONS, "noise", boom)
    db = f"sqlite:///{tmp_path / 'r.db'}"
    with pytest.raises(RuntimeError, match="simulated crash"):
        evaluate(design(designs_dir, "automotive_2mp"), plan("noise", "sensor"), db=db)
    with Store(db) as s:
        (run,) = s.runs()
        assert run.status == "failed" and "simulated crash" in (run.error or "")
        metrics = {m.metric for m in s.measurements(run.id)}
        assert any(m.startswith("sensor_") for m in metrics)  # committed before the crash


def _concurrent_eval(args):
    db, d, p = args
    from camforge.evaluate import evaluate

    return len(evaluate(d, p, db=db).metrics)


def test_concurrent_evaluations_into_one_sqlite_file_lose_no_rows(tmp_path, designs_dir):
    db = f"sqlite:///{tmp_path / 'r.db'}"
    p = plan("noise")
    d = design(designs_dir, "automotive_2mp")
    from camforge.store import Store

    Store(db).close()
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        counts = pool.map(_concurrent_eval, [(db, d, p)] * 3)
    with Store(db) as s:
        runs = s.runs()
        assert len(runs) == 3 and all(r.status == "complete" for r in runs)
        assert sorted(len(s.measurements(r.id)) for r in runs) == sorted(counts)


def test_evaluation_against_postgresql(tmp_path, designs_dir, request):
    import pg

    try:
        server = request.getfixturevalue("pg_server_eval")
    except pg.PgUnavailable as e:  # pragma: no cover - depends on the machine
        pytest.skip(str(e))
    url = server.new_database()
    card = evaluate(design(designs_dir, "automotive_2mp"), plan("sensor"), db=url)
    from camforge.store import Store

    with Store(url) as s:
        assert s.get_run(card.run_id).status == "complete"
        assert {m.metric for m in s.measurements(card.run_id)} == set(card.metrics)


@pytest.fixture(scope="module")
def pg_server_eval():
    import pg

    try:
        server = pg.start_server()
    except pg.PgUnavailable as e:
        pytest.skip(f"PostgreSQL tests skipped: {e}")
    yield server
    server.stop()


def test_ray_gives_the_same_scorecard_as_local(designs_dir):
    pytest.importorskip("ray")
    p = plan("sharpness", "noise", "sensor", sharpness={"fields": [0.0]})
    d = design(designs_dir, "automotive_2mp")
    local = evaluate(d, p, executor="local:2")
    ray = evaluate(d, p, executor="ray:local")
    assert set(local.metrics) == set(ray.metrics)
    for k in local.metrics:
        assert local.value(k) == ray.value(k), k


# ------------------------------------------------------------------ CLI and bad input


def test_cli_bad_inputs_print_one_line(tmp_path, capsys, designs_dir):
    bad = tmp_path / "bad.yaml"
    text = (designs_dir / "automotive_2mp.yaml").read_text().replace("f_number: 1.6", "f_numbr: 1.6")
    bad.write_text(text)
    cases = [
        (["evaluate", str(bad), "--no-db"], "lens.f_numbr"),
        (["evaluate", str(tmp_path / "missing.yaml"), "--no-db"], "not found"),
        (["evaluate", "automotive_2mp", "--db", "postgresql://u:secret@127.0.0.1:1/x"], "cannot connect"),
        (["evaluate", "automotive_2mp", "--plan", "nope", "--no-db"], "test plan"),
    ]
    for argv, needle in cases:
        code = main(argv)
        err = capsys.readouterr().err.strip()
        assert code == 2 and needle in err and err.count("\n") == 0, (argv, err)
        assert "secret" not in err


def test_plans_validate():
    assert load_plan("quick").name == "quick"
    with pytest.raises(ConfigError, match="noise.luxx"):
        load_plan({"noise": {"luxx": [1]}})


def test_optional_tasks_section_scores_task_accuracy(tmp_path, designs_dir):
    """The optional ``tasks`` section: task accuracy through the design falls from bright to
    very dim light, equals the optimisation objective for the same scenes and seed, and is
    plotted in the report."""
    from camforge.tasks import task_objective

    d = design(designs_dir, "phone_main_12mp", width=256)
    p = plan(tasks={"enabled": True, "lux": [1000.0, 0.05], "n_images": 48})
    card = evaluate(d, p, out=tmp_path / "run")
    bright, dim = card.value("task_accuracy_1000lx"), card.value("task_accuracy_0.05lx")
    assert 0.0 <= dim < bright <= 1.0
    assert card.value("task_miou_0.05lx") < card.value("task_miou_1000lx")
    lo, hi = card.metrics["task_accuracy_1000lx"]["ci95"]
    assert lo <= bright <= hi
    assert task_objective(d, lux=1000.0, n_images=48, seed=0) == pytest.approx(bright, abs=1e-12)
    assert "Vision tasks" in (tmp_path / "run" / "report.html").read_text()
    assert not plan()["tasks"]["enabled"]  # off unless asked for


def test_cli_creates_the_output_folder_that_holds_the_database(tmp_path, designs_dir):
    """`make demo` on a fresh machine: `--out new/dir --db new/dir/results.db` must work."""
    import yaml

    from camforge.store import Store

    d = tmp_path / "design.yaml"
    d.write_text(yaml.safe_dump(design(designs_dir, "automotive_2mp", width=320)))
    p = tmp_path / "plan.yaml"
    p.write_text(yaml.safe_dump(plan("noise")))
    out = tmp_path / "new" / "demo-out"
    assert main(["evaluate", str(d), "--plan", str(p), "--out", str(out), "--db", str(out / "results.db")]) == 0
    assert (out / "scorecard.json").is_file() and (out / "report.html").is_file()
    with Store(f"sqlite:///{out / 'results.db'}") as s:
        assert len(s.runs()) == 1
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["evaluate", str(d), "--plan", str(p), "--out", str(blocker / "sub")]) == 2
