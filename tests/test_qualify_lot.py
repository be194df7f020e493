"""Lots on disk: simulate, run through the CLI, bad input per module, results DB, HTML report."""

import json
import shutil

import pytest
import torch

from camforge.cli import main
from camforge.io import write_raw_sidecar
from camforge.qualify.lot import Lot, manifest_text
from camforge.qualify.run import run_lot
from camforge.qualify.simulate import simulate_lot
from camforge.types import Raw, RawMeta

from test_qualify_sim import DESIGN

SPEC = {"name": "t", "limits": {"hot_pixel_count": {"max": 8}, "defect_pixel_count": {"max": 10},
                                "largest_cluster_px": {"max": 1}, "column_defect_count": {"max": 0},
                                "row_defect_count": {"max": 0}, "blemish_contrast_max_pct": {"max": 1.2},
                                "anomaly_score": {"max": 1.0, "on_missing": "pass"}}}


@pytest.fixture(scope="module")
def lot_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("lot") / "L1"
    res = simulate_lot(DESIGN, 8, root, defect_rate=0.5, seed=4,
                       config={"size": (128, 96), "defects": {"kinds": {"dust": 1, "dead_pixels": 1, "column": 1}}})
    assert res.n_modules == 8 and (root / "manifest.csv").is_file()
    return root


def test_simulated_lot_layout(lot_dir):
    lot = Lot.open(lot_dir)
    assert len(lot.modules) == 8 and lot.info.simulated and (lot.info.width, lot.info.height) == (128, 96)
    m = lot.modules[0]
    assert set(m.captures) == {"dark", "flat_lo", "flat_hi", "chart"}
    t = lot.truth(m.module_id)
    mask = lot.truth_mask(m.module_id)
    assert mask.shape == (96, 128) and set(t) >= {"defective", "kinds", "defects", "params"}
    n_def = sum(bool(lot.truth(x.module_id)["defective"]) for x in lot.modules)
    assert 1 <= n_def <= 7


def _corrupt(src, dst):
    shutil.copytree(src, dst)
    lot = Lot.open(dst)
    ids = [m.module_id for m in lot.modules]
    # 1: truncated raw
    p = dst / "captures" / ids[1] / "flat_hi.raw"
    p.write_bytes(p.read_bytes()[: 1000])
    # 2: a frame of the wrong size
    bad = Raw(torch.full((1, 1, 96, 120), 500.0), RawMeta(cfa="RGGB", black_level_dn=64, white_level_dn=4095, bit_depth=12))
    write_raw_sidecar(bad, dst / "captures" / ids[2] / "flat_lo.raw")
    # 3: a missing manifest entry (its dark frame)
    text = (dst / "manifest.csv").read_text().splitlines()
    text = [ln for ln in text if not (ln.startswith(ids[3] + ",dark,"))]
    (dst / "manifest.csv").write_text("\n".join(text) + "\n")
    # 4: a module folder the manifest does not list
    shutil.copytree(dst / "captures" / ids[0], dst / "captures" / "M99999")
    return ids


def test_bad_modules_are_reported_and_the_lot_goes_on(lot_dir, tmp_path, capsys):
    from browser import assert_renders

    bad = tmp_path / "bad"
    ids = _corrupt(lot_dir, bad)
    spec = tmp_path / "spec.yaml"
    import yaml

    spec.write_text(yaml.safe_dump(SPEC))
    db = tmp_path / "r.db"
    report = tmp_path / "report.html"
    rc = main(["qualify", "run", str(bad), "--spec", str(spec), "--detector", "blemish", "--executor", "serial",
               "--db", f"sqlite:///{db}", "--report", str(report), "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    s = json.loads(out)
    assert s["n_modules"] == 9 and s["n_error"] == 4 and s["n_pass"] + s["n_fail"] == 5
    err = s["errors"]
    assert "truncated" in err[ids[1]] or "bytes" in err[ids[1]]
    assert "120 × 96" in err[ids[2]] and "128 × 96" in err[ids[2]]
    assert "missing manifest entry for capture dark" in err[ids[3]]
    assert "no manifest entry" in err["M99999"]
    # results database: one verdict row per module, one row per figure and module
    from camforge.store import Store

    st = Store(f"sqlite:///{db}")
    runs = st.runs(kind="qualify")
    assert len(runs) == 1 and runs[0].status == "complete"
    rows = st.measurements(runs[0].id)
    verdicts = [r for r in rows if r.metric == "verdict_pass"]
    assert len(verdicts) == 9
    assert sum(1 for r in rows if r.metric == "defect_pixel_count") == 5
    assert any(r.metric == "yield_pct" for r in rows)
    info = assert_renders(report, tmp_path)
    assert info["n_images"] >= 1
    html = report.read_text()
    assert "Failure Pareto" in html and ids[1] in html


def test_local_executor_gives_the_serial_verdicts(lot_dir):
    a = run_lot(lot_dir, SPEC, executor="serial", thumbnails=False)
    b = run_lot(lot_dir, SPEC, executor="local:2", thumbnails=False)
    assert [(m.module_id, m.status, m.figures) for m in a.modules] == [(m.module_id, m.status, m.figures) for m in b.modules]
    assert a.summary.n_error == 0
    # injected defects the spec covers fail their modules
    for m in a.modules:
        kinds = set(m.truth["kinds"])
        if kinds & {"dead_pixels", "column"}:
            assert m.status == "fail", (m.module_id, kinds, m.figures)
        if not kinds:
            assert m.status == "pass", (m.module_id, m.text)


def test_manifest_problems(tmp_path):
    root = tmp_path / "lot"
    root.mkdir()
    (root / "manifest.csv").write_text("module_id,capture\nA,dark\n")
    from camforge.errors import InputError

    with pytest.raises(InputError, match="path"):
        Lot.open(root)
    (root / "manifest.csv").write_text(manifest_text([
        {"module_id": "A", "capture": "flat_hi", "path": "a.png", "format": "png"},
        {"module_id": "A", "capture": "flatt", "path": "b.png"},
        {"module_id": "B", "capture": "flat_hi", "path": "b.png", "exposure_s": "fast"},
    ]))
    lot = Lot.open(root)
    a, b = lot.module("A"), lot.module("B")
    assert "capture must be one of" in a.problems[0] and "exposure_s must be a number" in b.problems[0]
    with pytest.raises(InputError, match="lot folder not found"):
        Lot.open(tmp_path / "nope")


def test_simulate_cli(tmp_path, capsys, designs_dir):
    import yaml

    d = tmp_path / "design.yaml"
    d.write_text(yaml.safe_dump(DESIGN))
    rc = main(["qualify", "simulate", str(d), "--modules", "2", "--defect-rate", "1", "--out", str(tmp_path / "L"),
               "--size", "96x64", "--seed", "1", "--json"])
    assert rc == 0
    r = json.loads(capsys.readouterr().out)
    assert r["n_modules"] == 2 and r["n_defective"] == 2
    assert main(["qualify", "simulate", str(d), "--modules", "0", "--out", str(tmp_path / "L2")]) == 2
    assert "positive" in capsys.readouterr().err


def test_train_run_and_evaluate_cli(lot_dir, tmp_path, capsys):
    model = tmp_path / "padim"
    rc = main(["qualify", "train", str(lot_dir), "--detector", "padim", "--out", str(model), "--all",
               "--set", "width=8", "--set", "pretext_steps=20", "--json"])
    out = capsys.readouterr().out
    assert rc == 0, out
    t = json.loads(out)
    assert t["modules"] == 8 and t["threshold"] > 0 and (model / "weights.pt").is_file()
    rc = main(["qualify", "run", str(lot_dir), "--spec", str(tmp_path / "s.yaml"), "--no-db", "--no-report"])
    assert rc == 2 and "file not found" in capsys.readouterr().err
    import yaml

    (tmp_path / "s.yaml").write_text(yaml.safe_dump(SPEC))
    rc = main(["qualify", "run", str(lot_dir), "--spec", str(tmp_path / "s.yaml"), "--detector", str(model),
               "--executor", "serial", "--no-db", "--no-report", "--out", str(tmp_path / "res.json")])
    assert rc == 0
    res = json.loads((tmp_path / "res.json").read_text())
    assert all("anomaly_score" in m["figures"] for m in res["modules"])
    capsys.readouterr()
    rc = main(["qualify", "evaluate", str(lot_dir), "--detector", str(model), "--json"])
    assert rc == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["detector"] == "padim" and ev["modules"] >= 4
    # an untrained learned detector is refused with a hint
    rc = main(["qualify", "run", str(lot_dir), "--spec", str(tmp_path / "s.yaml"), "--detector", "unet", "--no-db",
               "--no-report"])
    assert rc == 2 and "qualify train" in capsys.readouterr().err
