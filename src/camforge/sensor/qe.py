"""Spectral quantum efficiency and the IR-cut filter.

The parametric model multiplies

* the silicon response: the fraction of photons absorbed in an epitaxial layer of
  thickness t, 1 − exp(−α(λ) t), with α(λ) the absorption coefficient of crystalline
  silicon at 300 K (M. A. Green, "Self-consistent optical parameters of intrinsic silicon
  at 300 K", Sol. Energy Mater. Sol. Cells 92:1305 (2008), values rounded), scaled so its
  maximum is the peak QE (collection efficiency, microlens and reflection losses);
* a pigment colour filter per CFA colour: Gaussian band-passes for blue and green and a
  logistic long-pass for red, each between ``filter_floor`` and ``filter_peak``.

The IR-cut filter is a logistic edge. Everything is evaluated on a 1 nm grid and
band-averaged, so the RGB fast path sees the same totals as the spectral path.
"""

from __future__ import annotations

import numpy as np

from camforge.cfa import n_colors
from camforge.sensor.config import IrCutConfig, QEConfig
from camforge.spectral import WavelengthGrid, band_average

# Absorption coefficient of crystalline Si at 300 K [1/cm] (Green 2008, rounded).
_SI_WL = np.array([350, 400, 450, 500, 550, 600, 650, 700, 750, 800, 850, 900, 950, 1000, 1050, 1100], float)
_SI_ALPHA = np.array([1.04e6, 9.5e4, 2.55e4, 1.11e4, 6.39e3, 4.14e3, 2.81e3, 1.90e3, 1.30e3, 8.5e2, 5.35e2,
                      3.06e2, 1.57e2, 6.4e1, 1.63e1, 3.5e0])

_FINE = np.arange(360.0, 831.0, 1.0)


def silicon_absorption_per_cm(wavelength_nm) -> np.ndarray:
    """Absorption coefficient of silicon [1/cm] (log-linear interpolation of Green 2008)."""
    return np.exp(np.interp(wavelength_nm, _SI_WL, np.log(_SI_ALPHA)))


def silicon_response(wavelength_nm, epi_thickness_um: float, peak_qe: float) -> np.ndarray:
    """Bare-silicon QE: peak_qe · (1 − exp(−α t)) / max over 400–700 nm."""
    a = silicon_absorption_per_cm(wavelength_nm) * 1e-4 * epi_thickness_um
    absorbed = 1 - np.exp(-a)
    ref = 1 - np.exp(-silicon_absorption_per_cm(np.arange(400.0, 701.0)) * 1e-4 * epi_thickness_um)
    return peak_qe * absorbed / ref.max()


def color_filters(wavelength_nm, qe: QEConfig) -> np.ndarray:
    """Transmission of the R, G, B pigment filters ``[3, N]``."""
    lam = np.asarray(wavelength_nm, float)
    lo, hi = qe.filter_floor, qe.filter_peak
    b = lo + (hi - lo) * np.exp(-0.5 * ((lam - qe.blue_center_nm) / qe.blue_width_nm) ** 2)
    g = lo + (hi - lo) * np.exp(-0.5 * ((lam - qe.green_center_nm) / qe.green_width_nm) ** 2)
    r = lo + (hi - lo) / (1 + np.exp(-(lam - qe.red_edge_nm) / qe.red_edge_width_nm))
    return np.stack([r, g, b])


def ir_cut_transmission(wavelength_nm, ir: IrCutConfig) -> np.ndarray:
    lam = np.asarray(wavelength_nm, float)
    if not ir.enabled:
        return np.ones_like(lam)
    return ir.transmission / (1 + np.exp((lam - ir.cutoff_nm) / ir.width_nm))


def qe_fine(qe: QEConfig, ir: IrCutConfig, cfa: str) -> np.ndarray:
    """QE per colour channel on the 1 nm grid 360–830 nm, IR-cut included, ``[C, N]``."""
    c = n_colors(cfa)
    if qe.model == "table":
        wl = np.asarray(qe.wavelength_nm, float)
        curves = [qe.mono] if c == 1 else [qe.r, qe.g, qe.b]
        # outside the table the QE is taken as zero
        out = np.stack([np.interp(_FINE, wl, np.asarray(k, float), left=0.0, right=0.0) for k in curves])
    else:
        si = silicon_response(_FINE, qe.epi_thickness_um, qe.peak_qe)
        out = si[None] if c == 1 else si[None] * color_filters(_FINE, qe)
    return out * ir_cut_transmission(_FINE, ir)[None]


def qe_curves(qe: QEConfig, ir: IrCutConfig, cfa: str, grid: WavelengthGrid) -> np.ndarray:
    """Band-averaged QE ``[C, L]`` (photon-weighted within each band: ∫QE·λ dλ / ∫λ dλ)."""
    f = qe_fine(qe, ir, cfa)
    num = band_average(_FINE, f * _FINE[None], grid)
    den = band_average(_FINE, _FINE[None], grid)
    return num / den
