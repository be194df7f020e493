"""Relative illumination: cos⁴ fall-off and mechanical vignetting.

Image irradiance of a Lambertian object at field angle θ falls as cos⁴θ (natural
vignetting; Slater, *Photographic Systems for Engineers*, 1966; Kingslake, *Optical System
Design*, 1983). Mechanical vignetting is modelled as the overlap of the aperture stop's
image (unit circle) and a second aperture (radius ``stop_ratio``) that slides across it
in proportion to field height, reaching ``shift_corner`` pupil radii at the corner — the
classic "cat's-eye" geometry. Both factors are differentiable in their parameters.
"""

from __future__ import annotations

import math

import torch


def circle_overlap_fraction(d: torch.Tensor, R) -> torch.Tensor:
    """Area of the overlap of a unit circle and a circle of radius ``R`` ≥ 1 whose centre is
    ``d`` away, divided by π (the unit circle's area)."""
    R = torch.as_tensor(R, dtype=d.dtype)
    d = d.abs()
    eps = 1e-12
    full = d <= (R - 1)
    none = d >= (R + 1)
    dd = torch.clamp(d, min=eps)
    c1 = torch.clamp((dd * dd + 1 - R * R) / (2 * dd), -1.0, 1.0)
    c2 = torch.clamp((dd * dd + R * R - 1) / (2 * dd * R), -1.0, 1.0)
    a1 = torch.acos(c1)
    a2 = torch.acos(c2)
    under = torch.clamp((-dd + 1 + R) * (dd + 1 - R) * (dd - 1 + R) * (dd + 1 + R), min=0.0)
    area = a1 + R * R * a2 - 0.5 * torch.sqrt(under + eps)
    frac = area / math.pi
    return torch.where(full, torch.ones_like(frac), torch.where(none, torch.zeros_like(frac), frac))


def relative_illumination(
    r_mm: torch.Tensor,
    focal_length_mm,
    r_corner_mm: float,
    *,
    cos4: bool = True,
    cra_corner_deg=None,
    stop_ratio=None,
    shift_corner=0.0,
) -> torch.Tensor:
    """Relative illumination (1 on axis) at image height ``r_mm``.

    Args:
        r_mm: image height [mm].
        focal_length_mm: focal length [mm] (sets the chief-ray angle θ = atan(r / f)).
        r_corner_mm: image height of the sensor corner [mm].
        cos4: apply the cos⁴θ law.
        cra_corner_deg: chief-ray angle at the corner [deg] if the lens is not a simple
            thin lens (e.g. ~30° for phone lenses); the angle then grows linearly in r.
        stop_ratio: radius of the vignetting aperture in pupil radii (None: no vignetting).
        shift_corner: its decentre at the corner, in pupil radii.
    """
    ri = torch.ones_like(r_mm)
    if cos4:
        if cra_corner_deg is not None:
            theta = torch.as_tensor(cra_corner_deg, dtype=r_mm.dtype) * math.pi / 180 * (r_mm / r_corner_mm)
        else:
            theta = torch.atan(r_mm / torch.as_tensor(focal_length_mm, dtype=r_mm.dtype))
        ri = ri * torch.cos(theta) ** 4
    if stop_ratio is not None:
        d = torch.as_tensor(shift_corner, dtype=r_mm.dtype) * r_mm / r_corner_mm
        ri = ri * circle_overlap_fraction(d, stop_ratio)
    return ri
