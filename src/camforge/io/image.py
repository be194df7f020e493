"""Read and write PNG / TIFF / JPEG images at their native bit depth.

:func:`read_image` returns values in DN of the file's own bit depth (0..255 for 8-bit,
0..65535 for 16-bit, the stored values for float TIFF): nothing is rescaled, so a 16-bit
capture keeps its 16 bits. TIFF goes through tifffile; PNG, JPEG and BMP through Pillow,
except 16-bit colour PNG, which Pillow reduces to 8 bits and pypng reads exactly.

Writers are atomic (temporary file + rename). Arrays are ``[H, W]`` or ``[H, W, C]``
(numpy layout); torch tensors are ``[C, H, W]`` or ``[1, C, H, W]`` (camforge layout)
and are transposed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from camforge.errors import DependencyError, FormatError, InputError
from camforge.io.atomic import atomic_path

_TIFF = (".tif", ".tiff")
_PIL = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pnm")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_header(path: Path) -> tuple[int, int] | None:
    """(bit depth, colour type) from a PNG's IHDR, or None if not a PNG."""
    with open(path, "rb") as f:
        head = f.read(33)
    if len(head) < 33 or not head.startswith(_PNG_SIGNATURE) or head[12:16] != b"IHDR":
        return None
    return head[24], head[25]


def _dpi_tiff(page) -> tuple[float, float] | None:
    tags = page.tags
    try:
        xr, yr = tags["XResolution"].value, tags["YResolution"].value
        unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2
    except KeyError:
        return None
    xr = xr[0] / xr[1] if isinstance(xr, tuple) else float(xr)
    yr = yr[0] / yr[1] if isinstance(yr, tuple) else float(yr)
    if unit == 2:  # inch
        return (xr, yr)
    if unit == 3:  # centimetre
        return (xr * 2.54, yr * 2.54)
    return None


def _read_tiff(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    import tifffile

    with tifffile.TiffFile(path) as tf:
        if not tf.pages:
            raise FormatError(f"cannot read {path}: TIFF has no image")
        page = tf.pages[0]
        a = page.asarray()
        info = {
            "bit_depth": int(page.bitspersample),
            "photometric": getattr(page.photometric, "name", str(page.photometric)),
            "dpi": _dpi_tiff(page),
            "pages": len(tf.pages),
        }
        planar_separate = int(page.planarconfig) == 2 and a.ndim == 3
        samples = int(page.samplesperpixel)
    if planar_separate:
        a = np.moveaxis(a, 0, -1)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim == 3 and a.shape[-1] == 4 and samples == 4:
        info["alpha_dropped"] = True
        a = a[..., :3]
    if a.ndim == 3 and a.shape[-1] == 2:  # grey + alpha
        info["alpha_dropped"] = True
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] != 3):
        raise FormatError(f"cannot read {path}: unsupported TIFF layout {a.shape} (expected grey or RGB)")
    if a.dtype.kind == "f":
        info["bit_depth"] = 8 * a.dtype.itemsize
    info["mode"] = ("F" if a.dtype.kind == "f" else f"{'RGB' if a.ndim == 3 else 'L'};{info['bit_depth']}")
    return a, info


def _read_png16(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        import png
    except ImportError:  # pragma: no cover
        raise DependencyError("reading 16-bit colour PNG needs pypng: pip install pypng") from None
    r = png.Reader(filename=str(path))
    w, h, rows, meta = r.asDirect()
    planes = int(meta["planes"])
    a = np.vstack([np.asarray(row, dtype=np.uint16) for row in rows]).reshape(h, w, planes)
    info: dict[str, Any] = {"bit_depth": int(meta["bitdepth"])}
    if meta.get("alpha"):
        info["alpha_dropped"] = True
        a = a[..., :-1]
    if a.shape[-1] == 1:
        a = a[..., 0]
    phys = meta.get("physical")
    if phys is not None and getattr(phys, "unit_is_meter", False):
        info["dpi"] = (phys.x * 0.0254, phys.y * 0.0254)
    else:
        info["dpi"] = None
    info["mode"] = f"{'RGB' if a.ndim == 3 else 'L'};{info['bit_depth']}"
    return a, info


def _read_pillow(path: Path) -> tuple[np.ndarray, dict[str, Any]]:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path) as im:
            im.load()
            mode = im.mode
            dpi = im.info.get("dpi")
            bits = 8
            if mode in ("I;16", "I;16B", "I;16L"):
                a, bits = np.asarray(im, dtype=np.uint16), 16
            elif mode == "I":
                a = np.asarray(im)
                bits = 16 if int(a.max(initial=0)) < 65536 else 32
            elif mode == "F":
                a, bits = np.asarray(im, dtype=np.float32), 32
            elif mode in ("L", "RGB"):
                a = np.asarray(im)
            elif mode in ("LA", "La"):
                a = np.asarray(im.convert("L"))
            elif mode == "1":
                a = np.asarray(im.convert("L"))
            else:  # P, RGBA, CMYK, YCbCr, ...
                a = np.asarray(im.convert("RGB"))
    except UnidentifiedImageError:
        raise FormatError(f"cannot read {path}: not an image format Pillow recognises (or corrupt)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise FormatError(f"cannot read {path}: {' '.join(str(e).split())}") from None
    info = {"bit_depth": bits, "mode": mode, "dpi": tuple(float(v) for v in dpi) if dpi else None}
    if "A" in mode or "a" in mode:
        info["alpha_dropped"] = True
    return a, info


def read_image(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """Read a PNG, TIFF, JPEG or BMP image without rescaling.

    Returns:
        ``(array, info)``: ``array`` is float32 ``[H, W, 3]`` (colour) or ``[H, W]`` (grey)
        in DN of the file's bit depth (alpha is dropped); ``info`` has ``bit_depth``,
        ``mode``, ``dpi`` (``(x, y)`` dots per inch or None), ``format`` and ``source``.

    Raises:
        FormatError: missing, unsupported or corrupt file.
    """
    path = Path(path)
    if path.is_dir():
        raise FormatError(f"cannot read {path}: it is a folder, not an image")
    if not path.is_file():
        raise FormatError(f"cannot read {path}: file not found")
    suffix = path.suffix.lower()
    try:
        if suffix in _TIFF:
            a, info = _read_tiff(path)
            fmt = "TIFF"
        else:
            hdr = _png_header(path)
            if hdr is not None and hdr[0] == 16 and hdr[1] in (2, 4, 6):  # 16-bit RGB, grey+alpha, RGBA
                a, info = _read_png16(path)
            else:
                a, info = _read_pillow(path)
            fmt = "PNG" if hdr is not None else suffix.lstrip(".").upper()
    except (FormatError, DependencyError):
        raise
    except Exception as e:  # tifffile / pypng raise many exception types on corrupt files
        raise FormatError(f"cannot read {path}: {type(e).__name__}: {' '.join(str(e).split())}") from None
    info["format"] = fmt
    info["source"] = str(path)
    return np.asarray(a, dtype=np.float32), info


# ----------------------------------------------------------------------------- writers
def _as_hwc(array) -> np.ndarray:
    if hasattr(array, "detach"):  # torch: [C, H, W] or [1, C, H, W]
        t = array.detach().cpu()
        if t.ndim == 4:
            if t.shape[0] != 1:
                raise InputError(f"write one image at a time, got a batch of {t.shape[0]}")
            t = t[0]
        a = t.numpy()
        if a.ndim == 3:
            a = np.moveaxis(a, 0, -1)
    else:
        a = np.asarray(array)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[-1] not in (3, 4)):
        raise InputError(f"image must be [H, W] or [H, W, 3] (numpy) / [3, H, W] (torch), got shape {a.shape}")
    if a.size == 0:
        raise InputError("image is empty")
    return a


def _to_uint(a: np.ndarray, bit_depth: int) -> np.ndarray:
    if a.dtype.kind not in "uif" and a.dtype != bool:
        raise InputError(f"cannot write an image of dtype {a.dtype}")
    out_dtype = np.uint8 if bit_depth == 8 else np.uint16
    top = 2**bit_depth - 1
    lo, hi = float(a.min()), float(a.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError("image contains NaN or infinite values")
    if lo < -0.5 or hi > top + 0.5:
        raise InputError(
            f"image values span {lo:g}..{hi:g} but a {bit_depth}-bit file holds 0..{top} DN; scale and clip first"
        )
    if a.dtype.kind in "ub":
        return a.astype(out_dtype, copy=False)
    if a.dtype.kind == "i":
        return a.astype(out_dtype)
    return np.clip(np.rint(a), 0, top).astype(out_dtype)


def write_png(path: str | Path, array, bit_depth: int = 8) -> Path:
    """Write an 8- or 16-bit PNG atomically.

    Args:
        array: ``[H, W]`` grey or ``[H, W, 3|4]`` colour (numpy), or a ``[C, H, W]`` tensor,
            in DN of ``bit_depth`` (0..255 or 0..65535); values are rounded, values out of
            range are an error (nothing is rescaled).
        bit_depth: 8 or 16.
    """
    if bit_depth not in (8, 16):
        raise InputError(f"PNG bit_depth must be 8 or 16, got {bit_depth!r}")
    x = _to_uint(_as_hwc(array), bit_depth)
    path = Path(path)
    with atomic_path(path) as tmp:
        if bit_depth == 16 and x.ndim == 3:
            import png

            h, w, c = x.shape
            writer = png.Writer(width=w, height=h, greyscale=False, alpha=c == 4, bitdepth=16)
            with open(tmp, "wb") as f:
                writer.write(f, x.reshape(h, w * c))
        else:
            from PIL import Image as PILImage

            PILImage.fromarray(x).save(tmp, format="PNG")  # uint16 [H, W] -> mode I;16
    return path


def write_tiff(path: str | Path, array, *, dpi: float | None = None) -> Path:
    """Write a TIFF atomically: integer arrays as 16-bit (values in 0..65535, rounded),
    float arrays as 32-bit float (values as they are). ``[H, W]`` or ``[H, W, 3|4]``."""
    a = _as_hwc(array)
    if a.dtype.kind == "f":
        if not np.isfinite(a).all():
            raise InputError("image contains NaN or infinite values")
        x = a.astype(np.float32)
    else:
        x = _to_uint(a, 16)
    import tifffile

    path = Path(path)
    kwargs: dict[str, Any] = {}
    if dpi:
        kwargs.update(resolution=(float(dpi), float(dpi)), resolutionunit="INCH")
    with atomic_path(path) as tmp:
        tifffile.imwrite(
            tmp, x, photometric="rgb" if x.ndim == 3 else "minisblack", metadata=None,
            extrasamples=("unassalpha",) if x.ndim == 3 and x.shape[-1] == 4 else None, **kwargs,
        )
    return path


__all__ = ["read_image", "write_png", "write_tiff"]
