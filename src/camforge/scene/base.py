"""The spectral scene.

A :class:`Scene` holds spectral radiance in factored form,

    L(λ, u, v) = Σ_k spectra[b, k, λ] · maps_k(u, v)        [W·sr⁻¹·m⁻²·nm⁻¹]

with ``K`` non-negative maps (dimensionless) and ``K`` radiance spectra per batch item.
Charts are a handful of materials (K = number of materials, or fewer after
:meth:`Scene.compact`); an sRGB image is three basis spectra (K = 3); a measured
hyperspectral cube is K = L with an identity basis. The factored form keeps a 12 MP,
31-band frame out of memory (1.5 GB as a dense cube) and lets the optics form the image
with one FFT per map instead of one per wavelength.

Maps are either *sampled* (a tensor ``[B, K, H, W]`` on the scene's own pixel grid) or
*procedural* (a function evaluated at any coordinates). Procedural charts are rendered
exactly where the sensor samples them, including lens distortion, with a Gaussian
prefilter whose width the caller chooses and the optics removes again in the Fourier
domain (so edges stay as sharp as the chart's geometry).

Coordinates: ``u`` runs across the scene width from -1 (left) to +1 (right); ``v`` runs
down the rows in the same units, from ``-aspect`` (top) to ``+aspect`` (bottom), where
``aspect = height / width``. ``fov_deg`` is the full horizontal field of view the scene
spans; ``None`` means the scene is scaled to fill the camera's horizontal field of view.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from camforge.errors import InputError
from camforge.spectral import WavelengthGrid

#: A procedural renderer: (u [h, w], v [h, w], sigma) -> maps [B, K, h, w].
Renderer = Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]


@dataclass
class Scene:
    """Spectral radiance ``Σ_k spectra[:, k, :] ⊗ maps_k`` over a field of view.

    Attributes:
        spectra: ``[B, K, L]`` radiance spectra [W·sr⁻¹·m⁻²·nm⁻¹] on ``grid``.
        grid: wavelength band grid of the spectra.
        maps: sampled maps ``[B or 1, K, H, W]`` (dimensionless), or ``None`` if procedural.
        renderer: procedural maps, or ``None`` if sampled.
        aspect: height / width of the scene.
        fov_deg: full horizontal field of view [deg]; ``None`` fills the camera's view.
        distance_m: object distance [m]; ``None`` is infinity.
        name, illuminant, lux: provenance (illuminance on the chart [lx]).
        truth: ground truth for measurements (geometry in scene coordinates ``u, v``).
        mix: optional ``[K, K0]`` matrix applied to a procedural renderer's maps
            (set by :meth:`compact`).
    """

    spectra: torch.Tensor
    grid: WavelengthGrid
    maps: torch.Tensor | None = None
    renderer: Renderer | None = None
    aspect: float = 0.75
    fov_deg: float | None = None
    distance_m: float | None = None
    name: str = "scene"
    illuminant: str | None = None
    lux: float | None = None
    truth: dict[str, Any] = field(default_factory=dict)
    mix: torch.Tensor | None = None

    def __post_init__(self):
        if self.spectra.ndim == 2:
            self.spectra = self.spectra[None]
        if self.spectra.ndim != 3 or self.spectra.shape[-1] != self.grid.n:
            raise InputError(
                f"scene spectra must be [B, K, {self.grid.n}] for this wavelength grid, got {tuple(self.spectra.shape)}"
            )
        if (self.maps is None) == (self.renderer is None):
            raise InputError("a scene needs exactly one of sampled maps or a procedural renderer")
        if self.maps is not None:
            if self.maps.ndim == 3:
                self.maps = self.maps[None]
            if self.maps.ndim != 4 or self.maps.shape[1] != self.spectra.shape[1]:
                raise InputError(
                    f"scene maps must be [B, K, H, W] with K = {self.spectra.shape[1]}, got {tuple(self.maps.shape)}"
                )
            if not torch.isfinite(self.maps).all():
                raise InputError("scene maps contain NaN or infinite values")
            self.aspect = self.maps.shape[-2] / self.maps.shape[-1]
        if not torch.isfinite(self.spectra).all():
            raise InputError("scene spectra contain NaN or infinite values")
        if self.fov_deg is not None and not (0 < self.fov_deg < 180):
            raise InputError(f"fov_deg must be in (0, 180), got {self.fov_deg}")

    # ------------------------------------------------------------------ properties
    @property
    def batch(self) -> int:
        b = self.spectra.shape[0]
        if self.maps is not None:
            b = max(b, self.maps.shape[0])
        return b

    @property
    def n_maps(self) -> int:
        return int(self.spectra.shape[1])

    @property
    def is_procedural(self) -> bool:
        return self.renderer is not None

    # ------------------------------------------------------------------ evaluation
    def maps_at(self, u: torch.Tensor, v: torch.Tensor, sigma: float = 0.0) -> torch.Tensor:
        """Maps at scene coordinates ``(u, v)`` ``[h, w]`` → ``[B, K, h, w]``.

        Procedural scenes are rendered with a Gaussian prefilter of standard deviation
        ``sigma`` (scene units); sampled scenes are interpolated bilinearly (``sigma`` unused)
        and are zero outside their extent.
        """
        if self.renderer is not None:
            m = self.renderer(u, v, sigma)
            if self.mix is not None:
                m = torch.einsum("kj,bjhw->bkhw", self.mix.to(m.dtype), m)
            return m
        grid = torch.stack([u, v / self.aspect], dim=-1)[None].to(self.maps.dtype)
        grid = grid.expand(self.maps.shape[0], *grid.shape[1:])
        return F.grid_sample(self.maps, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    def coords(self, height: int, width: int, dtype=torch.float32, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """Scene coordinates of the centres of a ``height × width`` grid over the scene extent."""
        du = 2.0 / width
        u = -1 + du * (torch.arange(width, dtype=dtype, device=device) + 0.5)
        v = -self.aspect + (2 * self.aspect / height) * (torch.arange(height, dtype=dtype, device=device) + 0.5)
        vv, uu = torch.meshgrid(v, u, indexing="ij")
        return uu, vv

    def sample(self, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """Maps on a regular ``height × width`` grid covering the scene ``[B, K, H, W]``."""
        if self.maps is not None and height is None:
            return self.maps
        if width is None:
            width = 640 if height is None else int(round(height / self.aspect))
        if height is None:
            height = int(round(width * self.aspect))
        u, v = self.coords(height, width, self.spectra.dtype)
        return self.maps_at(u, v, sigma=0.5 * 2.0 / width)

    def radiance(self, height: int | None = None, width: int | None = None) -> torch.Tensor:
        """Dense radiance cube ``[B, L, H, W]`` [W·sr⁻¹·m⁻²·nm⁻¹] (small sizes only)."""
        m = self.sample(height, width)
        return torch.einsum("bkhw,bkl->blhw", m, self.spectra.to(m.dtype))

    # ------------------------------------------------------------------ transforms
    def compact(self, rtol: float = 1e-3) -> Scene:
        """Fewer maps with (nearly) the same radiance: truncated SVD of the ``[K, L]`` spectra.

        Keeps the fewest components whose reconstruction error is at most ``rtol`` times the
        largest spectral value (1e-3 ≈ 0.1 % of white, well below a visible colour
        difference). Only for a batch of one spectra set (the usual chart case); returns
        ``self`` when nothing can be gained.
        """
        if self.spectra.shape[0] != 1 or self.n_maps <= 1:
            return self
        s = self.spectra[0].double()
        U, S, Vh = torch.linalg.svd(s, full_matrices=False)
        scale = s.abs().max().clamp_min(1e-300)
        keep = self.n_maps
        for k in range(1, self.n_maps + 1):
            err = (s - (U[:, :k] * S[:k]) @ Vh[:k]).abs().max()
            if err <= rtol * scale:
                keep = k
                break
        if keep >= self.n_maps:
            return self
        # s ≈ (U S)[:, :keep] @ Vh[:keep]  → new maps m' = (U S)^T m, spectra' = Vh
        mix = (U[:, :keep] * S[:keep]).T.to(self.spectra.dtype)  # [keep, K]
        spectra = Vh[:keep][None].to(self.spectra.dtype)
        if self.maps is not None:
            maps = torch.einsum("kj,bjhw->bkhw", mix, self.maps)
            return replace(self, spectra=spectra, maps=maps, mix=None)
        new_mix = mix if self.mix is None else mix @ self.mix.to(mix.dtype)
        return replace(self, spectra=spectra, mix=new_mix)

    def with_fov(self, fov_deg: float | None) -> Scene:
        return replace(self, fov_deg=fov_deg)

    def scaled(self, factor: float) -> Scene:
        """The same scene with radiance multiplied by ``factor`` (e.g. a darker light)."""
        return replace(self, spectra=self.spectra * factor, lux=None if self.lux is None else self.lux * factor)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe description (no pixel data)."""
        return {
            "name": self.name,
            "illuminant": self.illuminant,
            "lux": self.lux,
            "fov_deg": self.fov_deg,
            "distance_m": self.distance_m,
            "aspect": self.aspect,
            "n_bands": self.grid.n,
            "n_maps": self.n_maps,
            "procedural": self.is_procedural,
            "truth": _json_safe(self.truth),
        }


def _json_safe(x):
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_json_safe(v) for v in x]
    if isinstance(x, (np.ndarray, torch.Tensor)):
        return np.asarray(x.detach().cpu() if isinstance(x, torch.Tensor) else x).tolist()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
