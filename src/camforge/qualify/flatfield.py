"""Flat-field preprocessing on raw, high-bit-depth data (no 8-bit RGB anywhere).

Every detector and measurement of :mod:`camforge.qualify` starts here:

1. :func:`as_raw` accepts a :class:`~camforge.types.Raw`, or a 2-D array / tensor in DN with
   its CFA and black level (real frames read with :func:`camforge.io.read_image`);
2. :func:`flat_relative` subtracts the black level per CFA site, splits the mosaic into its
   CFA planes and divides each plane by its expected shading: a robust low-order 2-D
   polynomial surface (Legendre, degree 4, or a radial lens model; refitted with outliers
   excluded so blemishes do not bend it) or — when good modules of the same design are at
   hand — a *golden reference* (:func:`shading_reference`, the trimmed mean of good modules'
   normalised flats) times a robust correction for the module's own gain, decentre and
   colour shading. The result is the *relative response* (1 = the local expected level)
   at full resolution, plus each plane's shading surface;
3. :func:`analysis_map` turns it into the detectors' input: isolated outlier pixels (defect
   pixels — the defect-pixel maps' job) are replaced by their same-colour 3×3 median, the
   CFA tile is binned (so every colour counts once), optionally binned further, and the
   deviation is expressed in units of the frame's own noise, ``z = (m − 1) / σ`` with σ from
   the median absolute difference of neighbours (robust to blemishes).

``z`` is dimensionless and about N(0, 1) on a clean flat of any sensor, bit depth or
exposure, so a detector fitted on one lot's good modules sees comparable numbers on another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage, stats
from scipy.signal import savgol_filter

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.errors import InputError, MeasurementError
from camforge.types import Raw, RawMeta


def as_raw(image, *, cfa: str | None = None, black_level_dn=None, white_level_dn: float | None = None,
           bit_depth: int | None = None) -> Raw:
    """A single-frame :class:`Raw` from a Raw, a ``[H, W]`` array/tensor in DN, or ``[1, 1, H, W]``.

    Arrays need ``cfa`` (default ``MONO``) and ``black_level_dn`` (default 0).
    """
    if isinstance(image, Raw):
        if image.data.shape[0] != 1:
            raise InputError(f"expected one frame, got a batch of {image.data.shape[0]}")
        return image
    a = image.detach().cpu().numpy() if isinstance(image, torch.Tensor) else np.asarray(image)
    if a.ndim == 4 and a.shape[:2] == (1, 1):
        a = a[0, 0]
    if a.ndim != 2:
        raise InputError(f"a raw frame must be a 2-D [H, W] array in DN, got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.number):
        raise InputError(f"a raw frame must hold numbers, got dtype {a.dtype}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InputError("the frame contains NaN or infinite values")
    cfa = normalize_cfa(cfa or "MONO")
    if bit_depth is None:
        bit_depth = max(8, int(np.ceil(np.log2(max(float(a.max()), 1.0) + 1))))
    white = float(white_level_dn if white_level_dn is not None else 2**bit_depth - 1)
    n = cfa_tile(cfa).shape[0]
    blk = black_level_dn if black_level_dn is not None else 0.0
    blk = tuple(float(v) for v in np.broadcast_to(np.asarray(blk, dtype=float).ravel(), (n * n,)))
    meta = RawMeta(cfa=cfa, black_level_dn=blk, white_level_dn=white, bit_depth=int(bit_depth))
    return Raw(torch.from_numpy(a)[None, None], meta)


def tile_size(cfa: str) -> int:
    return int(cfa_tile(normalize_cfa(cfa)).shape[0])


def black_subtracted(raw: Raw) -> np.ndarray:
    """``[H, W]`` float32 DN with each CFA site's black level removed."""
    x = raw.data[0, 0].detach().cpu().numpy().astype(np.float32)
    n = tile_size(raw.meta.cfa)
    blk = np.asarray(raw.meta.black_level_dn, dtype=np.float32).ravel()
    if blk.size == 1:
        return x - blk[0]
    if blk.size != n * n:
        raise InputError(f"black level has {blk.size} values but the {raw.meta.cfa} tile has {n * n} sites")
    H, W = x.shape
    yy, xx = np.mgrid[0:H, 0:W]
    return x - blk.reshape(n, n)[yy % n, xx % n]


def pack(x: np.ndarray, n: int) -> np.ndarray:
    """``[H, W]`` → ``[n², H/n, W/n]`` CFA planes (H and W cropped to multiples of n)."""
    H, W = x.shape
    h, w = H // n, W // n
    x = x[: h * n, : w * n]
    return x.reshape(h, n, w, n).transpose(1, 3, 0, 2).reshape(n * n, h, w)


def unpack(p: np.ndarray, n: int) -> np.ndarray:
    """Inverse of :func:`pack`."""
    _, h, w = p.shape
    return p.reshape(n, n, h, w).transpose(2, 0, 3, 1).reshape(h * n, w * n)


def _legendre_basis(h: int, w: int, degree: int) -> np.ndarray:
    y = np.linspace(-1, 1, h)
    x = np.linspace(-1, 1, w)
    Ly = np.polynomial.legendre.legvander(y, degree)  # [h, d+1]
    Lx = np.polynomial.legendre.legvander(x, degree)
    terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1) if i + j <= degree]
    return np.stack([Ly[:, i][:, None] * Lx[:, j][None, :] for i, j in terms], axis=-1)  # [h, w, T]


def _radial_basis(yy: np.ndarray, xx: np.ndarray, cy: float, cx: float) -> np.ndarray:
    r2 = (yy - cy) ** 2 + (xx - cx) ** 2
    return np.stack([np.ones_like(r2), xx, yy, r2, r2 * r2, r2 * r2 * r2], axis=-1)


def _correction_basis(yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    return np.stack([np.ones_like(xx), xx, yy, xx * xx + yy * yy], axis=-1)


def robust_surface(plane: np.ndarray, degree: int = 4, *, model: str = "legendre", block: int | None = None,
                   iterations: int = 3, clip_sigma: float = 3.0, centre: tuple[float, float] | None = None,
                   return_centre: bool = False):
    """Smooth shading surface fitted to ``plane``.

    ``model="legendre"``: a 2-D Legendre polynomial of total ``degree`` (follows any smooth
    shading, including broad anomalies). ``model="radial"``: what a lens produces — an even
    polynomial in the distance from an optical centre (r², r⁴, r⁶; the centre is searched
    within ±20 % of the frame) plus a linear gradient; anything not rotationally symmetric
    (a shading anomaly, contamination glare, a blemish) stays in the residual.
    ``model="correction"``: gain, x and y gradient and r² about the frame centre — the small
    per-module correction of a golden reference (:func:`flat_relative`, ``model="reference"``).

    The plane is block-averaged (``block`` px, default ~1/24 of its short side), the surface
    is fitted by least squares and refitted ``iterations`` times without the blocks whose
    relative residual exceeds ``clip_sigma`` robust σ — so blemishes, clusters and
    contamination do not pull the surface toward them. ``centre`` fixes the radial model's
    optical centre (``(cy, cx)`` in units of half the long side); ``return_centre`` returns
    ``(surface, centre)``.
    """
    if model not in ("legendre", "radial", "correction"):
        raise InputError(f"shading model must be 'legendre', 'radial' or 'correction', got {model!r}")
    h, w = plane.shape
    b = block or max(1, min(h, w) // 24)
    hb, wb = h // b, w // b
    if hb < degree + 1 or wb < degree + 1:
        raise MeasurementError(f"frame plane {h} × {w} is too small for a degree-{degree} shading surface")
    blocks = plane[: hb * b, : wb * b].reshape(hb, b, wb, b).mean(axis=(1, 3)).astype(np.float64)
    yv = blocks.ravel()
    # block-centre coordinates normalised to [-1, 1] along the width (same scale on both axes)
    s_norm = max(hb, wb) / 2.0
    by = ((np.arange(hb) + 0.5) - hb / 2) / s_norm
    bx = ((np.arange(wb) + 0.5) - wb / 2) / s_norm
    YY, XX = np.meshgrid(by, bx, indexing="ij")

    def fit_once(A, keep):
        Ak = A[keep]
        try:  # normal equations: the bases are small and well conditioned
            coef = np.linalg.solve(Ak.T @ Ak, Ak.T @ yv[keep])
        except np.linalg.LinAlgError:
            coef, *_ = np.linalg.lstsq(Ak, yv[keep], rcond=None)
        return coef, A @ coef

    def robust(A):
        keep = np.isfinite(yv)
        coef = fit = None
        for _ in range(iterations + 1):
            coef, fit = fit_once(A, keep)
            r = yv / np.where(np.abs(fit) > 1e-12, fit, 1e-12) - 1.0
            med = np.median(r[keep])
            sd = 1.4826 * np.median(np.abs(r[keep] - med)) + 1e-9
            new_keep = np.abs(r - med) <= clip_sigma * sd
            if new_keep.sum() < A.shape[1] * 3 or np.array_equal(new_keep, keep):
                break
            keep = new_keep
        r = yv / np.where(np.abs(fit) > 1e-12, fit, 1e-12) - 1.0
        return coef, float(np.mean(np.abs(r[keep]))), int(keep.sum())

    if model == "legendre":
        A = _legendre_basis(hb, wb, degree).reshape(hb * wb, -1)
        coef, _, _ = robust(A)
        yc = (np.arange(h) + 0.5) / b - 0.5
        xc = (np.arange(w) + 0.5) / b - 0.5
        y = -1 + 2 * yc / max(hb - 1, 1)
        x = -1 + 2 * xc / max(wb - 1, 1)
        Ly = np.polynomial.legendre.legvander(y, degree)
        Lx = np.polynomial.legendre.legvander(x, degree)
        terms = [(i, j) for i in range(degree + 1) for j in range(degree + 1) if i + j <= degree]
        surf = np.zeros((h, w))
        for k, (i, j) in enumerate(terms):
            surf += coef[k] * Ly[:, i][:, None] * Lx[:, j][None, :]
        return (surf.astype(np.float32), None) if return_centre else surf.astype(np.float32)
    py = ((np.arange(h) + 0.5) / b - hb / 2) / s_norm
    px = ((np.arange(w) + 0.5) / b - wb / 2) / s_norm
    PY, PX = np.meshgrid(py, px, indexing="ij")
    if model == "correction":  # gain, gradient and r² about the frame centre (see flat_relative)
        coef, _, _ = robust(_correction_basis(YY, XX).reshape(hb * wb, -1))
        surf = (_correction_basis(PY, PX) @ coef).astype(np.float32)
        return (surf, None) if return_centre else surf
    # radial: search the optical centre on a coarse then a fine grid (score: mean |residual|
    # of the kept blocks, penalised for blocks dropped)
    best = None
    searches = ((0.1, 0.2), (0.025, 0.05)) if centre is None else ((1.0, 0.0),)
    if centre is not None:
        best = (0.0, tuple(centre), None)
    for step, span in searches:
        c0 = (0.0, 0.0) if best is None else best[1]
        for dy in np.arange(-span, span + 1e-9, step):
            for dx in np.arange(-span, span + 1e-9, step):
                c = (c0[0] + dy, c0[1] + dx)
                A = _radial_basis(YY, XX, *c).reshape(hb * wb, -1)
                coef, err, nk = robust(A)
                score = err * (yv.size / max(nk, 1))
                if best is None or score < best[0]:
                    best = (score, c, coef)
    _, (cy, cx), coef = best
    if centre is not None:
        coef, _, _ = robust(_radial_basis(YY, XX, cy, cx).reshape(hb * wb, -1))
    surf = (_radial_basis(PY, PX, cy, cx) @ coef).astype(np.float32)
    return (surf, (cy, cx)) if return_centre else surf


def _planes(raw: Raw) -> tuple[np.ndarray, np.ndarray, int, str, float]:
    """``(planes [n², H/n, W/n], signal [H, W] cropped to whole tiles, n, cfa, mean signal [DN])``
    of a flat field."""
    cfa = normalize_cfa(raw.meta.cfa)
    n = tile_size(cfa)
    x = black_subtracted(raw)
    H, W = x.shape
    if H < 8 * n or W < 8 * n:
        raise MeasurementError(f"frame {W} × {H} is too small for flat-field analysis (need at least {8 * n} px a side)")
    x = x[: H // n * n, : W // n * n]
    mean = float(x.mean())
    if not mean > 0:
        raise MeasurementError(f"the flat field has no signal above black (mean {mean:.3g} DN)")
    return pack(x, n), x, n, cfa, mean


def shading_reference(frames, *, smooth_px: float = 1.0) -> np.ndarray:
    """Golden shading reference ``[n², H/n, W/n]`` (float32, each plane of mean 1) from good modules' flat fields.

    Each frame's CFA planes are divided by the frame's mean signal; the reference is their
    per-pixel 20 % trimmed mean (a blemish on a few golden modules does not enter it, and the
    noise stays near that of the plain mean: the median's, 1.25× higher, cost the benchmark's
    dust detection), smoothed by local quadratic fits over ``6 · smooth_px + 1`` plane pixels
    (Savitzky-Golay, separable, fitted up to the edges — unbiased on the steep vignetting,
    where a Gaussian blur is ~1 % off in the corners) to damp the noise of few frames (noise
    σ ÷ 3 for 1 px); a wider kernel left a systematic residual in the qualification benchmark.
    Used by :func:`flat_relative` with ``model="reference"``: a module's expected flat is this
    reference times a smooth correction, so a broad blemish (contamination glare, a shading
    anomaly) is not absorbed by a flexible per-module fit.

    Args:
        frames: flat fields (what :func:`as_raw` accepts) of good modules of one design, one
            frame size and CFA; exposure levels may differ.
    """
    planes = []
    for f in frames:
        p, _, _, _, mean = _planes(as_raw(f))
        if planes and p.shape != planes[0].shape:
            raise InputError(f"reference flat fields must have one size and CFA: got planes {p.shape} and "
                             f"{planes[0].shape}")
        planes.append(p / mean)
    if not planes:
        raise InputError("a shading reference needs at least one good flat field")
    med = stats.trim_mean(np.stack(planes), 0.2, axis=0) if len(planes) > 1 else planes[0]
    if smooth_px > 0:
        # local quadratic fits (Savitzky-Golay, separable; fitted up to the frame edge): they
        # do not bias the steep vignetting of the corners as a Gaussian blur does (~1 %)
        win = 2 * int(round(3 * smooth_px)) + 1
        if min(med.shape[1:]) > win:
            med = savgol_filter(med, win, 2, axis=1, mode="interp")
            med = savgol_filter(med, win, 2, axis=2, mode="interp")
    return (med / med.mean(axis=(1, 2), keepdims=True)).astype(np.float32)


@dataclass(frozen=True)
class FlatResponse:
    """A flat field split into shading (smooth) and relative response (local).

    Attributes:
        rel: ``[H, W]`` relative response (signal / local shading surface), full resolution.
        surfaces: ``[n², H/n, W/n]`` shading surface of each CFA site [DN above black].
        signal: ``[H, W]`` black-subtracted signal [DN].
        cfa: CFA pattern; ``n`` its tile size.
        mean_dn: mean signal above black [DN].
    """

    rel: np.ndarray
    surfaces: np.ndarray
    signal: np.ndarray
    cfa: str
    n: int
    mean_dn: float


def flat_relative(raw: Raw, *, degree: int = 4, model: str = "legendre",
                  reference: np.ndarray | None = None) -> FlatResponse:
    """Relative response of a flat-field capture (see the module notes).

    ``model``: ``"legendre"`` or ``"radial"`` (:func:`robust_surface` per plane), or
    ``"reference"``: each plane is the golden ``reference`` (:func:`shading_reference`) times a
    robust correction surface fitted to the plane / reference (``robust_surface(...,
    model="correction")``: gain, x and y gradient, r² — what transmission, decentre and
    colour-shading spread change).
    """
    if model not in ("legendre", "radial", "reference"):
        raise InputError(f"shading model must be 'legendre', 'radial' or 'reference', got {model!r}")
    raw = as_raw(raw)
    planes, x, n, cfa, mean = _planes(raw)
    if model == "reference":
        if reference is None:
            raise InputError("shading model 'reference' needs a reference (shading_reference() of good modules)")
        ref = np.asarray(reference, dtype=np.float32)
        if ref.shape != planes.shape:
            raise InputError(f"the frame's CFA planes are {planes.shape} but the shading reference is {ref.shape}: "
                             "score frames of the size and CFA the reference was made from")
        safe_ref = np.where(ref > 1e-6, ref, np.inf)
        surfaces = np.stack([robust_surface(p / r, 2, model="correction") * r for p, r in zip(planes, safe_ref)])
        surfaces = np.where(np.isfinite(surfaces), surfaces, 0.0)
    elif model == "radial" and len(planes) > 1:
        # one optical centre for every colour plane, searched on their mean
        _, c = robust_surface(planes.mean(axis=0), degree, model=model, return_centre=True)
        surfaces = np.stack([robust_surface(p, degree, model=model, centre=c) for p in planes])
    else:
        surfaces = np.stack([robust_surface(p, degree, model=model) for p in planes])
    safe = np.where(surfaces > 1e-6 * mean, surfaces, np.inf)
    rel = unpack(planes / safe, n)
    rel = np.where(np.isfinite(rel), rel, 0.0).astype(np.float32)
    return FlatResponse(rel=rel, surfaces=surfaces, signal=x, cfa=cfa, n=n, mean_dn=mean)


def plane_median3(rel: np.ndarray, n: int) -> np.ndarray:
    """3×3 median of each pixel's same-colour neighbourhood (on the packed CFA planes)."""
    p = pack(rel, n)
    med = np.stack([ndimage.median_filter(q, size=3, mode="nearest") for q in p])
    return unpack(med, n)


def noise_sigma(m: np.ndarray) -> float:
    """Robust white-noise σ of a map: 1.4826 · MAD of horizontal neighbour differences / √2."""
    d = np.diff(m, axis=1).ravel()
    if d.size == 0:
        return 1.0
    mad = np.median(np.abs(d - np.median(d)))
    return float(1.4826 * mad / np.sqrt(2)) or float(np.std(d) / np.sqrt(2)) or 1e-6


def bin_mean(x: np.ndarray, b: int) -> np.ndarray:
    if b <= 1:
        return x
    h, w = x.shape[0] // b, x.shape[1] // b
    return x[: h * b, : w * b].reshape(h, b, w, b).mean(axis=(1, 3))


@dataclass(frozen=True)
class AnalysisMap:
    """Detector input: ``z`` ``[h, w]`` float32 (deviation in noise σ) at ``scale`` full-res px per map px.

    ``rel_binned`` is the binned relative response (1 = expected), ``sigma`` its noise.
    ``full_shape`` is the (H, W) of the frame it came from.
    """

    z: np.ndarray
    rel_binned: np.ndarray
    sigma: float
    scale: int
    full_shape: tuple[int, int]


def local_noise_sigma(m: np.ndarray, signal: np.ndarray, *, block: int = 8) -> np.ndarray:
    """Noise σ of a relative-response map at every pixel, from the photon-transfer model.

    A flat's relative noise is σ² = a + b / S: a fixed part (PRNU, which scales with the
    signal) and shot noise (Poisson, ∝ 1/S) — so where the lens vignettes, the map is
    noisier (a third more variance in the corners of the benchmark's modules). ``a`` and ``b``
    are fitted (least squares, non-negative, one robust refit) to the σ² of ``block`` × ``block``
    blocks (from the median absolute difference of horizontal neighbours, robust to blemishes)
    against the blocks' mean expected signal ``S`` (``signal``, same grid as ``m``, any unit).
    """
    d = np.diff(np.asarray(m, dtype=np.float64), axis=1)
    h, w = d.shape
    b = max(2, min(block, h // 4, w // 4))
    hb, wb = h // b, w // b
    blocks = d[: hb * b, : wb * b].reshape(hb, b, wb, b).transpose(0, 2, 1, 3).reshape(hb * wb, b * b)
    med = np.median(blocks, axis=1, keepdims=True)
    var_b = (1.4826 * np.median(np.abs(blocks - med), axis=1)) ** 2 / 2
    s_b = bin_mean(np.asarray(signal, dtype=np.float64)[: hb * b, : wb * b], b).ravel()
    A = np.stack([np.ones_like(s_b), 1.0 / np.maximum(s_b, 1e-12)], axis=1)
    keep = np.isfinite(var_b) & (s_b > 0)
    coef = np.array([np.median(var_b[keep]), 0.0])
    for _ in range(2):
        if keep.sum() < 4:
            break
        sol, *_ = np.linalg.lstsq(A[keep], var_b[keep], rcond=None)
        if sol[1] < 0:  # no shot-noise term: constant σ
            sol = np.array([np.mean(var_b[keep]), 0.0])
        elif sol[0] < 0:
            sol = np.array([0.0, float(np.sum(A[keep, 1] * var_b[keep]) / np.sum(A[keep, 1] ** 2))])
        coef = sol
        r = var_b - A @ coef
        mad = 1.4826 * np.median(np.abs(r[keep])) + 1e-30
        keep = keep & (np.abs(r) <= 3 * mad)
    var = coef[0] + coef[1] / np.maximum(np.asarray(signal, dtype=np.float64), 1e-12)
    return np.sqrt(np.maximum(var, 1e-18)).astype(np.float32)


def analysis_map(image, *, bin: int = 1, degree: int = 4, model: str = "legendre", outlier_sigma: float = 6.0, clip: float = 50.0,
                 response: FlatResponse | None = None, exclude: np.ndarray | None = None,
                 reference: np.ndarray | None = None, noise: str = "global") -> AnalysisMap:
    """The z-map the area detectors work on (see the module notes).

    Args:
        image: a flat-field :class:`Raw` (or what :func:`as_raw` accepts).
        bin: extra binning after the CFA tile (1 = one map pixel per CFA tile).
        degree, model, reference: the expected shading (:func:`flat_relative`).
        outlier_sigma: isolated pixels further than this from their same-colour median are
            replaced by it (defect pixels are the defect-pixel detector's job).
        clip: |z| is clipped here (dead columns would otherwise dominate learned models).
        exclude: ``[H, W]`` bool, pixels to replace by their same-colour median too (known
            defect pixels and lines).
        noise: ``"global"`` — z in units of the frame's one noise σ; ``"local"`` — in units of
            the noise expected at each pixel (:func:`local_noise_sigma`: vignetted corners are
            noisier), so a threshold means the same false-alarm rate everywhere.
    """
    if noise not in ("global", "local"):
        raise InputError(f"noise must be 'global' or 'local', got {noise!r}")
    fr = response or flat_relative(as_raw(image), degree=degree, model=model, reference=reference)
    rel = fr.rel
    med = plane_median3(rel, fr.n)
    dev = rel - med
    s_px = noise_sigma(pack(rel, fr.n)[0])
    out = np.abs(dev) > outlier_sigma * max(s_px, 1e-6)
    if exclude is not None:
        ex = np.asarray(exclude, dtype=bool)[: rel.shape[0], : rel.shape[1]]
        out[: ex.shape[0], : ex.shape[1]] |= ex
    rel = np.where(out, med, rel)
    n = max(fr.n, 1)
    step = n * bin
    m = bin_mean(bin_mean(rel, n), bin) if n > 1 else bin_mean(rel, bin)
    if n == 1 and bin == 1:
        m = rel
    sigma = noise_sigma(m)
    if noise == "local":
        S = fr.surfaces.mean(axis=0) if n > 1 else fr.surfaces[0]
        S = bin_mean(S, bin) if bin > 1 else S
        S = S[: m.shape[0], : m.shape[1]]
        smap = local_noise_sigma(m, S)
        z = np.clip((m - 1.0) / np.maximum(smap, 1e-9), -clip, clip).astype(np.float32)
    else:
        z = np.clip((m - 1.0) / max(sigma, 1e-9), -clip, clip).astype(np.float32)
    return AnalysisMap(z=z, rel_binned=m.astype(np.float32), sigma=sigma, scale=step,
                       full_shape=(int(fr.rel.shape[0]), int(fr.rel.shape[1])))


def upsample_map(m: np.ndarray, scale: int, full_shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour upsampling of a map by ``scale`` to ``full_shape`` (edges padded)."""
    up = np.repeat(np.repeat(m, scale, axis=0), scale, axis=1) if scale > 1 else m
    H, W = full_shape
    out = np.zeros((H, W), dtype=m.dtype)
    h, w = min(H, up.shape[0]), min(W, up.shape[1])
    out[:h, :w] = up[:h, :w]
    if h < H:
        out[h:, :w] = up[h - 1 : h, :w]
    if w < W:
        out[:, w:] = out[:, w - 1 : w]
    return out


def downsample_mask(mask: np.ndarray, scale: int) -> np.ndarray:
    """Max-pool a full-resolution mask to the analysis map grid."""
    if scale <= 1:
        return mask.astype(bool)
    h, w = mask.shape[0] // scale, mask.shape[1] // scale
    return mask[: h * scale, : w * scale].reshape(h, scale, w, scale).any(axis=(1, 3))


__all__ = [
    "AnalysisMap", "FlatResponse", "analysis_map", "as_raw", "bin_mean", "black_subtracted", "downsample_mask",
    "flat_relative", "local_noise_sigma", "noise_sigma", "pack", "plane_median3", "robust_surface", "shading_reference", "unpack",
    "upsample_map",
]
