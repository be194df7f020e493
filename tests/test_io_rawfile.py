"""Raw readers: headerless dumps (real sensor files), MIPI packing, .raw + sidecar, LibRaw errors."""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
import yaml

from camforge.errors import ConfigError, FormatError, InputError
from camforge.io import estimate_black_level, read_headerless, read_raw, write_dng, write_raw_sidecar
from camforge.types import Raw, RawMeta
from conftest import need

OPENISP = ("openisp", "test.RAW")
INFINITE = ("infinite_isp", "ColorCheckerRAW_1920x1080_12bit_BGGR.raw")


def _site(x: np.ndarray, row: int, col: int) -> np.ndarray:
    """Values of CFA site (row, col) of a 2x2 tile, selected with index masks (not strides)."""
    r, c = np.indices(x.shape)
    return x[(r % 2 == row) & (c % 2 == col)]


# ----------------------------------------------------------------------------- real files
def test_openisp_rggb_10bit(data):
    path = need(data.joinpath(*OPENISP))
    raw = read_headerless(path, 1920, 1080, 10, "RGGB", black_level=0)
    ref = np.frombuffer(path.read_bytes(), dtype="<u2").reshape(1080, 1920)
    np.testing.assert_array_equal(raw.numpy(), ref)
    assert raw.data.shape == (1, 1, 1080, 1920) and raw.data.dtype.is_floating_point
    # medians per CFA site published in SOURCES.md: R 152, Gr 260, Gb 264, B 240
    medians = [np.median(_site(raw.numpy(), i, j)) for i in (0, 1) for j in (0, 1)]
    assert medians == [152, 260, 264, 240]
    assert raw.meta.cfa == "RGGB" and raw.meta.white_level_dn == 1023 and raw.meta.bit_depth == 10
    assert raw.meta.black_level_dn == (0.0,) * 4 and not raw.meta.black_level_estimated


def test_openisp_wrong_size_names_expected_and_actual_bytes(data):
    path = need(data.joinpath(*OPENISP))
    with pytest.raises(FormatError) as e:
        read_headerless(path, 1920, 1079, 10, "RGGB")
    msg = str(e.value)
    assert "4147200" in msg and str(1920 * 1079 * 2) in msg
    assert "(1920, 1080)" in msg  # suggests the geometry that fits
    with pytest.raises(FormatError, match="1920, 1080"):
        read_headerless(path, 1000, 1000, 10, "RGGB")


def test_openisp_wrong_bit_depth_or_byte_order(data):
    path = need(data.joinpath(*OPENISP))
    with pytest.raises(FormatError, match="bit depth or byte order"):
        read_headerless(path, 1920, 1080, 8, "RGGB")
    with pytest.raises(FormatError, match="byte_order='little'"):
        read_headerless(path, 1920, 1080, 10, "RGGB", byte_order="big")
    with pytest.raises(InputError, match="unknown CFA"):
        read_headerless(path, 1920, 1080, 10, "RGBX")


def test_infinite_isp_black_level_estimate(data):
    path = need(data.joinpath(*INFINITE))
    raw = read_headerless(path, 1920, 1080, 12, "BGGR")
    x = np.frombuffer(path.read_bytes(), dtype="<u2").reshape(1080, 1920).astype(np.float64)
    assert not x[0].any()  # row 0 is all zeros (SOURCES.md)
    assert raw.meta.black_level_estimated
    sites = [_site(x, i, j) for i in (0, 1) for j in (0, 1)]
    # SOURCES.md: "the 0.5th percentile per site is about 128-180 DN" (zeros included)
    with_zeros = [np.percentile(s, 0.5) for s in sites]
    assert min(with_zeros) == 128 and max(with_zeros) == 180
    # the estimator ignores exact zeros: equal to numpy on the non-zero samples ...
    expected = [np.percentile(s[s != 0], 0.5) for s in sites]
    np.testing.assert_allclose(raw.meta.black_level_dn, expected, atol=1e-9)
    # ... which differs from SOURCES only at the two sites of the zero row, and only upwards
    assert raw.meta.black_level_dn[2:] == tuple(with_zeros[2:])
    assert all(a >= b for a, b in zip(raw.meta.black_level_dn, with_zeros))
    assert all(120 <= v <= 190 for v in raw.meta.black_level_dn)


# ----------------------------------------------------------------------------- synthetic
def test_estimate_black_level_ignores_zero_rows_and_dark_corner():
    rng = np.random.default_rng(1)
    pedestal = np.array([[64, 66], [65, 70]], dtype=float)
    x = np.tile(pedestal, (100, 100)) + rng.integers(0, 3, (200, 200)) + 50 * (rng.random((200, 200)) > 0.5)
    x[:2] = 0  # embedded-data rows
    x[150:, 150:] = 0  # dark corner outside the image circle
    est = np.asarray(estimate_black_level(x, "RGGB")).reshape(2, 2)
    np.testing.assert_allclose(est, pedestal, atol=0)  # the 0.5th percentile is the lowest level
    assert estimate_black_level(np.full((4, 4), 7.0), "MONO") == (7.0,)
    assert len(estimate_black_level(np.ones((8, 8)), "QUAD_BGGR")) == 16


def test_headerless_layouts(tmp_path):
    rng = np.random.default_rng(2)
    x = rng.integers(0, 4096, (6, 8)).astype(np.uint16)
    (tmp_path / "be.bin").write_bytes(b"HEADER" + x.astype(">u2").tobytes())
    raw = read_headerless(tmp_path / "be.bin", 8, 6, 12, "GBRG", byte_order="big", offset_bytes=6, black_level=[1, 2, 3, 4])
    np.testing.assert_array_equal(raw.numpy(), x)
    assert raw.meta.black_level_dn == (1.0, 2.0, 3.0, 4.0) and raw.meta.white_level_dn == 4095
    y = (x >> 4).astype(np.uint8)
    (tmp_path / "u8.bin").write_bytes(y.tobytes())
    raw = read_headerless(tmp_path / "u8.bin", 8, 6, 8, "MONO", dtype="uint8", black_level=0, white_level=250)
    np.testing.assert_array_equal(raw.numpy(), y)
    assert raw.meta.white_level_dn == 250
    with pytest.raises(FormatError, match="offset_bytes=6"):
        read_headerless(tmp_path / "be.bin", 8, 6, 12, "GBRG", byte_order="big")
    with pytest.raises(FormatError, match="file not found"):
        read_headerless(tmp_path / "nope.raw", 8, 6, 12, "RGGB")
    with pytest.raises(InputError, match="width"):
        read_headerless(tmp_path / "u8.bin", 0, 6, 8, "RGGB")
    with pytest.raises(InputError, match="packing"):
        read_headerless(tmp_path / "u8.bin", 8, 6, 8, "RGGB", packing="mipi14")


def _pack_raw10(px: np.ndarray) -> bytes:
    """MIPI CSI-2 RAW10, written pixel by pixel from the spec (CSI-2 §11.4.4)."""
    out = bytearray()
    for row in px.tolist():
        for k in range(0, len(row), 4):
            p = row[k : k + 4]
            out += bytes(v >> 2 for v in p)
            out.append(sum((v & 0b11) << (2 * i) for i, v in enumerate(p)))
    return bytes(out)


def _pack_raw12(px: np.ndarray) -> bytes:
    """MIPI CSI-2 RAW12, written pixel by pixel from the spec (CSI-2 §11.4.5)."""
    out = bytearray()
    for row in px.tolist():
        for k in range(0, len(row), 2):
            p0, p1 = row[k], row[k + 1]
            out += bytes((p0 >> 4, p1 >> 4, (p0 & 0xF) | ((p1 & 0xF) << 4)))
    return bytes(out)


def test_mipi_worked_examples(tmp_path):
    # RAW10: 0x3FF, 0x000, 0x155, 0x2AA -> FF 00 55 AA, LSB byte 10|01|00|11 = 0x93
    (tmp_path / "a.raw10").write_bytes(bytes((0xFF, 0x00, 0x55, 0xAA, 0x93)))
    raw = read_headerless(tmp_path / "a.raw10", 4, 1, 10, "MONO", packing="mipi10", black_level=0)
    assert raw.numpy().ravel().tolist() == [0x3FF, 0x000, 0x155, 0x2AA]
    # RAW12: 0xABC, 0x123 -> AB 12 3C
    (tmp_path / "a.raw12").write_bytes(bytes((0xAB, 0x12, 0x3C)))
    raw = read_headerless(tmp_path / "a.raw12", 2, 1, 12, "MONO", packing="mipi12", black_level=0)
    assert raw.numpy().ravel().tolist() == [0xABC, 0x123]


@pytest.mark.parametrize("packing,bits,pack", [("mipi10", 10, _pack_raw10), ("mipi12", 12, _pack_raw12)])
def test_mipi_random_frames(tmp_path, packing, bits, pack):
    rng = np.random.default_rng(3)
    px = rng.integers(0, 2**bits, (6, 16))
    f = tmp_path / "p.raw"
    f.write_bytes(pack(px))
    raw = read_headerless(f, 16, 6, bits, "BGGR", packing=packing, black_level=16)
    np.testing.assert_array_equal(raw.numpy(), px)
    with pytest.raises(FormatError, match="bytes"):
        read_headerless(f, 16, 5, bits, "BGGR", packing=packing)
    with pytest.raises(InputError, match="multiple"):
        read_headerless(f, 15, 6, bits, "BGGR", packing=packing)


# ----------------------------------------------------------------------------- sidecar
@pytest.mark.parametrize("cfa", ["RGGB", "QUAD_GBRG", "MONO"])
def test_sidecar_round_trip(tmp_path, cfa):
    rng = np.random.default_rng(4)
    n = 16 if cfa.startswith("QUAD") else (1 if cfa == "MONO" else 4)
    black = tuple(float(v) for v in rng.integers(60, 70, n))
    raw = Raw(rng.integers(0, 4096, (32, 48)).astype(np.float32),
              RawMeta(cfa=cfa, black_level_dn=black, white_level_dn=4000, bit_depth=12, exposure_s=0.02,
                      analog_gain=3.0, pixel_pitch_um=2.0, extra={"scene": "flat"}))
    path = write_raw_sidecar(raw, tmp_path / "frame")
    assert path == tmp_path / "frame.raw" and (tmp_path / "frame.yaml").is_file()
    assert path.stat().st_size == 32 * 48 * 2
    np.testing.assert_array_equal(np.fromfile(path, dtype="<u2").reshape(32, 48), raw.numpy())
    doc = yaml.safe_load((tmp_path / "frame.yaml").read_text())
    assert doc["width"] == 48 and doc["height"] == 32 and doc["byte_order"] == "little" and doc["cfa"] == cfa
    back = read_raw(path)
    np.testing.assert_array_equal(back.numpy(), raw.numpy())
    m = back.meta
    assert (m.cfa, m.black_level_dn, m.white_level_dn, m.bit_depth) == (cfa, black, 4000.0, 12)
    assert (m.exposure_s, m.analog_gain, m.pixel_pitch_um) == (0.02, 3.0, 2.0)
    assert m.extra["scene"] == "flat" and not m.black_level_estimated


def test_sidecar_typo_is_a_config_error_naming_the_field(tmp_path):
    (tmp_path / "f.raw").write_bytes(np.zeros((4, 4), "<u2").tobytes())
    (tmp_path / "f.yaml").write_text("width: 4\nheight: 4\nbit_depth: 10\ncfa: RGGB\nblack_levle_dn: 64\n")
    with pytest.raises(ConfigError, match="black_levle_dn"):
        read_raw(tmp_path / "f.raw")
    (tmp_path / "f.yaml").write_text("width: 4\nheight: 4\nbit_depth: 10\ncfa: RGXB\n")
    with pytest.raises(ConfigError, match="cfa"):
        read_raw(tmp_path / "f.raw")
    (tmp_path / "f.yaml").write_text("width: 4\nheight: 5\nbit_depth: 10\ncfa: RGGB\n")
    with pytest.raises(FormatError, match="40 bytes"):
        read_raw(tmp_path / "f.raw")


def test_headerless_raw_without_sidecar_says_what_to_do(tmp_path):
    (tmp_path / "dump.raw").write_bytes(np.arange(64, dtype="<u2").tobytes())
    with pytest.raises(FormatError, match="read_headerless.*sidecar|width, height"):
        read_raw(tmp_path / "dump.raw")


# ----------------------------------------------------------------------------- LibRaw errors
def _dng_bytes(tmp_path) -> bytes:
    raw = Raw(np.full((16, 16), 100, np.float32), RawMeta(cfa="RGGB", black_level_dn=64, white_level_dn=1023))
    return write_dng(raw, tmp_path / "ok.dng").read_bytes()


def test_read_raw_errors_name_the_file_and_reason(tmp_path):
    good = _dng_bytes(tmp_path)
    cases = {
        "missing.dng": (None, "file not found"),
        "empty.dng": (b"", "empty"),
        "trunc.dng": (good[: len(good) // 2], "truncated"),
        "junk.nef": (b"not a raw file" * 50, "not a raw format"),
    }
    for name, (content, reason) in cases.items():
        if content is not None:
            (tmp_path / name).write_bytes(content)
        with pytest.raises(FormatError) as e:
            read_raw(tmp_path / name)
        assert name in str(e.value) and reason in str(e.value)
    with pytest.raises(FormatError, match="folder"):
        read_raw(tmp_path)


def _write_tiff_dng(path, data, photometric, tags):
    base = [(50706, "B", 4, (1, 4, 0, 0), True), (50708, "s", 0, "test", True), (50717, "I", 1, 4095, True)]
    tifffile.imwrite(path, data, photometric=photometric, extratags=base + tags, metadata=None, subfiletype=0)


def test_non_bayer_sensors_are_format_errors(tmp_path):
    xtrans = (1, 1, 0, 1, 1, 2, 1, 1, 2, 1, 1, 0, 2, 0, 1, 0, 2, 1, 1, 1, 2, 1, 1, 0, 1, 1, 0, 1, 1, 2, 0, 2, 1, 2, 0, 1)
    d = np.random.default_rng(5).integers(0, 4000, (60, 72), dtype=np.uint16)
    _write_tiff_dng(tmp_path / "xt.dng", d, 32803,
                    [(33421, "H", 2, (6, 6), True), (33422, "B", 36, xtrans, True), (50710, "B", 3, (0, 1, 2), True)])
    with pytest.raises(FormatError, match="X-Trans"):
        read_raw(tmp_path / "xt.dng")
    d3 = np.random.default_rng(5).integers(0, 4000, (60, 72, 3), dtype=np.uint16)
    _write_tiff_dng(tmp_path / "lin.dng", d3, 34892, [])
    with pytest.raises(FormatError, match="not a mosaic"):
        read_raw(tmp_path / "lin.dng")
