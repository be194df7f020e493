"""Noise and non-linearities with gradients.

* Shot noise: exact Poisson sampling (``differentiable=False``) or the reparameterized
  Gaussian approximation μ + √μ·ε, ε ~ N(0, 1), which passes gradients to μ.
* Clipping and quantization: straight-through estimators (forward clips / rounds,
  backward passes the gradient unchanged), as in Bengio, Léonard & Courville,
  arXiv:1308.3432 (2013).
"""

from __future__ import annotations

import torch


def ste_round(x: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer; gradient of the identity."""
    return x + (torch.round(x) - x).detach()


def ste_clamp(x: torch.Tensor, lo=None, hi=None) -> torch.Tensor:
    """Clamp to [lo, hi]; gradient of the identity."""
    return x + (torch.clamp(x, min=lo, max=hi) - x).detach()


def shot_noise(mean_e: torch.Tensor, generator: torch.Generator, differentiable: bool = False) -> torch.Tensor:
    """Photon / dark shot noise on a mean electron count ``mean_e`` (≥ 0)."""
    mu = torch.clamp(mean_e, min=0.0)
    if differentiable:
        eps = torch.randn(mu.shape, generator=generator, dtype=mu.dtype, device=mu.device)
        return mu + torch.sqrt(mu + 1e-12) * eps
    from camforge.sensor.poisson import poisson

    # exact Poisson, parallel on the CPU; counts below 2^24 are exact in float32
    return poisson(mu, generator)


def gaussian(shape, sigma, generator: torch.Generator, dtype=torch.float32, device=None) -> torch.Tensor:
    """Zero-mean Gaussian noise of standard deviation ``sigma`` (tensor or float)."""
    return torch.randn(shape, generator=generator, dtype=dtype, device=device) * sigma
