"""Calibration helpers: lens-shading gain maps from a flat field, CCM fits from chart patches.

Lens shading: each CFA site plane of a black-subtracted flat-field capture is fitted, in the
least-squares sense, by the same separable bicubic surface the :class:`~camforge.isp.LensShading`
stage evaluates (``S = W_y · G · W_xᵀ``, solved with pseudo-inverses). The gain target
``max(S) / S`` is fitted the same way, giving a small node grid per site: noise and dust
average out, and gains are 1 at the brightest point of each site (so the centre colour is
unchanged and colour shading is removed).

CCM: the 3 × 3 matrix ``M`` minimising ``Σ‖M·c_i − r_i‖²`` over patches (least squares, as
``colour.characterisation.matrix_colour_correction`` with 3 terms), or the same with the
constraint ``M·c_w = r_w`` (white preserving: the white patch, or (1, 1, 1) → (1, 1, 1),
maps exactly), solved in closed form with a Lagrange multiplier per row
(G. D. Finlayson, M. S. Drew, "Constrained least-squares regression in color spaces",
J. Electronic Imaging 6(4), 1997).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from camforge.errors import InputError, MeasurementError
from camforge.isp._common import check_mosaic, pack, tile_n
from camforge.isp.lsc import cubic_weights, save_lsc, site_positions
from camforge.types import Raw


@dataclass(frozen=True)
class LscCalibration:
    """Lens-shading calibration: node grids ``gains`` ``[n_sites, rows, cols]``.

    Attributes:
        gains: gain node grids per CFA tile site (row order of the tile).
        cfa: CFA pattern of the flat field.
        fit_residual_pct: RMS of (flat − fitted surface) / fitted surface [%] (noise + dust).
        max_gain: largest gain of the map (corner boost).
        falloff_pct: per site, 100·(1 − min/max) of the fitted flat [%].
    """

    gains: np.ndarray
    cfa: str
    fit_residual_pct: float
    max_gain: float
    falloff_pct: tuple[float, ...]

    def to_config(self, strength: float = 1.0) -> dict[str, Any]:
        """An ``lsc`` section for an :class:`~camforge.isp.IspConfig`."""
        return {"enable": True, "gains": np.round(self.gains, 6).tolist(), "strength": strength}

    def save(self, path: str | Path) -> Path:
        """Write the grids to an ``.npz`` (``lsc.file`` in an ISP config)."""
        return save_lsc(path, self.gains, self.cfa, fit_residual_pct=self.fit_residual_pct)

    def to_dict(self) -> dict[str, Any]:
        return {"gains": self.gains.tolist(), "cfa": self.cfa, "fit_residual_pct": self.fit_residual_pct,
                "max_gain": self.max_gain, "falloff_pct": list(self.falloff_pct)}


def _fit_surface(F: np.ndarray, Wy: np.ndarray, Wx: np.ndarray) -> np.ndarray:
    """Least-squares node grid G of the separable surface Wy·G·Wxᵀ ≈ F."""
    return np.linalg.pinv(Wy) @ F @ np.linalg.pinv(Wx).T


def calibrate_lsc(flat: Raw, grid: tuple[int, int] = (13, 17), *, black_level_dn=None, white_level_dn=None,
                  dark: Raw | None = None, saturation: float = 0.98) -> LscCalibration:
    """Lens-shading gain grids from a flat-field capture (frames of the batch are averaged).

    Args:
        flat: raw capture of a uniform, diffuse target [DN].
        grid: node grid (rows, cols) over the frame; 9 × 13 to 17 × 23 is usual.
        black_level_dn: per-site black level (default: the frame metadata), unless
        dark: a dark frame (same settings) is given, which is subtracted instead.
        saturation: normalised level above which pixels count as clipped.
    """
    if not isinstance(flat, Raw):
        raise InputError(f"calibrate_lsc needs a camforge Raw flat field, got {type(flat).__name__}")
    rows, cols = int(grid[0]), int(grid[1])
    if rows < 2 or cols < 2:
        raise InputError(f"LSC grid must be at least 2 × 2, got {rows} × {cols}")
    cfa = flat.meta.cfa
    n = tile_n(cfa)
    x = check_mosaic(flat.data, cfa, "flat field").double()
    if not bool(torch.isfinite(x).all()):
        raise InputError("flat field contains NaN or infinite values")
    H, W = x.shape[-2:]
    white = float(flat.meta.white_level_dn if white_level_dn is None else white_level_dn)
    p = pack(x, n).mean(0).numpy()  # [n², h, w]
    bl = np.asarray(flat.meta.black_level_dn if black_level_dn is None else black_level_dn, dtype=np.float64).ravel()
    if bl.size == 1:
        bl = np.full(n * n, bl[0])
    if bl.size != n * n:
        raise InputError(f"black_level_dn needs 1 or {n * n} values, got {bl.size}")
    clipped = np.mean(p >= bl[:, None, None] + saturation * (white - bl[:, None, None]))
    if dark is not None:
        d = pack(check_mosaic(dark.data, cfa, "dark frame").double(), n).mean(0).numpy()
        if d.shape != p.shape:
            raise InputError(f"dark frame is {tuple(dark.data.shape[-2:])}, flat field is {(H, W)}")
        p = p - d
    else:
        p = p - bl[:, None, None]
    p = p / (white - bl[:, None, None])
    if clipped > 0.001:
        raise MeasurementError(f"flat field is clipped ({100 * clipped:.2f} % of pixels near white); lower the exposure")
    if np.median(p) < 0.02:
        raise MeasurementError("flat field is too dark (median below 2 % of full scale); raise the exposure")
    h, w = p.shape[-2:]
    gains, resid, falloff = [], [], []
    for k in range(n * n):
        sy, sx = divmod(k, n)
        Wy = cubic_weights(site_positions(h, sy, n, 0, H), rows).numpy()
        Wx = cubic_weights(site_positions(w, sx, n, 0, W), cols).numpy()
        S = Wy @ _fit_surface(p[k], Wy, Wx) @ Wx.T
        if S.min() <= 0:
            raise MeasurementError("flat field has no signal in part of the frame (fitted level <= 0); check the capture")
        resid.append(np.sqrt(np.mean(((p[k] - S) / S) ** 2)))
        falloff.append(100.0 * (1.0 - S.min() / S.max()))
        gains.append(_fit_surface(S.max() / S, Wy, Wx))
    g = np.stack(gains).astype(np.float32)
    return LscCalibration(g, cfa, float(100 * np.sqrt(np.mean(np.square(resid)))), float(g.max()),
                          tuple(float(f) for f in falloff))


@dataclass(frozen=True)
class CcmFit:
    """A fitted colour correction matrix.

    Attributes:
        matrix: 3 × 3, maps camera RGB (white balanced) to the reference space (row vectors
            ``M @ c``).
        method: ``least_squares`` or ``white_preserving``.
        rms_error: RMS residual over the patches, in reference units.
        white_error: ``|M·c_w − r_w|`` for the white constraint (≈ 0 when white preserving).
    """

    matrix: np.ndarray
    method: str
    rms_error: float
    white_error: float

    def to_config(self) -> dict[str, Any]:
        """A ``ccm`` section for an :class:`~camforge.isp.IspConfig`."""
        return {"enable": True, "source": "matrix", "matrix": np.round(self.matrix, 6).tolist()}

    def to_dict(self) -> dict[str, Any]:
        return {"matrix": self.matrix.tolist(), "method": self.method, "rms_error": self.rms_error,
                "white_error": self.white_error}


def fit_ccm(camera_rgb, reference_rgb, method: str = "least_squares", *, white: int | None = None,
            weights=None) -> CcmFit:
    """Fit a 3 × 3 CCM from patch values.

    Args:
        camera_rgb: ``[N, 3]`` white-balanced linear camera RGB of the patches (N ≥ 3).
        reference_rgb: ``[N, 3]`` target linear values (e.g. linear sRGB of the ColorChecker).
        method: ``least_squares`` or ``white_preserving``.
        white: index of the white patch for the white-preserving constraint (default: the
            constraint maps (1, 1, 1) to (1, 1, 1)).
        weights: optional per-patch weights ``[N]``.
    """
    A = np.asarray(camera_rgb, dtype=np.float64)
    R = np.asarray(reference_rgb, dtype=np.float64)
    if A.ndim != 2 or A.shape[1] != 3 or R.shape != A.shape:
        raise InputError(f"camera_rgb and reference_rgb must both be [N, 3], got {A.shape} and {R.shape}")
    if A.shape[0] < 3:
        raise InputError(f"a CCM fit needs at least 3 patches, got {A.shape[0]}")
    if not (np.all(np.isfinite(A)) and np.all(np.isfinite(R))):
        raise InputError("patch values contain NaN or infinite values")
    wts = np.ones(A.shape[0]) if weights is None else np.asarray(weights, dtype=np.float64).ravel()
    if wts.shape != (A.shape[0],) or np.any(wts < 0):
        raise InputError("weights must be [N] non-negative values")
    sw = np.sqrt(wts)[:, None]
    Aw, Rw = A * sw, R * sw
    AtA = Aw.T @ Aw
    if np.linalg.matrix_rank(AtA) < 3:
        raise InputError("patch colours are degenerate (rank < 3): the CCM is not determined")
    M_ls = np.linalg.solve(AtA, Aw.T @ Rw).T
    if white is None:
        c_w, r_w = np.ones(3), np.ones(3)
    else:
        c_w, r_w = A[int(white)], R[int(white)]
    if method == "least_squares":
        M = M_ls
    elif method == "white_preserving":
        Ainv_c = np.linalg.solve(AtA, c_w)
        lam = (r_w - M_ls @ c_w) / (c_w @ Ainv_c)
        M = M_ls + np.outer(lam, Ainv_c)
    else:
        raise InputError(f"unknown CCM fit method {method!r}; use least_squares or white_preserving")
    res = A @ M.T - R
    return CcmFit(M, method, float(np.sqrt(np.mean(res**2))), float(np.linalg.norm(M @ c_w - r_w)))
