"""``camforge isp``: headerless and DNG raws → PNG; bad input → one line, exit 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from camforge.cli import main
from camforge.types import Raw, RawMeta

io = pytest.importorskip("camforge.io")


@pytest.fixture()
def small_raw(tmp_path):
    """A 10-bit RGGB headerless file (crop of the openISP frame if present, else synthetic)."""
    g = torch.Generator().manual_seed(0)
    data = (40 + 600 * torch.rand(1, 1, 96, 128, generator=g)).round()
    data[..., 40:60, 40:80] = 900.0
    p = tmp_path / "frame.raw"
    data[0, 0].numpy().astype("<u2").tofile(p)
    return p, data


def test_headerless_with_estimated_black(small_raw, tmp_path, capsys):
    p, _ = small_raw
    out = tmp_path / "o.png"
    rc = main(["isp", str(p), "--width", "128", "--height", "96", "--bits", "10", "--cfa", "RGGB",
               "--out", str(out), "--json", "--verbose"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "black level estimated:" in cap.err
    summary = json.loads(cap.out[: cap.out.rindex("}") + 1])
    assert summary["black_level_estimated"] is True
    assert set(summary["timings_s"]) >= {"black_level", "demosaic", "tone", "total"}
    img, _ = io.read_image(out)
    assert img.shape == (96, 128, 3)


def test_headerless_with_given_black_and_16_bit(small_raw, tmp_path, capsys):
    p, _ = small_raw
    out = tmp_path / "o16.png"
    rc = main(["isp", str(p), "--width", "128", "--height", "96", "--bits", "10", "--cfa", "RGGB",
               "--black", "40,40,40,40", "--white", "1023", "--out-bits", "16", "--out", str(out), "--tile", "64"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    assert "estimated" not in cap.err
    img, info = io.read_image(out)
    assert img.shape == (96, 128, 3) and img.max() > 255  # 16-bit codes


def test_dng_uses_the_file_metadata(tmp_path, capsys):
    """A DNG's black level and AsShotNeutral come from the file (read by rawpy)."""
    g = torch.Generator().manual_seed(1)
    data = (64 + 700 * torch.rand(1, 1, 64, 96, generator=g)).round()
    meta = RawMeta(cfa="GRBG", black_level_dn=64.0, white_level_dn=1023, bit_depth=10,
                   as_shot_neutral=(0.5, 1.0, 0.8))
    dng = io.write_dng(Raw(data, meta), tmp_path / "x.dng")
    out = tmp_path / "x.png"
    rc = main(["isp", str(dng), "--out", str(out), "--json"])
    cap = capsys.readouterr()
    assert rc == 0, cap.err
    s = json.loads(cap.out)
    assert s["cfa"] == "GRBG" and s["black_level_dn"] == [64.0] * 4 and not s["black_level_estimated"]
    assert np.allclose(s["awb_gains"], [2.0, 1.0, 1.25], rtol=1e-3)
    assert "estimated" not in cap.err


def _err(capsys) -> str:
    cap = capsys.readouterr()
    lines = [ln for ln in cap.err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), cap.err
    return lines[0]


def test_bad_inputs_exit_2_with_one_line(small_raw, tmp_path, capsys):
    p, _ = small_raw
    out = str(tmp_path / "o.png")
    geo = ["--width", "128", "--height", "96", "--bits", "10"]
    assert main(["isp", str(p), "--width", "100", "--height", "96", "--bits", "10", "--cfa", "RGGB", "--out", out]) == 2
    assert "bytes" in _err(capsys)  # wrong dimensions
    assert main(["isp", str(p), *geo, "--cfa", "RGBW", "--out", out]) == 2
    assert "unknown CFA" in _err(capsys)
    assert main(["isp", str(p), "--out", out]) == 2
    assert "--width" in _err(capsys)  # headerless without geometry
    zero = tmp_path / "zero.raw"
    np.zeros((96, 128), "<u2").tofile(zero)
    assert main(["isp", str(zero), *geo, "--cfa", "RGGB", "--black", "0", "--out", out]) == 2
    assert "all zeros" in _err(capsys)
    junk = tmp_path / "junk.dng"
    junk.write_bytes(b"II*\x00" + bytes(range(256)) * 8)
    assert main(["isp", str(junk), "--out", out]) == 2
    assert "junk.dng" in _err(capsys)  # unsupported / corrupt raw
    assert main(["isp", str(p), *geo, "--cfa", "RGGB", "--out", out, "--out-bits", "12"]) == 2
    assert "--out-bits" in _err(capsys)
    assert main(["isp", str(p), *geo, "--cfa", "RGGB", "--out", str(tmp_path / "o.jpg")]) == 2
    assert ".png" in _err(capsys)
    cfg = tmp_path / "isp.yaml"
    cfg.write_text("demosaic:\n  method: ahd\n")
    assert main(["isp", str(p), *geo, "--cfa", "RGGB", "--config", str(cfg), "--out", out]) == 2
    assert "demosaic.method" in _err(capsys)
    assert main(["isp", str(p), *geo, "--cfa", "RGGB", "--black", "x", "--out", out]) == 2
    assert "--black" in _err(capsys)


def test_real_openisp_frame(data, tmp_path, capsys):
    p = data / "openisp" / "test.RAW"
    if not p.exists():
        pytest.skip(f"missing {p}")
    out = tmp_path / "openisp.png"
    rc = main(["isp", str(p), "--width", "1920", "--height", "1080", "--bits", "10", "--cfa", "RGGB",
               "--black", "0", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    img, _ = io.read_image(out)
    assert img.shape == (1080, 1920, 3) and 60 < np.median(img) < 200
