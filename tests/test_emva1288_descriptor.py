"""EMVA 1288 inputs: descriptor files, data folders and frame reading (no real data needed)."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest
import tifffile
from PIL import Image

from camforge.characterize import Emva1288Stack, Emva1288Step, Emva1288Warning, load_stack, parse_descriptor
from camforge.characterize.descriptor import _png_bytes, find_descriptor, write_descriptor
from camforge.characterize.frames import _png_fast, read_frame
from camforge.errors import FormatError, InputError


def _frame(seed, level=100, shape=(8, 12), bits=12):
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(level, 5, shape), 0, 2**bits - 1).astype(np.uint16)


def _png(path, a):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_png_bytes(a))


def _make_set(tmp_path, sep="\\", missing=(), extra_lines=""):
    """A small descriptor: 3 bright steps, 3 dark steps, spatial stacks of 4; frames 12 x 8."""
    img = tmp_path / "images"
    lines = ["# test set", "v 3.0", "n 12 12 8", extra_lines]
    k = 0
    for i, (t, p) in enumerate([(1000, 10.5), (2000, 21.0), (3000, 31.5)]):
        lines.append(f"b {t}.0 {p}")
        for j in (1, 2):
            name = f"b_{i:03d}_snap_{j:03d}.png"
            if name not in missing:
                _png(img / name, _frame(k, 100 + 10 * i))
            k += 1
            lines.append(f"i images{sep}{name}")
    for i, t in enumerate([1000, 2000, 3000]):
        lines.append(f"d {t}.0")
        for j in (1, 2):
            name = f"d_{i:03d}_snap_{j:03d}.png"
            if name not in missing:
                _png(img / name, _frame(k, 50))
            k += 1
            lines.append(f"i images{sep}{name}")
    for kind, line in (("b_s", "b 1500,0 15,75"), ("d_s", "d 1500,0")):
        lines.append(line)
        for j in range(4):
            name = f"{kind}_000_snap_{j:03d}.png"
            if name not in missing:
                _png(img / name, _frame(k, 80))
            k += 1
            lines.append(f"i images{sep}{name}")
    d = tmp_path / "EMVA1288_Data.txt"
    d.write_text("\n".join(lines) + "\n")
    return d


@pytest.mark.parametrize("sep", ["\\", "/"])
def test_parse_descriptor_windows_and_posix_paths(tmp_path, sep):
    d = _make_set(tmp_path, sep=sep, extra_lines="l Camera TestCam 2000\nl wavelength_nm 525")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a complete set loads without warnings
        st = parse_descriptor(d)
    assert (st.bits, st.width_px, st.height_px, st.version) == (12, 12, 8, "3.0")
    assert st.info["Camera"] == "TestCam 2000"
    assert st.wavelength_nm == 525.0
    bright_t = st.select("bright", False)
    assert [s.photons_per_px for s in bright_t] == [10.5, 21.0, 31.5]
    assert [s.exposure_s for s in bright_t] == pytest.approx([1e-6, 2e-6, 3e-6])
    assert [s.index for s in bright_t] == [0, 1, 2]
    sp = st.select("bright", True)
    assert len(sp) == 1 and len(sp[0].frames) == 4 and sp[0].photons_per_px == 15.75  # decimal commas
    assert st.select("dark", True)[0].exposure_s == pytest.approx(1.5e-6)
    for s in st.steps:
        for f in s.frames:
            assert f.is_file() and f.parent == tmp_path / "images"


def test_missing_files_are_skipped_and_short_steps_dropped(tmp_path):
    d = _make_set(tmp_path, missing=("b_001_snap_002.png", "d_s_000_snap_003.png"))
    with pytest.warns(Emva1288Warning) as rec:
        st = parse_descriptor(d)
    msgs = " | ".join(str(w.message) for w in rec)
    assert "skipped 2 listed image file(s)" in msgs
    assert "dropped 1 step(s)" in msgs
    bright_t = st.select("bright", False)
    assert [s.index for s in bright_t] == [0, 2]  # step numbering kept from the descriptor
    dark_sp = st.select("dark", True)
    assert len(dark_sp) == 1 and len(dark_sp[0].frames) == 3  # still a spatial stack
    assert any("skipped" in w for w in st.warnings)


def test_directory_layout_and_find_descriptor(tmp_path):
    _make_set(tmp_path)
    st = load_stack(tmp_path)
    assert st.source.endswith("EMVA1288_Data.txt")
    (tmp_path / "EMVA1288_Data.txt").rename(tmp_path / "mycam.txt")
    assert find_descriptor(tmp_path).name == "mycam.txt"
    (tmp_path / "notes.txt").write_text("nothing here\n")
    assert find_descriptor(tmp_path).name == "mycam.txt"
    (tmp_path / "other.txt").write_text("n 8 4 4\n")
    with pytest.raises(InputError, match="several descriptor files"):
        find_descriptor(tmp_path)


@pytest.mark.parametrize(
    "text, match",
    [
        ("v 3.0\nb 100 10\ni a.png\ni b.png\n", "no 'n bits width height' line"),
        ("n 12 640\n", "expected 'n bits width height'"),
        ("n 12 4 4\nb 100\n", "line 2: expected 'b exposure_ns photons'"),
        ("n 12 4 4\nb 1e2 many\n", "line 2: photon count must be a number"),
        ("n 12 4 4\ni a.png\n", "line 2: image listed before"),
        ("n 12 4 4\nn 12 4 4\n", "a second 'n' line"),
        ("n 12 4 4\nb 100 10\ni nothere.png\ni nothere2.png\n", "no step with at least two readable images"),
    ],
)
def test_malformed_descriptor(tmp_path, text, match):
    d = tmp_path / "d.txt"
    d.write_text(text)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(FormatError, match=match):
            parse_descriptor(d)


def test_missing_descriptor(tmp_path):
    with pytest.raises(InputError, match="not found"):
        load_stack(tmp_path / "nothing")
    with pytest.raises(InputError, match="no EMVA 1288 descriptor"):
        load_stack(tmp_path)
    with pytest.raises(InputError, match="descriptor file not found"):
        parse_descriptor(tmp_path / "x.txt")


# ---------------------------------------------------------------------- frames
@pytest.mark.parametrize("dtype, top", [(np.uint16, 4095), (np.uint16, 65535), (np.uint8, 255)])
def test_png_fast_path_matches_pillow(dtype, top):
    a = np.random.default_rng(1).integers(0, top + 1, (37, 53)).astype(dtype)
    data = _png_bytes(a)
    fast = _png_fast(data)
    ref = np.asarray(Image.open(io.BytesIO(data)))
    assert fast is not None and fast.dtype == ref.dtype
    np.testing.assert_array_equal(fast, ref)
    np.testing.assert_array_equal(fast, a)


def test_filtered_png_falls_back_to_pillow(tmp_path):
    a = np.random.default_rng(2).integers(0, 4096, (20, 30)).astype(np.uint16)
    p = tmp_path / "f.png"
    Image.fromarray(a).save(p)  # Pillow writes adaptive (predictive) row filters
    assert _png_fast(p.read_bytes()) is None
    np.testing.assert_array_equal(read_frame(p, 12, (20, 30)), a)


def test_tiff_and_bit_depth_checks(tmp_path):
    a = np.random.default_rng(3).integers(0, 4096, (6, 10)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", a)
    np.testing.assert_array_equal(read_frame(tmp_path / "a.tif", 12, (6, 10)), a)
    # values beyond 12 bits that are not left-aligned: wrong bit depth
    with pytest.raises(FormatError, match="wrong bit depth"):
        read_frame(tmp_path / "a.tif", 10)
    # 12-bit data left-aligned in 16 bits: shifted back with a warning
    tifffile.imwrite(tmp_path / "b.tif", (a << 4).astype(np.uint16))
    with pytest.warns(Emva1288Warning, match="left-aligned"):
        np.testing.assert_array_equal(read_frame(tmp_path / "b.tif", 12), a)
    # an 8-bit file for a 12-bit data set
    Image.fromarray((a >> 4).astype(np.uint8)).save(tmp_path / "c.png")
    with pytest.raises(FormatError, match="file is 8-bit"):
        read_frame(tmp_path / "c.png", 12)
    with pytest.raises(InputError, match="frame is 10 × 6"):
        read_frame(tmp_path / "a.tif", 12, (8, 12))


def test_unreadable_and_colour_images(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 10)
    with pytest.raises(FormatError, match="cannot read image"):
        read_frame(tmp_path / "bad.png", 12)
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "rgb.png")
    with pytest.raises(FormatError, match="colour image"):
        read_frame(tmp_path / "rgb.png", 8)
    with pytest.raises(InputError, match="not found"):
        read_frame(tmp_path / "none.png", 8)
    with pytest.raises(FormatError, match="non-negative integer"):
        read_frame(np.full((4, 4), 1.5), 8)


def test_write_descriptor_round_trip(tmp_path):
    steps = [Emva1288Step("bright", 1e-3 * (i + 1), 100.0 * (i + 1), (_frame(i, 200 + i), _frame(i + 10, 200 + i)), 25.0, i)
             for i in range(3)]
    steps += [Emva1288Step("dark", 1e-3, 0.0, (_frame(20, 50), _frame(21, 50)), 40.0, 0)]
    steps += [Emva1288Step("bright", 2e-3, 150.0, tuple(_frame(30 + j, 300) for j in range(3)), 25.0, 0)]
    st = Emva1288Stack(bits=12, width_px=12, height_px=8, steps=steps, cfa="RGGB", wavelength_nm=550.0)
    d = write_descriptor(st, tmp_path / "out")
    back = parse_descriptor(d)
    assert back.cfa == "RGGB" and back.wavelength_nm == 550.0 and back.bits == 12
    assert len(back.steps) == len(steps)
    for s0, s1 in zip(steps, back.steps):
        assert (s0.kind, s0.temperature_c, s0.is_spatial) == (s1.kind, s1.temperature_c, s1.is_spatial)
        assert s1.exposure_s == pytest.approx(s0.exposure_s) and s1.photons_per_px == pytest.approx(s0.photons_per_px)
        for f0, f1 in zip(s0.frames, s1.frames):
            np.testing.assert_array_equal(read_frame(f1, 12), f0)


def test_stack_validation():
    with pytest.raises(InputError, match="not a multiple"):
        Emva1288Stack(bits=12, width_px=5, height_px=4, steps=(), cfa="RGGB")
    with pytest.raises(InputError, match="photons per pixel > 0"):
        Emva1288Step("bright", 1e-3, 0.0, (np.zeros((2, 2)), np.zeros((2, 2))))
    with pytest.raises(InputError, match="exposure time"):
        Emva1288Step("dark", 0.0, 0.0, ())
