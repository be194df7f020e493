"""Lens shading correction: per-CFA-site gain maps on the mosaic.

The gain of site ``k`` at frame position ``(y, x)`` is a bicubic (Keys 1981, ``a = −0.5``)
interpolation of a coarse grid ``G[k]`` of ``rows × cols`` nodes spread over the whole frame
(corners of the first and last pixel centres), evaluated separably as
``W_y · G[k] · W_xᵀ``. Grids come from a flat-field capture (:func:`camforge.isp.calibrate_lsc`),
so the correction removes both luminance shading (cos⁴ fall-off, vignetting) and colour
shading (CRA-dependent crosstalk). A radial polynomial ``1 + k2·r² + k4·r⁴`` is offered for
quick work and gradient tuning. Positions are absolute frame coordinates, so tiles of a
frame get exactly the gains of the untiled frame.

Reference: R. Keys, "Cubic convolution interpolation for digital image processing",
IEEE Trans. ASSP 29(6), 1981.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from camforge.cfa import normalize_cfa
from camforge.errors import ConfigError, InputError
from camforge.isp._common import as_param, check_mosaic, pack, tile_n, unpack
from camforge.isp._state import IspState, Stage


def _keys(t: torch.Tensor, a: float = -0.5) -> torch.Tensor:
    t = t.abs()
    t2, t3 = t * t, t * t * t
    w1 = (a + 2) * t3 - (a + 3) * t2 + 1
    w2 = a * t3 - 5 * a * t2 + 8 * a * t - 4 * a
    return torch.where(t <= 1, w1, torch.where(t < 2, w2, torch.zeros_like(t)))


def cubic_weights(positions: torch.Tensor, n_nodes: int) -> torch.Tensor:
    """Interpolation matrix ``[len(positions), n_nodes]`` for normalised positions in [0, 1].

    Nodes sit at ``k / (n_nodes − 1)``. The ghost nodes beyond each end follow Keys's
    boundary condition ``c₋₁ = 3c₀ − 3c₁ + c₂`` (linear extrapolation with 2 nodes), so
    the interpolant reproduces quadratics up to the frame edge; each row sums to 1.
    """
    pos = positions.to(torch.float64) * (n_nodes - 1)
    i0 = torch.floor(torch.clamp(pos, 0.0, n_nodes - 1 - 1e-9))
    W = torch.zeros(len(positions), n_nodes, dtype=torch.float64)
    ghost = [(0, 3.0), (1, -3.0), (2, 1.0)] if n_nodes >= 3 else [(0, 2.0), (1, -1.0)]
    for k in (-1, 0, 1, 2):
        idx = i0 + k
        w = _keys(pos - idx)
        inside = (idx >= 0) & (idx <= n_nodes - 1)
        W.scatter_add_(1, idx.clamp(0, n_nodes - 1).long()[:, None], (w * inside)[:, None])
        lo, hi = idx < 0, idx > n_nodes - 1
        for node, coef in ghost:
            W[:, node] += w * lo * coef
            W[:, n_nodes - 1 - node] += w * hi * coef
    return W


def site_positions(n_planes_px: int, site: int, n: int, origin: float, full: int, step: float | None = None) -> torch.Tensor:
    """Normalised positions (0 at the first, 1 at the last pixel centre of the frame) of the
    pixels of one CFA site row/column of a (tile of a) frame; ``step`` (default ``n``) is the
    pixel spacing of the plane (``n·s`` for planes binned by ``s``, with ``origin`` at the
    first bin centre)."""
    idx = origin + site + (n if step is None else step) * torch.arange(n_planes_px, dtype=torch.float64)
    return idx / max(full - 1, 1)


def grid_gain_planes(grid: torch.Tensor, n: int, plane_hw: tuple[int, int], origin=(0, 0), full_size=None,
                     step: float | None = None) -> torch.Tensor:
    """Gain planes ``[n², h, w]`` from node grids ``[n², rows, cols]``."""
    h, w = plane_hw
    H, W = full_size or (h * n, w * n)
    rows, cols = grid.shape[-2:]
    out = []
    for k in range(n * n):
        sy, sx = divmod(k, n)
        Wy = cubic_weights(site_positions(h, sy, n, origin[0], H, step), rows).to(grid.dtype)
        Wx = cubic_weights(site_positions(w, sx, n, origin[1], W, step), cols).to(grid.dtype)
        out.append(Wy @ grid[k] @ Wx.T)
    return torch.stack(out)


def radial_gain_planes(k2, k4, n: int, plane_hw, origin=(0, 0), full_size=None, dtype=torch.float32,
                       step: float | None = None) -> torch.Tensor:
    """Gain planes ``[n², h, w]`` of ``1 + k2·r² + k4·r⁴`` (r = 1 at the frame corner)."""
    h, w = plane_hw
    H, W = full_size or (h * n, w * n)
    cy, cx = (H - 1) / 2.0, (W - 1) / 2.0
    r2_corner = cy * cy + cx * cx
    st = n if step is None else step
    out = []
    for k in range(n * n):
        sy, sx = divmod(k, n)
        y = origin[0] + sy + st * torch.arange(h, dtype=dtype)
        x = origin[1] + sx + st * torch.arange(w, dtype=dtype)
        r2 = ((y[:, None] - cy) ** 2 + (x[None, :] - cx) ** 2) / r2_corner
        out.append(1.0 + k2 * r2 + k4 * r2 * r2)
    return torch.stack(out)


def lens_shading(x: torch.Tensor, cfa: str, gains: torch.Tensor | None = None, *, radial=None, strength=1.0) -> torch.Tensor:
    """Apply lens-shading gains to a normalised mosaic ``[B, 1, H, W]``.

    Args:
        gains: node grids ``[n², rows, cols]`` (one per CFA tile site), or
        radial: ``(k2, k4)`` of ``1 + k2·r² + k4·r⁴``.
        strength: blend, ``1 + strength·(gain − 1)``.
    """
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    n = tile_n(cfa)
    p = pack(x, n)
    g = _gain_planes(gains, radial, n, p.shape[-2:], (0, 0), None, x.dtype)
    s = torch.as_tensor(strength, dtype=x.dtype)
    return unpack(p * (1.0 + s * (g - 1.0)), n)


def _gain_planes(gains, radial, n, plane_hw, origin, full_size, dtype, step=None):
    if gains is not None:
        g = torch.as_tensor(gains, dtype=dtype)
        if g.ndim != 3 or g.shape[0] != n * n:
            raise InputError(f"lens-shading gains must be [{n * n}, rows, cols] for this CFA, got {tuple(g.shape)}")
        return grid_gain_planes(g, n, plane_hw, origin, full_size, step)
    if radial is not None:
        k2, k4 = radial[0], radial[1]
        return radial_gain_planes(k2, k4, n, plane_hw, origin, full_size, dtype, step)
    raise InputError("lens shading needs gains (from calibrate_lsc) or radial coefficients")


def save_lsc(path: str | Path, gains, cfa: str, **info) -> Path:
    """Write gain grids ``[n², rows, cols]`` (+ the CFA name) to an ``.npz`` file atomically."""
    import os
    import tempfile

    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=p.parent, suffix=".npz")
    os.close(fd)
    try:
        np.savez(tmp, gains=np.asarray(gains, dtype=np.float32), cfa=np.array(normalize_cfa(cfa)),
                 **{k: np.asarray(v) for k, v in info.items()})
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return p


def load_lsc(path: str | Path) -> np.ndarray:
    """Read gain grids ``[n², rows, cols]`` from an ``.npz`` written by :func:`save_lsc`."""
    p = Path(path)
    if not p.exists():
        raise ConfigError(f"lsc.file not found: {p}")
    try:
        with np.load(p) as z:
            g = np.asarray(z["gains"], dtype=np.float32)
    except (OSError, ValueError, KeyError) as e:
        raise ConfigError(f"cannot read lens-shading gains from {p}: {e}") from None
    if g.ndim != 3:
        raise ConfigError(f"{p}: gains must be [n_sites, rows, cols], got shape {g.shape}")
    return g


class LensShading(Stage):
    """Lens shading correction (functional twin: :func:`lens_shading`).

    Parameters (tensors): ``gains`` (node grids) or ``radial`` (k2, k4), and ``strength``.
    """

    name = "lsc"
    raw_stage = True

    def __init__(self, gains=None, radial=None, strength: float = 1.0):
        super().__init__()
        if (gains is None) == (radial is None):
            raise ConfigError("LensShading needs exactly one of gains (grid from calibrate_lsc) or radial [k2, k4]")
        self.gains = None if gains is None else as_param(np.asarray(gains, dtype=np.float32))
        self.radial = None if radial is None else as_param(radial)
        if self.gains is not None and (self.gains.ndim != 3 or min(self.gains.shape[1:]) < 2):
            raise ConfigError(f"lsc gains must be [n_sites, rows, cols] with rows, cols >= 2, got {tuple(self.gains.shape)}")
        if self.gains is not None and not bool(torch.isfinite(self.gains).all() and (self.gains > 0).all()):
            raise ConfigError("lsc gains must be finite and positive")
        self.strength = as_param(strength)
        self._cache: tuple | None = None

    def gain_planes(self, n: int, plane_hw, origin, full_size, dtype, step=None) -> torch.Tensor:
        """Gain planes ``[n², h, w]`` for planes of ``plane_hw`` at ``origin`` of a ``full_size`` frame."""
        if self.gains is not None and self.gains.shape[0] != n * n:
            raise InputError(f"lsc gains have {self.gains.shape[0]} CFA sites but the frame's CFA tile has {n * n}")
        grad = torch.is_grad_enabled() and any(p.requires_grad for p in self.parameters())
        key = (n, tuple(plane_hw), tuple(origin), tuple(full_size), dtype, step)
        if not grad and self._cache is not None and self._cache[0] == key:
            return self._cache[1]
        g = _gain_planes(self.gains, self.radial, n, plane_hw, origin, full_size, dtype, step)
        g = 1.0 + self.strength.to(dtype) * (g - 1.0)
        if not grad:
            self._cache = (key, g.detach())
        return g

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError("lsc works on raw mosaics, got a demosaiced image")
        p = state.data
        g = self.gain_planes(state.n, p.shape[-2:], state.origin, state.frame_size(), p.dtype)
        return state.replace(data=p * g, stats={**state.stats, "white_planes": g})
