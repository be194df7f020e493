"""``camforge measure color|noise|tone|shading|distortion|texture|lateral-ca`` end to end on small
files: JSON output matches the library, plots are written, bad input is one line and exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from camforge.cli import main
from camforge.io import write_png
from conftest import need


def _run(capsys, argv):
    rc = main(argv)
    out = capsys.readouterr()
    return rc, out.out, out.err


@pytest.fixture
def chart_png(tmp_path):
    from test_metrics_color import _chart_image

    from camforge.metrics.color import colorchecker_reference

    img, corners = _chart_image(np.clip(colorchecker_reference().linear_srgb_array, 0, 1), rotation_deg=3.0)
    p = tmp_path / "chart.png"
    write_png(p, np.round(img * 65535), bit_depth=16)
    return p, corners


def test_cli_color_json_and_plot(tmp_path, capsys, chart_png):
    path, corners = chart_png
    plot = tmp_path / "de.png"
    rc, out, err = _run(capsys, ["measure", "color", str(path), "--json", "--plot", str(plot)])
    assert rc == 0, err
    d = json.loads(out)
    assert len(d["delta_e00"]) == 24 and d["delta_e00_mean"] < 0.6  # only the clipped cyan patch differs
    assert plot.stat().st_size > 1000
    rc, out, _ = _run(capsys, ["measure", "color", str(path), "--corners", ",".join(f"{v:.2f}" for v in corners.ravel())])
    assert rc == 0 and "ΔE00" in out and "corners" in out


def test_cli_noise_shading_on_a_flat_png(tmp_path, capsys):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:120, 0:160]
    fall = 1 - 0.3 * (((xx - 79.5) / 80) ** 2 + ((yy - 59.5) / 60) ** 2) / 2
    flat = np.clip(30000 * fall[..., None] + rng.normal(0, 200, (120, 160, 3)), 0, 65535)
    p = tmp_path / "flat.png"
    write_png(p, np.round(flat), bit_depth=16)
    rc, out, err = _run(capsys, ["measure", "noise", str(p), "--roi", "60,40,40,40", "--detrend", "2", "--json"])
    assert rc == 0, err
    d = json.loads(out)
    assert len(d["patches"]) == 3
    assert d["patches"][1]["sigma"] == pytest.approx(200, rel=0.1)
    plot = tmp_path / "shade.png"
    rc, out, err = _run(capsys, ["measure", "shading", str(p), "--json", "--plot", str(plot)])
    assert rc == 0, err
    d = json.loads(out)
    assert d["corner_pct"][0] == pytest.approx(100 * fall[:12, :16].mean() / fall[54:66, 72:88].mean(), abs=0.3)
    assert plot.exists()


def test_cli_distortion_and_texture(tmp_path, capsys):
    H, W = 240, 320
    yy, xx = np.mgrid[0:H, 0:W].astype(float)
    c = np.array([(W - 1) / 2, (H - 1) / 2])
    img = np.ones((H, W))
    for i in range(-8, 9):
        for j in range(-6, 7):
            pu = c + 20.0 * np.array([i, j])
            r2 = np.sum((pu - c) ** 2) / (W / 2) ** 2
            x0, y0 = c + (pu - c) * (1 - 0.05 * r2)
            img -= 0.8 * np.clip(4.0 - np.hypot(xx - x0, yy - y0), 0, 1)
    p = tmp_path / "dots.png"
    write_png(p, np.round(img * 255), bit_depth=8)
    plot = tmp_path / "vec.png"
    rc, out, err = _run(capsys, ["measure", "distortion", str(p), "--focal-length-px", str(W / 2), "--terms", "1",
                                 "--json", "--plot", str(plot)])
    assert rc == 0, err
    d = json.loads(out)
    assert d["k1"] == pytest.approx(-0.05, rel=0.05) and d["smia_tv_distortion_pct"] < 0 and plot.exists()
    # texture: white-noise texture seen through a known Gaussian MTF, with the power-law fallback
    rng = np.random.default_rng(1)
    n = 256
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(n), np.fft.fftfreq(n)))
    field = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(n, n))) / np.maximum(f, 1 / n)))
    tex = tmp_path / "tex.png"
    write_png(tex, np.round(32768 + 4000 * field / field.std()).clip(0, 65535), bit_depth=16)
    rc, out, err = _run(capsys, ["measure", "texture", str(tex), "--json"])
    assert rc == 0, err
    assert json.loads(out)["reference"] == "power_law"


def test_cli_color_on_the_real_raw_through_the_isp(data, capsys):
    pytest.importorskip("camforge.isp")
    path = need(data / "infinite_isp" / "ColorCheckerRAW_1920x1080_12bit_BGGR.raw")
    rc, out, err = _run(capsys, ["measure", "color", str(path), "--width", "1920", "--height", "1080", "--bits", "12",
                                 "--cfa", "BGGR", "--black", "128", "--json"])
    assert rc == 0, err
    d = json.loads(out)
    assert d["detection_method"] == "auto" and 5 < d["delta_e00_mean"] < 20


def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys):
    flat = tmp_path / "grey.png"
    write_png(flat, np.full((60, 80, 3), 128), bit_depth=8)
    cases = [
        (["measure", "color", str(flat)], "no ColorChecker"),
        (["measure", "color", str(tmp_path / "missing.png")], "not found"),
        (["measure", "noise", str(flat), "--roi", "1,2,3"], "x,y,w,h"),
        (["measure", "distortion", str(flat)], "uniform"),
        (["measure", "shading", str(flat), "--grid", "1"], "--grid"),
        (["measure", "tone", str(flat)], "step patches"),
        (["measure", "lateral-ca", str(flat), "--roi", "0,0,40,40"], "no edge"),
    ]
    for argv, msg in cases:
        rc, out, err = _run(capsys, argv)
        assert rc == 2, (argv, out, err)
        assert err.count("\n") == 1 and msg in err, (argv, err)
