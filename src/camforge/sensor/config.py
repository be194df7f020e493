"""Sensor section of a camera design file (pydantic, unknown fields are errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camforge.cfa import normalize_cfa
from camforge.errors import InputError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class QEConfig(_Strict):
    """Spectral quantum efficiency per CFA colour.

    ``model: parametric`` multiplies a silicon response (absorption in an epitaxial layer of
    ``epi_thickness_um``, scaled so the bare-silicon peak is ``peak_qe``) by pigment colour
    filter transmissions (blue and green band-passes, red long-pass) with out-of-band
    leakage ``filter_floor``. ``model: table`` takes measured curves (``wavelength_nm`` and
    ``r``, ``g``, ``b`` or ``mono`` in 0..1).
    """

    model: str = Field("parametric", pattern="^(parametric|table)$")
    peak_qe: float = Field(0.8, gt=0.0, le=1.0)
    epi_thickness_um: float = Field(3.0, gt=0.1, le=100.0)
    blue_center_nm: float = 455.0
    blue_width_nm: float = Field(40.0, gt=1.0)
    green_center_nm: float = 535.0
    green_width_nm: float = Field(42.0, gt=1.0)
    red_edge_nm: float = 590.0
    red_edge_width_nm: float = Field(12.0, gt=0.5)
    filter_peak: float = Field(0.92, gt=0.0, le=1.0)
    filter_floor: float = Field(0.03, ge=0.0, lt=1.0)
    wavelength_nm: list[float] | None = None
    r: list[float] | None = None
    g: list[float] | None = None
    b: list[float] | None = None
    mono: list[float] | None = None

    @model_validator(mode="after")
    def _table(self):
        if self.model == "table":
            if not self.wavelength_nm:
                raise ValueError("qe.model 'table' needs wavelength_nm")
            curves = [c for c in (self.r, self.g, self.b, self.mono) if c is not None]
            if not curves:
                raise ValueError("qe.model 'table' needs r, g, b (colour) or mono curves")
            for c in curves:
                if len(c) != len(self.wavelength_nm):
                    raise ValueError("each QE curve needs one value per wavelength_nm entry")
                if min(c) < 0 or max(c) > 1:
                    raise ValueError("QE values must lie in [0, 1]")
        return self


class IrCutConfig(_Strict):
    """IR-cut filter: logistic edge, 50 % transmission at ``cutoff_nm``."""

    enabled: bool = True
    cutoff_nm: float = Field(650.0, gt=300.0, lt=1200.0)
    width_nm: float = Field(8.0, gt=0.5)
    transmission: float = Field(0.95, gt=0.0, le=1.0)


class DefectConfig(_Strict):
    """Defect pixels, fixed per sensor instance (rates in parts per million of pixels)."""

    hot_ppm: float = Field(0.0, ge=0.0)
    dead_ppm: float = Field(0.0, ge=0.0)
    stuck_ppm: float = Field(0.0, ge=0.0)
    cluster_ppm: float = Field(0.0, ge=0.0, description="clusters of 2–6 adjacent hot or dead pixels")
    hot_dark_current_e_per_s: float = Field(2000.0, ge=0.0, description="dark current of a hot pixel")
    stuck_dn: float | None = Field(None, description="value of stuck pixels (default: white level)")


class SensorConfig(_Strict):
    """A CMOS image sensor. Units are in the names; all noise figures are 1σ."""

    name: str = "sensor"
    width_px: int = Field(..., ge=2, le=100_000)
    height_px: int = Field(..., ge=2, le=100_000)
    pixel_pitch_um: float = Field(..., gt=0.0, le=100.0)
    fill_factor: float = Field(1.0, gt=0.0, le=1.0, description="light-sensitive fraction of the pixel area")
    cfa: str = "RGGB"
    qe: QEConfig = Field(default_factory=QEConfig)
    ir_cut: IrCutConfig = Field(default_factory=IrCutConfig)
    full_well_e: float = Field(..., gt=0.0)
    conversion_gain_dn_per_e: float | None = Field(
        None, gt=0.0, description="system gain K at unity analog gain [DN/e⁻]; default maps full well to the ADC range"
    )
    analog_gain: float = Field(1.0, ge=1.0, le=1000.0)
    max_analog_gain: float = Field(16.0, ge=1.0, le=1000.0)
    read_noise_e: float = Field(2.0, ge=0.0, description="input-referred read noise at unity gain [e⁻]")
    adc_noise_dn: float = Field(0.0, ge=0.0, description="noise after the gain stage [DN]")
    dark_current_e_per_s: float = Field(1.0, ge=0.0, description="mean dark current at dark_current_ref_temp_c")
    dark_current_ref_temp_c: float = 25.0
    dark_current_doubling_k: float = Field(6.5, gt=0.0, description="temperature step that doubles dark current [K]")
    dark_current_spread: float = Field(0.2, ge=0.0, description="pixel-to-pixel relative spread of dark current")
    temperature_c: float = 25.0
    dsnu_e: float = Field(0.0, ge=0.0, description="fixed offset non-uniformity [e⁻]")
    prnu_pct: float = Field(0.0, ge=0.0, le=50.0, description="photo-response non-uniformity [%]")
    row_noise_e: float = Field(0.0, ge=0.0, description="temporal row noise [e⁻]")
    column_fpn_e: float = Field(0.0, ge=0.0, description="fixed column offset pattern [e⁻]")
    row_fpn_e: float = Field(0.0, ge=0.0, description="fixed row offset pattern [e⁻]")
    adc_bits: int = Field(10, ge=6, le=20)
    black_level_dn: float = Field(64.0, ge=0.0)
    exposure_min_s: float = Field(1e-5, gt=0.0)
    exposure_max_s: float = Field(1.0 / 30.0, gt=0.0)
    defects: DefectConfig = Field(default_factory=DefectConfig)
    seed: int = Field(0, description="sensor instance: fixes PRNU, DSNU and defect maps")

    @field_validator("cfa")
    @classmethod
    def _cfa(cls, v):
        try:
            return normalize_cfa(v)
        except InputError as e:
            raise ValueError(str(e)) from None

    @model_validator(mode="after")
    def _consistent(self):
        if self.black_level_dn >= 2**self.adc_bits - 1:
            raise ValueError(f"black_level_dn {self.black_level_dn} leaves no range for a {self.adc_bits}-bit ADC")
        if self.exposure_max_s < self.exposure_min_s:
            raise ValueError("exposure_max_s must be >= exposure_min_s")
        if self.analog_gain > self.max_analog_gain:
            raise ValueError("analog_gain must be <= max_analog_gain")
        if self.qe.model == "table":
            colour = self.cfa != "MONO"
            if colour and (self.qe.r is None or self.qe.g is None or self.qe.b is None):
                raise ValueError("a colour sensor with qe.model 'table' needs r, g and b curves")
            if not colour and self.qe.mono is None:
                raise ValueError("a MONO sensor with qe.model 'table' needs a mono curve")
        return self

    @property
    def white_level_dn(self) -> float:
        return float(2**self.adc_bits - 1)

    @property
    def diagonal_mm(self) -> float:
        return ((self.width_px**2 + self.height_px**2) ** 0.5) * self.pixel_pitch_um * 1e-3
