"""Finding a ColorChecker Classic (and other uniform patches) in an image.

:func:`detect_colorchecker` locates the 4 × 6 patch grid automatically:

1. the image is reduced to at most ~800 px, normalised and compressed (square root for
   linear data) so edges weigh alike in dark and bright parts;
2. "uniform" pixels are those whose Gaussian gradient magnitude (σ = 1 px, all channels)
   is below a threshold set relative to the image's median gradient (several thresholds are
   tried, the best lattice wins); connected uniform regions that are compact and convex
   (solidity ≥ 0.85, axis ratio ≥ 0.55) and of similar size are the patch candidates;
3. the candidates' nearest-neighbour vectors give the lattice angle (4θ circular mean) and
   pitch; integer lattice coordinates are assigned and refined with a RANSAC projective
   fit (scikit-image), which drops stray regions;
4. every placement and rotation (0/90/180/270°) of the 4 × 6 chart that contains the
   found cells is scored by how well a 3 × 3 + offset colour transform maps the measured
   (linearised) colours onto the reference ColorChecker colours; the known colour order —
   the grey row from white to black in particular — fixes the orientation;
5. a homography from chart coordinates to pixels (all found cells, least squares) places
   the patches; each sampling square (the central ``sample_fraction`` of the patch side)
   is centred on the found region's centroid where there is one (robust to lens
   distortion), on the homography's prediction elsewhere.

:func:`chart_from_corners` is the manual fallback: the four outer corners of the patch
area (top-left corner of the dark-skin patch first, clockwise) define the homography.

Chart coordinates: units of the patch pitch, origin at the top-left corner of the dark-skin
patch; patch (row r, column c) covers [c, c + s] × [r, r + s] with s = :data:`PATCH_SIDE`.
Pixel coordinates are (x = column, y = row) with pixel centres at integers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _check_roi_in, _input, _Result, _tup, as_hwc, image_planes

#: Patch side / patch pitch of the ColorChecker Classic (≈ 40 mm patches on 46.5 mm centres).
PATCH_SIDE = 0.86
_ROWS, _COLS = 4, 6
_WORK_PX = 800


# ============================================================================ working image


def _work_image(image, roi=None, color_space: str = "srgb") -> tuple[np.ndarray, np.ndarray, int, tuple[int, int]]:
    """(working image [h, w, C] in ~0–1 perceptual scale, linear image for colours,
    downscale factor, (x0, y0) offset of the ROI)."""
    mi = _input(image)
    if mi.is_mosaic:
        planes = image_planes(mi)
        groups: dict[str, list[int]] = {}
        for k, n in enumerate(planes.names):
            groups.setdefault(n[0], []).append(k)
        chans = [planes.data[groups[c]].mean(axis=0) for c in "RGB" if c in groups] or [planes.data.mean(axis=0)]
        img = np.stack(chans, axis=-1)
        step = planes.step
        linear = True
    else:
        img = as_hwc(mi, unit=True)
        step = 1
        linear = color_space != "srgb"
    H, W = img.shape[:2]
    x0 = y0 = 0
    if roi is not None:
        x, y, w, h = _check_roi_in(roi, H * step, W * step)
        x0, y0 = x, y
        img = img[y // step : (y + h) // step, x // step : (x + w) // step]
        if img.shape[0] < 16 or img.shape[1] < 16:
            raise InputError(f"ROI {roi} is too small to search for a chart")
    f = max(1, int(round(max(img.shape[:2]) / _WORK_PX)))
    if f > 1:
        h2, w2 = img.shape[0] // f, img.shape[1] // f
        img = img[: h2 * f, : w2 * f].reshape(h2, f, w2, f, -1).mean(axis=(1, 3))
    lin = img.copy()
    if not linear:
        from camforge.metrics.color import srgb_decode

        lin = srgb_decode(np.clip(img, 0, None))
    top = float(np.percentile(lin, 99.5))
    if not top > 0:
        raise MeasurementError("the image is black: nothing to detect")
    work = np.sqrt(np.clip(lin / top, 0, 1))
    return work, lin, f * step, (x0, y0)


def _gradient(work: np.ndarray) -> np.ndarray:
    from scipy.ndimage import gaussian_gradient_magnitude

    g2 = np.zeros(work.shape[:2])
    for c in range(work.shape[-1]):
        g2 += gaussian_gradient_magnitude(work[..., c], 1.0) ** 2
    return np.sqrt(g2)


@dataclass
class _Region:
    cx: float  # working-image pixel coordinates
    cy: float
    area: float
    bbox: tuple[int, int, int, int]  # min_row, min_col, max_row, max_col
    coords: np.ndarray  # [n, 2] (row, col)


def _regions(work: np.ndarray, grad: np.ndarray, thresh: float, min_area: float, max_area: float) -> list[_Region]:
    from scipy import ndimage
    from skimage.measure import label, regionprops

    mask = grad < thresh
    mask = ndimage.binary_opening(mask, structure=np.ones((3, 3)))
    lab = label(mask, connectivity=1)
    out = []
    for p in regionprops(lab):
        if p.area < min_area or p.area > max_area:
            continue
        if p.solidity < 0.85 or p.axis_major_length <= 0 or p.axis_minor_length / p.axis_major_length < 0.55:
            continue
        cy, cx = p.centroid
        out.append(_Region(float(cx), float(cy), float(p.area), tuple(int(v) for v in p.bbox), p.coords))
    return out


# ============================================================================ generic uniform patches


@dataclass(frozen=True)
class UniformPatch(_Result):
    """A uniform, compact region: its bounding box ``roi`` (x, y, w, h) shrunk to the central
    part, centroid and area [full-frame pixels]."""

    roi: tuple[int, int, int, int]
    center_px: tuple[float, float]
    area_px: float


def _size_family(regs: list[_Region], factor: float) -> list[_Region]:
    """The largest group of regions whose areas lie within ``factor`` of one another's."""
    areas = np.array([r.area for r in regs])
    counts = [(int(np.sum((areas > a / factor) & (areas < a * factor))), a) for a in areas]
    _, a0 = max(counts)
    return [r for r in regs if a0 / factor < r.area < a0 * factor]


def find_uniform_patches(image, *, roi=None, color_space: str = "srgb", shrink: float = 0.7,
                         min_side_px: int = 8, same_size: bool = True) -> list[UniformPatch]:
    """Uniform square-ish patches (chart patches, OECF steps) in an image or raw frame.

    Regions are found as in :func:`detect_colorchecker` (steps 1–2) with the threshold that
    yields the most regions; with ``same_size`` only the largest family of regions of
    similar area (within 3×) is kept (chart patches are all alike; bits of background
    between them are not). Each is returned as a box of ``shrink`` times its bounding box
    around its centroid, sorted by position (rows, then columns).
    """
    work, _lin, f, (x0, y0) = _work_image(image, roi, color_space)
    grad = _gradient(work)
    med = float(np.median(grad)) + 1e-6
    h, w = work.shape[:2]
    min_area = max(16.0, (min_side_px / f) ** 2)
    best: list[_Region] = []
    for k in (3.0, 6.0, 12.0):
        regs = _regions(work, grad, k * med, min_area, h * w / 4)
        if same_size and regs:
            regs = _size_family(regs, 3.0)
        if len(regs) > len(best):
            best = regs
    out = []
    for r in best:
        r0, c0, r1, c1 = r.bbox
        bw, bh = (c1 - c0) * f * shrink, (r1 - r0) * f * shrink
        cx, cy = f * r.cx + (f - 1) / 2 + x0, f * r.cy + (f - 1) / 2 + y0
        box = (int(round(cx - bw / 2)), int(round(cy - bh / 2)), max(1, int(round(bw))), max(1, int(round(bh))))
        if box[2] >= min_side_px * shrink and box[3] >= min_side_px * shrink:
            out.append(UniformPatch(box, (cx, cy), r.area * f * f))
    out.sort(key=lambda p: (round(p.center_px[1] / max(p.roi[3], 1)), p.center_px[0]))
    return out


# ============================================================================ chart geometry


@dataclass(frozen=True)
class ChartDetection(_Result):
    """Where the 24 patches of a ColorChecker Classic are in an image.

    Attributes:
        method: ``"auto"`` or ``"corners"``.
        centers_px: patch centres ``(x, y)`` in reading order (dark skin … black).
        sample_quads_px: the sampled quadrilateral of each patch, 4 corners ``(x, y)``.
        corners_px: outer corners of the patch area (TL of dark skin, TR, BR, BL).
        homography: 3 × 3 chart → pixel transform (chart units: patch pitch).
        rotation_deg: chart rotation in the image (0, 90, 180 or 270 plus the fine angle).
        n_detected: patches found by segmentation (auto) — the rest are predicted.
        residual_px: RMS distance between found centroids and the homography.
        orientation_margin: colour-fit error of the runner-up placement / the chosen one
            (≫ 1 means the orientation is unambiguous).
    """

    method: str
    centers_px: tuple[tuple[float, float], ...]
    sample_quads_px: tuple[tuple[tuple[float, float], ...], ...]
    corners_px: tuple[tuple[float, float], ...]
    homography: tuple[tuple[float, float, float], ...]
    rotation_deg: float
    n_detected: int
    residual_px: float
    orientation_margin: float


def _chart_centers() -> np.ndarray:
    """Chart coordinates of the 24 patch centres, reading order."""
    r, c = np.divmod(np.arange(24), _COLS)
    return np.stack([c + PATCH_SIDE / 2, r + PATCH_SIDE / 2], axis=1).astype(np.float64)


def _outer_corners_chart() -> np.ndarray:
    a, b = _COLS - 1 + PATCH_SIDE, _ROWS - 1 + PATCH_SIDE
    return np.array([[0.0, 0.0], [a, 0.0], [a, b], [0.0, b]])


def _apply_h(H: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.concatenate([pts, np.ones((len(pts), 1))], axis=1) @ H.T
    return p[:, :2] / p[:, 2:3]


def _estimate_h(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    from skimage.transform import ProjectiveTransform

    t = ProjectiveTransform.from_estimate(src, dst)
    if not t:
        raise MeasurementError("could not fit the chart geometry (degenerate point set)")
    return np.asarray(t.params, dtype=np.float64)


def _build_detection(H, method, *, sample_fraction, found_centers=None, n_detected=0, residual=0.0,
                     rotation_deg=0.0, margin=math.inf) -> ChartDetection:
    if not 0.05 <= sample_fraction <= 1.0:
        raise InputError("sample_fraction must be in [0.05, 1]")
    centers_chart = _chart_centers()
    centers = _apply_h(H, centers_chart)
    half = PATCH_SIDE * sample_fraction / 2
    sq = np.array([[-half, -half], [half, -half], [half, half], [-half, half]])
    quads = []
    for i in range(24):
        q = _apply_h(H, centers_chart[i] + sq)
        if found_centers is not None and np.isfinite(found_centers[i]).all():
            q = q - centers[i] + found_centers[i]
            centers[i] = found_centers[i]
        quads.append(q)
    return ChartDetection(
        method=method,
        centers_px=_tup(centers),
        sample_quads_px=tuple(_tup(q) for q in quads),
        corners_px=_tup(_apply_h(H, _outer_corners_chart())),
        homography=_tup(H),
        rotation_deg=float(rotation_deg),
        n_detected=int(n_detected),
        residual_px=float(residual),
        orientation_margin=float(margin),
    )


def chart_from_corners(corners, image_shape=None, *, sample_fraction: float = 0.5) -> ChartDetection:
    """Four-corner fallback: the outer corners of the patch area ``[(x, y)] × 4`` [px],
    starting with the top-left corner of the dark-skin patch, clockwise (TL, TR, BR, BL as
    seen with the dark-skin patch top left). ``image_shape`` ``(H, W)`` checks they lie in
    the image."""
    try:
        c = np.asarray(corners, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("corners must be four (x, y) pairs") from None
    if c.shape != (4, 2) or not np.isfinite(c).all():
        raise InputError(f"corners must be four (x, y) pairs, got shape {c.shape}")
    if image_shape is not None:
        Hh, Ww = image_shape[:2]
        if (c[:, 0] < -0.5).any() or (c[:, 1] < -0.5).any() or (c[:, 0] > Ww - 0.5).any() or (c[:, 1] > Hh - 0.5).any():
            raise InputError(f"chart corners {c.tolist()} fall outside the {Ww} × {Hh} image")
    v1, v2 = c[1] - c[0], c[3] - c[0]
    area = abs(v1[0] * v2[1] - v1[1] * v2[0])
    if area < 24 * 4:
        raise InputError("the four corners enclose (almost) no area; give the outer corners of the patch area")
    H = _estimate_h(_outer_corners_chart(), c)
    ang = math.degrees(math.atan2(v1[1], v1[0]))
    return _build_detection(H, "corners", sample_fraction=sample_fraction, rotation_deg=ang)


# ============================================================================ lattice fitting

_ROTATIONS = {  # (i, j) = A @ (c, r): chart rotated clockwise in the image by the key
    0: np.array([[1, 0], [0, 1]]),
    90: np.array([[0, -1], [1, 0]]),
    180: np.array([[-1, 0], [0, -1]]),
    270: np.array([[0, 1], [-1, 0]]),
}


def _lattice(regs: list[_Region]) -> tuple[np.ndarray, np.ndarray, float, float] | None:
    """Integer lattice coordinates of the regions that form a grid: (indices, ij, angle, pitch)."""
    from scipy.spatial import cKDTree
    from skimage.measure import ransac
    from skimage.transform import ProjectiveTransform

    if len(regs) < 6:
        return None
    P = np.array([[r.cx, r.cy] for r in regs])
    tree = cKDTree(P)
    d, nn = tree.query(P, k=min(5, len(P)))
    nn_d = d[:, 1]
    pitch = float(np.median(nn_d))
    vec = []
    for i in range(len(P)):
        for k in range(1, d.shape[1]):
            if d[i, k] < 1.35 * pitch:
                vec.append(P[nn[i, k]] - P[i])
    if len(vec) < 4:
        return None
    vec = np.array(vec)
    ang = np.arctan2(vec[:, 1], vec[:, 0])
    theta = float(np.angle(np.mean(np.exp(4j * ang))) / 4)
    pitch = float(np.median(np.hypot(vec[:, 0], vec[:, 1])))
    c, s = math.cos(-theta), math.sin(-theta)
    Q = (P - P.mean(0)) @ np.array([[c, -s], [s, c]]).T / pitch
    ref = int(np.argmin(np.hypot(*(Q - np.median(Q, axis=0)).T)))
    ij = np.round(Q - Q[ref]).astype(int)
    keep = np.ones(len(P), bool)
    for _ in range(3):
        idx = np.nonzero(keep)[0]
        src = ij[idx].astype(np.float64)
        uniq = {tuple(v) for v in ij[idx]}
        if len(idx) < 6 or len(uniq) < 6:
            return None
        try:
            model, inl = ransac((src, P[idx]), ProjectiveTransform, min_samples=4, residual_threshold=0.3 * pitch,
                                max_trials=200, rng=0)
        except Exception:
            return None
        if model is None or inl is None or inl.sum() < 6:
            return None
        inv = np.linalg.inv(model.params)
        q = _apply_h(inv, P)
        ij = np.round(q).astype(int)
        err = np.hypot(*(q - ij).T)
        keep = err < 0.3
    idx = np.nonzero(keep)[0]
    # duplicates: keep the region nearest its lattice node
    best: dict[tuple[int, int], int] = {}
    for i in idx:
        key = (int(ij[i, 0]), int(ij[i, 1]))
        if key not in best or err[i] < err[best[key]]:
            best[key] = i
    idx = np.array(sorted(best.values()))
    return idx, ij[idx], theta, pitch


def _placements(ij: np.ndarray):
    """Every (rotation, offset) placing all lattice cells ``ij`` on chart cells; yields
    (rotation_deg, patch index per cell)."""
    cells = np.array([(c, r) for r in range(_ROWS) for c in range(_COLS)])  # index = r*6 + c
    for rot, A in _ROTATIONS.items():
        L = cells @ A.T
        lut = {}
        for k, (a, b) in enumerate(L):
            lut[(int(a), int(b))] = k
        lx, ly = L[:, 0], L[:, 1]
        for tx in range(int(ij[:, 0].max() - lx.max()), int(ij[:, 0].min() - lx.min()) + 1):
            for ty in range(int(ij[:, 1].max() - ly.max()), int(ij[:, 1].min() - ly.min()) + 1):
                ks = [lut.get((int(a - tx), int(b - ty))) for a, b in ij]
                if all(k is not None for k in ks):
                    yield rot, np.array(ks)


def _region_colour(lin: np.ndarray, reg: _Region) -> np.ndarray:
    rows, cols = reg.coords[:, 0], reg.coords[:, 1]
    return lin[rows, cols].mean(axis=0)


def _colour_score(meas: np.ndarray, ref: np.ndarray) -> float:
    """Relative residual of the best affine map meas → ref (lower is better)."""
    X = np.concatenate([meas, np.ones((len(meas), 1))], axis=1)
    coef, *_ = np.linalg.lstsq(X, ref, rcond=None)
    res = ref - X @ coef
    tot = ref - ref.mean(0)
    return float(np.sum(res * res) / max(np.sum(tot * tot), 1e-12))


def detect_colorchecker(
    image,
    *,
    color_space: str = "srgb",
    roi=None,
    sample_fraction: float = 0.5,
    min_patches: int = 12,
) -> ChartDetection:
    """Find a ColorChecker Classic (24 patches) in an image or raw frame (see module notes).

    Args:
        image: RGB image (numpy ``H × W × 3``, tensor, :class:`~camforge.types.Image`) or a
            :class:`~camforge.types.Raw` frame (CFA sites binned per tile).
        color_space: ``"srgb"`` (encoded) or ``"linear_srgb"``/``"camera"`` (linear) — only
            used to linearise colours for the orientation check.
        roi: ``(x, y, w, h)`` to search in.
        sample_fraction: side of the sampled square / patch side.
        min_patches: fewest patches that must be found by segmentation.

    Raises:
        MeasurementError: no 4 × 6 grid found — pass ``corners`` to
            :func:`chart_from_corners` (or ``--corners`` on the command line).
    """
    from camforge.metrics.color import colorchecker_reference

    work, lin, f, (x0, y0) = _work_image(image, roi, color_space)
    grad = _gradient(work)
    med = float(np.median(grad)) + 1e-6
    h, w = work.shape[:2]
    min_area = 12.0
    ref = colorchecker_reference().linear_srgb_array
    best = None
    for k in (3.0, 5.0, 8.0, 12.0, 20.0):
        regs = _regions(work, grad, k * med, min_area, h * w / 24)
        if len(regs) < min_patches:
            continue
        regs = _size_family(regs, 2.2)  # patches are all alike
        lat = _lattice(regs)
        if lat is None:
            continue
        idx, ij, theta, pitch = lat
        if len(idx) < min_patches:
            continue
        meas = np.array([_region_colour(lin, regs[i]) for i in idx])
        scored = []
        for rot, ks in _placements(ij):
            scored.append((_colour_score(meas, ref[ks]), rot, ks))
        if not scored:
            continue
        scored.sort(key=lambda t: t[0])
        cand = (len(idx), -scored[0][0], regs, idx, scored, theta)
        if best is None or cand[:2] > best[:2]:
            best = cand
    if best is None:
        raise MeasurementError(
            f"no ColorChecker found: fewer than {min_patches} patches formed a 4 × 6 grid; check the chart is in view "
            "and not clipped, or give its four outer corners (corners=[(x, y)] × 4, dark-skin patch first, clockwise)"
        )
    n, _, regs, idx, scored, theta = best
    score, rot, ks = scored[0]
    margin = scored[1][0] / max(score, 1e-12) if len(scored) > 1 else math.inf
    pts = np.array([[f * regs[i].cx + (f - 1) / 2 + x0, f * regs[i].cy + (f - 1) / 2 + y0] for i in idx])
    Hm = _estimate_h(_chart_centers()[ks], pts)
    resid = float(np.sqrt(np.mean(np.sum((_apply_h(Hm, _chart_centers()[ks]) - pts) ** 2, axis=1))))
    found = np.full((24, 2), np.nan)
    found[ks] = pts
    return _build_detection(Hm, "auto", sample_fraction=sample_fraction, found_centers=found, n_detected=n,
                            residual=resid, rotation_deg=(rot + math.degrees(theta)) % 360, margin=margin)


# ============================================================================ sampling


def patch_statistics(image, chart: ChartDetection) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and standard deviation (ddof = 1) per channel of each patch's sampled square,
    and the pixel counts: ``([24, C], [24, C], [24])`` in the image's own units."""
    from skimage.draw import polygon

    img = as_hwc(image)
    H, W = img.shape[:2]
    means, stds, counts = [], [], []
    for i, q in enumerate(chart.sample_quads_px):
        q = np.asarray(q)
        rr, cc = polygon(q[:, 1], q[:, 0], shape=(H, W))
        if rr.size < 4:
            raise MeasurementError(
                f"patch {i + 1} samples {rr.size} pixels inside the image; the chart is too small or partly outside the frame"
            )
        v = img[rr, cc]
        means.append(v.mean(axis=0))
        stds.append(v.std(axis=0, ddof=1))
        counts.append(rr.size)
    return np.array(means), np.array(stds), np.array(counts)


__all__ = [
    "PATCH_SIDE",
    "ChartDetection",
    "UniformPatch",
    "chart_from_corners",
    "detect_colorchecker",
    "find_uniform_patches",
    "patch_statistics",
]
