"""Zernike polynomials (Noll 1976 ordering and RMS normalisation).

R. J. Noll, "Zernike polynomials and atmospheric turbulence", JOSA 66(3):207–211 (1976).
Each polynomial has unit RMS over the unit disc, so a coefficient is the RMS wavefront
error it contributes. camforge gives coefficients in micrometres of optical path
difference (µm OPD); the phase at wavelength λ is 2π W / λ.
"""

from __future__ import annotations

import math

import torch

#: Noll index of each named term.
NOLL = {
    "piston": 1,
    "tilt_x": 2,
    "tilt_y": 3,
    "defocus": 4,
    "astigmatism_45": 5,
    "astigmatism_0": 6,
    "coma_y": 7,
    "coma_x": 8,
    "trefoil_y": 9,
    "trefoil_x": 10,
    "spherical": 11,
    "secondary_spherical": 22,
}
NAMES = tuple(NOLL)


def zernike(j: int, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Noll Zernike polynomial ``Z_j(ρ, θ)`` (unit RMS on the unit disc)."""
    r2 = rho * rho
    if j == 1:
        return torch.ones_like(rho)
    if j == 2:
        return 2 * rho * torch.cos(theta)
    if j == 3:
        return 2 * rho * torch.sin(theta)
    if j == 4:
        return math.sqrt(3) * (2 * r2 - 1)
    if j == 5:
        return math.sqrt(6) * r2 * torch.sin(2 * theta)
    if j == 6:
        return math.sqrt(6) * r2 * torch.cos(2 * theta)
    if j == 7:
        return math.sqrt(8) * (3 * r2 * rho - 2 * rho) * torch.sin(theta)
    if j == 8:
        return math.sqrt(8) * (3 * r2 * rho - 2 * rho) * torch.cos(theta)
    if j == 9:
        return math.sqrt(8) * r2 * rho * torch.sin(3 * theta)
    if j == 10:
        return math.sqrt(8) * r2 * rho * torch.cos(3 * theta)
    if j == 11:
        return math.sqrt(5) * (6 * r2 * r2 - 6 * r2 + 1)
    if j == 22:
        return math.sqrt(7) * (20 * r2**3 - 30 * r2 * r2 + 12 * r2 - 1)
    raise ValueError(f"Noll index {j} not implemented (available: {sorted(NOLL.values())})")


def wavefront(coeffs_um: torch.Tensor, rho: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Wavefront ``W(ρ, θ)`` [µm] from coefficients ``[..., len(NAMES)]`` in :data:`NAMES` order.

    Leading dimensions of ``coeffs_um`` broadcast against ``rho``'s: the result is
    ``coeffs.shape[:-1] + rho.shape``.
    """
    out = None
    lead = coeffs_um.shape[:-1]
    for i, name in enumerate(NAMES):
        c = coeffs_um[..., i]
        if not c.requires_grad and bool((c == 0).all()):
            continue
        term = c.reshape(lead + (1,) * rho.ndim) * zernike(NOLL[name], rho, theta)
        out = term if out is None else out + term
    if out is None:
        out = torch.zeros(lead + tuple(rho.shape), dtype=rho.dtype, device=rho.device)
    return out
