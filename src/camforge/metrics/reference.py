"""Full-reference image quality: PSNR, SSIM and CIEDE2000 colour-difference maps.

* :func:`psnr` — peak signal-to-noise ratio 10·log10(L² / MSE) [dB] per image.
* :func:`ssim` — structural similarity of Z. Wang, A. C. Bovik, H. R. Sheikh, E. P.
  Simoncelli, "Image quality assessment: from error visibility to structural similarity",
  IEEE Trans. Image Process. 13(4):600–612 (2004): Gaussian window σ = 1.5 px (11 × 11),
  K1 = 0.01, K2 = 0.03, population (co)variances, averaged over the window positions that
  fit inside the image and over channels — the same definition as
  ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False)``.
* :func:`delta_e00_map` — per-pixel ΔE00 between two sRGB images (colour-science).

PSNR and SSIM are written in torch: batched ``[B, C, H, W]`` and differentiable, so they
serve as training losses (:class:`SSIMLoss`); they are tested against scikit-image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from camforge.errors import InputError
from camforge.metrics._common import _input, _Result, as_hwc


def _as_batch(x, what: str) -> torch.Tensor:
    """``[B, C, H, W]`` tensor (numpy ``H × W`` / ``H × W × C`` → float64 tensor; tensors keep their dtype)."""
    from camforge.types import Image

    if isinstance(x, Image):
        x = x.data
    if isinstance(x, torch.Tensor):
        t = x
        if t.ndim == 2:
            t = t[None, None]
        elif t.ndim == 3:
            t = t[None]
        if t.ndim != 4:
            raise InputError(f"{what} must be [H, W], [C, H, W] or [B, C, H, W], got {tuple(x.shape)}")
        if not t.is_floating_point():
            t = t.double()
        if not torch.isfinite(t.detach()).all():
            raise InputError(f"{what} contains NaN or infinite values")
        return t
    a = as_hwc(x)  # checks finiteness
    return torch.from_numpy(np.moveaxis(a, -1, 0))[None]


def _pair(test, reference) -> tuple[torch.Tensor, torch.Tensor]:
    x = _as_batch(test, "test image")
    y = _as_batch(reference, "reference image")
    if x.shape[1:] != y.shape[1:] or (x.shape[0] != y.shape[0] and 1 not in (x.shape[0], y.shape[0])):
        raise InputError(f"test and reference images differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    return x.to(dtype), y.to(dtype)


def psnr(test, reference, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio 10·log10(data_range² / MSE) [dB] per batch item ``[B]``
    (+inf for identical images)."""
    if not data_range > 0:
        raise InputError("data_range must be > 0")
    x, y = _pair(test, reference)
    mse = ((x - y) ** 2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(data_range**2 / mse)


def _gauss_kernel(sigma: float, truncate: float, dtype) -> torch.Tensor:
    r = int(truncate * sigma + 0.5)
    t = torch.arange(-r, r + 1, dtype=dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def _filter_valid(x: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' filtering of ``[B, C, H, W]`` with 1-D kernel ``k`` (per channel)."""
    C = x.shape[1]
    kx = k.view(1, 1, 1, -1).expand(C, 1, 1, -1)
    ky = k.view(1, 1, -1, 1).expand(C, 1, -1, 1)
    return F.conv2d(F.conv2d(x, kx, groups=C), ky, groups=C)


def ssim(
    test,
    reference,
    data_range: float = 1.0,
    *,
    sigma: float = 1.5,
    truncate: float = 3.5,
    k1: float = 0.01,
    k2: float = 0.03,
    return_map: bool = False,
):
    """Mean SSIM per batch item ``[B]`` (Wang et al. 2004; see module notes).

    With ``return_map=True`` also returns the SSIM map ``[B, C, H − 2r, W − 2r]`` over the
    window positions inside the image (r = ⌊truncate·σ + 0.5⌋ = 5 by default).
    """
    if not data_range > 0:
        raise InputError("data_range must be > 0")
    x, y = _pair(test, reference)
    k = _gauss_kernel(sigma, truncate, x.dtype).to(x.device)
    if x.shape[-1] < k.numel() or x.shape[-2] < k.numel():
        raise InputError(f"images must be at least {k.numel()} × {k.numel()} px for SSIM with σ = {sigma}")
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    C = x.shape[1]
    # one grouped separable filtering of the five local statistics together
    f = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), k)
    mx, my, exx, eyy, exy = f.split(C, dim=1)
    sxx = exx - mx * mx
    syy = eyy - my * my
    sxy = exy - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    s = m.mean(dim=(1, 2, 3))
    return (s, m) if return_map else s


class SSIMLoss(nn.Module):
    """1 − SSIM as a differentiable loss (mean over the batch)."""

    def __init__(self, data_range: float = 1.0, sigma: float = 1.5):
        super().__init__()
        self.data_range = data_range
        self.sigma = sigma

    def forward(self, test: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        return 1 - ssim(test, reference, self.data_range, sigma=self.sigma).mean()


def delta_e00_map(test, reference, *, color_space: str = "srgb") -> np.ndarray:
    """Per-pixel CIEDE2000 (D65 L*a*b*, colour-science) between two RGB images ``[H, W]``.

    Both images are ``color_space`` (``"srgb"`` encoded 0–1 or ``"linear_srgb"``); integer
    arrays are scaled to 0–1 by their white level.
    """
    from camforge.metrics.color import delta_e, to_linear, linear_srgb_to_lab

    a = as_hwc(test, channels=3, unit=True)
    b = as_hwc(reference, channels=3, unit=True)
    if a.shape != b.shape:
        raise InputError(f"test and reference images differ in shape: {a.shape} vs {b.shape}")
    return delta_e(linear_srgb_to_lab(to_linear(a, color_space)), linear_srgb_to_lab(to_linear(b, color_space)), "CIE 2000")


@dataclass(frozen=True)
class FullReferenceResult(_Result):
    """PSNR [dB], SSIM and ΔE00 statistics of a test image against its reference."""

    psnr_db: float
    ssim: float
    delta_e00_mean: float | None
    delta_e00_p95: float | None
    delta_e00_max: float | None
    data_range: float
    color_space: str


def compare_images(test, reference, *, data_range: float | None = None, color_space: str = "srgb") -> FullReferenceResult:
    """PSNR, SSIM and (for RGB) ΔE00 statistics of one image against its reference.

    ``data_range`` defaults to 1 for float images and to the white level (255, 65535) for
    integer ones. The ΔE00 numbers are ``None`` for single-channel images.
    """
    a = as_hwc(test)
    b = as_hwc(reference)
    if a.shape != b.shape:
        raise InputError(f"test and reference images differ in shape: {a.shape} vs {b.shape}")
    L = float(data_range) if data_range is not None else float(_input(reference).white_level or 1.0)
    p = float(psnr(a, b, L)[0])
    s = float(ssim(a, b, L)[0])
    de_mean = de_p95 = de_max = None
    if a.shape[-1] == 3:
        de = delta_e00_map(a / L, b / L, color_space=color_space)
        de_mean, de_p95, de_max = float(de.mean()), float(np.percentile(de, 95)), float(de.max())
    return FullReferenceResult(p if math.isfinite(p) else math.inf, s, de_mean, de_p95, de_max, L, color_space)


__all__ = ["FullReferenceResult", "SSIMLoss", "compare_images", "delta_e00_map", "psnr", "ssim"]
