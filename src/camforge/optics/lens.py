"""The lens as a differentiable module.

:class:`Lens` holds the lens parameters of a :class:`~camforge.optics.config.LensConfig` as
tensors (``torch.nn.Parameter`` with ``requires_grad=False`` until you ask for gradients),
and evaluates the physics image formation needs: working f-number, image irradiance
factor, field-dependent wavefront, lateral colour, distortion and relative illumination.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from camforge.errors import InputError
from camforge.optics.config import LensConfig
from camforge.optics.distortion import distort, undistort
from camforge.optics.illumination import relative_illumination
from camforge.optics.psf import otf_from_pupil
from camforge.optics.zernike import NAMES

#: Zernike terms that do not change when the pupil is rotated.
_ROTATION_INVARIANT = {"piston", "defocus", "spherical", "secondary_spherical"}


def _p(x, dtype=torch.float32) -> nn.Parameter:
    return nn.Parameter(torch.as_tensor(x, dtype=dtype), requires_grad=False)


class Lens(nn.Module):
    """A camera lens (see :class:`~camforge.optics.config.LensConfig` for the parameters)."""

    def __init__(self, config: LensConfig | dict | None = None, **overrides):
        super().__init__()
        if config is None:
            config = LensConfig(focal_length_mm=4.0, f_number=2.0)
        if isinstance(config, dict):
            config = LensConfig(**config)
        if overrides:
            config = config.model_copy(update=overrides)
            config = LensConfig(**config.model_dump())
        self.config = config
        c = config
        self.focal_length_mm = _p(c.focal_length_mm)
        self.f_number = _p(c.f_number)
        self.transmission = _p(c.transmission)
        nodes = c.aberrations or []
        if nodes:
            self.zernike_fields = torch.tensor([n.field for n in nodes], dtype=torch.float32)
            self.zernike_um = _p([n.vector() for n in nodes])
        else:
            self.zernike_fields = torch.zeros(1)
            self.zernike_um = _p([[0.0] * len(NAMES)])
        d = c.distortion
        self.distortion = _p([d.k1, d.k2, d.k3, d.p1, d.p2])
        ri = c.relative_illumination
        self.cra_corner_deg = None if ri.cra_corner_deg is None else _p(ri.cra_corner_deg)
        self.vignetting_stop_ratio = None if ri.vignetting_stop_ratio is None else _p(ri.vignetting_stop_ratio)
        self.vignetting_shift_corner = _p(ri.vignetting_shift_corner)
        lc = c.lateral_color
        self.lateral_color_um = _p([lc.shift_450nm_um, lc.shift_650nm_um])

    # ------------------------------------------------------------------ first order
    def magnification(self, distance_m: float | None) -> torch.Tensor:
        """Lateral magnification |m| = f / (d − f) for an object at ``distance_m`` (0 at infinity)."""
        if distance_m is None or math.isinf(distance_m):
            return torch.zeros((), dtype=self.focal_length_mm.dtype)
        f_m = self.focal_length_mm * 1e-3
        if distance_m <= float(f_m):
            raise InputError(f"object distance {distance_m} m is inside the focal length; it cannot be imaged")
        return f_m / (distance_m - f_m)

    def working_f_number(self, distance_m: float | None = None) -> torch.Tensor:
        """Working f-number N_w = N (1 + |m|)."""
        return self.f_number * (1 + self.magnification(distance_m))

    def irradiance_factor(self, distance_m: float | None = None) -> torch.Tensor:
        """On-axis image irradiance per unit object radiance: E / L = π T / (4 N_w²) [sr]."""
        return math.pi * self.transmission / (4 * self.working_f_number(distance_m) ** 2)

    # ------------------------------------------------------------------ aberrations
    def zernike_at(self, field: float) -> torch.Tensor:
        """Wavefront coefficients ``[len(NAMES)]`` [µm] at relative field height ``field`` (0–1)."""
        f = self.zernike_fields
        z = self.zernike_um
        if z.shape[0] == 1:
            return z[0]
        field = min(max(float(field), float(f[0])), float(f[-1]))
        i = int(torch.searchsorted(f, torch.tensor(field), right=True).clamp(1, len(f) - 1))
        t = (field - float(f[i - 1])) / max(float(f[i] - f[i - 1]), 1e-12)
        return z[i - 1] * (1 - t) + z[i] * t

    def is_field_dependent(self) -> bool:
        """True when the PSF changes across the field (needs one PSF per zone)."""
        z = self.zernike_um.detach()
        varying = z.shape[0] > 1 and bool((z - z[0]).abs().max() > 0)
        oriented = any(
            bool(z[:, i].abs().max() > 0) for i, n in enumerate(NAMES) if n not in _ROTATION_INVARIANT
        )
        lateral = bool(self.lateral_color_um.detach().abs().max() > 0) or self.lateral_color_um.requires_grad
        return varying or oriented or lateral

    def lateral_shift_um(self, wavelengths_nm: torch.Tensor, field: float) -> torch.Tensor:
        """Radial displacement [µm] of the image at each wavelength relative to 550 nm,
        at relative field height ``field``: quadratic in λ through (450, s450), (550, 0), (650, s650)."""
        s450, s650 = self.lateral_color_um[0], self.lateral_color_um[1]
        x = (wavelengths_nm.to(s450.dtype) - 550.0) / 100.0
        # p(x) = a x + b x²:  p(-1) = s450, p(1) = s650
        a = (s650 - s450) / 2
        b = (s650 + s450) / 2
        return (a * x + b * x * x) * field

    # ------------------------------------------------------------------ geometry
    def distort(self, x, y):
        """Ideal → distorted coordinates normalised by focal length."""
        k = self.distortion
        return distort(x, y, k[0], k[1], k[2], k[3], k[4])

    def undistort(self, x, y):
        """Distorted → ideal coordinates normalised by focal length."""
        k = self.distortion
        if not k.requires_grad and bool((k == 0).all()):
            return x, y
        return undistort(x, y, k[0], k[1], k[2], k[3], k[4])

    def relative_illumination(self, r_mm: torch.Tensor, r_corner_mm: float) -> torch.Tensor:
        ri = self.config.relative_illumination
        return relative_illumination(
            r_mm,
            self.focal_length_mm,
            r_corner_mm,
            cos4=ri.cos4,
            cra_corner_deg=self.cra_corner_deg,
            stop_ratio=self.vignetting_stop_ratio,
            shift_corner=self.vignetting_shift_corner,
        )

    # ------------------------------------------------------------------ PSF
    def _field_params(self, x_mm: float, y_mm: float, r_corner_mm: float):
        r = math.hypot(x_mm, y_mm)
        field = min(r / r_corner_mm, 1.0) if r_corner_mm > 0 else 0.0
        phi = math.atan2(y_mm, x_mm) if r > 1e-12 else math.pi / 2
        return field, phi - math.pi / 2, phi

    def otf(
        self,
        wavelengths_nm: torch.Tensor,
        pitch_um: float,
        size: int,
        *,
        x_mm: float = 0.0,
        y_mm: float = 0.0,
        r_corner_mm: float = 1.0,
        distance_m: float | None = None,
    ) -> tuple[torch.Tensor, int]:
        """OTF ``[L, size, size]`` at image position (x, y) [mm]; see :func:`camforge.optics.psf.otf_from_pupil`."""
        field, rot, phi = self._field_params(x_mm, y_mm, r_corner_mm)
        z = self.zernike_at(field)
        shift = None
        if bool(self.lateral_color_um.detach().abs().max() > 0) or self.lateral_color_um.requires_grad:
            s = self.lateral_shift_um(wavelengths_nm, field)
            shift = torch.stack([s * math.cos(phi), s * math.sin(phi)], dim=-1)
        return otf_from_pupil(
            z,
            wavelengths_nm,
            self.working_f_number(distance_m),
            pitch_um,
            size,
            rotation_rad=rot,
            shift_um=shift,
            min_pupil_samples=self.config.psf.min_pupil_samples,
        )

    def psf(
        self,
        wavelengths_nm,
        pitch_um: float,
        size: int,
        *,
        x_mm: float = 0.0,
        y_mm: float = 0.0,
        r_corner_mm: float = 1.0,
        distance_m: float | None = None,
    ) -> torch.Tensor:
        """PSF kernels ``[L, size, size]`` (sum 1, centre at ``size // 2``) at image position (x, y) [mm]."""
        wl = torch.as_tensor(wavelengths_nm, dtype=self.zernike_um.dtype).reshape(-1)
        otf, _ = self.otf(wl, pitch_um, size, x_mm=x_mm, y_mm=y_mm, r_corner_mm=r_corner_mm, distance_m=distance_m)
        return torch.fft.fftshift(torch.fft.ifft2(otf).real, dim=(-2, -1))

    def extra_repr(self) -> str:
        return f"f={float(self.focal_length_mm):.3g} mm, N={float(self.f_number):.3g}, T={float(self.transmission):.3g}"
