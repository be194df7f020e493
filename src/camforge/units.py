"""Physical constants and unit helpers (SI unless the name says otherwise).

Names carry units: ``_nm`` nanometres, ``_um`` micrometres, ``_mm`` millimetres,
``_s`` seconds, ``_e`` electrons, ``_dn`` digital numbers, ``_p`` photons.
"""

from __future__ import annotations

import math

#: Planck constant [J·s] (CODATA 2018, exact).
PLANCK_J_S = 6.62607015e-34
#: Speed of light in vacuum [m/s] (exact).
SPEED_OF_LIGHT_M_S = 299_792_458.0
#: Maximum luminous efficacy of photopic vision [lm/W] (CIE, at 555.016 nm 540 THz).
K_M_LM_PER_W = 683.0
#: Boltzmann constant [J/K] (exact).
BOLTZMANN_J_K = 1.380649e-23


def photon_energy_j(wavelength_nm: float) -> float:
    """Energy of one photon [J] at ``wavelength_nm``: E = h c / λ."""
    return PLANCK_J_S * SPEED_OF_LIGHT_M_S / (wavelength_nm * 1e-9)


def db20(ratio: float) -> float:
    """Amplitude ratio in decibels, 20·log10(ratio)."""
    return 20.0 * math.log10(ratio)


def bits(ratio: float) -> float:
    """Ratio in bits, log2(ratio)."""
    return math.log2(ratio)


def celsius_to_kelvin(t_c: float) -> float:
    return t_c + 273.15
