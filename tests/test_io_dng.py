"""DNG writer: every file is checked by reading it with rawpy (LibRaw), the peer decoder."""

from __future__ import annotations

import colour
import numpy as np
import pytest
import rawpy
import tifffile

from camforge.cfa import cfa_tile
from camforge.errors import FormatError, InputError
from camforge.io import read_raw, write_dng
from camforge.types import Raw, RawMeta

LETTER = {"R": 0, "G": 1, "B": 2}


def _raw(cfa="RGGB", bits=12, black=(60, 61, 62, 63), shape=(48, 64), seed=0, **meta):
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 2**bits, size=shape).astype(np.float32)
    return Raw(data, RawMeta(cfa=cfa, black_level_dn=black, white_level_dn=2**bits - 1, bit_depth=bits, **meta))


def _libraw_tile(rp) -> np.ndarray:
    """R/G/B index of each site of LibRaw's raw_pattern (via color_desc)."""
    desc = rp.color_desc.decode()
    return np.vectorize(lambda i: LETTER[desc[i]])(rp.raw_pattern)


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
@pytest.mark.parametrize("bits", [10, 12, 14, 16])
def test_rawpy_reads_pattern_levels_and_data(tmp_path, cfa, bits):
    black = (10 * bits + 1, 10 * bits + 2, 10 * bits + 3, 10 * bits + 4)  # a different value per site
    raw = _raw(cfa, bits, black)
    path = write_dng(raw, tmp_path / "x.dng")
    with rawpy.imread(str(path)) as rp:
        assert rp.raw_type == rawpy.RawType.Flat
        np.testing.assert_array_equal(_libraw_tile(rp), cfa_tile(cfa))
        # black level per LibRaw colour index -> per CFA site
        site_black = [rp.black_level_per_channel[int(c)] for c in np.asarray(rp.raw_pattern).ravel()]
        assert site_black == list(black)
        assert rp.white_level == 2**bits - 1
        np.testing.assert_array_equal(rp.raw_image_visible, raw.numpy().astype(np.uint16))
        assert rp.raw_image_visible.shape == (48, 64)


def test_color_matrix_neutral_and_exposure_reach_libraw(tmp_path):
    cm = np.array([[0.9, -0.3, -0.1], [-0.4, 1.2, 0.2], [-0.05, 0.15, 0.6]])
    asn = (0.5, 1.0, 0.7)
    raw = _raw(exposure_s=0.0125, analog_gain=4.0)
    path = write_dng(raw, tmp_path / "c.dng", color_matrix=cm.ravel(), as_shot_neutral=asn)
    with rawpy.imread(str(path)) as rp:
        # LibRaw: camera WB multipliers = 1 / AsShotNeutral
        np.testing.assert_allclose(rp.camera_whitebalance[:3], 1 / np.asarray(asn), rtol=1e-5)
        # LibRaw builds rgb_cam = inverse of the row-normalised (ColorMatrix · sRGB→XYZ)
        cam_rgb = cm @ colour.models.RGB_COLOURSPACE_sRGB.matrix_RGB_to_XYZ
        cam_rgb /= cam_rgb.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(np.asarray(rp.color_matrix)[:, :3], np.linalg.inv(cam_rgb), atol=2e-3)
        assert rp.other.shutter_speed == pytest.approx(0.0125, rel=1e-6)
    with tifffile.TiffFile(path) as tf:
        tags = {t.code: t.value for t in tf.pages[0].tags}
    assert tags[262] == 32803 and tags[258] == 16
    assert bytes(tags[50706]) == bytes((1, 4, 0, 0))
    assert tags[34855] == 400  # ISO-like: 100 x analog gain
    assert tags[50778] == 21  # D65


def test_mono_is_linear_raw_one_channel(tmp_path):
    raw = _raw("MONO", 12, black=42)
    path = write_dng(raw, tmp_path / "m.dng")
    with rawpy.imread(str(path)) as rp:
        assert rp.num_colors == 1
        assert rp.black_level_per_channel[0] == 42
        assert rp.white_level == 4095
        np.testing.assert_array_equal(rp.raw_image_visible, raw.numpy().astype(np.uint16))
    back = read_raw(path)
    assert back.meta.cfa == "MONO" and back.meta.black_level_dn == (42.0,)


def test_read_raw_round_trip_restores_camforge_fields(tmp_path):
    raw = _raw("GRBG", 10, black=(64, 64.5, 65, 66), exposure_s=1 / 120, analog_gain=2.5, pixel_pitch_um=1.4,
               conversion_gain_dn_per_e=0.12)
    path = write_dng(raw, tmp_path / "r.dng")
    back = read_raw(path)
    assert back.meta.cfa == "GRBG"
    np.testing.assert_array_equal(back.numpy(), raw.numpy())
    assert back.meta.black_level_dn == (64.0, 64.5, 65.0, 66.0)
    assert back.meta.white_level_dn == 1023
    assert back.meta.bit_depth == 10
    assert back.meta.exposure_s == pytest.approx(1 / 120, rel=1e-9)
    assert back.meta.analog_gain == 2.5
    assert back.meta.pixel_pitch_um == 1.4
    assert back.meta.conversion_gain_dn_per_e == 0.12


def test_quad_bayer_is_refused_with_a_pointer_to_the_sidecar(tmp_path):
    raw = _raw("QUAD_RGGB", 10, black=64)
    with pytest.raises(FormatError, match="write_raw_sidecar"):
        write_dng(raw, tmp_path / "q.dng")
    assert not any(tmp_path.iterdir())


def test_bad_input(tmp_path):
    raw = _raw()
    raw.data[0, 0, 0, 0] = 70000
    with pytest.raises(InputError, match="65535"):
        write_dng(raw, tmp_path / "x.dng")
    raw.data[0, 0, 0, 0] = float("nan")
    with pytest.raises(InputError, match="NaN"):
        write_dng(raw, tmp_path / "x.dng")
    with pytest.raises(InputError, match="does not exist"):
        write_dng(_raw(), tmp_path / "missing" / "x.dng")
    with pytest.raises(InputError, match="color_matrix"):
        write_dng(_raw(), tmp_path / "x.dng", color_matrix=[1, 2, 3])
    with pytest.raises(InputError, match="index"):
        write_dng(_raw(), tmp_path / "x.dng", index=3)
    assert not any(tmp_path.iterdir())  # nothing half-written
