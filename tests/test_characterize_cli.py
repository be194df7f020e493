"""``camforge characterize emva1288 / simulate``: JSON output, files, and bad input (one line, exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from camforge.characterize import Emva1288Stack, Emva1288Step, HEADLINE_KEYS
from camforge.characterize.descriptor import write_descriptor
from camforge.cli import main

from conftest import need

SENSOR = {"width_px": 32, "height_px": 32, "pixel_pitch_um": 3.0, "cfa": "MONO", "full_well_e": 5000,
          "read_noise_e": 3.0, "adc_bits": 12, "black_level_dn": 64, "conversion_gain_dn_per_e": 0.5,
          "exposure_max_s": 0.02}


def _run(capsys, args):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _synthetic(tmp_path, bright_level, bits=12, n=6):
    """A stack whose bright frames sit at ``bright_level`` DN (None: same as dark)."""
    rng = np.random.default_rng(0)
    white = 2**bits - 1

    def frame(level):
        return np.clip(rng.normal(level, 3.0, (16, 16)), 0, white).round().astype(np.uint16)

    steps = []
    for i in range(n):
        t = 1e-3 * (i + 1)
        lvl = 64 if bright_level is None else bright_level
        steps.append(Emva1288Step("bright", t, 100.0 * (i + 1), (frame(lvl), frame(lvl)), index=i))
        steps.append(Emva1288Step("dark", t, 0.0, (frame(64), frame(64)), index=i))
    st = Emva1288Stack(bits=bits, width_px=16, height_px=16, steps=steps)
    return write_descriptor(st, tmp_path / "set")


def test_emva1288_json_on_real_data(capsys, data, tmp_path):
    ref = need(data / "emva1288_refset001" / "EMVA1288_Data.txt").parent
    code, out, err = _run(capsys, ["characterize", "emva1288", str(ref), "--out", str(tmp_path / "o"), "--json",
                                   "--no-html"])
    assert code == 0, err
    d = json.loads(out)
    for k in HEADLINE_KEYS:
        assert k in d, k
    assert d["K"] == pytest.approx(0.280769280926, rel=0.03)
    assert 0 < d["qe"] < 1
    assert (tmp_path / "o" / "emva1288.json").is_file() and (tmp_path / "o" / "emva1288.xml").is_file()
    assert "warning: skipped 180 listed image file(s)" in err


def test_simulate_then_characterize(capsys, tmp_path):
    design = tmp_path / "sensor.yaml"
    design.write_text(yaml.safe_dump(SENSOR))
    out_dir = tmp_path / "sim"
    code, out, err = _run(capsys, ["characterize", "simulate", str(design), "--out", str(out_dir), "--size", "32x32",
                                   "--steps", "12", "--spatial-frames", "3"])
    assert code == 0, err
    assert (out_dir / "EMVA1288_Data.txt").is_file()
    assert len(list((out_dir / "images").glob("*.png"))) == 12 * 4 + 6
    code, out, err = _run(capsys, ["characterize", "emva1288", str(out_dir), "--json"])
    assert code == 0, err
    d = json.loads(out)
    assert d["K"] == pytest.approx(SENSOR["conversion_gain_dn_per_e"], rel=0.05)  # 1024 pixels: a few % scatter


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda p: p / "missing", "not found"),
        (lambda p: p, "no EMVA 1288 descriptor"),
    ],
)
def test_missing_descriptor_exit_2(capsys, tmp_path, make, match):
    code, out, err = _run(capsys, ["characterize", "emva1288", str(make(tmp_path))])
    assert code == 2
    assert err.startswith("error:") and match in err and err.count("\n") == 1


def test_unreadable_image_exit_2(capsys, tmp_path):
    d = _synthetic(tmp_path, 1000)
    victim = sorted((d.parent / "images").glob("*.png"))[3]
    victim.write_bytes(b"not a png at all")
    code, out, err = _run(capsys, ["characterize", "emva1288", str(d)])
    assert code == 2 and "cannot read image" in err and err.count("\n") == 1


def test_wrong_bit_depth_exit_2(capsys, tmp_path):
    d = _synthetic(tmp_path, 1000)
    d.write_text(d.read_text().replace("n 12 16 16", "n 8 16 16"))
    code, out, err = _run(capsys, ["characterize", "emva1288", str(d)])
    assert code == 2 and "wrong bit depth" in err and err.count("\n") == 1


def test_all_dark_exit_2(capsys, tmp_path):
    d = _synthetic(tmp_path, None)
    code, out, err = _run(capsys, ["characterize", "emva1288", str(d)])
    assert code == 2 and "no photo response" in err and err.count("\n") == 1


def test_all_saturated_exit_2(capsys, tmp_path):
    d = _synthetic(tmp_path, 5000)  # clipped at 4095 everywhere
    code, out, err = _run(capsys, ["characterize", "emva1288", str(d)])
    assert code == 2 and "saturated" in err and err.count("\n") == 1


def test_simulate_bad_arguments(capsys, tmp_path):
    code, out, err = _run(capsys, ["characterize", "simulate", str(tmp_path / "none.yaml"), "--analyze"])
    assert code == 2 and "not found" in err
    design = tmp_path / "sensor.yaml"
    design.write_text(yaml.safe_dump(SENSOR))
    code, out, err = _run(capsys, ["characterize", "simulate", str(design), "--size", "big", "--analyze"])
    assert code == 2 and "--size" in err
