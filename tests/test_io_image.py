"""Image readers/writers: native bit depth kept, checked against Pillow, tifffile and pypng."""

from __future__ import annotations

import numpy as np
import png
import pytest
import tifffile
from PIL import Image as PILImage

from camforge.errors import FormatError, InputError
from camforge.io import read_image, write_png, write_tiff
from conftest import need

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("shape", [(20, 30), (20, 30, 3)])
@pytest.mark.parametrize("bits", [8, 16])
def test_png_round_trip_native_scale(tmp_path, shape, bits):
    a = RNG.integers(0, 2**bits, shape)
    p = write_png(tmp_path / "a.png", a, bit_depth=bits)
    img, info = read_image(p)
    assert img.dtype == np.float32 and img.shape == shape
    np.testing.assert_array_equal(img, a)  # no rescaling
    assert info["bit_depth"] == bits
    # peer readers: pypng decodes every PNG at its stored depth
    w, h, rows, meta = png.Reader(filename=str(p)).asDirect()
    assert meta["bitdepth"] == bits
    np.testing.assert_array_equal(np.vstack([np.asarray(r) for r in rows]).reshape(shape), a)


def test_16bit_rgb_png_written_by_pypng(tmp_path):
    a = RNG.integers(0, 65536, (9, 7, 3))
    with open(tmp_path / "p.png", "wb") as f:
        png.Writer(7, 9, greyscale=False, bitdepth=16).write(f, a.reshape(9, 21))
    img, info = read_image(tmp_path / "p.png")
    np.testing.assert_array_equal(img, a)
    assert info["bit_depth"] == 16 and info["mode"] == "RGB;16"


def test_png_alpha_dropped(tmp_path):
    a = RNG.integers(0, 256, (5, 6, 4)).astype(np.uint8)
    PILImage.fromarray(a, "RGBA").save(tmp_path / "a.png")
    img, info = read_image(tmp_path / "a.png")
    np.testing.assert_array_equal(img, a[..., :3])
    assert info.get("alpha_dropped")


@pytest.mark.parametrize("dtype", [np.uint16, np.float32])
@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 3)])
def test_tiff_round_trip(tmp_path, dtype, shape):
    a = RNG.integers(0, 65536, shape).astype(dtype)
    if dtype == np.float32:
        a = a / 1000.0 - 3.0  # floats are written as they are (negative too)
    p = write_tiff(tmp_path / "a.tif", a, dpi=300)
    ref = tifffile.imread(p)
    assert ref.dtype == (np.float32 if dtype == np.float32 else np.uint16)
    np.testing.assert_array_equal(ref, a.astype(ref.dtype))
    img, info = read_image(p)
    np.testing.assert_array_equal(img, a.astype(np.float32))
    assert info["bit_depth"] == (32 if dtype == np.float32 else 16)
    assert info["dpi"] == (300.0, 300.0)


def test_torch_chw_is_transposed(tmp_path):
    import torch

    t = torch.randint(0, 256, (3, 8, 5)).float()
    img, _ = read_image(write_png(tmp_path / "t.png", t))
    np.testing.assert_array_equal(img, t.permute(1, 2, 0).numpy())


def test_real_tiff_and_jpeg_match_pillow(data):
    tif = need(data / "sfrmat3" / "h_edge.tif")
    img, info = read_image(tif)
    ref = np.asarray(PILImage.open(tif))
    assert img.shape == (125, 300, 3) and info["bit_depth"] == 8
    np.testing.assert_array_equal(img, ref)
    assert info["dpi"] == pytest.approx((300, 300))
    mono, _ = read_image(need(data / "sfrmat3" / "h_edge_mono.tif"))
    assert mono.shape == (125, 300)
    jpg = need(data / "sfrmat3" / "ISO_DSC_300a.jpg")
    img, info = read_image(jpg)
    np.testing.assert_array_equal(img, np.asarray(PILImage.open(jpg)))
    assert img.shape == (1164, 1218, 3) and info["bit_depth"] == 8


def test_emva_16bit_grey_png_keeps_dn(data):
    d = data / "emva1288_refset001" / "images"
    files = sorted(d.glob("*.png")) if d.is_dir() else []
    if not files:
        pytest.skip("EMVA 1288 images missing")
    img, info = read_image(files[0])
    ref = np.asarray(PILImage.open(files[0]), dtype=np.float32)
    assert info["bit_depth"] == 16 and img.shape == (480, 640)
    np.testing.assert_array_equal(img, ref)
    assert img.max() <= 4095  # 12-bit DN stored without a shift (SOURCES.md)


def test_errors(tmp_path):
    with pytest.raises(FormatError, match="not found"):
        read_image(tmp_path / "none.png")
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnonsense")
    with pytest.raises(FormatError, match="bad.png"):
        read_image(tmp_path / "bad.png")
    (tmp_path / "bad.tif").write_bytes(b"II*\x00garbage")
    with pytest.raises(FormatError, match="bad.tif"):
        read_image(tmp_path / "bad.tif")
    with pytest.raises(InputError, match="0..255"):
        write_png(tmp_path / "o.png", np.full((4, 4), 300))
    with pytest.raises(InputError, match="bit_depth"):
        write_png(tmp_path / "o.png", np.zeros((4, 4)), bit_depth=12)
    with pytest.raises(InputError, match="NaN"):
        write_tiff(tmp_path / "o.tif", np.full((4, 4), np.nan))
    with pytest.raises(InputError, match="shape"):
        write_png(tmp_path / "o.png", np.zeros((4, 4, 5)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.png", "bad.tif"]
