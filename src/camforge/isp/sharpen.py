"""Sharpening by unsharp masking.

``y = x + amount · core(x − G_σ * x)``, with ``G_σ`` a Gaussian of standard deviation
``sigma_px`` and ``core(d) = sign(d) · max(|d| − threshold, 0)`` a soft coring that leaves
noise-level detail alone. ``mode="luma"`` adds the detail of the BT.709 luma of the display
RGB to all three channels (no colour fringes); ``"rgb"`` sharpens each channel
(the definition of ``skimage.filters.unsharp_mask``).

Differentiable in ``amount``, ``sigma_px`` (through the Gaussian taps) and ``threshold``.
"""

from __future__ import annotations

import math

import torch

from camforge.errors import ConfigError, InputError
from camforge.isp._common import LUMA_709, as_param, banded, check_image, separable_filter
from camforge.isp._state import IspState, Stage


def gaussian_taps_t(sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Normalised Gaussian taps over ``±radius`` with a differentiable σ (tensor)."""
    t = torch.arange(-radius, radius + 1, dtype=sigma.dtype)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    return g / g.sum()


def _radius(sigma) -> int:
    # truncated at 4 σ, as scipy.ndimage.gaussian_filter (and skimage) do by default
    return max(1, int(math.ceil(4.0 * float(torch.as_tensor(sigma).detach()))))


def unsharp_mask(x: torch.Tensor, amount=0.5, sigma_px=1.0, threshold=0.0, mode: str = "luma", clip: bool = True) -> torch.Tensor:
    """Unsharp mask of an image ``[B, C, H, W]`` (display values)."""
    x = check_image(x, channels=(1, 3))
    if mode not in ("luma", "rgb"):
        raise InputError(f"sharpen mode must be 'luma' or 'rgb', got {mode!r}")
    sigma = torch.as_tensor(sigma_px, dtype=x.dtype)
    if float(sigma.detach()) <= 0:
        raise InputError(f"sharpen sigma_px must be > 0, got {float(sigma.detach())}")
    taps = gaussian_taps_t(sigma, _radius(sigma))
    if mode == "luma" and x.shape[1] == 3:
        src = LUMA_709[0] * x[:, 0:1] + LUMA_709[1] * x[:, 1:2] + LUMA_709[2] * x[:, 2:3]
    else:
        src = x
    d = src - separable_filter(src, taps)
    thr = torch.as_tensor(threshold, dtype=x.dtype)
    if bool(thr.requires_grad) or float(thr.detach()) > 0:
        d = torch.sign(d) * torch.relu(torch.abs(d) - thr)
    y = x + torch.as_tensor(amount, dtype=x.dtype) * d
    return torch.clamp(y, 0.0, 1.0) if clip else y


class Sharpen(Stage):
    """Unsharp-mask stage (functional twin: :func:`unsharp_mask`).

    Parameters (tensors): ``amount``, ``sigma_px``, ``threshold``.
    """

    name = "sharpen"

    def __init__(self, amount=0.5, sigma_px=1.0, threshold=0.0, mode: str = "luma", clip: bool = True):
        super().__init__()
        if mode not in ("luma", "rgb"):
            raise ConfigError(f"sharpen mode must be 'luma' or 'rgb', got {mode!r}")
        self.amount = as_param(amount)
        self.sigma_px = as_param(sigma_px)
        self.threshold = as_param(threshold)
        self.mode = mode
        self.clip = clip

    def radius(self, cfa: str) -> int:
        return _radius(self.sigma_px)

    def run(self, state: IspState) -> IspState:
        if state.domain == "raw":
            raise InputError("sharpen works on demosaiced images")
        x = state.data
        a, s, t = (v.to(x.dtype) for v in (self.amount, self.sigma_px, self.threshold))
        clip = self.clip and state.domain in ("srgb", "mono")
        y = banded(lambda z: unsharp_mask(z, a, s, t, self.mode, clip), x, _radius(self.sigma_px))
        return state.replace(data=y)
