"""ISP configuration: one pydantic section per stage, each with ``enable`` (YAML, unknown fields are errors).

The stage order is fixed and named (:data:`STAGES`)::

    black_level → dpc → lsc → awb → demosaic → denoise → ccm → tone → sharpen → yuv

with one choice: ``denoise.domain: raw`` (the default) runs denoise on the mosaic just
before demosaic, ``rgb`` just after it.

Raw stages (``black_level``, ``dpc``, ``lsc``, ``awb``) work on the CFA mosaic; ``demosaic``
makes linear camera RGB; ``ccm`` maps it to linear sRGB (or CIE XYZ); ``tone`` encodes it for
display; ``yuv`` converts the display RGB to Y'CbCr. Signal values after ``black_level`` are
normalised: 0 = black level, 1 = white level (clip).

The same document can live in a camera design's ``isp:`` section:
``IspConfig.from_design_section(design.isp)``. ``examples/isp/default.yaml`` documents every
field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from camforge.config import load_yaml, validate

STAGES: tuple[str, ...] = ("black_level", "dpc", "lsc", "awb", "demosaic", "denoise", "ccm", "tone", "sharpen", "yuv")
"""Stage names in processing order (``denoise`` runs before ``demosaic`` when its domain is raw)."""

RAW_STAGES: tuple[str, ...] = ("black_level", "dpc", "lsc", "awb")
"""Stages that operate on the CFA mosaic."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enable: bool = True


class BlackLevelConfig(_Section):
    """Black-level subtraction and normalisation to [0, 1] of the (white − black) range.

    ``black_level_dn``: one value, or one per site of the CFA repeat tile in row order
    (4 for Bayer); ``null`` takes the value from the raw metadata. ``white_level_dn``:
    saturation level [DN]; ``null`` takes it from the metadata. With ``enable: false`` the
    raw is still scaled by the white level (black taken as 0) so later stages see [0, 1].
    """

    black_level_dn: float | list[float] | None = None
    white_level_dn: float | None = Field(None, gt=0.0)


class DpcConfig(_Section):
    """Defective pixel correction.

    ``method: detect`` flags a pixel that lies outside the range of its 8 same-colour
    neighbours *and* misses the interpolation of every opposite neighbour pair (vertical,
    horizontal, diagonals) by more than ``threshold + threshold_rel × level`` plus
    ``threshold_texture`` × the neighbours' own disagreement (normalised units; the level
    term follows shot noise, the texture term spares edges and fine detail). ``method: map``
    corrects the pixels of a defect map (``.npy`` boolean array H × W, e.g. a Sensor's
    ``defect_map().any``). Flagged pixels become the median of the 4 axial same-colour
    neighbours (``detect``) or the mean of the non-defective same-colour neighbours (``map``).
    ``softness`` is the width of the smooth (differentiable) flag in units of the threshold.
    """

    enable: bool = True
    method: Literal["detect", "map"] = "detect"
    threshold: float = Field(0.02, gt=0.0, description="absolute part of the threshold (normalised units)")
    threshold_rel: float = Field(0.05, ge=0.0, description="relative part (× local median level)")
    threshold_texture: float = Field(1.5, ge=0.0, description="× disagreement of the neighbours")
    softness: float = Field(0.1, gt=0.0, le=1.0)
    defect_map: str | None = Field(None, description="path of a .npy boolean defect map (method: map)")

    @model_validator(mode="after")
    def _map(self):
        if self.enable and self.method == "map" and not self.defect_map:
            raise ValueError("dpc.method 'map' needs defect_map: path to a .npy boolean H x W array")
        return self


class LscConfig(_Section):
    """Lens shading correction: per-CFA-site gain maps applied to the mosaic.

    The gains come from a flat-field calibration (:func:`camforge.isp.calibrate_lsc`), given
    either inline (``gains``: ``[n_sites][rows][cols]`` grid, interpolated bicubically over
    the frame) or as a file (``file``: ``.npz`` written by :func:`camforge.isp.save_lsc`); or
    from a radial polynomial ``gain(r) = 1 + k2·r² + k4·r⁴`` (``radial: [k2, k4]``, r = 1 at
    the corner). ``strength`` blends towards no correction (1 = full; phone ISPs often use
    < 1 to limit corner noise gain).
    """

    enable: bool = False
    gains: list[list[list[float]]] | None = None
    file: str | None = None
    radial: list[float] | None = None
    strength: float = Field(1.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _source(self):
        n = sum(x is not None for x in (self.gains, self.file, self.radial))
        if n > 1:
            raise ValueError("give only one of lsc.gains, lsc.file, lsc.radial")
        if self.enable and n == 0:
            raise ValueError(
                "lsc is enabled but has no calibration: give gains (or file) from camforge.isp.calibrate_lsc, "
                "or radial: [k2, k4]"
            )
        if self.radial is not None and len(self.radial) != 2:
            raise ValueError("lsc.radial needs two values [k2, k4]")
        if self.gains is not None:
            rows = {len(g) for g in self.gains}
            cols = {len(r) for g in self.gains for r in g}
            if len(rows) != 1 or len(cols) != 1 or min(rows) < 2 or min(cols) < 2:
                raise ValueError("lsc.gains must be [n_sites][rows][cols] with equal sizes, at least 2 × 2")
        return self


class AwbConfig(_Section):
    """White balance: per-colour gains on the mosaic, green = 1.

    ``method``: ``as_shot`` (DNG AsShotNeutral from the metadata; falls back to ``fallback``
    when the frame has none), ``manual`` (``gains: [r, g, b]``), ``grey_world`` (Buchsbaum
    1980), ``white_patch`` (the ``percentile`` of each channel, Land 1977), ``grey_edge``
    (Minkowski ``p`` norm of the gradient of the image smoothed by ``sigma_px``, van de
    Weijer et al. 2007). Statistics exclude pixels within ``saturation`` of the clip level and
    are computed once per frame on a binned copy of at most ``stats_max_pixels`` per colour
    plane (so tiles share the same gains).
    """

    method: Literal["as_shot", "manual", "grey_world", "white_patch", "grey_edge"] = "as_shot"
    fallback: Literal["grey_world", "white_patch", "grey_edge"] = "grey_world"
    gains: list[float] | None = None
    percentile: float = Field(99.0, gt=50.0, le=100.0)
    p: float = Field(1.0, ge=1.0, le=16.0, description="Minkowski norm of grey_edge")
    sigma_px: float = Field(1.0, ge=0.0, le=8.0, description="smoothing of grey_edge (colour-plane pixels)")
    saturation: float = Field(0.98, gt=0.0, le=1.0)
    clip_highlights: bool = Field(True, description="clip at the white-balanced level of the weakest channel (no pink highlights)")
    stats_max_pixels: int = Field(1_000_000, ge=1024)

    @model_validator(mode="after")
    def _gains(self):
        if self.method == "manual" and self.gains is None:
            raise ValueError("awb.method 'manual' needs gains: [r, g, b]")
        if self.gains is not None:
            if len(self.gains) != 3 or min(self.gains) <= 0:
                raise ValueError("awb.gains needs three positive values [r, g, b]")
        return self


class DemosaicConfig(_Section):
    """Demosaicing (Bayer CFAs): ``bilinear``, ``malvar`` (Malvar, He & Cutler 2004) or
    ``menon`` (DDFAPD, Menon, Andriani & Calvagno 2007; ``refine`` enables its refining step).
    ``green_balance`` first equalises the Gr and Gb sites locally (within 3 % of the level),
    which removes the maze pattern a 1–2 % green imbalance of real sensors draws.

    ``learned``: joint demosaic + denoise by a noise-level-aware CNN
    (:class:`camforge.isp.learned.LearnedDemosaic`; disable ``denoise``). ``weights``: folder
    written by ``camforge tasks train-isp`` (default: the shipped weights);
    ``dark_noise_e`` / ``conversion_gain_dn_per_e``: the noise model when the raw's metadata
    lacks it (σ_d [e⁻], system gain K [DN/e⁻])."""

    method: Literal["bilinear", "malvar", "menon", "learned"] = "menon"
    refine: bool = True
    green_balance: bool = True
    weights: str | None = None
    dark_noise_e: float | None = Field(None, ge=0.0)
    conversion_gain_dn_per_e: float | None = Field(None, gt=0.0)


class DenoiseConfig(_Section):
    """Edge-preserving denoise, guided by luma.

    ``domain: raw`` (default) filters the white-balanced mosaic before demosaicing: every
    CFA site plane is averaged with its own samples using weights from the per-tile mean, so
    noise is removed before demosaicing spreads and correlates it, at a quarter of the cost
    (windows are then in CFA-tile units: 5 → ±4 pixels). ``domain: rgb`` filters linear camera
    RGB after demosaicing (windows in pixels).

    ``nlm``: non-local means (Buades, Coll & Morel 2005) with ``search_window`` ×
    ``search_window`` candidates and ``patch_size`` × ``patch_size`` patches; ``bilateral``
    (Tomasi & Manduchi 1998) with a Gaussian spatial kernel ``spatial_sigma_px`` over
    ``search_window``. Weights compare √signal (shot noise becomes about uniform), and
    ``strength`` is h (NLM) or the range σ (bilateral) in those units: larger is smoother
    (0.01–0.05 typical).
    """

    enable: bool = False
    method: Literal["nlm", "bilateral"] = "nlm"
    domain: Literal["raw", "rgb"] = "raw"
    strength: float = Field(0.02, gt=0.0, le=1.0)
    search_window: int = Field(5, ge=3, le=21)
    patch_size: int = Field(3, ge=1, le=9)
    spatial_sigma_px: float = Field(1.5, gt=0.0, le=10.0)

    @field_validator("search_window", "patch_size")
    @classmethod
    def _odd(cls, v):
        if v % 2 == 0:
            raise ValueError("must be odd")
        return v


class CcmConfig(_Section):
    """Colour correction: 3 × 3 matrix from white-balanced camera RGB to linear sRGB (or XYZ).

    ``source: metadata`` derives it from the raw's DNG ColorMatrix (identity when the frame
    has none), ``matrix`` uses ``matrix`` (rows, e.g. from :func:`camforge.isp.fit_ccm`),
    ``identity`` leaves camera RGB as is. ``output: xyz`` gives CIE XYZ (D65) instead.
    """

    source: Literal["metadata", "matrix", "identity"] = "metadata"
    matrix: list[list[float]] | None = None
    output: Literal["linear_srgb", "xyz"] = "linear_srgb"

    @model_validator(mode="after")
    def _matrix(self):
        if self.source == "matrix" and self.matrix is None:
            raise ValueError("ccm.source 'matrix' needs matrix: [[...], [...], [...]]")
        if self.matrix is not None and (len(self.matrix) != 3 or any(len(r) != 3 for r in self.matrix)):
            raise ValueError("ccm.matrix must be 3 × 3")
        return self


class ToneConfig(_Section):
    """Exposure and tone curve (to display values in [0, 1]).

    ``exposure_gain`` scales linear values first; ``auto_exposure`` instead places the
    ``ae_percentile`` of luminance at ``ae_target``. ``curve``: ``srgb`` (IEC 61966-2-1),
    ``gamma`` (``x^(1/gamma)``), or ``s_curve`` (``gamma`` then a logistic contrast curve of
    ``contrast`` around ``pivot``, normalised to pass through 0 and 1).
    """

    curve: Literal["srgb", "gamma", "s_curve"] = "srgb"
    gamma: float = Field(2.2, gt=0.1, le=10.0)
    contrast: float = Field(1.5, gt=0.0, le=20.0)
    pivot: float = Field(0.5, gt=0.0, lt=1.0)
    exposure_gain: float = Field(1.0, gt=0.0)
    auto_exposure: bool = False
    ae_percentile: float = Field(99.0, gt=0.0, le=100.0)
    ae_target: float = Field(0.9, gt=0.0, le=1.0)
    clip: bool = True


class SharpenConfig(_Section):
    """Unsharp mask: ``x + amount · (x − G_σ * x)`` with coring below ``threshold``
    (``mode: luma`` adds the luma detail to R, G and B; ``rgb`` sharpens each channel)."""

    enable: bool = True
    amount: float = Field(0.5, ge=0.0, le=10.0)
    sigma_px: float = Field(1.0, gt=0.0, le=10.0)
    threshold: float = Field(0.0, ge=0.0, le=1.0)
    mode: Literal["luma", "rgb"] = "luma"


class YuvConfig(_Section):
    """R'G'B' → Y'CbCr (ITU-R BT.601 or BT.709), full or limited (studio) range, values in [0, 1]."""

    enable: bool = False
    standard: Literal["bt601", "bt709"] = "bt709"
    range: Literal["full", "limited"] = "full"


class IspConfig(BaseModel):
    """An ISP: one section per stage (see :data:`STAGES`)."""

    model_config = ConfigDict(extra="forbid")
    black_level: BlackLevelConfig = Field(default_factory=BlackLevelConfig)
    dpc: DpcConfig = Field(default_factory=DpcConfig)
    lsc: LscConfig = Field(default_factory=LscConfig)
    awb: AwbConfig = Field(default_factory=AwbConfig)
    demosaic: DemosaicConfig = Field(default_factory=DemosaicConfig)
    denoise: DenoiseConfig = Field(default_factory=DenoiseConfig)
    ccm: CcmConfig = Field(default_factory=CcmConfig)
    tone: ToneConfig = Field(default_factory=ToneConfig)
    sharpen: SharpenConfig = Field(default_factory=SharpenConfig)
    yuv: YuvConfig = Field(default_factory=YuvConfig)

    @model_validator(mode="after")
    def _consistent(self):
        rgb = [s for s in ("ccm", "tone", "sharpen", "yuv") if getattr(self, s).enable]
        if self.denoise.enable and self.denoise.domain == "rgb":
            rgb.insert(0, "denoise")
        if not self.demosaic.enable and rgb:
            raise ValueError(f"demosaic is disabled but later stages need RGB: disable {', '.join(rgb)} too "
                             "(or enable demosaic)")
        if self.yuv.enable and not self.tone.enable:
            raise ValueError("yuv converts display R'G'B': enable tone as well")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> IspConfig:
        """Read and validate an ISP YAML file (:class:`~camforge.errors.ConfigError` names bad fields)."""
        cfg = load_yaml(cls, path)
        return cfg._resolve_paths(Path(path).parent)

    @classmethod
    def from_design_section(cls, section: dict[str, Any] | None, base_dir: str | Path | None = None) -> IspConfig:
        """Validate a camera design's ``isp:`` section (``None`` → defaults)."""
        cfg = validate(cls, section or {}, "isp section")
        return cfg._resolve_paths(Path(base_dir)) if base_dir is not None else cfg

    def _resolve_paths(self, base: Path) -> IspConfig:
        upd = {}
        if self.lsc.file and not Path(self.lsc.file).is_absolute():
            upd["lsc"] = self.lsc.model_copy(update={"file": str(base / self.lsc.file)})
        if self.dpc.defect_map and not Path(self.dpc.defect_map).is_absolute():
            upd["dpc"] = self.dpc.model_copy(update={"defect_map": str(base / self.dpc.defect_map)})
        if self.demosaic.weights and not Path(self.demosaic.weights).is_absolute():
            upd["demosaic"] = self.demosaic.model_copy(update={"weights": str(base / self.demosaic.weights)})
        return self.model_copy(update=upd) if upd else self

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def enabled(self) -> list[str]:
        """Names of the enabled stages, in order."""
        return [s for s in STAGES if getattr(self, s).enable]


__all__ = [
    "STAGES", "RAW_STAGES", "IspConfig", "BlackLevelConfig", "DpcConfig", "LscConfig", "AwbConfig",
    "DemosaicConfig", "DenoiseConfig", "CcmConfig", "ToneConfig", "SharpenConfig", "YuvConfig",
]
