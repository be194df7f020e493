"""Lens section of a camera design file (pydantic, unknown fields are errors)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camforge.optics.zernike import NAMES

_ABERRATION_FIELDS = [n for n in NAMES if n != "piston"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False)


class ZernikeNode(_Strict):
    """Wavefront error at one field position, Zernike (Noll, RMS-normalised) in µm OPD.

    ``field`` is the image height as a fraction of the sensor half-diagonal (0 = centre,
    1 = corner). Coefficients are in the local frame whose y axis points radially outward
    (meridional), so astigmatism_0 > 0 and coma_y are the usual off-axis field aberrations.
    Between nodes the coefficients are interpolated linearly in field height.
    """

    field: float = Field(0.0, ge=0.0, le=1.0, description="image height / half-diagonal")
    tilt_x_um: float = 0.0
    tilt_y_um: float = 0.0
    defocus_um: float = 0.0
    astigmatism_45_um: float = 0.0
    astigmatism_0_um: float = 0.0
    coma_y_um: float = 0.0
    coma_x_um: float = 0.0
    trefoil_y_um: float = 0.0
    trefoil_x_um: float = 0.0
    spherical_um: float = 0.0
    secondary_spherical_um: float = 0.0

    def vector(self) -> list[float]:
        return [0.0] + [getattr(self, f"{n}_um") for n in _ABERRATION_FIELDS]


class DistortionConfig(_Strict):
    """Brown–Conrady coefficients, OpenCV convention (coordinates normalised by focal length)."""

    k1: float = 0.0
    k2: float = 0.0
    k3: float = 0.0
    p1: float = 0.0
    p2: float = 0.0


class RelativeIlluminationConfig(_Strict):
    """cos⁴ fall-off and cat's-eye mechanical vignetting."""

    cos4: bool = True
    cra_corner_deg: float | None = Field(None, ge=0.0, lt=89.0, description="chief-ray angle at the corner [deg]")
    vignetting_stop_ratio: float | None = Field(None, ge=1.0, description="vignetting aperture radius / pupil radius")
    vignetting_shift_corner: float = Field(0.0, ge=0.0, description="its decentre at the corner [pupil radii]")


class LateralColorConfig(_Strict):
    """Lateral colour: radial image displacement at the corner relative to 550 nm [µm],
    at 450 nm and 650 nm; quadratic in wavelength through zero at 550 nm, linear in field."""

    shift_450nm_um: float = 0.0
    shift_650nm_um: float = 0.0


class PsfConfig(_Strict):
    """How the PSF and image formation are sampled."""

    enabled: bool = Field(True, description="diffraction + aberration PSF from the pupil function")
    gaussian_sigma_um: float = Field(
        0.0, ge=0.0, description="extra Gaussian blur σ [µm] (OLPF, crosstalk, vibration), applied in addition"
    )
    oversample: int = Field(2, ge=1, le=8, description="fine-grid samples per pixel (per axis)")
    size_px: int = Field(16, ge=2, le=256, description="PSF kernel support [pixels]")
    zones: tuple[int, int] = Field((8, 6), description="field zones (x, y), one PSF each when it varies with field")
    min_pupil_samples: int = Field(64, ge=16, le=512)


class LensConfig(_Strict):
    """A lens: first-order properties, aberrations, distortion, illumination, lateral colour."""

    name: str = "lens"
    focal_length_mm: float = Field(..., gt=0.0, description="effective focal length [mm]")
    f_number: float = Field(..., gt=0.3, le=64.0, description="f-number at infinity focus")
    transmission: float = Field(0.9, gt=0.0, le=1.0, description="on-axis transmittance")
    aberrations: list[ZernikeNode] = Field(default_factory=list)
    distortion: DistortionConfig = Field(default_factory=DistortionConfig)
    relative_illumination: RelativeIlluminationConfig = Field(default_factory=RelativeIlluminationConfig)
    lateral_color: LateralColorConfig = Field(default_factory=LateralColorConfig)
    psf: PsfConfig = Field(default_factory=PsfConfig)

    @field_validator("aberrations")
    @classmethod
    def _sorted_nodes(cls, v):
        fields = [n.field for n in v]
        if len(set(fields)) != len(fields):
            raise ValueError("aberration nodes must have distinct 'field' values")
        return sorted(v, key=lambda n: n.field)

    @model_validator(mode="after")
    def _zones(self):
        zx, zy = self.psf.zones
        if zx < 1 or zy < 1 or zx > 64 or zy > 64:
            raise ValueError("psf.zones must be two integers between 1 and 64")
        return self
