"""Shading (uniformity) from a flat-field capture: luma and colour shading.

Definitions (in the spirit of ISO 17957:2015 "Shading measurements" and the CPIQ / Imatest
uniformity reports):

* the frame is split into a ``grid`` of equal blocks; each block's mean per channel gives
  the channel maps (raw frames: per CFA site, black level subtracted);
* every channel map is divided by its value in the centre ROI (a box of ``roi_fraction``
  of the width and height around the centre), so the centre is 1 (this is also a
  white balance at the centre);
* luma shading: the luma map is the weighted mean of the normalised channel maps (ITU-R
  BT.709 weights R 0.2126, G 0.7152, B 0.0722; raw green sites share the G weight);
  ``corner_pct`` is 100 × mean of each corner ROI (same size as the centre ROI, in the
  image corners) / centre; ``luma_min_pct``/``luma_max_pct`` are the extremes of the block map;
* colour shading: R/G and B/G maps (normalised at the centre); ``color_deviation_max_pct``
  is 100 × max |ratio − 1| over the blocks.

Inputs must be linear (raw, or a linear image); an sRGB-encoded image is decoded first
with ``color_space="srgb"``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _check_roi_in, _Result, _tup, image_planes

_LUMA_709 = {"R": 0.2126, "G": 0.7152, "B": 0.0722}
_CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")


@dataclass(frozen=True)
class ShadingResult(_Result):
    """Flat-field shading (see module notes). Maps are ``grid`` rows × columns, 1 = centre.

    Attributes:
        channels: channel / CFA-site names.
        grid: (rows, columns) of the block maps.
        block_centers_px: ((x of each column), (y of each row)) [full-frame px].
        luma_map: relative luma per block.
        corner_pct: luma corner / centre × 100 for (top-left, top-right, bottom-left, bottom-right).
        corner_min_pct, corner_mean_pct: summary of the four.
        luma_min_pct, luma_max_pct: extremes of ``luma_map`` × 100.
        channel_corner_pct: per channel, the four corner / centre values × 100.
        color_maps: ``{"R/G": map, "B/G": map}`` normalised at the centre (colour input only).
        color_deviation_max_pct: ``{"R/G": ..., "B/G": ...}`` = 100 × max |ratio − 1|.
        center_mean: centre ROI mean per channel [input units, DN for raw].
        roi_fraction: size of the centre and corner ROIs (fraction of width and height).
    """

    channels: tuple[str, ...]
    grid: tuple[int, int]
    block_centers_px: tuple[tuple[float, ...], tuple[float, ...]]
    luma_map: tuple[tuple[float, ...], ...]
    corner_pct: tuple[float, float, float, float]
    corner_min_pct: float
    corner_mean_pct: float
    luma_min_pct: float
    luma_max_pct: float
    channel_corner_pct: dict[str, tuple[float, float, float, float]]
    color_maps: dict[str, tuple[tuple[float, ...], ...]]
    color_deviation_max_pct: dict[str, float]
    center_mean: dict[str, float]
    roi_fraction: float


def _boxes(h: int, w: int, frac: float):
    """Centre and corner boxes (y0, y1, x0, x1) on an h × w plane."""
    bh, bw = max(2, int(round(h * frac))), max(2, int(round(w * frac)))
    cy, cx = (h - bh) // 2, (w - bw) // 2
    centre = (cy, cy + bh, cx, cx + bw)
    corners = ((0, bh, 0, bw), (0, bh, w - bw, w), (h - bh, h, 0, bw), (h - bh, h, w - bw, w))
    return centre, corners


def _block_means(p: np.ndarray, ny: int, nx: int) -> np.ndarray:
    h, w = p.shape
    ye = np.linspace(0, h, ny + 1).round().astype(int)
    xe = np.linspace(0, w, nx + 1).round().astype(int)
    out = np.empty((ny, nx))
    for i in range(ny):
        for j in range(nx):
            out[i, j] = p[ye[i] : ye[i + 1], xe[j] : xe[j + 1]].mean()
    return out


def measure_shading(
    image,
    *,
    grid: tuple[int, int] | None = None,
    roi_fraction: float = 0.1,
    roi=None,
    color_space: str = "linear",
) -> ShadingResult:
    """Luma and colour shading of a flat-field capture.

    Args:
        image: raw frame (per CFA site, black level subtracted) or a linear image.
        grid: (rows, columns) of the block maps (default 16 columns, rows to keep blocks square).
        roi_fraction: centre/corner ROI size as a fraction of width and height (default 10 %).
        roi: ``(x, y, w, h)`` to analyse only part of the frame (default: all).
        color_space: ``"linear"`` or ``"srgb"`` (decoded to linear first).

    Raises:
        MeasurementError: the centre is black, the frame is clipped, or it is too small.
    """
    if not 0.01 <= roi_fraction <= 0.5:
        raise InputError("roi_fraction must be in [0.01, 0.5]")
    planes = image_planes(image)
    data = planes.data
    if color_space == "srgb":
        if planes.is_raw:
            raise InputError("a raw frame is linear; color_space='srgb' applies to encoded images only")
        from camforge.metrics.color import srgb_decode

        scale = planes.white_level or 1.0
        data = srgb_decode(np.clip(data / scale, 0, 1))
    elif color_space != "linear":
        raise InputError(f"color_space must be 'linear' or 'srgb', got {color_space!r}")
    H, W = planes.full_shape
    x0 = y0 = 0
    if roi is not None:
        x, y, w, h = _check_roi_in(roi, H, W)
        s = planes.step
        data = data[:, -(-y // s) : (y + h) // s, -(-x // s) : (x + w) // s]
        x0, y0 = x, y
    C, h, w = data.shape
    if h < 8 or w < 8:
        raise MeasurementError(f"flat field too small for a shading map ({w} × {h} samples per channel)")
    if planes.white_level is not None:
        clipped = float(np.mean(data >= (planes.white_level - 0.5)))
        if clipped > 0.01:
            raise MeasurementError(f"{100 * clipped:.1f} % of the flat field is clipped; lower the exposure")
    if grid is None:
        nx = 16
        ny = max(2, int(round(nx * h / w)))
    else:
        ny, nx = (int(v) for v in grid)
        if ny < 2 or nx < 2 or ny > h or nx > w:
            raise InputError(f"grid must be at least 2 × 2 and at most the sample count, got {grid}")
    centre, corners = _boxes(h, w, roi_fraction)

    def box_mean(p, b):
        return float(p[b[0] : b[1], b[2] : b[3]].mean())

    names = planes.names
    centre_mean = {n: box_mean(data[k], centre) for k, n in enumerate(names)}
    for n, v in centre_mean.items():
        if not v > 0:
            raise MeasurementError(f"the centre of channel {n} is black (mean {v:.3g}); is this a flat field?")
    norm = {n: data[k] / centre_mean[n] for k, n in enumerate(names)}
    maps = {n: _block_means(norm[n], ny, nx) for n in names}
    colour_of = {n: n[0] if n[0] in "RGB" else "Y" for n in names}
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(colour_of[n], []).append(n)
    wsum = sum(_LUMA_709.get(c, 1.0) for c in groups)
    luma_full = sum(_LUMA_709.get(c, 1.0) * np.mean([norm[n] for n in ns], axis=0) for c, ns in groups.items()) / wsum
    luma_map = sum(_LUMA_709.get(c, 1.0) * np.mean([maps[n] for n in ns], axis=0) for c, ns in groups.items()) / wsum
    corner_pct = tuple(100 * box_mean(luma_full, b) / box_mean(luma_full, centre) for b in corners)
    channel_corner = {n: tuple(100 * box_mean(norm[n], b) for b in corners) for n in names}
    color_maps, color_dev = {}, {}
    if {"R", "G", "B"} <= set(groups):
        cm = {c: np.mean([maps[n] for n in groups[c]], axis=0) for c in "RGB"}
        for num in ("R", "B"):
            ratio = cm[num] / cm["G"]
            color_maps[f"{num}/G"] = _tup(ratio)
            color_dev[f"{num}/G"] = float(100 * np.max(np.abs(ratio - 1)))
    s = planes.step
    ye = np.linspace(0, h, ny + 1)
    xe = np.linspace(0, w, nx + 1)
    bx = tuple(float(x0 + s * (xe[j] + xe[j + 1]) / 2 - 0.5 + (s - 1) / 2) for j in range(nx))
    by = tuple(float(y0 + s * (ye[i] + ye[i + 1]) / 2 - 0.5 + (s - 1) / 2) for i in range(ny))
    return ShadingResult(
        channels=names,
        grid=(ny, nx),
        block_centers_px=(bx, by),
        luma_map=_tup(luma_map),
        corner_pct=corner_pct,
        corner_min_pct=float(min(corner_pct)),
        corner_mean_pct=float(np.mean(corner_pct)),
        luma_min_pct=float(100 * luma_map.min()),
        luma_max_pct=float(100 * luma_map.max()),
        channel_corner_pct=channel_corner,
        color_maps=color_maps,
        color_deviation_max_pct=color_dev,
        center_mean=centre_mean,
        roi_fraction=float(roi_fraction),
    )


def corner_boxes_px(height: int, width: int, roi_fraction: float = 0.1) -> dict[str, tuple[int, int, int, int]]:
    """The centre and corner ROIs :func:`measure_shading` uses on a ``height × width`` frame
    of an RGB image, as ``(x, y, w, h)`` (for raw frames they are the same on each CFA site plane)."""
    centre, corners = _boxes(height, width, roi_fraction)
    out = {"center": (centre[2], centre[0], centre[3] - centre[2], centre[1] - centre[0])}
    for name, b in zip(_CORNERS, corners):
        out[name] = (b[2], b[0], b[3] - b[2], b[1] - b[0])
    return out


__all__ = ["ShadingResult", "corner_boxes_px", "measure_shading"]
