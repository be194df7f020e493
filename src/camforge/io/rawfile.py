"""Read raw sensor frames: camera raw files through LibRaw, headerless dumps, .raw + YAML.

* :func:`read_raw` reads DNG, NEF, CR2, ARW, ... through rawpy (LibRaw), and ``.raw``
  files that have a camforge YAML sidecar next to them (:func:`write_raw_sidecar`).
* :func:`read_headerless` reads a headerless sensor dump given its geometry: one sample
  per 8/16-bit word, or MIPI CSI-2 RAW10 / RAW12 packing.
* :func:`estimate_black_level` estimates the black level of each CFA site from the
  darkest pixels when nobody stated it.

Every reader returns a :class:`~camforge.types.Raw` ``[1, 1, H, W]`` float32 in DN (black
level included) whose :class:`~camforge.types.RawMeta` says how to interpret it.

References:
    MIPI Alliance, *Specification for Camera Serial Interface 2 (CSI-2)*, v1.3, §11.4
    (RAW10 and RAW12 data types).
    LibRaw 0.22 data structures (``raw_pattern``, ``color_desc``, ``black_level_per_channel``).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from camforge.cfa import cfa_from_dng, cfa_tile, normalize_cfa
from camforge.errors import ConfigError, FormatError, InputError
from camforge.types import Raw, RawMeta

#: (width, height) of common sensor and video frame sizes, used to suggest a geometry
#: when a headerless file has the wrong size.
COMMON_SIZES: tuple[tuple[int, int], ...] = (
    (640, 480), (752, 480), (800, 600), (1024, 768), (1280, 720), (1280, 800), (1280, 960),
    (1280, 1024), (1296, 972), (1440, 1080), (1600, 1200), (1920, 1080), (1920, 1200), (1936, 1096),
    (1944, 1204), (2048, 1088), (2048, 1536), (2048, 2048), (2064, 1552), (2448, 2048), (2592, 1536),
    (2592, 1944), (3264, 2448), (3280, 2464), (3840, 2160), (4000, 3000), (4032, 3024), (4056, 3040),
    (4096, 2160), (4096, 3072), (4208, 3120), (4608, 2592), (4608, 3456), (4656, 3496), (5472, 3648),
    (6000, 4000), (8000, 6000), (8192, 6144), (9248, 6944),
)

#: Bytes per pixel of each storage layout.
_PACKINGS = {"none": None, "mipi10": 1.25, "mipi12": 1.5}
_PACKED_BITS = {"mipi10": 10, "mipi12": 12}
_RAW_SUFFIXES = (".raw", ".bin")
_SIDECAR_SUFFIXES = (".yaml", ".yml")


# ----------------------------------------------------------------------------- black level
def estimate_black_level(data, cfa: str, percentile: float = 0.5) -> tuple[float, ...]:
    """Estimate the black level of each CFA site from its darkest pixels [DN].

    For each site of the CFA repeat tile, the ``percentile`` (default the 0.5th) of that
    site's non-zero values. Exact zeros are ignored: sensor dumps often hold all-zero rows
    (embedded data, cropped lines) or a zero-filled dark corner outside the lens image
    circle, none of which is the ADC pedestal.

    This is an upper bound of the pedestal: it is exact only if the frame contains
    unlit pixels (optical black, deep shadow). State the black level whenever it is known.

    Args:
        data: one frame, ``[H, W]`` (numpy or torch; a ``[B, 1, H, W]`` tensor uses frame 0).
        cfa: CFA pattern name (see :mod:`camforge.cfa`).
        percentile: percentile in 0..100.

    Returns:
        One value per site of the repeat tile, row order (4 for Bayer, 16 for Quad Bayer,
        1 for mono).
    """
    n = cfa_tile(cfa).shape[0]
    x = _as_2d(data)
    if not 0 <= percentile <= 100:
        raise InputError(f"percentile must be in 0..100, got {percentile}")
    out = []
    for i in range(n):
        for j in range(n):
            site = x[i::n, j::n].ravel()
            site = site[np.isfinite(site) & (site != 0)]
            out.append(float(np.percentile(site, percentile)) if site.size else 0.0)
    return tuple(out)


def _as_2d(data) -> np.ndarray:
    if isinstance(data, Raw):
        data = data.data
    if hasattr(data, "detach"):
        data = data.detach().cpu().numpy()
    x = np.asarray(data)
    while x.ndim > 2 and x.shape[0] == 1:
        x = x[0]
    if x.ndim == 4:
        x = x[0, 0]
    if x.ndim != 2:
        raise InputError(f"expected one raw frame [H, W], got shape {x.shape}")
    return x


# ----------------------------------------------------------------------------- headerless
def _expected_bytes(width: int, height: int, packing: str, itemsize: int) -> int:
    if packing == "none":
        return width * height * itemsize
    return int(width * height * _PACKINGS[packing])


def _size_hint(payload: int, width: int, height: int, packing: str, itemsize: int) -> str:
    """Human hint: which geometries / packings would match ``payload`` bytes."""
    hints: list[str] = []
    layouts = [("none", itemsize), ("mipi10", 0), ("mipi12", 0)] if packing == "none" else [(packing, 0), ("none", 2)]
    for pk, isz in layouts:
        bpp = isz if pk == "none" else _PACKINGS[pk]
        n_px = payload / bpp
        if n_px != int(n_px) or n_px <= 0:
            continue
        n_px = int(n_px)
        label = "" if pk == packing else (f" with packing='{pk}'" if pk != "none" else " unpacked 16-bit")
        if pk != packing and width * height == n_px:
            hints.append(f"the geometry matches{label}")
            continue
        pairs = [(w, h) for (w, h) in COMMON_SIZES if w * h == n_px]
        if pk != packing:  # another layout: suggest only well-known frame sizes
            if pairs:
                hints.append("(width, height) " + " or ".join(f"({w}, {h})" for w, h in pairs[:3]) + label)
            continue
        if n_px % width == 0 and (width, n_px // width) not in pairs:
            pairs.append((width, n_px // width))
        if n_px % height == 0 and (n_px // height, height) not in pairs:
            pairs.append((n_px // height, height))
        if pairs:
            hints.append("(width, height) " + " or ".join(f"({w}, {h})" for w, h in pairs[:5]) + label)
    expected = _expected_bytes(width, height, packing, itemsize)
    extra = payload - expected
    if 0 < extra <= 65536:
        hints.append(f"or a {extra}-byte header (offset_bytes={extra})")
    return ("; would fit: " + "; ".join(hints)) if hints else ""


def _unpack_mipi(buf: np.ndarray, width: int, height: int, packing: str) -> np.ndarray:
    """Unpack MIPI CSI-2 RAW10/RAW12 bytes into uint16 ``[H, W]``.

    RAW10: 4 pixels in 5 bytes — bytes 0..3 hold bits 9..2 of pixels 0..3, byte 4 holds
    bits 1..0 of pixel k in bits 2k+1..2k. RAW12: 2 pixels in 3 bytes — bytes 0..1 hold
    bits 11..4, byte 2 holds bits 3..0 of pixel 0 (low nibble) and pixel 1 (high nibble).
    """
    if packing == "mipi10":
        b = buf.reshape(height, width // 4, 5).astype(np.uint16)
        lsb = b[..., 4]
        px = [(b[..., k] << 2) | ((lsb >> (2 * k)) & 0x3) for k in range(4)]
    else:
        b = buf.reshape(height, width // 2, 3).astype(np.uint16)
        px = [(b[..., 0] << 4) | (b[..., 2] & 0xF), (b[..., 1] << 4) | (b[..., 2] >> 4)]
    return np.stack(px, axis=-1).reshape(height, width)


def _overflow_hint(x: np.ndarray, bit_depth: int, byte_order: str, packing: str, itemsize: int) -> str:
    hints = []
    if packing == "none" and itemsize == 2:
        swapped = x.byteswap()
        if int(swapped.max()) < 2**bit_depth:
            other = "big" if byte_order == "little" else "little"
            hints.append(f"the data fit with byte_order='{other}'")
        shift = 16 - bit_depth
        if shift > 0 and not np.any(x & ((1 << shift) - 1)):
            hints.append(f"the samples look MSB-aligned (low {shift} bits all zero): divide by {2**shift}")
    vmax = int(x.max())
    bits = max(1, int(vmax).bit_length())
    if bits <= 16 and not hints:
        hints.append(f"the maximum {vmax} fits bit_depth={bits}")
    return " (" + "; ".join(hints) + ")" if hints else ""


def read_headerless(
    path: str | Path,
    width: int,
    height: int,
    bit_depth: int,
    cfa: str,
    *,
    byte_order: str = "little",
    dtype: str = "uint16",
    offset_bytes: int = 0,
    packing: str = "none",
    black_level=None,
    white_level=None,
) -> Raw:
    """Read a headerless raw sensor dump.

    Args:
        path: the file.
        width, height: frame size [px].
        bit_depth: ADC bit depth [bits]; every sample must be ≤ 2^bit_depth − 1.
        cfa: CFA pattern name (``RGGB``, ``BGGR``, ``GRBG``, ``GBRG``, ``QUAD_*``, ``MONO``).
        byte_order: ``"little"`` or ``"big"`` (16-bit words only).
        dtype: ``"uint16"`` (one sample per 16-bit word, LSB-aligned) or ``"uint8"``.
        offset_bytes: bytes to skip at the start (a header).
        packing: ``"none"``, ``"mipi10"`` or ``"mipi12"`` (MIPI CSI-2 RAW10 / RAW12, rows
            not padded; the width must be a multiple of 4 / 2).
        black_level: black level [DN], one value or one per CFA site (row order). ``None``
            estimates it with :func:`estimate_black_level` and sets
            ``meta.black_level_estimated``.
        white_level: saturation level [DN], default 2^bit_depth − 1.

    Returns:
        :class:`Raw` ``[1, 1, H, W]`` float32 [DN].

    Raises:
        FormatError: file missing, size not matching the geometry (the message gives the
            expected and actual sizes and geometries that would fit), samples above
            2^bit_depth − 1.
        InputError: unknown CFA, bad geometry or options.
    """
    path = Path(path)
    cfa = normalize_cfa(cfa)
    for name, v in (("width", width), ("height", height)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise InputError(f"{name} must be a positive integer number of pixels, got {v!r}")
    width, height = int(width), int(height)
    if packing not in _PACKINGS:
        raise InputError(f"unknown packing {packing!r}; use one of {', '.join(_PACKINGS)}")
    if byte_order not in ("little", "big"):
        raise InputError(f"byte_order must be 'little' or 'big', got {byte_order!r}")
    if dtype not in ("uint16", "uint8"):
        raise InputError(f"dtype must be 'uint16' or 'uint8', got {dtype!r}")
    itemsize = 2 if dtype == "uint16" else 1
    max_bits = _PACKED_BITS.get(packing, 8 * itemsize)
    if isinstance(bit_depth, bool) or not isinstance(bit_depth, (int, np.integer)) or not 1 <= bit_depth <= max_bits:
        raise InputError(f"bit_depth must be an integer in 1..{max_bits} for this layout, got {bit_depth!r}")
    if packing == "mipi10" and width % 4:
        raise InputError(f"MIPI RAW10 packs 4 pixels in 5 bytes: the width must be a multiple of 4, got {width}")
    if packing == "mipi12" and width % 2:
        raise InputError(f"MIPI RAW12 packs 2 pixels in 3 bytes: the width must be a multiple of 2, got {width}")
    if int(offset_bytes) < 0:
        raise InputError(f"offset_bytes must be >= 0, got {offset_bytes}")
    offset_bytes = int(offset_bytes)
    if not path.is_file():
        raise FormatError(f"cannot read {path}: " + ("it is a folder" if path.is_dir() else "file not found"))
    actual = path.stat().st_size
    expected = offset_bytes + _expected_bytes(width, height, packing, itemsize)
    if actual != expected:
        layout = f"{bit_depth}-bit {'packed ' + packing if packing != 'none' else dtype}"
        raise FormatError(
            f"{path}: size is {actual} bytes but a {width}x{height} {layout} frame"
            f"{f' after a {offset_bytes}-byte header' if offset_bytes else ''} needs {expected} bytes"
            + _size_hint(actual - offset_bytes, width, height, packing, itemsize)
        )
    if packing == "none":
        dt = np.dtype(("<" if byte_order == "little" else ">") + ("u2" if itemsize == 2 else "u1"))
        x = np.fromfile(path, dtype=dt, offset=offset_bytes).reshape(height, width)
    else:
        buf = np.fromfile(path, dtype=np.uint8, offset=offset_bytes)
        x = _unpack_mipi(buf, width, height, packing)
    vmax = int(x.max())
    if vmax > 2**bit_depth - 1:
        n_over = int(np.count_nonzero(x > 2**bit_depth - 1))
        raise FormatError(
            f"{path}: {n_over} samples exceed the {bit_depth}-bit maximum {2**bit_depth - 1} (max {vmax}): "
            "wrong bit depth or byte order?" + _overflow_hint(x, bit_depth, byte_order, packing, itemsize)
        )
    data = x.astype(np.float32)
    estimated = black_level is None
    if estimated:
        black = estimate_black_level(data, cfa)
    else:
        black = _black_tuple(black_level)
    white = float(2**bit_depth - 1) if white_level is None else float(white_level)
    if not math.isfinite(white) or white <= 0:
        raise InputError(f"white_level must be a positive number of DN, got {white_level!r}")
    meta = RawMeta(
        cfa=cfa,
        black_level_dn=black,
        white_level_dn=white,
        bit_depth=int(bit_depth),
        black_level_estimated=estimated,
        source=str(path),
        extra={"byte_order": byte_order, "dtype": dtype, "packing": packing, "offset_bytes": offset_bytes},
    )
    return Raw(data, meta)


def _black_tuple(black_level) -> tuple[float, ...]:
    try:
        b = np.asarray(black_level, dtype=np.float64).ravel()
    except (TypeError, ValueError):
        raise InputError(f"black_level must be a number or a list of numbers [DN], got {black_level!r}") from None
    if b.size == 0 or not np.isfinite(b).all() or (b < 0).any():
        raise InputError(f"black_level must be finite, non-negative DN, got {black_level!r}")
    return tuple(float(v) for v in b)


# ----------------------------------------------------------------------------- .raw + YAML sidecar
class RawSidecar(BaseModel):
    """The YAML sidecar of a headerless ``.raw`` file (unknown fields are errors).

    Geometry and storage (``width``, ``height``, ``bit_depth``, ``cfa``, ``byte_order``,
    ``dtype``, ``offset_bytes``, ``packing``) say how to decode the file; the other fields
    fill :class:`~camforge.types.RawMeta`. ``black_level_dn`` may be one value or one per
    CFA site; when absent it is estimated from the data.
    """

    model_config = ConfigDict(extra="forbid")
    format: Literal["camforge-raw"] = "camforge-raw"
    version: Literal[1] = 1
    width: int = Field(..., ge=1)
    height: int = Field(..., ge=1)
    bit_depth: int = Field(..., ge=1, le=16)
    cfa: str
    byte_order: Literal["little", "big"] = "little"
    dtype: Literal["uint16", "uint8"] = "uint16"
    offset_bytes: int = Field(0, ge=0)
    packing: Literal["none", "mipi10", "mipi12"] = "none"
    black_level_dn: float | list[float] | None = None
    white_level_dn: float | None = Field(None, gt=0)
    exposure_s: float | None = Field(None, gt=0)
    analog_gain: float = Field(1.0, gt=0)
    pixel_pitch_um: float | None = Field(None, gt=0)
    conversion_gain_dn_per_e: float | None = Field(None, gt=0)
    as_shot_neutral: list[float] | None = None
    color_matrix: list[float] | None = None
    source: str = ""
    extra: dict[str, Any] = Field(default_factory=dict)


def _sidecar_for(path: Path) -> Path | None:
    for suf in _SIDECAR_SUFFIXES:
        p = path.with_suffix(suf)
        if p.is_file():
            return p
    return None


def _read_sidecar_raw(path: Path, sidecar: Path) -> Raw:
    from camforge.config import load_yaml

    sc = load_yaml(RawSidecar, sidecar)
    try:
        normalize_cfa(sc.cfa)
    except InputError as e:
        raise ConfigError(f"invalid configuration in {sidecar}: cfa: {e}") from None
    raw = read_headerless(
        path, sc.width, sc.height, sc.bit_depth, sc.cfa,
        byte_order=sc.byte_order, dtype=sc.dtype, offset_bytes=sc.offset_bytes, packing=sc.packing,
        black_level=sc.black_level_dn, white_level=sc.white_level_dn,
    )
    m = raw.meta
    extra = dict(sc.extra)
    try:
        meta = RawMeta(
            cfa=m.cfa, black_level_dn=m.black_level_dn, white_level_dn=m.white_level_dn, bit_depth=m.bit_depth,
            exposure_s=sc.exposure_s, analog_gain=sc.analog_gain, pixel_pitch_um=sc.pixel_pitch_um,
            conversion_gain_dn_per_e=sc.conversion_gain_dn_per_e, as_shot_neutral=sc.as_shot_neutral,
            color_matrix=sc.color_matrix,
            black_level_estimated=m.black_level_estimated or bool(extra.pop("black_level_estimated", False)),
            source=sc.source or str(path), extra={**extra, **m.extra, "sidecar": str(sidecar)},
        )
    except InputError as e:
        raise ConfigError(f"invalid configuration in {sidecar}: {e}") from None
    return Raw(raw.data, meta)


def write_raw_sidecar(raw: Raw, path: str | Path, *, index: int = 0) -> Path:
    """Write frame ``index`` as ``name.raw`` (uint16 little-endian) + ``name.yaml`` (atomically).

    The YAML sidecar (:class:`RawSidecar`) records the geometry, CFA, levels and capture
    settings, so :func:`read_raw` reads the pair back exactly (any CFA, Quad Bayer included).
    Values are rounded to integer DN and must lie in 0..65535.

    Returns:
        The path of the ``.raw`` file.
    """
    import yaml

    from camforge.io.atomic import atomic_write_bytes, atomic_write_text
    from camforge.io.dng import _frame_uint16, _json_safe

    path = Path(path)
    raw_path = path if path.suffix.lower() in _RAW_SUFFIXES else path.with_name(path.name + ".raw")
    yaml_path = raw_path.with_suffix(".yaml")
    x = _frame_uint16(raw, index)
    m = raw.meta
    if m.bit_depth > 16:
        raise FormatError(f"bit depth {m.bit_depth} does not fit the 16-bit words of a .raw file")
    blk = list(m.black_level_dn)
    doc = RawSidecar(
        width=int(x.shape[1]), height=int(x.shape[0]), bit_depth=int(m.bit_depth), cfa=m.cfa,
        black_level_dn=blk[0] if len(set(blk)) == 1 else blk, white_level_dn=float(m.white_level_dn),
        exposure_s=m.exposure_s, analog_gain=float(m.analog_gain), pixel_pitch_um=m.pixel_pitch_um,
        conversion_gain_dn_per_e=m.conversion_gain_dn_per_e,
        as_shot_neutral=list(m.as_shot_neutral) if m.as_shot_neutral is not None else None,
        color_matrix=list(m.color_matrix) if m.color_matrix is not None else None,
        source=m.source, extra=_json_safe({**m.extra, "black_level_estimated": m.black_level_estimated}),
    )
    atomic_write_bytes(raw_path, x.astype("<u2").tobytes())
    header = f"# camforge raw sidecar for {raw_path.name}: {x.shape[1]}x{x.shape[0]} uint16 little-endian, no header\n"
    atomic_write_text(yaml_path, header + yaml.safe_dump(doc.model_dump(mode="json"), sort_keys=False))
    return raw_path


# ----------------------------------------------------------------------------- LibRaw
_LETTERS = {"R": 0, "G": 1, "B": 2}


def _libraw_cfa(rp, path: Path) -> str:
    """camforge CFA name from LibRaw's ``raw_pattern`` and ``color_desc``."""
    import rawpy

    if rp.raw_type != rawpy.RawType.Flat:
        raise FormatError(
            f"{path}: not a mosaic raw (LibRaw raw type {rp.raw_type.name}: Foveon or an already demosaiced "
            "linear DNG); camforge reads Bayer and monochrome raw files; use read_image for RGB files"
        )
    if rp.num_colors == 1:
        return "MONO"
    desc = rp.color_desc.decode("ascii", "replace")
    pattern = rp.raw_pattern
    if pattern is None:
        raise FormatError(f"{path}: LibRaw reports no CFA pattern; camforge reads Bayer and monochrome sensors")
    pattern = np.asarray(pattern)
    if pattern.shape == (6, 6):
        raise FormatError(f"{path}: X-Trans (6x6) CFA is not supported; camforge reads Bayer and monochrome sensors")
    letters = set(desc[int(i)] for i in pattern.ravel() if int(i) < len(desc))
    if not letters <= set(_LETTERS):
        raise FormatError(f"{path}: CFA colours {desc!r} are not R/G/B (CMYG or RGBE sensor): not supported")
    vals = [_LETTERS[desc[int(i)]] for i in pattern.ravel()]  # 'RGBG': index 3 is the second green
    try:
        return cfa_from_dng(pattern.shape, vals)
    except InputError:
        raise FormatError(f"{path}: unsupported CFA layout {pattern.tolist()} ({desc}); camforge reads Bayer "
                          "and monochrome sensors") from None


def _tiff_tags(path: Path) -> dict[int, Any]:
    """Tags of IFD 0 of a TIFF-based raw (DNG), ``{}`` if it is not TIFF."""
    try:
        import tifffile

        with tifffile.TiffFile(path) as tf:
            return {t.code: t.value for t in tf.pages[0].tags}
    except Exception:
        return {}


def _dng_color_matrix(tags: dict[int, Any]) -> tuple[float, ...] | None:
    """ColorMatrix1/2 of a DNG, preferring the one calibrated for D65 (or another daylight)."""
    from camforge.io.dng import (
        TAG_CALIBRATION_ILLUMINANT1, TAG_CALIBRATION_ILLUMINANT2, TAG_COLOR_MATRIX1, TAG_COLOR_MATRIX2,
    )

    found = []
    for cm_tag, ill_tag in ((TAG_COLOR_MATRIX1, TAG_CALIBRATION_ILLUMINANT1), (TAG_COLOR_MATRIX2, TAG_CALIBRATION_ILLUMINANT2)):
        v = tags.get(cm_tag)
        if v is None:
            continue
        v = np.asarray(v, dtype=np.float64).ravel()
        if v.size == 18:  # (numerator, denominator) pairs
            v = v[0::2] / v[1::2]
        if v.size == 9:
            found.append((int(tags.get(ill_tag, 0) or 0), tuple(float(a) for a in v)))
    if not found:
        return None
    for wanted in (21, 20, 22, 23, 1, 4):  # D65, D55, D75, D50, daylight, flash
        for ill, m in found:
            if ill == wanted:
                return m
    return found[-1][1]


def _check_tiff_extent(path: Path) -> None:
    """FormatError if a TIFF-based raw (DNG, NEF, ...) points at image data past its end."""
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic not in (b"II*\x00", b"MM\x00*"):
        return
    size = path.stat().st_size
    try:
        import tifffile

        with tifffile.TiffFile(path) as tf:
            end = max((int(o) + int(n) for page in tf.pages
                       for o, n in zip(page.dataoffsets, page.databytecounts)), default=0)
    except Exception:
        return  # let LibRaw report on it
    if end > size:
        raise FormatError(f"cannot read {path}: truncated file: image data ends at byte {end} but the file has {size} bytes")


def _read_libraw(path: Path) -> Raw:
    try:
        import rawpy
    except ImportError:  # pragma: no cover
        from camforge.errors import DependencyError

        raise DependencyError("reading camera raw files needs rawpy: pip install rawpy") from None
    _check_tiff_extent(path)
    try:
        with rawpy.imread(str(path)) as rp:
            cfa = _libraw_cfa(rp, path)
            data = np.array(rp.raw_image_visible, dtype=np.float32, copy=True)
            tile = cfa_tile(cfa)
            blpc = list(rp.black_level_per_channel)
            if cfa == "MONO":
                black: tuple[float, ...] = (float(blpc[0]),)
            else:
                pattern = np.asarray(rp.raw_pattern)
                n = tile.shape[0]
                black = tuple(float(blpc[int(pattern[i % pattern.shape[0], j % pattern.shape[1]])])
                              for i in range(n) for j in range(n))
            white = float(rp.white_level)
            wb = np.asarray(rp.camera_whitebalance, dtype=np.float64)[:3]
            xyz_cam = np.asarray(rp.rgb_xyz_matrix, dtype=np.float64)[:3]
            other = getattr(rp, "other", None)
            exposure = float(getattr(other, "shutter_speed", 0.0) or 0.0) if other is not None else 0.0
            iso = float(getattr(other, "iso_speed", 0.0) or 0.0) if other is not None else 0.0
    except FormatError:
        raise
    except (rawpy.LibRawError, rawpy.NotSupportedError, OSError, ValueError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        if reason.startswith(("b'", 'b"')):
            reason = reason[2:-1]
        if isinstance(e, rawpy.LibRawFileUnsupportedError):
            reason = "not a raw format LibRaw recognises (unsupported or corrupt file)"
        elif isinstance(e, rawpy.LibRawIOError):
            reason = f"truncated or unreadable file ({reason})"
        raise FormatError(f"cannot read {path}: {reason} [{type(e).__name__}]") from None
    if data.size == 0:
        raise FormatError(f"cannot read {path}: LibRaw returned an empty image")

    asn = None
    if cfa != "MONO" and np.all(wb > 0):
        asn = 1.0 / wb
        asn = tuple(float(v) for v in asn / asn[1])
    tags = _tiff_tags(path)
    cm = _dng_color_matrix(tags) if tags else None
    if cm is None and cfa != "MONO" and np.abs(xyz_cam).sum() > 1e-6:
        cm = tuple(float(v) for v in xyz_cam.ravel())
    exp_tag = tags.get(33434)
    if isinstance(exp_tag, tuple) and len(exp_tag) == 2 and exp_tag[1]:
        exposure = exp_tag[0] / exp_tag[1]  # exact rational (LibRaw keeps a float32)
    bits = min(16, max(8, int(math.ceil(math.log2(white + 1))))) if white > 0 else 16
    extra: dict[str, Any] = {"reader": "rawpy"}
    if iso > 0:
        extra["iso"] = iso
    fields: dict[str, Any] = {}
    desc = tags.get(270)
    if isinstance(desc, str) and "camforge_raw_meta" in desc:
        fields = _camforge_fields(desc, black)
    meta = RawMeta(
        cfa=cfa,
        black_level_dn=fields.pop("black_level_dn", black),
        white_level_dn=white,
        bit_depth=fields.pop("bit_depth", bits),
        exposure_s=exposure if exposure > 0 else None,
        analog_gain=fields.pop("analog_gain", 1.0),
        pixel_pitch_um=fields.pop("pixel_pitch_um", None),
        conversion_gain_dn_per_e=fields.pop("conversion_gain_dn_per_e", None),
        as_shot_neutral=asn,
        color_matrix=cm if cfa != "MONO" else None,
        source=str(path),
        extra={**fields.pop("extra", {}), **extra},
    )
    return Raw(data, meta)


def _camforge_fields(description: str, black_libraw: tuple[float, ...]) -> dict[str, Any]:
    """Fields of a camforge-written DNG that no DNG tag carries (from ImageDescription JSON)."""
    try:
        m = json.loads(description)["camforge_raw_meta"]
    except (ValueError, KeyError, TypeError):
        return {}
    out: dict[str, Any] = {}
    for k in ("bit_depth", "analog_gain", "pixel_pitch_um", "conversion_gain_dn_per_e"):
        if m.get(k) is not None:
            out[k] = m[k]
    bl = m.get("black_level_dn")
    # LibRaw stores integer black levels; keep camforge's exact values when they agree
    if isinstance(bl, list) and len(bl) == len(black_libraw) and all(abs(a - b) < 1 for a, b in zip(bl, black_libraw)):
        out["black_level_dn"] = tuple(float(v) for v in bl)
    extra = m.get("extra")
    if isinstance(extra, dict):
        out["extra"] = {**extra, "written_by": "camforge"}
    return out


def read_raw(path: str | Path) -> Raw:
    """Read a raw frame: camera raw files (DNG, NEF, CR2, ARW, ...) or ``.raw`` + YAML sidecar.

    Camera raw files are decoded by LibRaw (rawpy): ``data`` is ``raw_image_visible``
    ``[1, 1, H, W]`` float32 [DN]; the CFA comes from ``raw_pattern`` + ``color_desc``
    (colour indices mapped to R/G/B, the fourth 'RGBG' index being the second green);
    ``black_level_dn`` per CFA site from ``black_level_per_channel``; ``white_level_dn``
    from ``white_level``; ``as_shot_neutral`` = 1 / ``camera_whitebalance`` normalised to
    green (as DNG AsShotNeutral); ``color_matrix`` = the DNG ColorMatrix (D65 one
    preferred) or LibRaw's ``rgb_xyz_matrix`` for other formats; ``exposure_s`` from the
    file. ``bit_depth`` is the smallest that holds the white level.

    A ``.raw``/``.bin`` file with ``name.yaml`` next to it is read with that sidecar
    (:class:`RawSidecar`, :func:`write_raw_sidecar`). A headerless file without one needs
    :func:`read_headerless`.

    Raises:
        FormatError: missing, unreadable, corrupt or unsupported file (X-Trans, Foveon,
            CMYG, demosaiced DNG), naming the file and the reason.
        ConfigError: invalid sidecar (names the field).
    """
    path = Path(path)
    if path.is_dir():
        raise FormatError(f"cannot read {path}: it is a folder, not a raw file")
    if not path.is_file():
        raise FormatError(f"cannot read {path}: file not found")
    if path.stat().st_size == 0:
        raise FormatError(f"cannot read {path}: the file is empty (0 bytes)")
    if path.suffix.lower() in _RAW_SUFFIXES:
        sidecar = _sidecar_for(path)
        if sidecar is not None:
            return _read_sidecar_raw(path, sidecar)
        try:
            return _read_libraw(path)  # some cameras use .RAW for their own format (Panasonic, Leica)
        except FormatError:
            raise FormatError(
                f"{path} is a headerless raw file without a sidecar: give its geometry with "
                f"read_headerless(path, width, height, bit_depth, cfa) (CLI: --width/--height/--bits/--cfa) "
                f"or write {path.with_suffix('.yaml').name} next to it (fields: width, height, bit_depth, cfa)"
            ) from None
    return _read_libraw(path)


__all__ = [
    "COMMON_SIZES", "RawSidecar", "estimate_black_level", "read_headerless", "read_raw", "write_raw_sidecar",
]
