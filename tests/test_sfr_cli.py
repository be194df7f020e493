"""``camforge measure sfr`` / ``camforge measure edges`` (tested through ``camforge.cli.main``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from conftest import need
from camforge.cli import main


def test_sfr_json_on_sfrmat3_edge(data, capsys):
    path = need(data / "sfrmat3" / "h_edge.tif")
    assert main(["measure", "sfr", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    (e,) = out["edges"]
    assert e["mtf50"] == pytest.approx(0.202, abs=0.005)  # published sfrmat5 result (SOURCES.md)
    assert e["angle_deg"] == pytest.approx(95.4, abs=0.05)
    assert e["roi"] == [0, 0, 300, 125]
    assert len(e["freq"]) == len(e["mtf"]) > 50 and e["freq"][0] == 0.0 and e["mtf"][0] == pytest.approx(1.0)
    assert e["mtf50_ci95_cy_per_px"][0] < e["mtf50"] < e["mtf50_ci95_cy_per_px"][1]


def test_sfr_roi_text_and_plot(data, capsys, tmp_path):
    path = need(data / "sfrmat3" / "v_edge.tif")
    png = tmp_path / "sfr.png"
    assert main(["measure", "sfr", str(path), "--roi", "20,40,90,200", "--channel", "all", "--plot", str(png)]) == 0
    text = capsys.readouterr().out
    assert "MTF50" in text and "roi [20, 40, 90, 200]" in text
    with Image.open(png) as im:
        assert im.size[0] > 300
    assert [p.name for p in tmp_path.iterdir()] == ["sfr.png"]  # no temporary file left behind


def test_edges_json_on_headerless_raw(data, capsys, tmp_path):
    path = need(data / "openisp" / "test.RAW")
    png = tmp_path / "edges.png"
    args = ["measure", "edges", str(path), "--width", "1920", "--height", "1080", "--bits", "10", "--cfa", "RGGB",
            "--black", "0", "--json", "--plot", str(png)]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["edges"]) >= 12
    for e in out["edges"]:
        assert {"mtf50", "angle_deg", "roi", "freq", "mtf", "field", "orientation", "center_xy_px"} <= set(e)
        assert e["orientation"] in ("sagittal", "meridional")
    assert png.exists()


def test_bad_input_one_line_exit_2(tmp_path, capsys):
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(flat)
    for args in (["measure", "sfr", str(flat)],
                 ["measure", "sfr", str(flat), "--roi", "1,2,3"],
                 ["measure", "sfr", str(tmp_path / "missing.tif")],
                 ["measure", "edges", str(flat)],
                 ["measure", "sfr", str(flat), "--npol", "9"]):
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err
    edge = tmp_path / "clipped.png"
    y, x = np.mgrid[:64, :64]
    Image.fromarray(np.where(x - 0.09 * y > 30, 255, 60).astype(np.uint8)).save(edge)
    assert main(["measure", "sfr", str(edge)]) == 2
    assert "clipped" in capsys.readouterr().err
