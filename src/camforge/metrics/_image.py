"""Shared input handling for the image-quality metrics.

Every metric accepts the same kinds of input and turns them into a float64 numpy array
with the helpers here:

- numpy arrays ``(H, W)`` (grey or raw mosaic) and ``(H, W, C)`` (channels last);
- torch tensors ``[H, W]``, ``[C, H, W]`` or ``[B, C, H, W]`` (the first batch item);
- :class:`camforge.types.Image` (first batch item, channels moved last);
- :class:`camforge.types.Raw` (the first frame's mosaic ``(H, W)`` in DN, black level
  included, and its :class:`~camforge.types.RawMeta`).

Non-finite values raise :class:`~camforge.errors.InputError`. :func:`load_measurement_image`
reads a file for the CLI (images via :func:`camforge.io.read_image`, camera raws via
:func:`camforge.io.read_raw`, headerless dumps via :func:`camforge.io.read_headerless`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from camforge.errors import InputError
from camforge.types import Image, Raw, RawMeta

#: ITU-R BT.601 luma weights (used by sfrmat and most SFR tools).
LUMA_601 = (0.299, 0.587, 0.114)

_RAW_SUFFIXES = {".dng", ".nef", ".nrw", ".cr2", ".cr3", ".arw", ".srw", ".orf", ".rw2", ".raf", ".pef",
                 ".raw", ".bin", ".erf", ".kdc", ".dcr", ".mrw", ".3fr", ".iiq", ".x3f"}


@dataclass(frozen=True)
class MeasurementInput:
    """An image ready for measurement.

    Attributes:
        data: float64 ``(H, W)`` or ``(H, W, C)`` array [DN or the input's units].
        meta: raw metadata when the input is a raw mosaic (CFA, black/white level), else None.
        white_level: largest valid value (clip level) when known [same units as ``data``].
        source: file name or a short description.
    """

    data: np.ndarray
    meta: RawMeta | None = None
    white_level: float | None = None
    source: str = ""

    @property
    def is_mosaic(self) -> bool:
        """True for a colour-filter-array raw mosaic (not MONO)."""
        return self.meta is not None and self.meta.cfa != "MONO"


def _check_finite(a: np.ndarray, what: str) -> np.ndarray:
    if a.size == 0:
        raise InputError(f"{what} is empty (shape {a.shape})")
    if not np.isfinite(a).all():
        n = int((~np.isfinite(a)).sum())
        raise InputError(f"{what} has {n} non-finite value(s) (NaN or inf); replace or mask them before measuring")
    return a


def _numpy_layout(a: np.ndarray, what: str) -> np.ndarray:
    if a.ndim == 2:
        return a
    if a.ndim == 3:
        if a.shape[-1] in (1, 3, 4):
            out = a
        elif a.shape[0] in (1, 3, 4):  # channels first
            out = np.moveaxis(a, 0, -1)
        else:
            raise InputError(f"{what} must be (H, W) or (H, W, C) with C in 1, 3, 4; got shape {a.shape}")
        if out.shape[-1] == 4:  # drop alpha
            out = out[..., :3]
        return out[..., 0] if out.shape[-1] == 1 else out
    raise InputError(f"{what} must be 2-D (H, W) or 3-D (H, W, C); got shape {a.shape}")


def as_input(image: Any, *, what: str = "image") -> MeasurementInput:
    """Convert any supported image type to a :class:`MeasurementInput` (float64, finite).

    Raises:
        InputError: unsupported type or shape, empty or non-finite data.
    """
    if isinstance(image, MeasurementInput):
        return image
    if isinstance(image, Raw):
        a = image.numpy(0).astype(np.float64)
        return MeasurementInput(_check_finite(a, what), image.meta, float(image.meta.white_level_dn),
                                image.meta.source)
    if isinstance(image, Image):
        t = np.moveaxis(image.data[0].detach().cpu().double().numpy(), 0, -1)  # [C, H, W] → (H, W, C)
        return MeasurementInput(_check_finite(_numpy_layout(t, what), what), None, None, "Image")
    try:
        import torch

        if isinstance(image, torch.Tensor):
            t = image.detach().cpu()
            if t.ndim == 4:
                t = t[0]
            if t.ndim not in (2, 3):
                raise InputError(f"{what} tensor must be [H, W], [C, H, W] or [B, C, H, W]; got {tuple(image.shape)}")
            a = t.double().numpy()
            if a.ndim == 3:
                a = np.moveaxis(a, 0, -1)
            return MeasurementInput(_check_finite(_numpy_layout(a, what), what), None, None, "tensor")
    except ImportError:  # pragma: no cover - torch is a hard dependency
        pass
    if isinstance(image, (str, Path)):
        raise InputError(f"{what} is a path; read it first with camforge.metrics._image.load_measurement_image")
    try:
        a = np.asarray(image)
    except Exception:  # noqa: BLE001 - anything numpy cannot convert
        raise InputError(f"{what} must be a numpy array, torch tensor, camforge Image or Raw; got "
                         f"{type(image).__name__}") from None
    if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == bool):
        raise InputError(f"{what} must hold numbers; got dtype {a.dtype}")
    white = float(np.iinfo(a.dtype).max) if np.issubdtype(a.dtype, np.integer) else None
    a = _numpy_layout(a.astype(np.float64), what)
    return MeasurementInput(_check_finite(a, what), None, white, "array")


def as_array(image: Any, *, what: str = "image") -> np.ndarray:
    """``image`` as a float64 ``(H, W)`` or ``(H, W, C)`` numpy array (a raw gives its mosaic)."""
    return as_input(image, what=what).data


def luminance(rgb: np.ndarray, weights=LUMA_601) -> np.ndarray:
    """Weighted sum of the channels of an ``(H, W, C)`` array; a 2-D array is returned unchanged.

    ``weights`` default to ITU-R BT.601 (0.299, 0.587, 0.114), as sfrmat and ISO 12233 tools use.
    """
    a = np.asarray(rgb, dtype=np.float64)
    if a.ndim == 2:
        return a
    w = np.asarray(weights, dtype=np.float64).ravel()
    if w.size != a.shape[-1]:
        raise InputError(f"need {a.shape[-1]} luminance weights for a {a.shape[-1]}-channel image, got {w.size}")
    return a @ w


def load_measurement_image(
    path: str | Path,
    *,
    width: int | None = None,
    height: int | None = None,
    bit_depth: int | None = None,
    cfa: str | None = None,
    black_level=None,
    white_level: float | None = None,
    byte_order: str = "little",
) -> MeasurementInput:
    """Read an image or raw file for measurement.

    With ``width`` and ``height`` the file is a headerless raw dump (``bit_depth``
    defaults to 16, ``cfa`` to RGGB). Camera raw files (DNG, NEF, CR2, ...) and
    ``.raw`` + YAML sidecar are read with :func:`camforge.io.read_raw`; anything else as an
    image (PNG, TIFF, JPEG) at its native bit depth with :func:`camforge.io.read_image`.

    Raises:
        FormatError / InputError: unreadable file or inconsistent raw geometry.
    """
    from camforge import io

    path = Path(path)
    if width is not None or height is not None:
        if width is None or height is None:
            raise InputError("a headerless raw needs both --width and --height")
        raw = io.read_headerless(path, int(width), int(height), int(bit_depth or 16), cfa or "RGGB",
                                 byte_order=byte_order, black_level=black_level, white_level=white_level)
        return as_input(raw, what=str(path))
    if path.suffix.lower() in _RAW_SUFFIXES:
        return as_input(io.read_raw(path), what=str(path))
    a, info = io.read_image(path)
    bits = info.get("bit_depth")
    white = white_level if white_level is not None else (float(2 ** int(bits) - 1) if bits else None)
    arr = _numpy_layout(np.asarray(a, dtype=np.float64), str(path))
    if cfa is not None:  # an image file holding a raw mosaic (e.g. a 16-bit TIFF dump)
        meta = RawMeta(cfa=cfa, black_level_dn=black_level or 0.0, white_level_dn=white or 65535.0,
                       bit_depth=int(bits or 16), source=str(path))
        return MeasurementInput(_check_finite(arr, str(path)), meta, white, str(path))
    return MeasurementInput(_check_finite(arr, str(path)), None, white, str(path))


__all__ = ["LUMA_601", "MeasurementInput", "as_input", "as_array", "luminance", "load_measurement_image"]
