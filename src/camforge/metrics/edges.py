"""Automatic slanted-edge finding and measurement on a whole chart image (MTF Mapper style).

:func:`find_edges` locates every usable straight edge of the dark shapes (tilted squares,
bars) on a light ground; :func:`measure_edges` measures each with :func:`camforge.metrics.sfr.sfr`
and reports where it is in the field and whether it resolves the sagittal or the
meridional MTF.

Method (after F. van den Bergh's MTF Mapper):

1. A *finding image*: luminance (RGB), the plane itself (grey) or the mean of each 2×2 CFA
   tile (raw mosaic), block-averaged down to at most ~1000 px on its long side.
2. *Illumination-normalised threshold*: the light ground level is estimated with a large
   maximum filter on a coarse copy (so vignetting and uneven lighting do not matter), the
   image is divided by it and thresholded with Otsu's method (scikit-image); dark
   connected components are labelled (:func:`skimage.measure.label`).
3. *Shapes*: each component (holes filled, not touching the image border, not too small or
   large) is outlined (:func:`skimage.measure.find_contours`) and its outline simplified to a
   polygon (:func:`skimage.measure.approximate_polygon`).
4. *Edges*: every polygon side long enough and tilted 2–44° from the pixel axes, but not
   within ±1° of 26.57° (slope ½) or of 45°, gives a candidate. Its ROI is an
   axis-aligned box around the middle 70 % of the side that holds the edge plus a margin
   of dark and light on both sides.
5. *Measurement*: :func:`~camforge.metrics.sfr.sfr` on the full-resolution data (every CFA
   colour on its own sub-grid for a raw mosaic); candidates it rejects are listed with the
   reason.

Conventions: positions in pixels of the input image (x = column, y = row); the field
position is the distance of the edge centre from the image centre divided by the half
diagonal. An edge whose normal is within 45° of the radius (the line from the image centre)
is blurred by the PSF's extent along the radius and so measures the **meridional**
(tangential) MTF; otherwise the **sagittal** MTF. Within 0.1 field of the centre, where the
two coincide, vertical edges are called meridional and horizontal ones sagittal (the
simulator's convention, :func:`camforge.scene.slanted_edge`).

References:
    F. van den Bergh, MTF Mapper, https://sourceforge.net/projects/mtfmapper (BSD).
    ISO 12233:2023, Annex D (e-SFR) and Annex C (chart layouts).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._image import LUMA_601, MeasurementInput, as_input, luminance
from camforge.metrics.sfr import SFRResult, sfr

FIND_MAX_SIZE_PX = 1000  # long side of the finding image
ON_AXIS_FIELD = 0.1  # below this field, orientation follows the vertical/horizontal convention
_FORBIDDEN_ANGLES_DEG = (26.565, 45.0)


@dataclass(frozen=True)
class EdgeROI:
    """A candidate slanted edge found on the chart.

    Attributes:
        roi: ``(x, y, w, h)`` box to measure it in [px].
        center_xy_px: middle of the edge side [px].
        angle_deg: tilt of the edge line from the nearest pixel axis, unsigned [deg].
        direction: ``"vertical"`` or ``"horizontal"`` (the edge line).
        length_px: length of the polygon side [px].
        normal_xy: unit normal from the dark shape to the light ground.
        field: distance from the image centre / half diagonal [–].
        orientation: ``"meridional"`` or ``"sagittal"``.
        shape_id: index of the dark shape the edge belongs to.
    """

    roi: tuple[int, int, int, int]
    center_xy_px: tuple[float, float]
    angle_deg: float
    direction: str
    length_px: float
    normal_xy: tuple[float, float]
    field: float
    orientation: str
    shape_id: int

    def to_dict(self) -> dict[str, Any]:
        return {"roi": list(self.roi), "center_xy_px": list(self.center_xy_px), "angle_deg": self.angle_deg,
                "direction": self.direction, "length_px": self.length_px, "normal_xy": list(self.normal_xy),
                "field": self.field, "orientation": self.orientation, "shape_id": self.shape_id}


@dataclass(frozen=True)
class EdgeMeasurement:
    """One measured edge: where it is, how it is oriented, and its SFR.

    ``center_xy_px``, ``angle_deg``, ``field`` and ``orientation`` come from the SFR edge fit
    (more precise than the finder's polygon); ``sfr`` holds the full result.
    """

    edge: EdgeROI
    center_xy_px: tuple[float, float]
    angle_deg: float
    direction: str
    field: float
    orientation: str
    mtf50_cy_per_px: float
    sfr: SFRResult

    def to_dict(self, *, curves: bool = True) -> dict[str, Any]:
        d = self.sfr.to_dict(curves=curves)
        d.update({"center_xy_px": [float(v) for v in self.center_xy_px], "tilt_from_axis_deg": self.angle_deg,
                  "direction": self.direction, "field": self.field, "orientation": self.orientation,
                  "shape_id": self.edge.shape_id})
        return d


@dataclass(frozen=True)
class EdgesResult:
    """All edges measured on a chart (:func:`measure_edges`).

    Attributes:
        edges: measured edges, sorted by field position then angle.
        rejected: ``(candidate, reason)`` for candidates the SFR could not measure.
        image_size: ``(width, height)`` [px].
    """

    edges: tuple[EdgeMeasurement, ...]
    rejected: tuple[tuple[EdgeROI, str], ...]
    image_size: tuple[int, int]

    def __len__(self) -> int:
        return len(self.edges)

    def to_dict(self, *, curves: bool = False) -> dict[str, Any]:
        return {
            "image_size": list(self.image_size),
            "edges": [e.to_dict(curves=curves) for e in self.edges],
            "rejected": [{"candidate": c.to_dict(), "reason": r} for c, r in self.rejected],
        }


# ----------------------------------------------------------------------------- helpers
def _block_mean(a: np.ndarray, f: int) -> np.ndarray:
    if f <= 1:
        return a
    h, w = (a.shape[0] // f) * f, (a.shape[1] // f) * f
    return a[:h, :w].reshape(h // f, f, w // f, f).mean(axis=(1, 3))


def _finding_image(inp: MeasurementInput, weights) -> tuple[np.ndarray, int]:
    """Grey finding image and its scale (input pixels per finding pixel)."""
    a = inp.data
    scale = 1
    if inp.is_mosaic:
        from camforge.cfa import cfa_tile

        n = cfa_tile(inp.meta.cfa).shape[0]
        a = _block_mean(a, n)
        scale = n
    elif a.ndim == 3:
        a = luminance(a, weights)
    f = max(1, math.ceil(max(a.shape) / FIND_MAX_SIZE_PX))
    return _block_mean(a, f), scale * f


def _light_level(g: np.ndarray) -> np.ndarray:
    """Light-ground level everywhere: max filter over ~1/4 of the image on a coarse copy, smoothed."""
    from scipy import ndimage

    f = max(1, min(g.shape) // 64)
    c = _block_mean(g, f)
    size = max(3, int(max(c.shape) // 4) | 1)
    bg = ndimage.maximum_filter(c, size=size, mode="nearest")
    bg = ndimage.gaussian_filter(bg, size / 4, mode="nearest")
    zoom = (g.shape[0] / bg.shape[0], g.shape[1] / bg.shape[1])
    return np.maximum(ndimage.zoom(bg, zoom, order=1, mode="nearest", grid_mode=True)[: g.shape[0], : g.shape[1]],
                      1e-12)


def _usable_angle(tilt_deg: float, min_deg: float, max_deg: float) -> bool:
    if not min_deg <= tilt_deg <= max_deg:
        return False
    return all(abs(tilt_deg - a) > 1.0 for a in _FORBIDDEN_ANGLES_DEG)


def _orientation(center, normal, width: int, height: int, direction: str) -> tuple[float, str]:
    cx, cy = (width - 1) / 2, (height - 1) / 2
    rx, ry = center[0] - cx, center[1] - cy
    r = math.hypot(rx, ry)
    field = r / (math.hypot(width, height) / 2)
    if field < ON_AXIS_FIELD:
        return field, "meridional" if direction == "vertical" else "sagittal"
    cosang = abs(normal[0] * rx + normal[1] * ry) / r
    return field, "meridional" if cosang >= math.sqrt(0.5) else "sagittal"


def _edge_roi(p0, p1, width: int, height: int, margin_px: float) -> tuple[int, int, int, int] | None:
    """Axis-aligned box around the middle 70 % of side p0→p1 (full-resolution (x, y))."""
    (x0, y0), (x1, y1) = p0, p1
    dx, dy = x1 - x0, y1 - y0
    length = math.hypot(dx, dy)
    mx, my = (x0 + x1) / 2, (y0 + y1) / 2
    vertical = abs(dy) >= abs(dx)
    along = 0.7 * length
    if vertical:
        h = along * abs(dy) / length
        w = h * abs(dx) / max(abs(dy), 1e-9) + 2 * margin_px
    else:
        w = along * abs(dx) / length
        h = w * abs(dy) / max(abs(dx), 1e-9) + 2 * margin_px
    xa, ya = int(round(mx - w / 2)), int(round(my - h / 2))
    xb, yb = int(round(mx + w / 2)), int(round(my + h / 2))
    xa, ya, xb, yb = max(0, xa), max(0, ya), min(width, xb), min(height, yb)
    if xb - xa < 12 or yb - ya < 12:
        return None
    return (xa, ya, xb - xa, yb - ya)


def _same_edge(a: EdgeROI, b: EdgeROI) -> bool:
    """Two candidates describe the same physical edge, found at two threshold levels: the same
    direction, normals within 5°, and centres within a quarter of the side length — or
    same-facing normals within 10° (noise bends a short side), centres within a quarter of the
    length across the edge and overlapping along it (a small, dark shape shrinks at a lower
    level, moving its sides' centres along them).
    Collinear sides of two different squares lie farther apart along the line than half their
    summed lengths; facing sides of neighbours have opposite normals."""
    if a.direction != b.direction:
        return False
    dot = a.normal_xy[0] * b.normal_xy[0] + a.normal_xy[1] * b.normal_xy[1]
    dx, dy = b.center_xy_px[0] - a.center_xy_px[0], b.center_xy_px[1] - a.center_xy_px[1]
    size = max(a.length_px, b.length_px)
    if abs(dot) > math.cos(math.radians(5)) and math.hypot(dx, dy) < 0.25 * size:
        return True
    across = abs(dx * a.normal_xy[0] + dy * a.normal_xy[1])
    along = abs(-dx * a.normal_xy[1] + dy * a.normal_xy[0])
    return dot > math.cos(math.radians(10)) and across < 0.25 * size and along < 0.5 * (a.length_px + b.length_px)


def _merge_straight(poly: np.ndarray, max_turn_deg: float = 12.0) -> np.ndarray:
    """Drop polygon vertices where the outline turns by less than ``max_turn_deg``: noise on a
    small, dark shape's contour splits one straight side into two nearly collinear ones (each
    shorter and tilted), which would give a bent or duplicate edge. ``poly`` is closed."""
    pts = [p for p in poly[:-1]]
    changed = True
    while changed and len(pts) > 3:
        changed = False
        for i in range(len(pts)):
            a, b, c = pts[i - 1], pts[i], pts[(i + 1) % len(pts)]
            u, v = b - a, c - b
            nu, nv = float(np.hypot(*u)), float(np.hypot(*v))
            if nu == 0 or nv == 0 or float(np.dot(u, v)) / (nu * nv) > math.cos(math.radians(max_turn_deg)):
                del pts[i]
                changed = True
                break
    return np.array(pts + [pts[0]])


def _shape_edges(mask, y0: int, x0: int, scale: int, tile: int, W: int, H: int, min_length_px: float,
                 min_angle_deg: float, max_angle_deg: float, margin_px, shape_id: int,
                 offset: tuple[int, int] = (0, 0)) -> list[EdgeROI]:
    """Usable straight sides of one dark shape (``mask`` is its filled bounding-box crop)."""
    from skimage import measure

    contours = measure.find_contours(np.pad(mask, 1).astype(np.float64), 0.5)
    if not contours:
        return []
    contour = max(contours, key=len)
    perim = float(np.sum(np.hypot(*np.diff(contour, axis=0).T)))
    poly = _merge_straight(measure.approximate_polygon(contour, tolerance=max(1.0, 0.01 * perim)))
    if len(poly) < 4:
        return []
    # polygon vertices (row, col) in the padded crop → input-image (x, y)
    ox, oy = offset
    pts = np.stack([(poly[:, 1] - 1 + x0 + 0.5) * scale - 0.5 + ox,
                    (poly[:, 0] - 1 + y0 + 0.5) * scale - 0.5 + oy], axis=1)
    yy, xx = np.nonzero(mask)
    centroid = np.array([(xx.mean() + x0 + 0.5) * scale - 0.5 + ox, (yy.mean() + y0 + 0.5) * scale - 0.5 + oy])
    out = []
    for k in range(len(pts) - 1):
        p0, p1 = pts[k], pts[k + 1]
        d = p1 - p0
        length = float(np.hypot(*d))
        if length < min_length_px:
            continue
        vertical = abs(d[1]) >= abs(d[0])
        tilt = math.degrees(math.atan2(abs(d[0]), abs(d[1]))) if vertical else \
            math.degrees(math.atan2(abs(d[1]), abs(d[0])))
        if not _usable_angle(tilt, min_angle_deg, max_angle_deg):
            continue
        nrm = np.array([d[1], -d[0]]) / length
        mid = (p0 + p1) / 2
        if np.dot(nrm, mid - centroid) < 0:
            nrm = -nrm  # point away from the dark shape
        m = margin_px if margin_px is not None else float(np.clip(0.15 * length, 12 * tile, 48 * tile))
        roi = _edge_roi(p0, p1, W, H, m)
        if roi is None:
            continue
        direction = "vertical" if vertical else "horizontal"
        field, orient = _orientation(mid, nrm, W, H, direction)
        out.append(EdgeROI(roi=roi, center_xy_px=(float(mid[0]), float(mid[1])), angle_deg=tilt,
                           direction=direction, length_px=length, normal_xy=(float(nrm[0]), float(nrm[1])),
                           field=field, orientation=orient, shape_id=shape_id))
    return out


def find_edges(
    image,
    *,
    cfa: str | None = None,
    weights=LUMA_601,
    min_length_px: float = 40.0,
    min_angle_deg: float = 2.0,
    max_angle_deg: float = 44.0,
    margin_px: float | None = None,
    region: tuple[int, int, int, int] | None = None,
) -> list[EdgeROI]:
    """Find the usable slanted edges of dark shapes on a light ground.

    Args:
        image: chart image or raw mosaic (any type :func:`camforge.metrics._image.as_input` takes).
        cfa: CFA pattern when ``image`` is a mosaic given as a plain array.
        weights: luminance weights for RGB.
        min_length_px: shortest polygon side to use [input px].
        min_angle_deg, max_angle_deg: usable tilt from the pixel axes [deg]; edges within
            ±1° of 26.57° and 45° are skipped too (too few sub-pixel phases).
        margin_px: dark/light margin on each side of the edge in the ROI [input px];
            default ``clip(0.15 × side length, 12, 48)`` (× 2 on a mosaic).
        region: search only inside ``(x, y, w, h)`` [px]; positions and field stay in
            whole-image coordinates.

    Returns:
        Candidates sorted by field position, each with its ROI (not yet validated by the SFR).

    Raises:
        InputError: unusable image (wrong shape, NaN, ...).
    """
    from scipy import ndimage
    from skimage import filters

    inp = as_input(image)
    if cfa is not None and not inp.is_mosaic:
        from camforge.types import RawMeta

        inp = MeasurementInput(inp.data, RawMeta(cfa=cfa), inp.white_level, inp.source)
    H, W = inp.data.shape[:2]
    offset = (0, 0)
    search = inp
    if region is not None:
        from camforge.metrics.sfr import _parse_roi

        rx, ry, rw, rh = _parse_roi(region, H, W)
        offset = (rx, ry)
        search = MeasurementInput(inp.data[ry:ry + rh, rx:rx + rw], inp.meta, inp.white_level, inp.source)
    sh, sw = search.data.shape[:2]
    if sh < 32 or sw < 32:
        raise InputError(f"search area is {sw}x{sh} px: too small to search for edges (need at least 32x32)")
    g, scale = _finding_image(search, weights)
    tile = 2 if inp.is_mosaic else 1
    light = _light_level(g)
    norm = g / light
    valid = light > 0.05 * float(np.percentile(g, 99.5))  # not in the black vignetted corners
    if not valid.any() or float(np.ptp(norm[valid])) < 1e-3:
        return []  # uniform: nothing to find
    vals = norm[valid]
    thresholds = {float(filters.threshold_otsu(vals))}
    try:
        thresholds.update(float(t) for t in filters.threshold_multiotsu(vals, classes=4, nbins=128))
    except ValueError:  # too few distinct levels for 4 classes: Otsu alone
        pass
    gh, gw = g.shape
    min_side = min_length_px / scale
    out: list[EdgeROI] = []
    shape_id = 0
    for thr in sorted(thresholds):
        labels, _ = ndimage.label((norm < thr) & valid)
        for i, sl in enumerate(ndimage.find_objects(labels), start=1):
            if sl is None:
                continue
            ys, xs = sl
            if ys.start == 0 or xs.start == 0 or ys.stop == gh or xs.stop == gw:
                continue  # touches the border: not a closed shape
            bh, bw = ys.stop - ys.start, xs.stop - xs.start
            if max(bh, bw) < min_side or bh * bw > 0.25 * gh * gw:
                continue
            mask = ndimage.binary_fill_holes(labels[sl] == i)
            if mask.sum() < 0.25 * min_side**2:
                continue
            shape_id += 1
            for e in _shape_edges(mask, ys.start, xs.start, scale, tile, W, H, min_length_px, min_angle_deg,
                                  max_angle_deg, margin_px, shape_id, offset):
                if not any(_same_edge(e, o) for o in out):
                    out.append(e)
    out.sort(key=lambda e: (round(e.field, 3), e.center_xy_px[1], e.center_xy_px[0]))
    return out


def measure_edges(
    image,
    *,
    cfa: str | None = None,
    channel: str | int = "luminance",
    weights=LUMA_601,
    npol: int = 5,
    bootstrap: int = 0,
    min_length_px: float = 40.0,
    min_angle_deg: float = 2.0,
    max_angle_deg: float = 44.0,
    region: tuple[int, int, int, int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    **sfr_kwargs,
) -> EdgesResult:
    """Find every usable slanted edge (:func:`find_edges`) and measure its SFR (:func:`sfr`).

    Args:
        image, cfa, weights, min_length_px, min_angle_deg, max_angle_deg, region: as :func:`find_edges`.
        channel, npol, bootstrap, **sfr_kwargs: passed to :func:`~camforge.metrics.sfr.sfr`
            (bootstrap off by default for speed).
        progress: called as ``progress(done, total)`` after each edge.

    Returns:
        :class:`EdgesResult` with the measured edges and the rejected candidates.

    Raises:
        InputError: unusable image.
        MeasurementError: no usable edge at all.
    """
    inp = as_input(image)
    if cfa is not None and not inp.is_mosaic:
        from camforge.types import RawMeta

        inp = MeasurementInput(inp.data, RawMeta(cfa=cfa), inp.white_level, inp.source)
    H, W = inp.data.shape[:2]
    cands = find_edges(inp, weights=weights, min_length_px=min_length_px, min_angle_deg=min_angle_deg,
                       max_angle_deg=max_angle_deg, region=region)
    if not cands:
        raise MeasurementError(
            "no usable slanted edge found: the chart needs dark shapes (squares, bars) on a light ground with "
            f"straight sides of at least {min_length_px:g} px tilted {min_angle_deg:g}–{max_angle_deg:g}° from the "
            "pixel axes"
        )
    measured: list[EdgeMeasurement] = []
    rejected: list[tuple[EdgeROI, str]] = []
    for k, c in enumerate(cands):
        try:
            r = sfr(inp, c.roi, channel=channel, weights=weights, npol=npol, bootstrap=bootstrap, **sfr_kwargs)
        except MeasurementError as e:
            rejected.append((c, str(e)))
        else:
            field, orient = _orientation(r.center_xy_px, r.normal_xy, W, H, r.direction)
            measured.append(EdgeMeasurement(edge=c, center_xy_px=r.center_xy_px, angle_deg=abs(r.tilt_deg),
                                            direction=r.direction, field=field, orientation=orient,
                                            mtf50_cy_per_px=r.mtf50_cy_per_px, sfr=r))
        if progress is not None:
            progress(k + 1, len(cands))
    if not measured:
        raise MeasurementError(f"found {len(cands)} candidate edge(s) but none could be measured; first reason: "
                               f"{rejected[0][1]}")
    measured.sort(key=lambda e: (round(e.field, 3), e.center_xy_px[1], e.center_xy_px[0]))
    return EdgesResult(edges=tuple(measured), rejected=tuple(rejected), image_size=(W, H))


__all__ = ["EdgeROI", "EdgeMeasurement", "EdgesResult", "find_edges", "measure_edges"]
