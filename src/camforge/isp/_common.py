"""Shared helpers of the ISP stages: packed CFA planes, shape checks, padding.

Raw stages work on the mosaic *packed* by CFA site: a ``[B, 1, H, W]`` mosaic with an
``n × n`` repeat tile becomes ``[B, n², H/n, W/n]``, plane ``k`` holding site
``(k // n, k % n)`` of the tile. Per-site parameters (black level, gains) then broadcast
over planes, and same-colour neighbours are ±1 plane pixel away.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from camforge.cfa import cfa_tile, normalize_cfa
from camforge.errors import InputError

# Rec. ITU-R BT.709 luma weights of linear RGB (used only to build guides for denoise/sharpen)
LUMA_709 = (0.2126, 0.7152, 0.0722)


def tile_n(cfa: str) -> int:
    """Size n of the CFA repeat tile (1 mono, 2 Bayer, 4 Quad Bayer)."""
    return int(cfa_tile(cfa).shape[0])


def site_colors(cfa: str) -> list[int]:
    """Colour index (0 R, 1 G, 2 B) of each packed plane."""
    return [int(v) for v in cfa_tile(cfa).ravel()]


def check_mosaic(x, cfa: str, what: str = "raw") -> torch.Tensor:
    """Validate a mosaic ``[B, 1, H, W]`` (or [H, W]) for CFA ``cfa``; return it as float tensor."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{what} must be a torch tensor [B, 1, H, W], got {type(x).__name__}")
    if x.ndim == 2:
        x = x[None, None]
    if x.ndim != 4 or x.shape[1] != 1:
        raise InputError(f"{what} mosaic must be [B, 1, H, W], got shape {tuple(x.shape)}")
    n = tile_n(normalize_cfa(cfa))
    H, W = x.shape[-2:]
    if H < 2 * n or W < 2 * n:
        raise InputError(f"{what} frame {H} × {W} is too small (need at least {2 * n} × {2 * n} pixels)")
    if H % n or W % n:
        raise InputError(
            f"{what} frame {H} × {W} is not a multiple of the {n} × {n} CFA tile of {cfa}; crop it to "
            f"{H - H % n} × {W - W % n} (keep the crop origin on the tile so the CFA phase is unchanged)"
        )
    if not x.is_floating_point():
        x = x.float()
    return x


def check_image(x, what: str = "image", channels=(3,)) -> torch.Tensor:
    """Validate an image tensor ``[B, C, H, W]``."""
    if not isinstance(x, torch.Tensor):
        raise InputError(f"{what} must be a torch tensor [B, C, H, W], got {type(x).__name__}")
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[1] not in channels:
        raise InputError(f"{what} must be [B, {'|'.join(map(str, channels))}, H, W], got shape {tuple(x.shape)}")
    if not x.is_floating_point():
        x = x.float()
    return x


def pack(x: torch.Tensor, n: int) -> torch.Tensor:
    """Mosaic ``[B, 1, H, W]`` → planes ``[B, n², H/n, W/n]``."""
    if n == 1:
        return x
    B, _, H, W = x.shape
    return x.reshape(B, H // n, n, W // n, n).permute(0, 2, 4, 1, 3).reshape(B, n * n, H // n, W // n)


def unpack(p: torch.Tensor, n: int) -> torch.Tensor:
    """Planes ``[B, (C,) n², h, w]`` → mosaic ``[B, (C,) h·n, w·n]`` with a channel axis kept.

    ``[B, n², h, w]`` gives ``[B, 1, H, W]``; ``[B, C, n², h, w]`` gives ``[B, C, H, W]``.
    """
    if p.ndim == 4:
        p = p[:, None]
    B, C, k, h, w = p.shape
    if n == 1:
        return p[:, :, 0]
    return p.reshape(B, C, n, n, h, w).permute(0, 1, 4, 2, 5, 3).reshape(B, C, h * n, w * n)


def pad_replicate(x: torch.Tensor, k: int) -> torch.Tensor:
    """Edge-replicate padding of the last two axes by ``k`` (any leading shape)."""
    if k <= 0:
        return x
    shape = x.shape
    y = F.pad(x.reshape(-1, 1, shape[-2], shape[-1]), (k, k, k, k), mode="replicate")
    return y.reshape(*shape[:-2], shape[-2] + 2 * k, shape[-1] + 2 * k)


def pad_reflect(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mirror padding (edge not repeated) of the last two axes by ``k``; keeps CFA parity."""
    if k <= 0:
        return x
    shape = x.shape
    if shape[-2] <= k or shape[-1] <= k:
        return pad_replicate(x, k)
    y = F.pad(x.reshape(-1, 1, shape[-2], shape[-1]), (k, k, k, k), mode="reflect")
    return y.reshape(*shape[:-2], shape[-2] + 2 * k, shape[-1] + 2 * k)


def needs_grad(*tensors) -> bool:
    """True when autograd is on and any tensor requires grad (then avoid in-place tricks)."""
    if not torch.is_grad_enabled():
        return False
    return any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors)


def as_param(value, dtype=torch.float32) -> torch.nn.Parameter:
    """A frozen ``nn.Parameter`` (``requires_grad=False``; call ``.requires_grad_()`` to tune it)."""
    return torch.nn.Parameter(torch.as_tensor(value, dtype=dtype).clone(), requires_grad=False)


def gaussian_taps(sigma_px: float, radius: int | None = None, dtype=torch.float32) -> torch.Tensor:
    """Normalised 1-D Gaussian taps of std ``sigma_px`` over ``±radius`` (default ⌈3σ⌉)."""
    r = int(radius if radius is not None else max(1, int(torch.ceil(torch.tensor(3.0 * float(sigma_px))))))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    g = torch.exp(-0.5 * (t / float(sigma_px)) ** 2)
    return (g / g.sum()).to(dtype)


def separable_filter(x: torch.Tensor, taps, pad: str = "reflect") -> torch.Tensor:
    """Correlate the last two axes of ``x`` with the 1-D ``taps`` along rows then columns.

    Implemented as shifted adds (fast on CPU for short kernels); ``taps`` may be a tensor
    with gradients (e.g. built from a differentiable σ).
    """
    r = (len(taps) - 1) // 2
    xp = pad_reflect(x, r) if pad == "reflect" else pad_replicate(x, r)
    H, W = x.shape[-2:]
    rows = None
    for i in range(2 * r + 1):
        term = xp[..., :, i : i + W] * taps[i]
        rows = term if rows is None else rows + term
    out = None
    for i in range(2 * r + 1):
        term = rows[..., i : i + H, :] * taps[i]
        out = term if out is None else out + term
    return out


def banded(fn, x: torch.Tensor, halo: int, band_rows: int | None = None, samples: int = 1 << 18,
           scale: int = 1) -> torch.Tensor:
    """Apply ``fn`` (a local operation reading at most ``halo`` rows above/below) to ``x``
    ``[..., H, W]`` in bands of rows, each with its halo: the result equals ``fn(x)`` but the
    working set of each band stays in the CPU cache. ``band_rows`` defaults to about
    ``samples`` values per band; ``scale`` is the output rows per input row (2 for
    demosaicing packed planes)."""
    H, W = x.shape[-2:]
    per_row = max(1, x[..., 0, :].numel())
    rows = band_rows or max(16, samples // per_row)
    if rows >= H:
        return fn(x)
    out = []
    for r0 in range(0, H, rows):
        r1 = min(H, r0 + rows)
        a, b = max(0, r0 - halo), min(H, r1 + halo)
        y = fn(x[..., a:b, :])
        out.append(y[..., scale * (r0 - a) : scale * (r1 - a), :])
    return torch.cat(out, -2)
