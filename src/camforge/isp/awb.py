"""White balance: per-colour gains on the mosaic (green = 1), and the illuminant estimators.

Estimators (all on black-subtracted, shading-corrected colour planes, saturated pixels
excluded):

* grey world — the scene averages to grey: gain_c = mean(G) / mean(c)
  (G. Buchsbaum, "A spatial processor model for object colour perception", J. Franklin
  Inst. 310(1), 1980);
* white patch — the brightest surface is white: the ``percentile`` of each channel
  (E. H. Land, J. J. McCann, "Lightness and retinex theory", JOSA 61(1), 1971);
* grey edge — the average edge is grey: the Minkowski ``p``-norm of the gradient magnitude
  of each channel smoothed by a Gaussian of ``sigma_px`` (J. van de Weijer, T. Gevers,
  A. Gijsenij, "Edge-based color constancy", IEEE TIP 16(9), 2007);
* as shot — the camera's own estimate, DNG ``AsShotNeutral`` (gain_c = 1 / neutral_c).

The estimators are functions of the data and pass gradients to it; manual gains are
``nn.Parameter`` tensors.
"""

from __future__ import annotations

import math

import torch

from camforge.cfa import normalize_cfa
from camforge.errors import ConfigError, InputError
from camforge.isp._common import as_param, check_mosaic, gaussian_taps, pack, separable_filter, site_colors, tile_n, unpack
from camforge.isp._state import IspState, Stage

METHODS = ("as_shot", "manual", "grey_world", "white_patch", "grey_edge")


def color_planes(planes: torch.Tensor, cfa: str) -> torch.Tensor:
    """Packed planes ``[B, n², h, w]`` → colour planes ``[B, 3, h, w]`` (same-colour sites averaged)."""
    cols = site_colors(cfa)
    out = []
    for c in range(3):
        idx = [k for k, v in enumerate(cols) if v == c]
        out.append(planes[:, idx].mean(1))
    return torch.stack(out, 1)


def _valid_mean(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    w = valid.to(x.dtype)
    return (x * w).sum((-2, -1)) / torch.clamp(w.sum((-2, -1)), min=1.0)


def grey_world(rgb: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
    """Grey-world illuminant estimate ``[B, 3]`` (camera RGB of the neutral, G = 1)."""
    valid = torch.ones_like(rgb[:, :1], dtype=torch.bool) if valid is None else valid
    e = _valid_mean(rgb, valid)
    return e / e[:, 1:2]


def white_patch(rgb: torch.Tensor, valid: torch.Tensor | None = None, percentile: float = 99.0) -> torch.Tensor:
    """White-patch illuminant estimate ``[B, 3]``: the ``percentile`` of each channel (G = 1)."""
    B = rgb.shape[0]
    out = []
    for b in range(B):
        v = rgb[b].flatten(1)
        if valid is not None:
            v = v[:, valid[b].flatten()]
        if v.shape[1] == 0:
            raise InputError("white balance: every pixel is saturated; lower the exposure or use manual gains")
        v = v[:, :: max(1, v.shape[1] // 4_000_000)]
        out.append(torch.quantile(v, percentile / 100.0, dim=1))
    e = torch.stack(out)
    return e / e[:, 1:2]


def grey_edge(rgb: torch.Tensor, valid: torch.Tensor | None = None, p: float = 1.0, sigma_px: float = 1.0) -> torch.Tensor:
    """Grey-edge illuminant estimate ``[B, 3]`` (first-order, Minkowski norm ``p``, G = 1)."""
    x = separable_filter(rgb, gaussian_taps(sigma_px, dtype=rgb.dtype)) if sigma_px > 0 else rgb
    gy = x[..., 2:, 1:-1] - x[..., :-2, 1:-1]
    gx = x[..., 1:-1, 2:] - x[..., 1:-1, :-2]
    mag = torch.sqrt(gx * gx + gy * gy + 1e-20) * 0.5
    v = valid[..., 1:-1, 1:-1] if valid is not None else torch.ones_like(mag[:, :1], dtype=torch.bool)
    e = _valid_mean(mag**p, v) ** (1.0 / p)
    return e / e[:, 1:2]


def estimate_illuminant(rgb: torch.Tensor, method: str, valid=None, *, percentile=99.0, p=1.0, sigma_px=1.0) -> torch.Tensor:
    """Camera RGB of the neutral ``[B, 3]`` (G = 1) from colour planes ``[B, 3, h, w]``."""
    if method == "grey_world":
        e = grey_world(rgb, valid)
    elif method == "white_patch":
        e = white_patch(rgb, valid, percentile)
    elif method == "grey_edge":
        e = grey_edge(rgb, valid, p, sigma_px)
    else:
        raise ConfigError(f"unknown illuminant estimator {method!r}; use grey_world, white_patch or grey_edge")
    if not bool(torch.isfinite(e).all()) or bool((e <= 0).any()):
        raise InputError(
            f"white balance ({method}) failed: a colour channel has no signal (all-zero or black frame?); "
            "check the black level or use manual gains"
        )
    return e


def plane_gains(gains_rgb: torch.Tensor, cfa: str) -> torch.Tensor:
    """Per-colour gains ``[B, 3]`` → per-plane gains ``[B, n², 1, 1]``."""
    idx = torch.tensor(site_colors(cfa), dtype=torch.long)
    return gains_rgb[:, idx][..., None, None]


def apply_wb_planes(planes: torch.Tensor, gains_rgb: torch.Tensor, cfa: str, clip_level=None) -> torch.Tensor:
    """Multiply packed planes by per-colour gains; optionally clip highlights at ``clip_level``."""
    y = planes * plane_gains(gains_rgb.to(planes.dtype), cfa)
    if clip_level is not None:
        y = torch.minimum(y, clip_level)
    return y


def white_balance(x: torch.Tensor, cfa: str, gains=None, *, method: str = "manual", percentile: float = 99.0,
                  p: float = 1.0, sigma_px: float = 1.0, saturation: float = 0.98) -> torch.Tensor:
    """White-balance a normalised mosaic ``[B, 1, H, W]``.

    ``method="manual"`` applies ``gains`` ([3] or [B, 3], R G B); the estimators compute
    them from the frame (see the module docstring).
    """
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    n = tile_n(cfa)
    pl = pack(x, n)
    if method == "manual":
        if gains is None:
            raise InputError("manual white balance needs gains [r, g, b]")
        g = torch.as_tensor(gains, dtype=x.dtype).reshape(-1, 3).expand(x.shape[0], 3)
    else:
        rgb = color_planes(pl, cfa)
        valid = (rgb < saturation).all(1, keepdim=True)
        g = 1.0 / estimate_illuminant(rgb, method, valid, percentile=percentile, p=p, sigma_px=sigma_px)
    return unpack(apply_wb_planes(pl, g, cfa), n)


def neutral_to_gains(neutral) -> torch.Tensor:
    """Camera RGB of the neutral (e.g. DNG AsShotNeutral) → gains ``[1, 3]`` with G = 1."""
    n = torch.as_tensor(neutral, dtype=torch.float64).reshape(-1, 3)
    if bool((n <= 0).any()) or not bool(torch.isfinite(n).all()):
        raise InputError(f"as-shot neutral must be positive, got {n.tolist()}")
    g = 1.0 / n
    return (g / g[:, 1:2]).float()


class WhiteBalance(Stage):
    """White balance (functional twin: :func:`white_balance`).

    ``method``: ``as_shot``, ``manual``, ``grey_world``, ``white_patch``, ``grey_edge``.
    Parameter (tensor): ``gains`` [3] for ``manual``. In a pipeline the gains of the auto
    methods are computed once per frame (:meth:`camforge.isp.Pipeline.statistics`) and
    frozen in ``state.stats["awb_gains"]``.
    """

    name = "awb"
    raw_stage = True

    def __init__(self, method: str = "as_shot", gains=None, fallback: str = "grey_world", percentile: float = 99.0,
                 p: float = 1.0, sigma_px: float = 1.0, saturation: float = 0.98, clip_highlights: bool = True):
        super().__init__()
        if method not in METHODS:
            raise ConfigError(f"unknown awb method {method!r}; use one of {', '.join(METHODS)}")
        if method == "manual" and gains is None:
            raise ConfigError("awb method 'manual' needs gains [r, g, b]")
        self.method = method
        self.fallback = fallback
        self.gains = None if gains is None else as_param(gains)
        if self.gains is not None and self.gains.numel() != 3:
            raise ConfigError("awb gains need three values [r, g, b]")
        self.percentile = float(percentile)
        self.p = float(p)
        self.sigma_px = float(sigma_px)
        self.saturation = float(saturation)
        self.clip_highlights = clip_highlights

    def effective_method(self, meta) -> str:
        if self.method == "as_shot" and meta.as_shot_neutral is None:
            return self.fallback
        return self.method

    def needs_statistics(self, meta) -> bool:
        return self.effective_method(meta) in ("grey_world", "white_patch", "grey_edge")

    def gains_from_stats(self, rgb: torch.Tensor, valid: torch.Tensor, meta) -> torch.Tensor:
        """Gains ``[B, 3]`` from statistics planes (auto methods) or the metadata."""
        m = self.effective_method(meta)
        B = rgb.shape[0] if rgb is not None else 1
        if m == "manual":
            return self.gains.reshape(1, 3).expand(B, 3)
        if m == "as_shot":
            return neutral_to_gains(meta.as_shot_neutral).expand(B, 3)
        e = estimate_illuminant(rgb, m, valid, percentile=self.percentile, p=self.p, sigma_px=self.sigma_px)
        return 1.0 / e

    def run(self, state: IspState) -> IspState:
        if state.domain != "raw":
            raise InputError("awb works on raw mosaics, got a demosaiced image")
        if state.meta.cfa == "MONO":
            return state
        p = state.data
        m = self.effective_method(state.meta)
        if m in ("manual", "as_shot"):
            g = self.gains_from_stats(None, None, state.meta).expand(p.shape[0], 3)
        elif "awb_gains" in state.stats:
            g = state.stats["awb_gains"]
        else:
            rgb = color_planes(p, state.cfa)
            valid = (rgb < self.saturation).all(1, keepdim=True)
            g = self.gains_from_stats(rgb, valid, state.meta)
        g = g.to(p.dtype)
        clip = None
        if self.clip_highlights:
            white = state.stats.get("white_planes", 1.0)
            clip = torch.as_tensor(white, dtype=p.dtype) * g.min(1).values.reshape(-1, 1, 1, 1)
        stats = {**state.stats, "awb_gains": g}
        return state.replace(data=apply_wb_planes(p, g, state.cfa, clip), stats=stats)


def binned_planes(x: torch.Tensor, n: int, s: int, mode: str = "mean") -> torch.Tensor:
    """Mosaic ``[B, 1, H, W]`` → packed planes binned by ``s × s`` plane pixels ``[B, n², H/(ns), W/(ns)]``.

    Uses strided views and reductions only (no full-size copy), for statistics on big frames.
    """
    B, _, H, W = x.shape
    Hb, Wb = H // (n * s), W // (n * s)
    v = x[..., : Hb * n * s, : Wb * n * s].reshape(B, Hb, s, n, Wb, s, n)
    r = v.mean((2, 5)) if mode == "mean" else v.amax((2, 5))
    return r.permute(0, 2, 4, 1, 3).reshape(B, n * n, Hb, Wb)


def stats_bin(plane_h: int, plane_w: int, max_pixels: int) -> int:
    """Binning factor so a colour plane has at most ``max_pixels`` pixels."""
    return max(1, math.ceil(math.sqrt(plane_h * plane_w / max_pixels)))
