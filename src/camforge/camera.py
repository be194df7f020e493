"""The camera: lens + sensor + ISP, from one YAML design file.

A design file has three sections — ``lens`` (:class:`~camforge.optics.LensConfig`),
``sensor`` (:class:`~camforge.sensor.SensorConfig`) and ``isp`` — with units in the field
names; see ``examples/designs/`` for three realistic designs.

    >>> cam = Camera.from_yaml("examples/designs/phone_main_12mp.yaml")   # doctest: +SKIP
    >>> raw = cam.capture(cam.chart("slanted-edge", lux=100), seed=0)     # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator
from torch import nn

from camforge.config import load_yaml, validate
from camforge.errors import InputError
from camforge.optics import LensConfig
from camforge.optics.formation import SensorGeometry, form_image, scene_to_pixel
from camforge.optics.lens import Lens
from camforge.scene import CHARTS, Scene
from camforge.sensor import Sensor, SensorConfig
from camforge.spectral import WavelengthGrid
from camforge.types import OpticalImage, Raw


class AutoExposureConfig(BaseModel):
    """Highlight-preserving auto exposure: the ``percentile`` of the brightest channel's
    signal is placed at ``target`` of saturation; when the exposure limit is reached,
    analog gain makes up the rest (up to the sensor's ``max_analog_gain``)."""

    model_config = ConfigDict(extra="forbid")
    percentile: float = Field(99.5, gt=0.0, le=100.0)
    target: float = Field(0.8, gt=0.0, le=1.0)
    use_gain: bool = True


class CameraDesign(BaseModel):
    """A camera design: lens, sensor and ISP sections (YAML, units in field names)."""

    model_config = ConfigDict(extra="forbid")
    name: str = "camera"
    description: str = ""
    lens: LensConfig
    sensor: SensorConfig
    isp: dict[str, Any] | None = None
    auto_exposure: AutoExposureConfig = Field(default_factory=AutoExposureConfig)

    @field_validator("isp")
    @classmethod
    def _isp(cls, v):
        if v is not None:
            from camforge.errors import ConfigError
            from camforge.isp import IspConfig

            try:
                IspConfig.from_design_section(v)
            except ConfigError as e:  # re-raised as a validation error so the field path is kept
                raise ValueError(str(e).replace("invalid configuration in isp section: ", "")) from None
        return v

    @classmethod
    def from_yaml(cls, path: str | Path) -> CameraDesign:
        return load_yaml(cls, path)

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of the design (the identity of a design)."""
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()


class Camera(nn.Module):
    """Lens + sensor (+ ISP): ``capture(scene) → Raw``."""

    def __init__(self, design: CameraDesign | dict):
        super().__init__()
        self.design = validate(CameraDesign, design, "camera design")
        self.lens = Lens(self.design.lens)
        self.sensor = Sensor(self.design.sensor)
        from camforge.isp import IspConfig, Pipeline

        self.isp = Pipeline(IspConfig.from_design_section(self.design.isp))

    @classmethod
    def from_yaml(cls, path: str | Path) -> Camera:
        return cls(CameraDesign.from_yaml(path))

    @property
    def name(self) -> str:
        return self.design.name

    # ------------------------------------------------------------------ geometry
    @property
    def geometry(self) -> SensorGeometry:
        return self.sensor.geometry()

    @property
    def aspect(self) -> float:
        return self.design.sensor.height_px / self.design.sensor.width_px

    def horizontal_fov_deg(self) -> float:
        hw = self.geometry.half_width_mm
        return 2 * math.degrees(math.atan(hw / float(self.lens.focal_length_mm)))

    def chart(self, name: str, lux: float = 100.0, illuminant: str = "D65", *, spectral=True, **kwargs) -> Scene:
        """A test chart (``slanted-edge``, ``colorchecker``, ``flat``, ``step``, ``dead-leaves``,
        ``star``, ``grid``) filling this camera's field of view."""
        if name not in CHARTS:
            raise InputError(f"unknown scene {name!r}; use one of {', '.join(CHARTS)}")
        return CHARTS[name](lux=lux, illuminant=illuminant, spectral=spectral, aspect=self.aspect, **kwargs)

    def scene_to_pixel(self, scene: Scene, u, v):
        """Pixel coordinates (col, row) where scene point (u, v) lands (lens distortion included)."""
        return scene_to_pixel(scene, self.lens, self.geometry, u, v)

    # ------------------------------------------------------------------ image formation
    def electron_rate(
        self,
        scene: Scene,
        *,
        oversample: int | None = None,
        psf: bool | None = None,
        window: tuple[int, int, int, int] | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> torch.Tensor:
        """Mean photo-electron rate per pixel and colour channel ``[B, C, H, W]`` [e⁻/s].

        ``window=(x0, y0, width, height)`` forms only that part of the sensor.
        """
        w = self.sensor.electron_weights(scene.grid)
        return form_image(scene, self.lens, self.geometry, w, oversample=oversample, psf=psf, window=window,
                          progress=progress)

    def irradiance(self, scene: Scene, *, oversample: int | None = None, psf: bool | None = None) -> OpticalImage:
        """Spectral irradiance at the pixel centres (no pixel aperture) as an :class:`OpticalImage`."""
        g = self.geometry
        point = SensorGeometry(g.width_px, g.height_px, g.pitch_um, None)
        E = form_image(scene, self.lens, point, None, oversample=oversample, psf=psf)
        return OpticalImage(E, scene.grid.wavelengths_nm, scene.grid.bandwidths_nm, g.pitch_um)

    # ------------------------------------------------------------------ colour calibration
    def as_shot_neutral(self, illuminant: str | None) -> tuple[float, float, float] | None:
        """Camera RGB of a perfect white under ``illuminant``, normalised to green (DNG
        AsShotNeutral): n_c = Σ_λ w_c(λ) E(λ) with w the sensor's electron weights."""
        from camforge.spectral import illuminant_irradiance, spectral_grid

        if self.sensor.n_channels != 3 or not illuminant:
            return None
        g = spectral_grid()
        try:
            E = illuminant_irradiance(illuminant, 1.0, g).double()
        except InputError:
            return None
        n = self.sensor.electron_weights(g).detach().double() @ E
        if not bool((n > 0).all()):
            return None
        n = n / n[1]
        return tuple(float(v) for v in n)

    def color_matrix(self, illuminant: str = "D65") -> tuple[float, ...] | None:
        """DNG ``ColorMatrix`` of this camera (XYZ → camera RGB, 9 values row-major) for
        ``illuminant``: a least-squares fit of the sensor's responses to the 24
        ColorChecker reflectances against their CIE 1931 XYZ under that light (the usual
        camera colour calibration), scaled so the illuminant's white maps to a camera
        neutral whose largest component is 1 (DNG 1.4 convention)."""
        import numpy as np

        from camforge.spectral import cie1931_cmfs, colorchecker_reflectances, illuminant_irradiance, spectral_grid

        if self.sensor.n_channels != 3:
            return None
        key = (illuminant, tuple(float(v) for v in self.sensor.qe_scale.detach().reshape(-1)))
        cache = self.__dict__.setdefault("_cm_cache", {})
        if key in cache:
            return cache[key]
        g = spectral_grid()
        E = illuminant_irradiance(illuminant, 1.0, g).double().numpy()
        _, refl = colorchecker_reflectances(g)
        w = self.sensor.electron_weights(g).detach().double().numpy()  # [3, L]
        cmf = cie1931_cmfs(g) * np.asarray(g.bandwidths_nm)[None]  # [3, L]
        cam = (refl * E[None]) @ w.T  # [24, 3]
        xyz = (refl * E[None]) @ cmf.T
        M, *_ = np.linalg.lstsq(xyz, cam, rcond=None)  # cam ≈ xyz @ M  → ColorMatrix = M.T
        CM = M.T
        white = CM @ (cmf @ E)
        CM = CM / white.max()
        out = tuple(float(v) for v in CM.ravel())
        cache[key] = out
        return out

    def auto_exposure(self, e_rate: torch.Tensor) -> tuple[float, float]:
        """(exposure [s], analog gain [×]) placing the highlights at the AE target."""
        s = self.design.sensor
        ae = self.design.auto_exposure
        K = float(self.sensor.conversion_gain_dn_per_e)
        sat_e = min(float(self.sensor.full_well_e), (s.white_level_dn - s.black_level_dn) / K)
        x = e_rate.detach().flatten(1)
        q = torch.quantile(x.float()[:, :: max(1, x.shape[1] // 2_000_000)], ae.percentile / 100.0, dim=1).max()
        dark = float(self.sensor.dark_current_at().detach())
        rate = float(q) + dark
        if rate <= 0:
            return s.exposure_max_s, (s.max_analog_gain if ae.use_gain else float(self.sensor.analog_gain))
        t = ae.target * sat_e / rate
        gain = float(self.sensor.analog_gain)
        if t > s.exposure_max_s:
            if ae.use_gain:
                gain = min(s.max_analog_gain, max(gain, t / s.exposure_max_s * gain))
            t = s.exposure_max_s
        t = max(t, s.exposure_min_s)
        return float(t), float(gain)

    def capture(
        self,
        scene: Scene,
        exposure_s: float | torch.Tensor | None = None,
        seed: int = 0,
        *,
        analog_gain: float | None = None,
        noise: bool = True,
        differentiable: bool = False,
        quantize: bool = True,
        oversample: int | None = None,
        psf: bool | None = None,
        window: tuple[int, int, int, int] | None = None,
        e_rate: torch.Tensor | None = None,
        progress: Callable[[int, int], None] | None = None,
    ) -> Raw:
        """Capture ``scene``: optics → sensor → raw frame ``[B, 1, H, W]`` in DN.

        With ``exposure_s=None`` the camera's auto exposure sets exposure (and gain when the
        exposure limit is reached). Same ``seed``, same raw, bit for bit.
        ``differentiable=True`` uses reparameterized shot noise so gradients reach every lens
        and sensor parameter; ``quantize=False`` skips ADC rounding (for finite differences).
        ``window=(x0, y0, width, height)`` captures only that part of the sensor (the origin is
        rounded down to the CFA tile); it equals the same crop of a full capture without noise.
        ``e_rate`` reuses a photo-electron rate from :meth:`electron_rate` (same scene and
        window) to skip the optics, e.g. for several exposures of one scene.
        """
        if not isinstance(scene, Scene):
            raise InputError(f"capture needs a camforge.scene.Scene, got {type(scene).__name__}")
        if window is not None:
            from camforge.cfa import cfa_tile

            n = cfa_tile(self.design.sensor.cfa).shape[0]
            x0, y0, ww, wh = (int(v) for v in window)
            window = (x0 - x0 % n, y0 - y0 % n, ww + x0 % n, wh + y0 % n)
        if e_rate is None:
            e_rate = self.electron_rate(scene, oversample=oversample, psf=psf, window=window, progress=progress)
        auto = exposure_s is None
        if auto:
            exposure_s, ae_gain = self.auto_exposure(e_rate)
            if analog_gain is None:
                analog_gain = ae_gain
        raw = self.sensor(e_rate, exposure_s, analog_gain=analog_gain, seed=seed, noise=noise,
                          differentiable=differentiable, quantize=quantize,
                          window=None if window is None else window[:2])
        if raw.meta.cfa != "MONO":
            raw.meta.as_shot_neutral = self.as_shot_neutral(scene.illuminant)
            raw.meta.color_matrix = self.color_matrix("D65")
        raw.meta.extra.update({
            "scene": scene.name,
            "lux": scene.lux,
            "illuminant": scene.illuminant,
            "auto_exposure": auto,
            "seed": int(seed),
            "design": self.design.name,
        })
        return raw

    def render(self, raw: Raw, **kwargs):
        """Raw → image through the design's ISP (:class:`camforge.isp.Pipeline`); keyword
        arguments (``start``, ``stop``) go to the pipeline."""
        return self.isp(raw, **kwargs)

    def forward(self, scene: Scene, exposure_s=None, seed: int = 0, **kwargs) -> Raw:
        return self.capture(scene, exposure_s, seed, **kwargs)

    def wavelength_grid(self, spectral: bool = True) -> WavelengthGrid:
        from camforge.spectral import get_grid

        return get_grid(spectral)
