"""``camforge simulate`` and ``camforge demo`` on a small in-test design."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rawpy

from camforge.cli import main
from camforge.io import read_raw

SMALL = """\
name: tiny-test
lens: {focal_length_mm: 4.4, f_number: 2.0}
sensor: {width_px: 128, height_px: 96, pixel_pitch_um: 1.4, full_well_e: 6000, cfa: GBRG, adc_bits: 12,
         black_level_dn: 200}
"""


@pytest.fixture
def design(tmp_path):
    p = tmp_path / "tiny.yaml"
    p.write_text(SMALL)
    return p


def test_simulate_writes_dng_quicklook_and_meta(tmp_path, design, capsys):
    out = tmp_path / "out"
    rc = main(["simulate", str(design), "--scene", "flat", "--lux", "50", "--rgb", "--seed", "3", "--out", str(out),
               "--json"])
    assert rc == 0
    meta = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["meta.json", "quicklook.png", "raw.dng"]
    assert meta == json.loads((out / "meta.json").read_text())
    assert meta["design"]["name"] == "tiny-test" and len(meta["design_hash"]) == 64
    assert meta["scene"]["name"] and meta["scene"]["lux"] == pytest.approx(50)
    c = meta["capture"]
    assert c["seed"] == 3 and c["auto_exposure"] and not c["spectral"] and c["exposure_s"] > 0 and c["analog_gain"] >= 1
    assert meta["units"]["scene_radiance"] == "W·sr⁻¹·m⁻²·nm⁻¹" and meta["units"]["raw"] == "DN"
    assert meta["units"]["electrons"] == "e⁻" and meta["units"]["irradiance"] == "W·m⁻²·nm⁻¹"
    # the DNG is what LibRaw sees: the design's CFA, black and white levels
    with rawpy.imread(str(out / "raw.dng")) as rp:
        desc = rp.color_desc.decode()
        assert "".join(desc[i] for i in np.asarray(rp.raw_pattern).ravel()) == "GBRG"
        assert list(rp.black_level_per_channel) == [200] * 4
        assert rp.white_level == 4095
        assert float(rp.raw_image_visible.mean()) == pytest.approx(meta["raw"]["mean_dn"], rel=1e-6)
        # AsShotNeutral = camera response to white under D65: LibRaw's WB is its inverse
        np.testing.assert_allclose(1 / np.asarray(rp.camera_whitebalance[:3]), meta["raw"]["as_shot_neutral"], rtol=1e-4)
    raw = read_raw(out / "raw.dng")
    assert raw.meta.exposure_s == pytest.approx(c["exposure_s"], rel=1e-6)
    assert raw.meta.analog_gain == pytest.approx(c["analog_gain"])


def test_same_seed_same_raw(tmp_path, design, capsys):
    for name in ("a", "b"):
        assert main(["simulate", str(design), "--scene", "star", "--rgb", "--exposure-s", "0.01",
                     "--out", str(tmp_path / name)]) == 0
    a, b = (read_raw(tmp_path / n / "raw.dng").numpy() for n in ("a", "b"))
    np.testing.assert_array_equal(a, b)
    assert "exposure 10 ms" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--scene", "slanted"], "unknown scene"),
        (["--lux", "-5"], "--lux"),
        (["--exposure-s", "0"], "--exposure-s"),
        (["--illuminant", "D99"], "unknown illuminant"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path, design, capsys, args, needle):
    rc = main(["simulate", str(design), "--rgb", "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and needle in err and "\n" not in err and "Traceback" not in err


def test_design_typo_and_unwritable_out(tmp_path, design, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("f_number", "f_numbr"))
    assert main(["simulate", str(bad), "--rgb", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip()
    assert "f_numbr" in err and "\n" not in err
    assert main(["simulate", str(tmp_path / "missing.yaml"), "--out", str(tmp_path / "o")]) == 2
    assert "not found" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    for out in (blocker, blocker / "sub"):
        assert main(["simulate", str(design), "--rgb", "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert "output folder" in err and "\n" not in err


def test_demo_writes_every_chart(tmp_path, design, capsys):
    from camforge.scene import CHARTS

    out = tmp_path / "demo"
    assert main(["demo", "--design", str(design), "--rgb", "--out", str(out), "--lux", "200"]) == 0
    table = capsys.readouterr().out
    for chart in CHARTS:
        assert {p.name for p in (out / chart).iterdir()} == {"meta.json", "quicklook.png", "raw.dng"}
        assert chart in table
        meta = json.loads((out / chart / "meta.json").read_text())
        assert meta["capture"]["lux"] == 200 and meta["scene"]["lux"] == pytest.approx(200)
    assert main(["demo", "--design", str(design), "--lux", "0", "--out", str(out)]) == 2


def test_demo_default_design_is_found():
    from camforge.cli.simulate import default_design

    p = default_design()
    assert p.name == "phone_main_12mp.yaml" and p.is_file()


def test_bundled_design_by_name_and_quad_bayer_fallback(tmp_path, capsys):
    from camforge.cli.simulate import resolve_design

    assert resolve_design("automotive_2mp").name == "automotive_2mp.yaml"
    quad = tmp_path / "quad.yaml"
    quad.write_text(SMALL.replace("cfa: GBRG", "cfa: QUAD_RGGB"))
    assert main(["simulate", str(quad), "--scene", "flat", "--rgb", "--out", str(tmp_path / "q"), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    assert meta["files"]["raw"] == "raw.raw"
    raw = read_raw(tmp_path / "q" / "raw.raw")  # exact mosaic through the YAML sidecar
    assert raw.meta.cfa == "QUAD_RGGB" and raw.meta.black_level_dn == (200.0,) * 16
    assert float(raw.numpy().mean()) == pytest.approx(meta["raw"]["mean_dn"], rel=1e-6)
