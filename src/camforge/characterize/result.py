"""Result objects of an EMVA 1288 characterization (frozen dataclasses, ``.to_dict()``).

Units are in the field names: ``_dn`` digital numbers, ``_dn2`` DN², ``_e`` electrons,
``_p`` photons (per pixel area), ``_pct`` percent, ``_db`` decibels (20·log10 of an
amplitude ratio), ``_bits`` log2, ``_s`` seconds, ``_c`` °C, ``_k`` kelvin. ``qe`` is a
fraction 0..1. Confidence intervals are 95 % two-sided ``(low, high)``.

``to_dict()`` is JSON-safe: arrays become lists, NaN (a quantity that cannot be computed
from the data, e.g. a negative variance after the temporal correction) becomes ``null``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np


def _clean(v: Any) -> Any:
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if math.isfinite(v) else None
    if isinstance(v, np.ndarray):
        return [_clean(x) for x in v.tolist()] if v.dtype.kind in "fc" else v.tolist()
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if hasattr(v, "to_dict"):
        return v.to_dict()
    if v is None or isinstance(v, str):
        return v
    return str(v)


def _ro(a) -> np.ndarray:
    a = np.array(a, dtype=float, copy=True)
    a.setflags(write=False)
    return a


class _ToDict:
    _skip: tuple = ()

    def to_dict(self) -> dict:
        return {f.name: _clean(getattr(self, f.name)) for f in fields(self) if f.name not in self._skip}


@dataclass(frozen=True)
class PhotonTransfer(_ToDict):
    """Per bright step (sorted by photons): the photon transfer and sensitivity data.

    ``mean_dn`` μ_y and ``var_dn2`` σ²_y are the R4 two-frame mean and variance;
    ``dark_mean_dn`` / ``dark_var_dn2`` the dark values at the same exposure time.
    """

    step_index: np.ndarray
    exposure_s: np.ndarray
    photons_per_px: np.ndarray
    mean_dn: np.ndarray
    var_dn2: np.ndarray
    dark_mean_dn: np.ndarray
    dark_var_dn2: np.ndarray
    saturated_fraction: np.ndarray

    @property
    def signal_dn(self) -> np.ndarray:
        """μ_y − μ_y.dark [DN]."""
        return self.mean_dn - self.dark_mean_dn

    @property
    def signal_var_dn2(self) -> np.ndarray:
        """σ²_y − σ²_y.dark [DN²]."""
        return self.var_dn2 - self.dark_var_dn2

    @property
    def snr(self) -> np.ndarray:
        """Measured SNR = (μ_y − μ_y.dark) / σ_y (R4 §6.4)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.signal_dn / np.sqrt(self.var_dn2)

    def to_dict(self) -> dict:
        d = super().to_dict()
        d["signal_dn"] = _clean(self.signal_dn)
        d["snr"] = _clean(self.snr)
        return d


@dataclass(frozen=True)
class Spectrogram(_ToDict):
    """Spatial spectrogram: standard deviation per frequency, averaged over lines.

    ``frequency_cy_per_px`` 0 … 0.5; ``amplitude`` in the unit given (``e`` for DSNU,
    ``pct`` for PRNU); ``temporal_floor`` the level the residual temporal noise of the
    averaged stack alone would give (white).
    """

    direction: str
    unit: str
    frequency_cy_per_px: np.ndarray
    amplitude: np.ndarray
    temporal_floor: float


@dataclass(frozen=True)
class Histogram(_ToDict):
    """A histogram of pixel deviations and its accumulated (logarithmic) form.

    ``counts`` over ``bin_edges`` of the signed deviation; ``accumulated_pct[i]`` is the
    percentage of pixels whose absolute deviation is ≥ ``accumulated_edges[i]``;
    ``model_counts`` a normal distribution of the same σ (for the plot).
    """

    name: str
    unit: str
    bin_edges: np.ndarray
    counts: np.ndarray
    model_counts: np.ndarray
    accumulated_edges: np.ndarray
    accumulated_pct: np.ndarray


@dataclass(frozen=True)
class DefectPixels(_ToDict):
    """Pixels deviating more than ``threshold_sigma`` robust standard deviations.

    ``dark`` map: from the dark average (hot or cold pixels, DSNU outliers); ``bright``:
    from the high-pass filtered bright − dark average (PRNU outliers). Coordinates are
    (row, column) in the full frame; at most 1000 are listed.
    """

    threshold_sigma: float
    dark_threshold_e: float
    bright_threshold_pct: float
    n_dark: int
    n_bright: int
    dark_rc: tuple
    bright_rc: tuple
    dark_map: np.ndarray = field(repr=False)
    bright_map: np.ndarray = field(repr=False)
    _skip = ("dark_map", "bright_map")


@dataclass(frozen=True)
class SpatialNonuniformity(_ToDict):
    """DSNU1288 / PRNU1288 with row, column and pixel parts (R4 §8).

    Variances are after the correction for the temporal noise left in an average of
    ``n_frames`` frames (s²_y = s²_y.measured − σ²_y.stack / L).
    """

    exposure_s: float
    photons_per_px: float
    n_frames: int
    n_frames_dark: int
    mean_dn: float
    dark_mean_dn: float
    stack_var_dn2: float
    dark_stack_var_dn2: float
    s2_y_dn2: float
    s2_y_row_dn2: float
    s2_y_col_dn2: float
    s2_y_pixel_dn2: float
    s2_y_dark_dn2: float
    s2_y_dark_row_dn2: float
    s2_y_dark_col_dn2: float
    s2_y_dark_pixel_dn2: float
    dsnu_e: float
    dsnu_dn: float
    dsnu_row_e: float
    dsnu_col_e: float
    dsnu_pixel_e: float
    prnu_pct: float
    prnu_row_pct: float
    prnu_col_pct: float
    prnu_pixel_pct: float
    spectrograms: tuple
    histograms: tuple
    defects: DefectPixels | None
    dark_mean_image_dn: np.ndarray = field(repr=False)
    mean_image_dn: np.ndarray = field(repr=False)
    _skip = ("dark_mean_image_dn", "mean_image_dn")


@dataclass(frozen=True)
class DarkCurrent(_ToDict):
    """Dark current from the dark exposure-time series (R4 §7) and its temperature law.

    ``from_mean_e_per_s``: slope of μ_y.dark(t) / K; ``from_var_e_per_s``: slope of
    σ²_y.dark(t) / K². With several temperatures, ``doubling_temperature_k`` T_d of
    I(T) = I_ref · 2^((T − T_ref)/T_d), fitted to the per-temperature values from the mean.
    """

    from_mean_e_per_s: float
    from_mean_ci95: tuple
    from_var_e_per_s: float
    from_var_ci95: tuple
    exposure_s: np.ndarray
    dark_mean_dn: np.ndarray
    dark_var_dn2: np.ndarray
    temperature_c: float | None = None
    temperatures_c: tuple = ()
    per_temperature_e_per_s: tuple = ()
    doubling_temperature_k: float = float("nan")
    doubling_temperature_ci95: tuple = (float("nan"), float("nan"))


@dataclass(frozen=True)
class Emva1288Channel(_ToDict):
    """All EMVA 1288 Release 4.0 Linear figures of one channel (mono or one CFA site)."""

    channel: str
    # sensitivity and noise (R4 §6)
    k_dn_per_e: float
    k_ci95: tuple
    inv_k_e_per_dn: float
    responsivity_dn_per_p: float
    qe: float
    qe_ci95: tuple
    sigma_y_dark_dn: float
    sigma_d_e: float
    sigma_d_ci95: tuple
    sigma_d_is_upper_limit: bool
    mu_y_dark_dn: float
    mu_p_min: float
    mu_e_min: float
    mu_p_sat: float
    mu_e_sat: float
    mu_y_sat_dn: float
    saturation_step: int
    snr_max: float
    snr_max_db: float
    snr_max_bits: float
    inv_snr_max_pct: float
    dr: float
    dr_db: float
    dr_bits: float
    # linearity (R4 §6.5)
    le_min_pct: float
    le_max_pct: float
    le_pct: float
    linearity_slope_dn_per_p: float
    linearity_offset_dn: float
    linearity_deviation_pct: np.ndarray
    # fit ranges (indices into photon_transfer, inclusive)
    sensitivity_fit_range: tuple
    linearity_fit_range: tuple
    photon_transfer: PhotonTransfer
    dark_current: DarkCurrent | None
    spatial: SpatialNonuniformity | None

    @property
    def dsnu_e(self) -> float:
        return self.spatial.dsnu_e if self.spatial is not None else float("nan")

    @property
    def prnu_pct(self) -> float:
        return self.spatial.prnu_pct if self.spatial is not None else float("nan")

    def snr_model(self, photons_per_px) -> np.ndarray:
        """SNR of the linear model: η μ_p / √(σ_d² + σ_q²/K² + η μ_p) (R4 eq. for SNR)."""
        mu_e = self.qe * np.asarray(photons_per_px, float)
        total_dark = (self.sigma_y_dark_dn / self.k_dn_per_e) ** 2
        return mu_e / np.sqrt(total_dark + mu_e)


#: keys the CLI ``--json`` output must have at the top level
HEADLINE_KEYS = ("K", "qe", "sigma_d_e", "sigma_y_dark_dn", "mu_e_sat", "mu_p_min", "snr_max_db", "dr_db",
                 "le_min_pct", "le_max_pct", "dsnu_e", "prnu_pct")


@dataclass(frozen=True)
class Emva1288Result:
    """EMVA 1288 Release 4.0 Linear characterization of a sensor.

    ``channels`` holds one :class:`Emva1288Channel` per analysed channel (``mono``, or
    one per CFA site plane: ``R``, ``Gr``, ``Gb``, ``B``); the headline properties
    (``k_dn_per_e``, ``qe``, ...) are those of ``main_channel`` (mono, or the green site
    on the red rows).
    """

    standard: str
    channels: dict
    main_channel: str
    cfa: str
    bits: int
    width_px: int
    height_px: int
    wavelength_nm: float | None
    pixel_pitch_um: float | None
    temperature_c: float | None
    descriptor_version: str
    source: str
    n_frames: int
    warnings: tuple
    confidence_method: str
    truth: dict | None = None

    @property
    def main(self) -> Emva1288Channel:
        return self.channels[self.main_channel]

    # headline figures of the main channel
    @property
    def k_dn_per_e(self) -> float:
        return self.main.k_dn_per_e

    @property
    def qe(self) -> float:
        return self.main.qe

    @property
    def sigma_d_e(self) -> float:
        return self.main.sigma_d_e

    @property
    def sigma_y_dark_dn(self) -> float:
        return self.main.sigma_y_dark_dn

    @property
    def mu_e_sat(self) -> float:
        return self.main.mu_e_sat

    @property
    def mu_p_min(self) -> float:
        return self.main.mu_p_min

    @property
    def snr_max_db(self) -> float:
        return self.main.snr_max_db

    @property
    def dr_db(self) -> float:
        return self.main.dr_db

    @property
    def le_min_pct(self) -> float:
        return self.main.le_min_pct

    @property
    def le_max_pct(self) -> float:
        return self.main.le_max_pct

    @property
    def dsnu_e(self) -> float:
        return self.main.dsnu_e

    @property
    def prnu_pct(self) -> float:
        return self.main.prnu_pct

    def headline(self) -> dict:
        """The headline figures (main channel), JSON-safe, with the CLI's key names."""
        m = self.main
        d = {
            "K": m.k_dn_per_e, "qe": m.qe, "sigma_d_e": m.sigma_d_e, "sigma_y_dark_dn": m.sigma_y_dark_dn,
            "mu_e_sat": m.mu_e_sat, "mu_p_min": m.mu_p_min, "snr_max_db": m.snr_max_db, "dr_db": m.dr_db,
            "le_min_pct": m.le_min_pct, "le_max_pct": m.le_max_pct, "dsnu_e": m.dsnu_e, "prnu_pct": m.prnu_pct,
            "inv_K_e_per_dn": m.inv_k_e_per_dn, "K_ci95": m.k_ci95, "qe_ci95": m.qe_ci95,
            "sigma_d_ci95": m.sigma_d_ci95, "sigma_d_is_upper_limit": m.sigma_d_is_upper_limit,
            "mu_p_sat": m.mu_p_sat, "mu_e_min": m.mu_e_min, "saturation_step": m.saturation_step,
            "snr_max": m.snr_max, "snr_max_bits": m.snr_max_bits, "dr": m.dr, "dr_bits": m.dr_bits,
            "le_pct": m.le_pct, "responsivity_dn_per_p": m.responsivity_dn_per_p,
            "dark_current_e_per_s": m.dark_current.from_mean_e_per_s if m.dark_current else None,
            "dark_current_var_e_per_s": m.dark_current.from_var_e_per_s if m.dark_current else None,
            "doubling_temperature_k": m.dark_current.doubling_temperature_k if m.dark_current else None,
        }
        return {k: _clean(v) for k, v in d.items()}

    def to_dict(self) -> dict:
        d = self.headline()
        d.update({
            "standard": self.standard, "channel": self.main_channel, "cfa": self.cfa, "bits": self.bits,
            "width_px": self.width_px, "height_px": self.height_px, "wavelength_nm": _clean(self.wavelength_nm),
            "pixel_pitch_um": _clean(self.pixel_pitch_um), "temperature_c": _clean(self.temperature_c),
            "descriptor_version": self.descriptor_version, "source": self.source, "n_frames": self.n_frames,
            "warnings": list(self.warnings), "confidence_method": self.confidence_method,
            "channels": {k: v.to_dict() for k, v in self.channels.items()},
        })
        if self.truth is not None:
            d["truth"] = _clean(dict(self.truth))
        return d


__all__ = ["DarkCurrent", "DefectPixels", "Emva1288Channel", "Emva1288Result", "HEADLINE_KEYS", "Histogram",
           "PhotonTransfer", "SpatialNonuniformity", "Spectrogram"]
