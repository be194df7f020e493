"""Exposure and tone curves: linear values → display values in [0, 1].

* ``srgb`` — the IEC 61966-2-1 sRGB encoding (12.92·x below 0.0031308, else
  1.055·x^(1/2.4) − 0.055);
* ``gamma`` — a pure power ``x^(1/γ)``;
* ``s_curve`` — ``x^(1/γ)`` followed by a logistic contrast curve of slope ``contrast`` at
  ``pivot``, normalised to map 0 → 0 and 1 → 1 (a common parametric "film" tone curve).

All are differentiable in their parameters (γ, contrast, pivot, exposure gain).
"""

from __future__ import annotations

import torch

from camforge.errors import ConfigError, InputError
from camforge.isp._common import as_param, banded
from camforge.isp._state import IspState, Stage

_T = 0.0031308


def srgb_encode(x: torch.Tensor) -> torch.Tensor:
    """IEC 61966-2-1 sRGB encoding of linear values (negative values → 0)."""
    x = torch.clamp(x, min=0.0)
    lo = torch.clamp(x, max=_T)
    hi = torch.clamp(x, min=_T)
    # piecewise curve without a branch: exact above the knee; below it, off by the standard's
    # own 3e-8 discontinuity at the knee
    return 1.055 * hi.pow(1.0 / 2.4) - 0.055 + 12.92 * (lo - _T)


def srgb_decode(v: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`srgb_encode` (IEC 61966-2-1)."""
    v = torch.clamp(v, min=0.0)
    return torch.where(v <= 12.92 * _T, v / 12.92, ((v + 0.055) / 1.055).pow(2.4))


def gamma_curve(x: torch.Tensor, gamma=2.2) -> torch.Tensor:
    """``max(x, 0)^(1/γ)`` (with a tiny floor so the gradient stays finite at 0)."""
    g = torch.as_tensor(gamma, dtype=x.dtype)
    return torch.clamp(x, min=1e-8).pow(1.0 / g)


def s_curve(x: torch.Tensor, gamma=2.2, contrast=1.5, pivot=0.5) -> torch.Tensor:
    """Gamma then a normalised logistic contrast curve (slope ``contrast`` at ``pivot``)."""
    y = gamma_curve(x, gamma)
    c = torch.as_tensor(contrast, dtype=x.dtype)
    p = torch.as_tensor(pivot, dtype=x.dtype)
    k = 4.0 * c
    lo = torch.sigmoid(-k * p)
    hi = torch.sigmoid(k * (1.0 - p))
    return (torch.sigmoid(k * (y - p)) - lo) / (hi - lo)


def tone(x: torch.Tensor, curve: str = "srgb", *, exposure_gain=1.0, gamma=2.2, contrast=1.5, pivot=0.5,
         clip: bool = True) -> torch.Tensor:
    """Scale linear ``x`` by ``exposure_gain`` and apply the tone ``curve``; clip to [0, 1]."""
    y = x * torch.as_tensor(exposure_gain, dtype=x.dtype)
    if curve == "srgb":
        y = srgb_encode(y)
    elif curve == "gamma":
        y = gamma_curve(y, gamma)
    elif curve == "s_curve":
        y = s_curve(y, gamma, contrast, pivot)
    else:
        raise InputError(f"unknown tone curve {curve!r}; use srgb, gamma or s_curve")
    return torch.clamp(y, 0.0, 1.0) if clip else y


class Tone(Stage):
    """Exposure + tone curve (functional twin: :func:`tone`).

    Parameters (tensors): ``exposure_gain``, and ``gamma`` (gamma, s_curve), ``contrast`` and
    ``pivot`` (s_curve). With
    ``auto_exposure`` the gain is the frame statistic ``state.stats["exposure_gain"]``
    (computed once per frame by the pipeline) times ``exposure_gain``.
    """

    name = "tone"

    def __init__(self, curve: str = "srgb", gamma=2.2, contrast=1.5, pivot=0.5, exposure_gain=1.0,
                 auto_exposure: bool = False, ae_percentile: float = 99.0, ae_target: float = 0.9, clip: bool = True):
        super().__init__()
        if curve not in ("srgb", "gamma", "s_curve"):
            raise ConfigError(f"unknown tone curve {curve!r}; use srgb, gamma or s_curve")
        self.curve = curve
        # only the parameters the curve uses are registered
        self.gamma = as_param(gamma) if curve != "srgb" else None
        self.contrast = as_param(contrast) if curve == "s_curve" else None
        self.pivot = as_param(pivot) if curve == "s_curve" else None
        self.exposure_gain = as_param(exposure_gain)
        self.auto_exposure = auto_exposure
        self.ae_percentile = float(ae_percentile)
        self.ae_target = float(ae_target)
        self.clip = clip

    def run(self, state: IspState) -> IspState:
        if state.domain == "raw":
            raise InputError("tone works on demosaiced images")
        if state.domain in ("srgb", "yuv"):
            raise InputError(f"tone expects linear values, got {state.domain}")
        x = state.data
        g = self.exposure_gain.to(x.dtype)
        if self.auto_exposure:
            ae = state.stats.get("exposure_gain")
            if ae is None:
                ae = auto_exposure_gain(x, self.ae_percentile, self.ae_target)
            g = g * torch.as_tensor(ae, dtype=x.dtype).reshape(-1, 1, 1, 1)
        kw = {k: getattr(self, k).to(x.dtype) for k in ("gamma", "contrast", "pivot") if getattr(self, k) is not None}
        y = banded(lambda z: tone(z, self.curve, exposure_gain=g, clip=self.clip, **kw), x, 0)
        return state.replace(data=y, domain="mono" if state.domain == "mono" else "srgb")


def luminance(x: torch.Tensor) -> torch.Tensor:
    """Relative luminance ``[B, 1, H, W]`` of linear sRGB (IEC 61966-2-1 Y row) or mono."""
    if x.shape[1] == 1:
        return x
    return 0.2126 * x[:, 0:1] + 0.7152 * x[:, 1:2] + 0.0722 * x[:, 2:3]


def auto_exposure_gain(x: torch.Tensor, percentile: float = 99.0, target: float = 0.9, max_samples: int = 1 << 20) -> torch.Tensor:
    """Gain ``[B]`` placing the ``percentile`` of luminance of linear ``x`` at ``target``
    (limited to [1/64, 64])."""
    y = luminance(x.detach()).flatten(1)
    y = y[:, :: max(1, y.shape[1] // max_samples)]
    q = torch.quantile(y.float(), percentile / 100.0, dim=1)
    return torch.clamp(target / torch.clamp(q, min=1e-6), 1.0 / 64, 64.0)
