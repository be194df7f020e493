"""Helpers shared by the metric modules: result base class, JSON conversion, image input,
regions of interest, colour planes of raw and RGB images, detrending."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from camforge.errors import InputError


def _json_safe(x: Any) -> Any:
    if isinstance(x, _Result):
        return x.to_dict()
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return _json_safe(x.tolist())
    if isinstance(x, np.generic):
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


class _Result:
    """Mixin for result dataclasses: ``to_dict()`` gives JSON-safe values (NaN → None)."""

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


def _tup(a) -> tuple | float:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return float(a)
    return tuple(_tup(x) for x in a) if a.ndim > 1 else tuple(float(x) for x in a)


def parse_roi(roi) -> tuple[int, int, int, int] | None:
    """``"x,y,w,h"`` or a 4-sequence → ``(x, y, w, h)`` integers [px] (``None`` passes through)."""
    if roi is None:
        return None
    if isinstance(roi, str):
        parts = [p for p in roi.replace(" ", "").split(",") if p]
        if len(parts) != 4:
            raise InputError(f"ROI must be 'x,y,w,h' (4 integers), got {roi!r}")
        try:
            roi = [float(p) for p in parts]
        except ValueError:
            raise InputError(f"ROI must be 'x,y,w,h' (4 integers), got {roi!r}") from None
    try:
        vals = [float(v) for v in roi]
    except (TypeError, ValueError):
        raise InputError(f"ROI must be (x, y, w, h), got {roi!r}") from None
    if len(vals) != 4 or not all(math.isfinite(v) for v in vals):
        raise InputError(f"ROI must be 4 finite numbers (x, y, w, h), got {roi!r}")
    x, y, w, h = (int(round(v)) for v in vals)
    if w < 1 or h < 1 or x < 0 or y < 0:
        raise InputError(f"ROI {(x, y, w, h)} needs x, y >= 0 and w, h >= 1")
    return x, y, w, h


def _check_roi_in(roi, height: int, width: int, what: str = "image") -> tuple[int, int, int, int]:
    x, y, w, h = parse_roi(roi)
    if x + w > width or y + h > height:
        raise InputError(f"ROI (x={x}, y={y}, w={w}, h={h}) extends past the {what} ({width} × {height} px)")
    return x, y, w, h


def _input(image):
    """:class:`camforge.metrics._image.MeasurementInput` of any supported input."""
    from camforge.metrics._image import as_input
    from camforge.types import Raw

    if isinstance(image, Raw) and image.batch != 1:
        raise InputError(f"measure one raw frame at a time, got a batch of {image.batch}")
    return as_input(image)


def as_hwc(image, channels: int | None = None, *, unit: bool = False) -> np.ndarray:
    """An image as float64 ``[H, W, C]``.

    ``unit=True`` divides integer-coded data by its white level (255 for 8-bit, 65535 for
    16-bit arrays, 2^bits − 1 for files read by the CLI) so values run 0–1; otherwise the
    image keeps its own units. ``channels=3`` requires RGB. A colour raw mosaic is refused
    (it must be demosaiced first).
    """
    mi = _input(image)
    if mi.is_mosaic:
        raise InputError("this measurement needs a demosaiced image, not a raw CFA mosaic; render it with the ISP first")
    a = mi.data
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[0] < 2 or a.shape[1] < 2:
        raise InputError(f"image is too small ({a.shape[1]} × {a.shape[0]} px)")
    if channels == 3 and a.shape[-1] != 3:
        raise InputError(f"this measurement needs an RGB image, got {a.shape[-1]} channel(s)")
    if unit and mi.meta is None and mi.white_level:
        a = a / float(mi.white_level)
    return a


@dataclass(frozen=True)
class Planes:
    """Image data split into measurement planes.

    ``data`` is ``[C, h, w]`` float64; plane ``k`` sample ``(i, j)`` sits at full-frame
    pixel ``(row0[k] + step * i, col0[k] + step * j)``. For a raw frame the planes are the
    CFA sites (black level subtracted), e.g. ``R, Gr, Gb, B``; for an image, its channels.
    """

    data: np.ndarray
    names: tuple[str, ...]
    row0: tuple[int, ...]
    col0: tuple[int, ...]
    step: int
    full_shape: tuple[int, int]
    white_level: float | None
    is_raw: bool


def _site_names(tile: np.ndarray) -> list[str]:
    letters = "RGB"
    names = []
    n = tile.shape[0]
    for i in range(n):
        for j in range(n):
            c = int(tile[i, j])
            if n == 2 and c == 1:
                row_has = {int(v) for v in tile[i]}
                names.append("Gr" if 0 in row_has else "Gb")
            elif n > 2:
                names.append(f"{letters[c]}{i}{j}")
            else:
                names.append(letters[c])
    return names


def image_planes(image, *, split_cfa: bool = True) -> Planes:
    """Split an input into :class:`Planes` (raw: per CFA site, black level subtracted)."""
    from camforge.cfa import cfa_tile

    mi = _input(image)
    if mi.meta is not None:
        frame = mi.data if mi.data.ndim == 2 else mi.data[..., 0]
        meta = mi.meta
        tile = cfa_tile(meta.cfa)
        bl = meta.black_level_tile()
        white = float(meta.white_level_dn)
        H, W = frame.shape
        if meta.cfa == "MONO" or not split_cfa:
            blk = meta.black_level_map(H, W).numpy().astype(np.float64)
            return Planes((frame - blk)[None], ("Y",), (0,), (0,), 1, (H, W), white - float(bl.max()), True)
        n = tile.shape[0]
        h, w = H // n, W // n
        if h < 2 or w < 2:
            raise InputError(f"raw frame {W} × {H} is too small for CFA {meta.cfa}")
        planes, r0, c0 = [], [], []
        for i in range(n):
            for j in range(n):
                planes.append(frame[i : h * n : n, j : w * n : n] - bl[i, j])
                r0.append(i)
                c0.append(j)
        return Planes(np.stack(planes), tuple(_site_names(tile)), tuple(r0), tuple(c0), n, (H, W),
                      white - float(bl.max()), True)
    a = mi.data if mi.data.ndim == 3 else mi.data[..., None]
    names = ("R", "G", "B") if a.shape[-1] == 3 else ("Y",)
    C = a.shape[-1]
    return Planes(np.moveaxis(a, -1, 0), names, (0,) * C, (0,) * C, 1, a.shape[:2], mi.white_level, False)


def _plane_roi(planes: Planes, roi) -> tuple[slice, slice]:
    """Slices of the plane grid covering a full-frame ROI (x, y, w, h)."""
    H, W = planes.full_shape
    x, y, w, h = _check_roi_in(roi, H, W)
    s = planes.step
    ys = slice(-(-y // s), (y + h) // s)
    xs = slice(-(-x // s), (x + w) // s)
    return ys, xs


def poly_design(h: int, w: int, order: int) -> np.ndarray:
    """Design matrix ``[h·w, n_terms]`` of a 2-D polynomial of total ``order`` on centred coordinates."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    xx = (xx - (w - 1) / 2) / max(w, 1)
    yy = (yy - (h - 1) / 2) / max(h, 1)
    cols = [xx.ravel() ** i * yy.ravel() ** j for i in range(order + 1) for j in range(order + 1 - i)]
    return np.stack(cols, axis=1)


def detrend(block: np.ndarray, order: int | None) -> tuple[np.ndarray, int]:
    """Residual of ``block`` after removing a least-squares 2-D polynomial of ``order``
    (``None``: the mean only is removed) and the number of fitted terms."""
    if order is None or order < 0:
        return block - block.mean(), 1
    if order <= 1:  # centred coordinates on a full grid are orthogonal: closed form
        h, w = block.shape
        res = block - block.mean()
        if order == 0:
            return res, 1
        yc = np.arange(h, dtype=np.float64) - (h - 1) / 2
        xc = np.arange(w, dtype=np.float64) - (w - 1) / 2
        sx, sy = float(np.sum(xc * xc)) * h, float(np.sum(yc * yc)) * w
        bx = float(np.sum(res.sum(axis=0) * xc)) / sx if sx > 0 else 0.0
        by = float(np.sum(res.sum(axis=1) * yc)) / sy if sy > 0 else 0.0
        return res - bx * xc[None, :] - by * yc[:, None], 3
    A = poly_design(block.shape[0], block.shape[1], int(order))
    coef, *_ = np.linalg.lstsq(A, block.ravel(), rcond=None)
    return (block.ravel() - A @ coef).reshape(block.shape), A.shape[1]
