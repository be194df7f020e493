"""Wavelength grids, illuminants and radiometry shared by every stage.

camforge works on a band grid: each band ``l`` has a centre ``wavelengths_nm[l]`` and a
width ``bandwidths_nm[l]``; spectral quantities are band averages (per nm), so an integral
over wavelength is ``sum(values * bandwidths_nm)``. Two grids are standard:

* the spectral path: 31 bands, 400–700 nm in 10 nm steps (:func:`spectral_grid`);
* the RGB fast path: 3 bands of 100 nm centred at 450, 550 and 650 nm (:func:`rgb_grid`).

Spectra from colour-science (illuminants, CIE 1931 CMFs, ColorChecker reflectances) are
interpolated to 1 nm and averaged over each band, so both grids integrate to the same
totals for smooth spectra.

References: CIE 015:2018 Colorimetry, 4th ed. (illuminants, photometry, K_m = 683 lm/W).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from camforge.errors import InputError
from camforge.units import K_M_LM_PER_W, PLANCK_J_S, SPEED_OF_LIGHT_M_S


@dataclass(frozen=True)
class WavelengthGrid:
    """Band centres and widths [nm]."""

    wavelengths_nm: tuple[float, ...]
    bandwidths_nm: tuple[float, ...]

    def __post_init__(self):
        if len(self.wavelengths_nm) != len(self.bandwidths_nm) or not self.wavelengths_nm:
            raise InputError("a wavelength grid needs one width per band and at least one band")
        if min(self.bandwidths_nm) <= 0:
            raise InputError("band widths must be positive")

    @property
    def n(self) -> int:
        return len(self.wavelengths_nm)

    def tensor(self, dtype=torch.float32, device=None) -> torch.Tensor:
        return torch.tensor(self.wavelengths_nm, dtype=dtype, device=device)

    def widths(self, dtype=torch.float32, device=None) -> torch.Tensor:
        return torch.tensor(self.bandwidths_nm, dtype=dtype, device=device)

    def edges_nm(self) -> list[tuple[float, float]]:
        return [(w - b / 2, w + b / 2) for w, b in zip(self.wavelengths_nm, self.bandwidths_nm)]

    @property
    def is_rgb(self) -> bool:
        return self.n == 3


def spectral_grid(start_nm: float = 400.0, stop_nm: float = 700.0, step_nm: float = 10.0) -> WavelengthGrid:
    """Uniform band grid, centres from ``start_nm`` to ``stop_nm`` inclusive (31 bands by default)."""
    if step_nm <= 0 or stop_nm < start_nm:
        raise InputError("spectral grid needs step_nm > 0 and stop_nm >= start_nm")
    n = int(round((stop_nm - start_nm) / step_nm)) + 1
    wl = tuple(float(start_nm + i * step_nm) for i in range(n))
    return WavelengthGrid(wl, tuple(float(step_nm) for _ in wl))


def rgb_grid() -> WavelengthGrid:
    """The RGB fast path: three 100 nm bands covering 400–700 nm."""
    return WavelengthGrid((450.0, 550.0, 650.0), (100.0, 100.0, 100.0))


def get_grid(spectral: bool | str | WavelengthGrid = True) -> WavelengthGrid:
    """``True``/"spectral" → 31 bands, ``False``/"rgb" → 3 bands, or a grid as is."""
    if isinstance(spectral, WavelengthGrid):
        return spectral
    if spectral in (True, "spectral"):
        return spectral_grid()
    if spectral in (False, "rgb"):
        return rgb_grid()
    raise InputError(f"unknown spectral mode {spectral!r}; use 'spectral' or 'rgb'")


# ----------------------------------------------------------------------------- resampling

_FINE = np.arange(360.0, 831.0, 1.0)


def _to_fine(wavelengths_nm: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Values on the 1 nm grid 360–830 nm (linear interpolation, constant extrapolation)."""
    wavelengths_nm = np.asarray(wavelengths_nm, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    out = np.empty(values.shape[:-1] + (_FINE.size,))
    flat_in = values.reshape(-1, values.shape[-1])
    flat_out = out.reshape(-1, _FINE.size)
    for i in range(flat_in.shape[0]):
        flat_out[i] = np.interp(_FINE, wavelengths_nm, flat_in[i])
    return out


def band_average(wavelengths_nm, values, grid: WavelengthGrid) -> np.ndarray:
    """Average of a sampled spectrum over each band of ``grid`` (last axis = wavelength)."""
    fine = _to_fine(np.asarray(wavelengths_nm), np.asarray(values))
    out = []
    for lo, hi in grid.edges_nm():
        sel = (_FINE >= lo - 1e-9) & (_FINE < hi - 1e-9)
        if not sel.any():
            sel = np.abs(_FINE - (lo + hi) / 2) == np.abs(_FINE - (lo + hi) / 2).min()
        out.append(fine[..., sel].mean(axis=-1))
    return np.stack(out, axis=-1)


def sd_band_average(sd, grid: WavelengthGrid) -> np.ndarray:
    """Band averages of a colour-science ``SpectralDistribution`` (or multi-SD)."""
    sd = sd.copy().align(_colour().SpectralShape(360, 830, 1))
    wl = np.asarray(sd.wavelengths)
    vals = np.asarray(sd.values)
    if vals.ndim == 2:
        vals = vals.T
    return band_average(wl, vals, grid)


def _colour():
    import colour

    return colour


# ------------------------------------------------------------------------------ illuminants

ILLUMINANT_ALIASES = {
    "D65": "D65", "D50": "D50", "D55": "D55", "D75": "D75", "A": "A", "E": "E",
    **{f"F{i}": f"FL{i}" for i in range(1, 13)},
    **{f"FL{i}": f"FL{i}" for i in range(1, 13)},
    "LED": "LED-B3", "WHITE_LED": "LED-B3", "LED-B3": "LED-B3",
    **{f"LED-B{i}": f"LED-B{i}" for i in range(1, 6)},
    "LED-BH1": "LED-BH1", "LED-RGB1": "LED-RGB1", "LED-V1": "LED-V1", "LED-V2": "LED-V2",
}


def illuminant_names() -> list[str]:
    """Illuminant names accepted by :func:`illuminant_irradiance`."""
    return sorted(ILLUMINANT_ALIASES)


def _illuminant_key(name: str) -> str:
    key = str(name).strip().upper().replace(" ", "_").replace("LED_", "LED-")
    if key not in ILLUMINANT_ALIASES:
        raise InputError(
            f"unknown illuminant {name!r}; use one of {', '.join(illuminant_names())} "
            "(CIE standard illuminants from colour-science; 'LED' is CIE LED-B3, a phosphor white LED)"
        )
    return ILLUMINANT_ALIASES[key]


@lru_cache(maxsize=64)
def _illuminant_fine(name: str) -> np.ndarray:
    colour = _colour()
    sd = colour.SDS_ILLUMINANTS[_illuminant_key(name)].copy()
    sd = sd.align(colour.SpectralShape(360, 830, 1))
    return np.asarray(sd.values, dtype=np.float64)


@lru_cache(maxsize=1)
def _v_lambda_fine() -> np.ndarray:
    colour = _colour()
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"].copy()
    cmfs = cmfs.align(colour.SpectralShape(360, 830, 1))
    return np.asarray(cmfs.values[:, 1], dtype=np.float64)


def photopic_lux(wavelengths_nm, irradiance_w_m2_nm) -> float:
    """Illuminance [lx] of a spectral irradiance: K_m ∫ E(λ) V(λ) dλ (CIE 1931 V(λ))."""
    fine = _to_fine(np.asarray(wavelengths_nm), np.asarray(irradiance_w_m2_nm))
    return float(K_M_LM_PER_W * np.sum(fine * _v_lambda_fine()))


def illuminant_irradiance(name: str, lux: float, grid: WavelengthGrid) -> torch.Tensor:
    """Spectral irradiance [W·m⁻²·nm⁻¹] of illuminant ``name`` scaled to ``lux`` lx, band-averaged.

    The scale is set on the 1 nm grid over 360–830 nm so that K_m ∫ E V dλ = lux exactly,
    independently of the band grid.
    """
    if not np.isfinite(lux) or lux < 0:
        raise InputError(f"illuminance must be a finite number >= 0 lx, got {lux!r}")
    spd = _illuminant_fine(name)
    scale = lux / (K_M_LM_PER_W * np.sum(spd * _v_lambda_fine()))
    vals = band_average(_FINE, spd * scale, grid)
    return torch.tensor(vals, dtype=torch.float32)


def lambertian_radiance(reflectance, irradiance_w_m2_nm):
    """Radiance [W·sr⁻¹·m⁻²·nm⁻¹] of a Lambertian surface: L = ρ E / π."""
    return reflectance * irradiance_w_m2_nm / np.pi


def photons_per_joule(wavelengths_nm: torch.Tensor) -> torch.Tensor:
    """Photons per joule at each wavelength: λ / (h c)."""
    return wavelengths_nm * 1e-9 / (PLANCK_J_S * SPEED_OF_LIGHT_M_S)


@lru_cache(maxsize=8)
def colorchecker_reflectances(grid: WavelengthGrid) -> tuple[tuple[str, ...], np.ndarray]:
    """Names and band-averaged reflectances ``[24, L]`` of the ColorChecker Classic.

    Spectral data: BabelColor average of ColorChecker measurements (Pascale 2006), as
    distributed by colour-science (``colour.SDS_COLOURCHECKERS['BabelColor Average']``).
    """
    colour = _colour()
    sds = colour.SDS_COLOURCHECKERS["BabelColor Average"]
    names = tuple(sds.keys())
    refl = np.stack([sd_band_average(sds[n], grid) for n in names])
    return names, refl


@lru_cache(maxsize=8)
def cie1931_cmfs(grid: WavelengthGrid) -> np.ndarray:
    """CIE 1931 2° colour-matching functions, band-averaged, ``[3, L]``."""
    colour = _colour()
    cmfs = colour.MSDS_CMFS["CIE 1931 2 Degree Standard Observer"]
    return sd_band_average(cmfs, grid)
