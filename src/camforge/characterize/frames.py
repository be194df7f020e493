"""Reading and checking EMVA 1288 frames (8–16-bit greyscale PNG and TIFF).

Frames are raw sensor data: one sample per pixel, DN stored directly. 16-bit PNGs whose
rows are all stored with PNG filter type 0 ("None", what camera SDKs and camforge write)
are decoded here by inflating the image data straight into a buffer of the known size —
with Intel ISA-L (the optional ``isal`` package, about twice as fast) or :mod:`zlib` — which
releases the GIL, so frames decode in parallel threads; every other PNG and every other
format goes through Pillow or tifffile. The fast path is tested bit for bit against Pillow.

A frame is checked against the stack's bit depth: values above 2^bits − 1 are an error,
except data left-aligned in 16 bits (every value a multiple of 2^(16 − bits)), which is
shifted down with a warning — a common camera export convention.

References: PNG (Third Edition), W3C Recommendation 2025, §7.3 (filter type 0), §11.2.1 (IHDR).
"""

from __future__ import annotations

import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np

from camforge.errors import FormatError, InputError

_PNG_SIG = b"\x89PNG\r\n\x1a\n"

try:  # optional accelerator: ISA-L inflate (same stream format, same results)
    from isal import isal_zlib as _inflate
except ImportError:  # pragma: no cover - depends on the environment
    _inflate = zlib

#: name of the inflate implementation used for PNG frames ("isal" or "zlib")
INFLATE = "isal" if _inflate is not zlib else "zlib"


class Emva1288Warning(UserWarning):
    """A problem in EMVA 1288 input data that the analysis could work around."""


def _png_fast(data: bytes, out: np.ndarray | None = None) -> np.ndarray | None:
    """Decode a non-interlaced greyscale 8/16-bit PNG stored with filter type 0; else None."""
    if not data.startswith(_PNG_SIG):
        return None
    pos = 8
    idat = []
    width = height = depth = None
    n = len(data)
    mv = memoryview(data)
    while pos + 8 <= n:
        (length, ctype) = struct.unpack_from(">I4s", data, pos)
        body = mv[pos + 8:pos + 8 + length]
        if len(body) != length:
            return None
        if ctype == b"IHDR":
            width, height, depth, colour, _comp, _filt, interlace = struct.unpack(">IIBBBBB", body)
            if colour != 0 or interlace != 0 or depth not in (8, 16):
                return None
        elif ctype == b"IDAT":
            idat.append(body)
        elif ctype == b"IEND":
            break
        pos += 12 + length
    if width is None or not idat:
        return None
    bpp = depth // 8
    stride = 1 + width * bpp
    try:  # the exact output size: no buffer regrowth, the GIL stays released while inflating
        raw = _inflate.decompress(b"".join(idat), 15, stride * height)
    except (zlib.error, _inflate.error):
        return None
    if len(raw) != stride * height:
        return None
    rows = np.frombuffer(raw, np.uint8).reshape(height, stride)
    if rows[:, 0].any():  # some rows use a predictive filter: let Pillow unfilter them
        return None
    if bpp == 1:
        return rows[:, 1:].copy()
    # big-endian samples after each row's filter byte: an unaligned strided view, one copy
    view = np.ndarray((height, width), dtype=">u2", buffer=raw, offset=1, strides=(stride, 2))
    if out is not None and out.shape == view.shape and out.dtype == np.uint16:
        np.copyto(out, view)
        return out
    return view.astype(np.uint16)


def _read_file(path: Path, out: np.ndarray | None = None) -> np.ndarray:
    suffix = path.suffix.lower()
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            return np.asarray(tifffile.imread(path))
        data = path.read_bytes()
        fast = _png_fast(data, out)
        if fast is not None:
            return fast
        import io

        from PIL import Image

        with Image.open(io.BytesIO(data)) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L"):
                return np.asarray(im).astype(np.uint16, copy=False)
            if im.mode in ("L", "I", "F", "P", "1"):
                return np.asarray(im)
            raise FormatError(f"{path}: a {im.mode} colour image is not raw sensor data; "
                              "EMVA 1288 frames are single-channel (mono or Bayer mosaic) 8-16-bit images")
    except FormatError:
        raise
    except FileNotFoundError:
        raise InputError(f"image file not found: {path}") from None
    except (OSError, ValueError, SyntaxError, struct.error) as e:  # Pillow/tifffile decode errors
        raise FormatError(f"cannot read image {path}: {e}; expected an 8-16-bit greyscale PNG or TIFF") from None


def read_frame(source, bits: int, shape: tuple[int, int] | None = None, out: np.ndarray | None = None) -> np.ndarray:
    """Read one frame as a 2-D ``uint16`` (or ``uint8``) array of DN and check it.

    Args:
        source: a path (PNG, TIFF, anything Pillow reads) or an array ``[H, W]``.
        bits: bit depth of the data; values must lie in 0 … 2^bits − 1.
        shape: expected ``(height, width)``.
        out: a ``uint16`` array the fast PNG path may decode into (reused scratch memory);
            the returned array is then ``out``.

    Raises:
        FormatError: unreadable file, colour image, non-integer or out-of-range data.
        InputError: missing file or wrong frame size.
    """
    name = None
    if isinstance(source, (str, os.PathLike)):
        name = Path(source)
        a = _read_file(name, out)
    else:
        a = np.asarray(source)
        if a.dtype.kind == "f":
            if not np.isfinite(a).all():
                raise FormatError("frame contains NaN or infinite values")
            if (a != np.round(a)).any() or a.min() < 0:
                raise FormatError("a frame must hold non-negative integer DN values (got fractional or negative floats)")
            a = a.astype(np.uint32)
    where = f"{name}: " if name else ""
    if name is not None and a.dtype == np.uint8 and int(bits) > 8:
        raise FormatError(f"{where}wrong bit depth: the file is 8-bit but the data set is {bits}-bit; "
                          "store frames of more than 8 bits as 16-bit PNG or TIFF")
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim != 2:
        raise FormatError(f"{where}expected a single-channel frame [H, W], got shape {a.shape}")
    if a.dtype.kind not in "ui":
        raise FormatError(f"{where}expected integer DN values, got dtype {a.dtype}")
    if shape is not None and a.shape != tuple(shape):
        raise InputError(f"{where}frame is {a.shape[1]} × {a.shape[0]} but the data set says "
                         f"{shape[1]} × {shape[0]} pixels")
    if a.dtype.kind == "i" and a.size and a.min() < 0:
        raise FormatError(f"{where}negative DN values")
    limit = (1 << int(bits)) - 1
    top = int(a.max()) if a.size else 0
    if top > limit:
        shift = 16 - int(bits)
        if a.dtype.itemsize == 2 and shift > 0 and not (a & ((1 << shift) - 1)).any():
            warnings.warn(f"{where}{bits}-bit data stored left-aligned in 16 bits; shifted right by {shift}",
                          Emva1288Warning, stacklevel=2)
            a = a >> shift
        else:
            raise FormatError(
                f"{where}wrong bit depth: values reach {top} DN but the data set is {bits}-bit "
                f"(maximum {limit} DN); check the 'n bits width height' line or the image format"
            )
    if a.dtype.itemsize > 2:
        a = a.astype(np.uint16)
    return a


__all__ = ["Emva1288Warning", "read_frame"]
