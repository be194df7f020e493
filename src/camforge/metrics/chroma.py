"""Lateral chromatic aberration from edges: how far the red and blue images of an edge sit
from the green one, in pixels and in % of the half diagonal, across the field.

Method (per edge ROI holding one straight edge, dark on one side, light on the other):

1. A reference line is fitted to the green samples: for every sample row (near-vertical
   edges) or column (near-horizontal), the centroid of the absolute first difference of the
   green values locates the edge; a straight line is fitted through those points (with one
   round of 3·MAD outlier rejection).
2. Every sample of each colour channel is projected onto the normal of that line, at its
   own position (a raw frame is measured on its CFA sub-grids directly: no demosaicing, so
   no interpolation artefacts), and binned at ``bin_px`` (¼ px) into an oversampled edge
   spread function (ESF), as in ISO 12233:2023 e-SFR.
3. The line spread function (LSF, the ESF's first difference) is located by its centroid
   (first moment) in a window iterated onto the centroid; the channel's edge position is
   that centroid. Because every channel is projected onto the same line, the red − green
   and blue − green differences are free of any error in the line itself.
4. The displacement along the edge normal is reported (sign: positive when the colour's
   image lies further along the normal, which points from dark to light), and — where the
   normal is within 60° of the radius, so the radial component can be recovered —
   converted to a radial displacement (positive outward). A least-squares line through
   the origin of radial displacement against field height gives the value at the corner
   (``*_corner_px``) and in % of the half diagonal.

Lateral colour in a lens is a radial image displacement that grows with field height
(see :class:`camforge.optics.LateralColorConfig`); an edge measures its component along
the edge normal.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _Result, _check_roi_in, image_planes, parse_roi

_COLOURS = ("R", "G", "B")


@dataclass(frozen=True)
class EdgeCA(_Result):
    """Lateral colour at one edge.

    Attributes:
        roi: ``(x, y, w, h)`` [px].
        center_px: point of the fitted edge line nearest the ROI centre (x, y) [px].
        normal: unit normal (x, y), dark → light.
        field: distance of ``center_px`` from the image centre / half diagonal.
        r_minus_g_px, b_minus_g_px: displacement of the red / blue edge from the green one
            along ``normal`` [px].
        radial_cos: cosine between ``normal`` and the outward radius at the edge.
        r_minus_g_radial_px, b_minus_g_radial_px: the same as radial displacements (positive
            outward) when |radial_cos| ≥ 0.5, else ``None``.
        n_samples: samples per channel (R, G, B).
    """

    roi: tuple[int, int, int, int]
    center_px: tuple[float, float]
    normal: tuple[float, float]
    field: float
    r_minus_g_px: float
    b_minus_g_px: float
    radial_cos: float
    r_minus_g_radial_px: float | None
    b_minus_g_radial_px: float | None
    n_samples: tuple[int, int, int]


@dataclass(frozen=True)
class LateralCAResult(_Result):
    """Lateral chromatic aberration over the edges of an image.

    ``*_corner_px`` is the radial displacement extrapolated to the image corner (field 1) by
    a least-squares line through the origin over the edges with a usable radial component;
    ``*_corner_pct`` is the same in % of the half diagonal. ``max_abs_px`` is the largest
    |R − G| or |B − G| along an edge normal.
    """

    edges: tuple[EdgeCA, ...]
    r_minus_g_corner_px: float | None
    b_minus_g_corner_px: float | None
    r_minus_g_corner_pct: float | None
    b_minus_g_corner_pct: float | None
    max_abs_px: float
    half_diagonal_px: float


def _channel_samples(planes, roi):
    """Per colour (R, G, B): sample x, y [full-frame px] and values inside ``roi``."""
    x0, y0, w, h = roi
    out = {}
    for c in _COLOURS:
        ks = [k for k, n in enumerate(planes.names) if n[0] == c]
        if not ks:
            continue
        xs, ys, vs = [], [], []
        for k in ks:
            s = planes.step
            r0, c0 = planes.row0[k], planes.col0[k]
            i0 = max(0, -(-(y0 - r0) // s))
            i1 = (y0 + h - 1 - r0) // s + 1
            j0 = max(0, -(-(x0 - c0) // s))
            j1 = (x0 + w - 1 - c0) // s + 1
            if i1 <= i0 or j1 <= j0:
                continue
            yy, xx = np.mgrid[i0:i1, j0:j1]
            xs.append((c0 + s * xx).ravel().astype(np.float64))
            ys.append((r0 + s * yy).ravel().astype(np.float64))
            vs.append(planes.data[k, i0:i1, j0:j1].ravel())
        if xs:
            out[c] = (np.concatenate(xs), np.concatenate(ys), np.concatenate(vs))
    return out


def _line_points(x, y, v, vertical: bool):
    """Edge locations along each sample row (vertical edge) or column: (along, across) pairs."""
    a, b = (y, x) if vertical else (x, y)  # a: along the edge, b: across it
    pts = []
    for key in np.unique(a):
        sel = a == key
        if sel.sum() < 4:
            continue
        order = np.argsort(b[sel])
        bb, vv = b[sel][order], v[sel][order]
        d = np.abs(np.diff(vv))
        if d.sum() <= 0:
            continue
        mid = (bb[1:] + bb[:-1]) / 2
        k = int(np.argmax(d))
        lo, hi = max(0, k - 3), min(len(d), k + 4)
        pts.append((key, float((d[lo:hi] * mid[lo:hi]).sum() / d[lo:hi].sum())))
    return np.array(pts)


def _fit_line(pts):
    if len(pts) < 4:
        raise MeasurementError("too few rows cross the edge to fit it; use a longer ROI along the edge")
    p = np.polyfit(pts[:, 0], pts[:, 1], 1)
    r = pts[:, 1] - np.polyval(p, pts[:, 0])
    mad = float(np.median(np.abs(r - np.median(r)))) + 1e-9
    keep = np.abs(r) < 3 * 1.4826 * mad + 0.5
    if keep.sum() >= 4:
        p = np.polyfit(pts[keep, 0], pts[keep, 1], 1)
    return p  # across = p[0] * along + p[1]


def _edge_centroid(s, v, bin_px: float, half_window: float, plateau_px: float, start: float = 0.0) -> float:
    """Centroid of the LSF of samples ``v`` at signed distances ``s`` from the line.

    For an ESF e(s) that rises from the dark level e_d to the light level e_l inside the
    window [L, U], the LSF centroid is c = U − ∫_L^U (e − e_d) / (e_l − e_d) ds (integrate
    s·e'(s) by parts). The integral is the mean of the ¼-px-binned ESF over the window times
    its width; e_d and e_l are the mean levels in the ``plateau_px`` just outside it. Using
    every sample of the window (rather than differencing noisy bins) keeps the noise on c
    at ≈ (U − L) σ / (Δe √n).
    """
    c = start
    for _ in range(3):
        lo, hi = c - half_window, c + half_window
        dark = v[(s >= lo - plateau_px) & (s < lo)]
        light = v[(s > hi) & (s <= hi + plateau_px)]
        if dark.size < 3 or light.size < 3:
            raise MeasurementError("the ROI does not reach far enough past the edge on both sides")
        e_d, e_l = float(dark.mean()), float(light.mean())
        if not abs(e_l - e_d) > 0:
            raise MeasurementError("no contrast across the edge")
        nb = max(1, int(round((hi - lo) / bin_px)))
        edges = np.linspace(lo, hi, nb + 1)
        sel = (s >= lo) & (s <= hi)
        idx = np.clip(np.digitize(s[sel], edges) - 1, 0, nb - 1)
        cnt = np.bincount(idx, minlength=nb).astype(np.float64)
        tot = np.bincount(idx, weights=v[sel], minlength=nb)
        centres = (edges[:-1] + edges[1:]) / 2
        have = cnt > 0
        if have.sum() < max(4, nb // 3):
            raise MeasurementError("too few samples across the edge")
        esf = np.interp(centres, centres[have], tot[have] / cnt[have])
        c_new = hi - (hi - lo) * float(np.mean((esf - e_d) / (e_l - e_d)))
        if abs(c_new - c) < 1e-3:
            return c_new
        c = c_new
    return c


def _rms_width(x, y, v, dist) -> float:
    """RMS width [px] of the green LSF (binned at ½ px, within ±6 px of the line)."""
    s = dist(x, y)
    sel = np.abs(s) <= 6
    if sel.sum() < 8:
        return 1.0
    edges = np.arange(-6.0, 6.01, 0.5)
    idx = np.clip(np.digitize(s[sel], edges) - 1, 0, len(edges) - 2)
    cnt = np.bincount(idx, minlength=len(edges) - 1)
    tot = np.bincount(idx, weights=v[sel], minlength=len(edges) - 1)
    have = cnt > 0
    centres = (edges[:-1] + edges[1:]) / 2
    esf = np.interp(centres, centres[have], tot[have] / np.maximum(cnt[have], 1))
    lsf = np.clip(np.diff(esf) * np.sign(esf[-1] - esf[0]), 0, None)
    pos = (centres[1:] + centres[:-1]) / 2
    if lsf.sum() <= 0:
        return 1.0
    m = (lsf * pos).sum() / lsf.sum()
    return float(np.sqrt((lsf * (pos - m) ** 2).sum() / lsf.sum()))


def _measure_edge(planes, roi, centre_xy, half_diag, bin_px) -> EdgeCA:
    samples = _channel_samples(planes, roi)
    if not all(c in samples for c in _COLOURS):
        raise InputError("lateral colour needs R, G and B samples (a colour image or a Bayer raw frame)")
    gx, gy, gv = samples["G"]
    x0, y0, w, h = roi
    # orientation: compare value changes across x and across y on the green samples
    A = np.c_[gx - gx.mean(), gy - gy.mean(), np.ones_like(gx)]
    (ax, ay, _), *_ = np.linalg.lstsq(A, gv, rcond=None)
    vertical = abs(ax) >= abs(ay)
    p = _fit_line(_line_points(gx, gy, gv, vertical))
    slope, icpt = p
    # unit normal of the line across = slope·along + icpt (in (x, y) coordinates)
    if vertical:  # x = slope·y + icpt
        n = np.array([1.0, -slope])
    else:  # y = slope·x + icpt
        n = np.array([-slope, 1.0])
    n /= np.hypot(*n)
    if (ax * n[0] + ay * n[1]) < 0:  # point from dark to light
        n = -n
    # signed distance of each sample from the line along n
    def dist(x, y):
        return ((x - icpt) * n[0] + (y - 0.0) * n[1]) if vertical else ((x - 0.0) * n[0] + (y - icpt) * n[1])

    cx, cy = x0 + (w - 1) / 2, y0 + (h - 1) / 2
    if vertical:
        pc = np.array([slope * cy + icpt, cy])
    else:
        pc = np.array([cx, slope * cx + icpt])
    across = (w if vertical else h) / 2
    plateau = 2.0
    half_window = min(max(3.0, 4 * _rms_width(gx, gy, gv, dist)), across - plateau - 0.5)
    if half_window < 2.0:
        raise MeasurementError(f"ROI {roi} is too narrow across the edge (need ±{2 + plateau + 0.5:.0f} px)")
    centroids = {}
    for c in _COLOURS:
        x, y, v = samples[c]
        centroids[c] = _edge_centroid(dist(x, y), v, bin_px, half_window, plateau)
    rg = centroids["R"] - centroids["G"]
    bg = centroids["B"] - centroids["G"]
    H, W = planes.full_shape
    rvec = pc - np.array(centre_xy)
    rr = float(np.hypot(*rvec))
    cos_r = float(np.dot(n, rvec / rr)) if rr > 1e-9 else 0.0
    radial_ok = abs(cos_r) >= 0.5
    return EdgeCA(
        roi=tuple(int(v) for v in roi),
        center_px=(float(pc[0]), float(pc[1])),
        normal=(float(n[0]), float(n[1])),
        field=rr / half_diag,
        r_minus_g_px=float(rg),
        b_minus_g_px=float(bg),
        radial_cos=cos_r,
        r_minus_g_radial_px=float(rg / cos_r) if radial_ok else None,
        b_minus_g_radial_px=float(bg / cos_r) if radial_ok else None,
        n_samples=tuple(int(samples[c][0].size) for c in _COLOURS),
    )


def measure_lateral_ca(
    image,
    rois: Sequence | None = None,
    *,
    bin_px: float = 0.25,
    center_px: tuple[float, float] | None = None,
) -> LateralCAResult:
    """Lateral chromatic aberration (R − G, B − G edge displacement) over a set of edges.

    Args:
        image: Bayer raw frame (measured on the CFA sub-grids) or an RGB image.
        rois: ``(x, y, w, h)`` boxes, each holding one straight edge (tilted a few degrees
            from the pixel axes is best, as for ISO 12233 SFR). ``None`` finds the slanted
            edges of dark shapes automatically (:func:`camforge.metrics.edges.find_edges`).
        bin_px: ESF bin width [px] (¼ px: 4× oversampling).
        center_px: optical centre (x, y) [px]; default the image centre.

    Edges that cannot be measured (no contrast, too short) are skipped; if none is left a
    :class:`~camforge.errors.MeasurementError` says why.
    """
    if not 0.01 <= bin_px <= 1:
        raise InputError("bin_px must be in [0.01, 1]")
    planes = image_planes(image)
    H, W = planes.full_shape
    c = ((W - 1) / 2, (H - 1) / 2) if center_px is None else tuple(float(v) for v in center_px)
    half_diag = math.hypot(W / 2, H / 2)
    if rois is None:
        from camforge.metrics.edges import find_edges

        rois = [e.roi for e in find_edges(image)]
        if not rois:
            raise MeasurementError("no straight edges found; pass rois=(x, y, w, h) boxes around edges")
    elif isinstance(rois, str) or (len(rois) == 4 and all(isinstance(v, (int, float, np.integer)) for v in rois)):
        rois = [parse_roi(rois)]
    out, reasons = [], []
    for roi in rois:
        roi = _check_roi_in(parse_roi(roi), H, W)
        try:
            out.append(_measure_edge(planes, roi, c, half_diag, bin_px))
        except MeasurementError as e:
            reasons.append(f"{roi}: {e}")
    if not out:
        raise MeasurementError("no edge could be measured (" + "; ".join(reasons[:3]) + ")")
    fits = {}
    for key in ("r_minus_g_radial_px", "b_minus_g_radial_px"):
        pts = [(e.field, getattr(e, key)) for e in out if getattr(e, key) is not None and e.field > 0.05]
        if len(pts) >= 1:
            f, s = np.array(pts).T
            fits[key] = float((f * s).sum() / (f * f).sum())
        else:
            fits[key] = None
    rc, bc = fits["r_minus_g_radial_px"], fits["b_minus_g_radial_px"]
    return LateralCAResult(
        edges=tuple(out),
        r_minus_g_corner_px=rc,
        b_minus_g_corner_px=bc,
        r_minus_g_corner_pct=None if rc is None else 100 * rc / half_diag,
        b_minus_g_corner_pct=None if bc is None else 100 * bc / half_diag,
        max_abs_px=float(max(max(abs(e.r_minus_g_px), abs(e.b_minus_g_px)) for e in out)),
        half_diagonal_px=half_diag,
    )


__all__ = ["EdgeCA", "LateralCAResult", "measure_lateral_ca"]
