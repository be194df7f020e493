"""Edge-preserving denoise: non-local means and bilateral filter, on RGB or on the raw mosaic.

Both filters average each pixel with the candidates ``p + d`` of a ``S × S`` search window,
with weights computed on a guide image (luma ``Y`` of the input, taken as ``√Y``: shot
noise has variance ∝ signal, so √ makes it about uniform and one ``strength`` suits dark
and bright regions alike — the idea of Anscombe's variance-stabilising transform). On a
raw mosaic (:func:`nlm_raw`, :func:`bilateral_raw`) each CFA site plane is filtered with
weights from the per-tile mean of the sites, so noise is removed before demosaicing
correlates it, at a quarter of the weight computations:

* non-local means (A. Buades, B. Coll, J.-M. Morel, "A non-local algorithm for image
  denoising", CVPR 2005): ``w_d(p) = exp(−D_d(p) / h²)``, ``D_d(p)`` the mean squared guide
  difference between the ``P × P`` patches around ``p`` and ``p + d``; the centre has weight 1;
* bilateral (C. Tomasi, R. Manduchi, "Bilateral filtering for gray and color images",
  ICCV 1998): ``w_d(p) = exp(−|d|²/2σ_s²) · exp(−(g(p) − g(p+d))² / 2σ_r²)``.

``out(p) = Σ_d w_d(p) x(p + d) / Σ_d w_d(p)``. Weights are symmetric
(``w_{−d}(p) = w_d(p − d)``), so each pair ``±d`` costs one weight map. The frame is
processed in bands of rows (exact: each band reads a halo), which keeps the working set in
cache; without gradients the inner loop runs in place. ``strength`` (h or σ_r) and σ_s are
differentiable.
"""

from __future__ import annotations

import torch

from camforge.cfa import normalize_cfa
from camforge.errors import ConfigError, InputError
from camforge.isp._common import LUMA_709, as_param, check_image, check_mosaic, needs_grad, pack, pad_reflect, tile_n, unpack
from camforge.isp._state import IspState, Stage


def luma_guide(x: torch.Tensor) -> torch.Tensor:
    """√(BT.709 luma) guide ``[B, 1, H, W]`` of a linear image ``[B, C, H, W]`` (C = 1 or 3)."""
    if x.shape[1] == 3:
        y = LUMA_709[0] * x[:, 0:1] + LUMA_709[1] * x[:, 1:2] + LUMA_709[2] * x[:, 2:3]
    else:
        y = x[:, 0:1]
    return torch.sqrt(torch.clamp(y, min=0.0) + 1e-4)


def _half_offsets(s: int):
    """Offsets d with d > 0 in raster order inside a (2s+1)² window (one of each ±d pair)."""
    return [(dy, dx) for dy in range(0, s + 1) for dx in range(-s, s + 1) if dy > 0 or dx > 0]


def _box_valid(e: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over a (2k+1)² box, 'valid' region (output smaller by 2k on each axis)."""
    if k == 0:
        return e
    H, W = e.shape[-2:]
    n = 2 * k + 1
    r = e[..., :, 0 : W - 2 * k]
    for i in range(1, n):
        r = r + e[..., :, i : W - 2 * k + i]
    c = r[..., 0 : H - 2 * k, :]
    for i in range(1, n):
        c = c + r[..., i : H - 2 * k + i, :]
    return c * (1.0 / (n * n))


def _filter_band(xp, gp, P, H, W, s, k, weight_fn, inplace):
    """Filter one band. ``xp``/``gp``: padded input/guide (P on every side) of an H × W output."""
    B, C = xp.shape[:2]
    xc = xp[..., P : P + H, P : P + W]
    num = xc.clone() if inplace else xc  # the centre has weight 1
    den = torch.ones((B, 1, H, W), dtype=xp.dtype)
    a0 = P - s - k  # origin of the weight support region (guide coordinates)
    Hq, Wq = H + 2 * s + 2 * k, W + 2 * s + 2 * k
    g0 = gp[..., a0 : a0 + Hq, a0 : a0 + Wq]
    for dy, dx in _half_offsets(s):
        g1 = gp[..., a0 + dy : a0 + dy + Hq, a0 + dx : a0 + dx + Wq]
        w = weight_fn(g0, g1, dy, dx, k)  # [B, 1, H + 2s, W + 2s], origin at P - s
        wf = w[..., s : s + H, s : s + W]
        wb = w[..., s - dy : s - dy + H, s - dx : s - dx + W]
        xf = xp[..., P + dy : P + dy + H, P + dx : P + dx + W]
        xb = xp[..., P - dy : P - dy + H, P - dx : P - dx + W]
        if inplace:
            num.addcmul_(wf, xf).addcmul_(wb, xb)
            den.add_(wf).add_(wb)
        else:
            num = num + wf * xf + wb * xb
            den = den + wf + wb
    return num / den


def _nlm_weights(h, inplace):
    def fn(g0, g1, dy, dx, k):
        e = g0 - g1
        e = e.mul_(e) if inplace else e * e
        d = _box_valid(e, k)
        if inplace:
            return d.mul_(-1.0 / float(h) ** 2).exp_()
        return torch.exp(-d / (h * h))
    return fn


def _bilateral_weights(sigma_r, sigma_s, inplace):
    def fn(g0, g1, dy, dx, k):
        e = g0 - g1
        if inplace:
            e.mul_(e).mul_(-0.5 / float(sigma_r) ** 2).add_(-(dy * dy + dx * dx) * 0.5 / float(sigma_s) ** 2)
            return e.exp_()
        return torch.exp(-(e * e) / (2 * sigma_r * sigma_r) - (dy * dy + dx * dx) / (2 * sigma_s * sigma_s))
    return fn


def _run_bands(x, g, s, k, make_fn, band_rows, params):
    """Filter ``x`` [B, C, H, W] with weights from guide ``g`` [B, 1, H, W], in bands of rows."""
    B, C, H, W = x.shape
    inplace = not needs_grad(x, g, *params)
    P = 2 * s + k
    xp = pad_reflect(x, P)
    gp = pad_reflect(g, P)
    fn = make_fn(inplace)
    if band_rows is None or band_rows >= H:
        return _filter_band(xp, gp, P, H, W, s, k, fn, inplace)
    out = []
    for r0 in range(0, H, band_rows):
        r1 = min(H, r0 + band_rows)
        out.append(_filter_band(xp[..., r0 : r1 + 2 * P, :], gp[..., r0 : r1 + 2 * P, :], P, r1 - r0, W, s, k, fn,
                                inplace))
    return torch.cat(out, -2)


def _band_rows(W: int) -> int:
    # about 2^17 samples per band: the band's working set stays in the CPU cache
    return max(16, (1 << 17) // max(1, W))


def _check(x, what="denoise input"):
    x = check_image(x, what, channels=(1, 3))
    if not bool(torch.isfinite(x).all()):
        raise InputError(f"{what} contains NaN or infinite values")
    return x


def raw_guide(planes: torch.Tensor) -> torch.Tensor:
    """√(mean of the CFA site planes) guide ``[B, 1, h, w]`` of packed raw planes ``[B, n², h, w]``."""
    return torch.sqrt(torch.clamp(planes.mean(1, keepdim=True), min=0.0) + 1e-4)


def _nlm_core(x, g, strength, search_window, patch_size, band_rows):
    s, k = _window(search_window, patch_size)
    h = torch.as_tensor(strength, dtype=x.dtype)
    if bool(h.detach() <= 0):
        raise InputError(f"NLM strength must be > 0, got {float(h.detach())}")
    rows = _band_rows(x.shape[-1]) if band_rows == -1 else band_rows
    return _run_bands(x, g, s, k, lambda ip: _nlm_weights(h, ip), rows, (h,))


def _bilateral_core(x, g, strength, spatial_sigma_px, search_window, band_rows):
    s, _ = _window(search_window, 1)
    sr = torch.as_tensor(strength, dtype=x.dtype)
    ss = torch.as_tensor(spatial_sigma_px, dtype=x.dtype)
    if bool(sr.detach() <= 0) or bool(ss.detach() <= 0):
        raise InputError("bilateral strength and spatial_sigma_px must be > 0")
    rows = _band_rows(x.shape[-1]) if band_rows == -1 else band_rows
    return _run_bands(x, g, s, 0, lambda ip: _bilateral_weights(sr, ss, ip), rows, (sr, ss))


def _guide(x, guide):
    if guide is None:
        return luma_guide(x)
    g = check_image(guide, "guide", channels=(1,))
    if g.shape[0] != x.shape[0] or g.shape[-2:] != x.shape[-2:]:
        raise InputError(f"guide must be [B, 1, H, W] matching the image {tuple(x.shape)}, got {tuple(g.shape)}")
    return g.to(x.dtype)


def nlm(x: torch.Tensor, strength=0.02, search_window: int = 7, patch_size: int = 3, band_rows: int | None = -1,
        guide: torch.Tensor | None = None) -> torch.Tensor:
    """Non-local means denoise of an image ``[B, C, H, W]`` (C = 1 or 3).

    Args:
        strength: filtering parameter h in guide units; larger is smoother.
        search_window: side of the square search window (odd) [px].
        patch_size: side of the square patches (odd) [px].
        band_rows: rows per processing band (``-1``: automatic, ``None``: whole frame).
        guide: ``[B, 1, H, W]`` image the patch distances are computed on (default
            √(BT.709 luma) of ``x``, for linear input).
    """
    x = _check(x)
    return _nlm_core(x, _guide(x, guide), strength, search_window, patch_size, band_rows)


def bilateral(x: torch.Tensor, strength=0.02, spatial_sigma_px=1.5, search_window: int = 5, band_rows: int | None = -1,
              guide: torch.Tensor | None = None) -> torch.Tensor:
    """Bilateral (joint bilateral with ``guide``) denoise of an image ``[B, C, H, W]``.

    Args:
        strength: range σ_r in guide units.
        spatial_sigma_px: spatial σ_s [px].
        search_window: side of the square window (odd) [px].
        guide: ``[B, 1, H, W]`` range image (default √luma of ``x``).
    """
    x = _check(x)
    return _bilateral_core(x, _guide(x, guide), strength, spatial_sigma_px, search_window, band_rows)


def _raw_planes(x, cfa):
    cfa = normalize_cfa(cfa)
    x = check_mosaic(x, cfa)
    if not bool(torch.isfinite(x).all()):
        raise InputError("denoise input contains NaN or infinite values")
    return pack(x, tile_n(cfa)), tile_n(cfa)


def nlm_raw(x: torch.Tensor, cfa: str, strength=0.02, search_window: int = 5, patch_size: int = 3,
            band_rows: int | None = -1) -> torch.Tensor:
    """Non-local means on a normalised mosaic ``[B, 1, H, W]`` before demosaicing.

    Each CFA site plane is averaged with its own samples; the weights come from the
    √(mean of the sites of each CFA tile) guide, so all sites share them (no colour
    mixing). ``search_window`` and ``patch_size`` are in CFA-tile units (×2 pixels for Bayer).
    """
    p, n = _raw_planes(x, cfa)
    return unpack(_nlm_core(p, raw_guide(p), strength, search_window, patch_size, band_rows), n)


def bilateral_raw(x: torch.Tensor, cfa: str, strength=0.02, spatial_sigma_px=1.5, search_window: int = 5,
                  band_rows: int | None = -1) -> torch.Tensor:
    """Bilateral filter on a normalised mosaic ``[B, 1, H, W]`` (CFA-tile units, see :func:`nlm_raw`)."""
    p, n = _raw_planes(x, cfa)
    return unpack(_bilateral_core(p, raw_guide(p), strength, spatial_sigma_px, search_window, band_rows), n)


def _window(search_window: int, patch_size: int) -> tuple[int, int]:
    if search_window < 3 or search_window % 2 == 0:
        raise InputError(f"search_window must be odd and >= 3, got {search_window}")
    if patch_size < 1 or patch_size % 2 == 0:
        raise InputError(f"patch_size must be odd and >= 1, got {patch_size}")
    return search_window // 2, patch_size // 2


class Denoise(Stage):
    """Edge-preserving denoise stage (functional twins :func:`nlm`, :func:`bilateral`,
    :func:`nlm_raw`, :func:`bilateral_raw`).

    ``domain="raw"`` filters the white-balanced mosaic before demosaicing (window sizes in
    CFA-tile units); ``"rgb"`` filters linear camera RGB after it. Parameters (tensors):
    ``strength`` and (bilateral) ``spatial_sigma_px``.
    """

    name = "denoise"

    def __init__(self, method: str = "nlm", strength: float = 0.02, search_window: int = 7, patch_size: int = 3,
                 spatial_sigma_px: float = 1.5, domain: str = "raw"):
        super().__init__()
        if method not in ("nlm", "bilateral"):
            raise ConfigError(f"denoise method must be 'nlm' or 'bilateral', got {method!r}")
        if domain not in ("raw", "rgb"):
            raise ConfigError(f"denoise domain must be 'raw' or 'rgb', got {domain!r}")
        _window(search_window, patch_size)
        self.method = method
        self.domain = domain
        self.raw_stage = domain == "raw"
        self.strength = as_param(strength)
        self.spatial_sigma_px = as_param(spatial_sigma_px) if method == "bilateral" else None
        self.search_window = int(search_window)
        self.patch_size = int(patch_size)

    def radius(self, cfa: str) -> int:
        r = self.search_window // 2 + (self.patch_size // 2 if self.method == "nlm" else 0)
        return r * (tile_n(cfa) if self.domain == "raw" else 1)

    def run(self, state: IspState) -> IspState:
        x = state.data
        if self.domain == "raw":
            if state.domain != "raw":
                raise InputError("denoise (domain: raw) needs the raw mosaic; it runs before demosaic")
            g = raw_guide(x)
        else:
            if state.domain == "raw":
                raise InputError("denoise (domain: rgb) works on demosaiced images; it runs after demosaic")
            g = luma_guide(x)
        if self.method == "nlm":
            y = _nlm_core(x, g, self.strength.to(x.dtype), self.search_window, self.patch_size, -1)
        else:
            y = _bilateral_core(x, g, self.strength.to(x.dtype), self.spatial_sigma_px.to(x.dtype),
                                self.search_window, -1)
        return state.replace(data=y)
