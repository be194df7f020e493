"""Geometric distortion from an image of a regular dot grid.

Steps (:func:`measure_distortion`):

1. **Dots** — the image is flattened by its local background (a maximum filter over about
   twice the dot size, smoothed), dark (or light) blobs are thresholded half-way between
   the dot level and the background, and each dot's centre is the centroid of its
   "darkness" 1 − I/I_background over the blob and a 2 px margin (sub-pixel).
2. **Grid** — the dot nearest the distortion centre is lattice node (0, 0); its nearest
   neighbours give the two lattice vectors; the lattice is grown outward node by node,
   each step predicted from the local spacing (so strong distortion is followed).
3. **Fit** — ideal (undistorted) dot positions are a square lattice p_u = c + o +
   s R(θ) (i, j) (pitch s [px], rotation θ, offset o of node (0, 0) from the centre c);
   the measured positions are modelled as p_d = c + (p_u − c)(1 + k1 ρ² + k2 ρ⁴) with
   ρ = |p_u − c| / n. All parameters are fitted by least squares (scipy) over every dot.
   The normalisation n is the focal length in pixels when ``focal_length_px`` is given —
   then k1, k2 are the radial Brown–Conrady coefficients of OpenCV (Brown 1966) — and the
   image half-diagonal otherwise (document which one you report).
4. **Figures** — SMIA TV distortion (SMIA 1.0 Part 5: Camera Characterisation, §5.20,
   2004): D = 100 (A − B) / B, where A is the mean height of the left and right edges and
   B the height at the centre of the image of a rectangle whose corners touch the image
   corners; evaluated with the fitted model for the full frame (negative = barrel). The
   traditional (EBU) "TV distortion" is half of it. ``local_distortion_corner_pct`` =
   100 (r_d − r_u) / r_u at the image corner.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _check_roi_in, _input, _Result, _tup


@dataclass(frozen=True)
class DistortionResult(_Result):
    """Radial distortion fitted to a dot grid (see module notes).

    Attributes:
        k1, k2: radial coefficients of p_d = c + (p_u − c)(1 + k1 ρ² + k2 ρ⁴).
        normalization: ``"focal_length"`` (OpenCV convention) or ``"half_diagonal"``.
        normalization_px: n [px].
        center_px: distortion centre c (x, y) [px] (image centre unless fitted).
        pitch_px: fitted ideal grid pitch s [px]; rotation_deg: grid rotation θ.
        smia_tv_distortion_pct: SMIA TV distortion [%] (negative = barrel).
        tv_distortion_pct: traditional TV distortion = SMIA / 2 [%].
        local_distortion_corner_pct: 100 (r_d − r_u) / r_u at the image corner [%].
        n_dots: dots used; rms_residual_px: RMS fit residual [px].
        dots_px: measured dot centres (x, y); ideal_px: fitted undistorted positions;
        grid_ij: lattice indices of each dot.
    """

    k1: float
    k2: float
    normalization: str
    normalization_px: float
    center_px: tuple[float, float]
    pitch_px: float
    rotation_deg: float
    smia_tv_distortion_pct: float
    tv_distortion_pct: float
    local_distortion_corner_pct: float
    n_dots: int
    rms_residual_px: float
    dots_px: tuple[tuple[float, float], ...]
    ideal_px: tuple[tuple[float, float], ...]
    grid_ij: tuple[tuple[int, int], ...]


# ---------------------------------------------------------------------------- dots


def _grey(image) -> np.ndarray:
    """Full-resolution grey image; a raw mosaic is flattened by dividing each CFA site by its median."""
    from camforge.cfa import cfa_tile

    mi = _input(image)
    a = mi.data
    if mi.meta is not None:
        frame = a if a.ndim == 2 else a[..., 0]
        bl = mi.meta.black_level_map(*frame.shape).numpy().astype(np.float64)
        frame = frame - bl
        n = cfa_tile(mi.meta.cfa).shape[0]
        out = np.empty_like(frame)
        for i in range(n):
            for j in range(n):
                site = frame[i::n, j::n]
                med = float(np.median(site))
                out[i::n, j::n] = site / (med if med > 0 else 1.0)
        return out
    if a.ndim == 3:
        return a @ np.array([0.2126, 0.7152, 0.0722]) if a.shape[-1] == 3 else a[..., 0]
    return a


def find_dots(image, *, polarity: str = "auto", min_area_px: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres ``[n, 2]`` (x, y) [px] and areas of the dots of a dot-grid image (see module notes)."""
    from scipy import ndimage
    from skimage.filters import threshold_otsu
    from skimage.measure import label, regionprops

    g = _grey(image)
    if g.shape[0] < 16 or g.shape[1] < 16:
        raise InputError(f"image too small for a dot grid ({g.shape[1]} × {g.shape[0]} px)")
    if not np.ptp(g) > 0:
        raise MeasurementError("the image is uniform: no dots")
    if polarity == "auto":
        polarity = "dark" if np.median(g) > 0.5 * (g.min() + g.max()) else "light"
    if polarity not in ("dark", "light"):
        raise InputError("polarity must be 'dark', 'light' or 'auto'")
    x = g if polarity == "dark" else g.max() + g.min() - g  # dots dark from here on
    t0 = threshold_otsu(x)
    lab0 = label(x < t0)
    areas = np.array([p.area for p in regionprops(lab0) if p.area >= min_area_px])
    if areas.size < 5:
        raise MeasurementError("fewer than 5 dots found; is this a dot-grid image?")
    d = 2 * math.sqrt(float(np.median(areas)) / math.pi)
    size = int(2 * math.ceil(2 * d) + 1)
    bg = ndimage.uniform_filter(ndimage.maximum_filter(x, size=size), size=size)
    norm = x / np.where(bg > 0, bg, 1.0)
    dot_level = float(np.percentile(norm, 1))
    if dot_level > 0.95:
        raise MeasurementError("no dark dots stand out from the background (contrast < 5 %)")
    lab = label(norm < 0.5 * (1 + dot_level))
    dark = np.clip(1 - norm, 0, None)
    H, W = g.shape
    centres, areas = [], []
    for p in regionprops(lab):
        if p.area < min_area_px:
            continue
        r0, c0, r1, c1 = p.bbox
        if r0 <= 1 or c0 <= 1 or r1 >= H - 1 or c1 >= W - 1:  # cut by the frame
            continue
        r0, c0, r1, c1 = max(r0 - 2, 0), max(c0 - 2, 0), min(r1 + 2, H), min(c1 + 2, W)
        m = ndimage.binary_dilation(lab[r0:r1, c0:c1] == p.label, iterations=2)
        w = dark[r0:r1, c0:c1] * m
        tot = w.sum()
        if tot <= 0:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        centres.append(((w * xx).sum() / tot, (w * yy).sum() / tot))
        areas.append(p.area)
    if len(centres) < 5:
        raise MeasurementError(f"only {len(centres)} complete dots found; need at least 5")
    a = np.array(areas, dtype=np.float64)
    keep = (a > np.median(a) / 3) & (a < np.median(a) * 3)
    return np.array(centres)[keep], a[keep]


# ---------------------------------------------------------------------------- grid


def _grow_grid(P: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lattice indices ``[m, 2]`` of the dots reachable from the one nearest ``centre``, and their rows in P."""
    from scipy.spatial import cKDTree

    tree = cKDTree(P)
    i0 = int(np.argmin(np.hypot(*(P - centre).T)))
    d, nn = tree.query(P[i0], k=min(9, len(P)))
    vecs = [P[j] - P[i0] for j in nn[1:]]
    pitch = float(np.min(d[1:]))
    vecs = [v for v in vecs if np.hypot(*v) < 1.5 * pitch]
    if len(vecs) < 2:
        raise MeasurementError("the centre dot has no grid neighbours")
    a = max(vecs, key=lambda v: v[0] / (np.hypot(*v) + 1e-12))  # most nearly +x
    b = max(vecs, key=lambda v: v[1] / (np.hypot(*v) + 1e-12))  # most nearly +y (down)
    if abs(a[0] * b[1] - a[1] * b[0]) < 0.5 * pitch * pitch:
        raise MeasurementError("could not find two independent grid directions around the centre dot")
    assigned: dict[tuple[int, int], int] = {(0, 0): i0}
    used = {i0}
    q = deque([(0, 0)])
    base = {(1, 0): a, (-1, 0): -a, (0, 1): b, (0, -1): -b}
    while q:
        ij = q.popleft()
        p = P[assigned[ij]]
        for dij, v0 in base.items():
            nij = (ij[0] + dij[0], ij[1] + dij[1])
            if nij in assigned:
                continue
            back = (ij[0] - dij[0], ij[1] - dij[1])
            v = p - P[assigned[back]] if back in assigned else v0
            pred = p + v
            dist, j = tree.query(pred)
            if dist < 0.35 * np.hypot(*v) and j not in used:
                assigned[nij] = int(j)
                used.add(int(j))
                q.append(nij)
    keys = list(assigned)
    return np.array(keys, dtype=int), np.array([assigned[k] for k in keys], dtype=int)


def _radial(p, c, k1, k2, n):
    d = p - c
    r2 = (d * d).sum(-1, keepdims=True) / (n * n)
    return c + d * (1 + k1 * r2 + k2 * r2 * r2)


def measure_distortion(
    image,
    *,
    focal_length_px: float | None = None,
    center_px: tuple[float, float] | None = None,
    fit_center: bool = False,
    n_terms: int = 2,
    polarity: str = "auto",
    roi=None,
) -> DistortionResult:
    """Radial distortion and SMIA TV distortion from an image of a regular dot grid.

    Args:
        image: image or raw frame of a dot grid (dark dots on light, or ``polarity="light"``).
        focal_length_px: focal length in pixels (f / pixel pitch): k1, k2 are then in the
            OpenCV convention; without it they are normalised by the image half-diagonal.
        center_px: distortion centre (x, y) [px]; default the image centre
            ((W − 1) / 2, (H − 1) / 2), pixel centres at integers.
        fit_center: fit the centre too (needs strong distortion to be well determined).
        n_terms: 1 (k1 only) or 2 (k1, k2).
        roi: ``(x, y, w, h)``: use only the dots inside it (full-frame coordinates are kept).

    Raises:
        MeasurementError: too few dots, or no grid around the centre.
    """
    from scipy.optimize import least_squares

    if n_terms not in (1, 2):
        raise InputError("n_terms must be 1 or 2")
    if focal_length_px is not None and not focal_length_px > 0:
        raise InputError("focal_length_px must be > 0")
    g_shape = _input(image).data.shape[:2]
    H, W = g_shape
    c0 = np.array([(W - 1) / 2, (H - 1) / 2] if center_px is None else center_px, dtype=np.float64)
    P, _ = find_dots(image, polarity=polarity)
    if roi is not None:
        rx, ry, rw, rh = _check_roi_in(roi, H, W)
        P = P[(P[:, 0] >= rx) & (P[:, 0] < rx + rw) & (P[:, 1] >= ry) & (P[:, 1] < ry + rh)]
        if len(P) < 9:
            raise MeasurementError(f"only {len(P)} dots inside ROI {roi}; need at least 9")
    ij, rows = _grow_grid(P, c0)
    if len(rows) < 9:
        raise MeasurementError(f"only {len(rows)} dots form a grid around the centre; need at least 9")
    D = P[rows]
    half_diag = math.hypot(W / 2, H / 2)
    n = float(focal_length_px) if focal_length_px is not None else half_diag
    a_vec = D[ij.tolist().index([1, 0])] - D[ij.tolist().index([0, 0])] if [1, 0] in ij.tolist() else np.array([1.0, 0])
    s0 = float(np.hypot(*a_vec)) if [1, 0] in ij.tolist() else float(np.median(np.hypot(*(D - D[0]).T)))
    th0 = math.atan2(a_vec[1], a_vec[0])
    o0 = D[ij.tolist().index([0, 0])] - c0
    ijf = ij.astype(np.float64)

    def unpack(x):
        s, th, ox, oy, k1 = x[:5]
        k2 = x[5] if n_terms == 2 else 0.0
        c = np.array(x[-2:]) if fit_center else c0
        return s, th, np.array([ox, oy]), k1, k2, c

    def ideal(x):
        s, th, o, _, _, c = unpack(x)
        R = np.array([[math.cos(th), -math.sin(th)], [math.sin(th), math.cos(th)]])
        return c + o + s * ijf @ R.T

    def resid(x):
        s, th, o, k1, k2, c = unpack(x)
        return (_radial(ideal(x), c, k1, k2, n) - D).ravel()

    x0 = [s0, th0, o0[0], o0[1], 0.0] + ([0.0] if n_terms == 2 else []) + (list(c0) if fit_center else [])
    sol = least_squares(resid, np.array(x0, dtype=np.float64), method="lm", xtol=1e-12, ftol=1e-12)
    s, th, o, k1, k2, c = unpack(sol.x)
    res = sol.fun.reshape(-1, 2)
    rms = float(np.sqrt(np.mean(np.sum(res * res, axis=1))))
    smia, corner = _smia(k1, k2, n, W, H)
    return DistortionResult(
        k1=float(k1),
        k2=float(k2),
        normalization="focal_length" if focal_length_px is not None else "half_diagonal",
        normalization_px=n,
        center_px=_tup(c),
        pitch_px=float(s),
        rotation_deg=float(math.degrees(th)),
        smia_tv_distortion_pct=smia,
        tv_distortion_pct=smia / 2,
        local_distortion_corner_pct=corner,
        n_dots=int(len(rows)),
        rms_residual_px=rms,
        dots_px=_tup(D),
        ideal_px=_tup(ideal(sol.x)),
        grid_ij=tuple((int(a), int(b)) for a, b in ij),
    )


def _undistort_radius(rd: float, k1: float, k2: float, n: float) -> float:
    """Ideal radius r_u with r_u (1 + k1 (r_u/n)² + k2 (r_u/n)⁴) = r_d (Newton from r_d)."""
    r = rd
    for _ in range(50):
        t = (r / n) ** 2
        f = r * (1 + k1 * t + k2 * t * t) - rd
        df = 1 + 3 * k1 * t + 5 * k2 * t * t
        if df <= 0:
            raise MeasurementError("the fitted distortion folds over inside the frame; the fit is not usable")
        r_new = r - f / df
        if abs(r_new - r) < 1e-12 * max(rd, 1):
            r = r_new
            break
        r = r_new
    return r


def _smia(k1, k2, n, W, H) -> tuple[float, float]:
    """SMIA TV distortion [%] and the local corner distortion [%] for a W × H frame (distortion
    centred in the frame)."""
    corner = np.array([W / 2, H / 2])
    rd = float(np.hypot(*corner))
    ru = _undistort_radius(rd, k1, k2, n)
    Y = corner[1] * ru / rd  # ideal half-height of the rectangle whose image corners touch the frame corners
    t = (Y / n) ** 2
    B = 2 * Y * (1 + k1 * t + k2 * t * t)  # image height at the centre column
    A = 2 * corner[1]  # image height at the left / right edges (corner to corner)
    return float(100 * (A - B) / B), float(100 * (rd - ru) / ru)


__all__ = ["DistortionResult", "find_dots", "measure_distortion"]
