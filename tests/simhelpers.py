"""Small cameras and analytic references shared by the simulator tests."""

from __future__ import annotations

import math

import numpy as np
import torch

from camforge.camera import Camera

H_PLANCK = 6.62607015e-34
C_LIGHT = 299792458.0


def small_camera(width=160, height=120, *, lens=None, sensor=None, name="test") -> Camera:
    lens_cfg = {"focal_length_mm": 4.0, "f_number": 2.0, "transmission": 0.9,
                "relative_illumination": {"cos4": False}}
    sensor_cfg = {"width_px": width, "height_px": height, "pixel_pitch_um": 1.4, "full_well_e": 20000,
                  "read_noise_e": 2.0, "dark_current_e_per_s": 0.0, "adc_bits": 14, "black_level_dn": 256,
                  "conversion_gain_dn_per_e": 0.5}
    lens_cfg.update(lens or {})
    sensor_cfg.update(sensor or {})
    return Camera({"name": name, "lens": lens_cfg, "sensor": sensor_cfg})


def expected_electrons(scene, cam: Camera, exposure_s: float) -> np.ndarray:
    """Mean photo-electrons per pixel per colour channel for a uniform Lambertian scene,
    computed from first principles, independently of camforge's formation code:

        E_λ = π L_λ T / (4 N²)                 image irradiance (on axis, object at infinity)
        n_p(λ) = E_λ Δλ p² t λ / (h c)         photons per pixel per band
        e_c = Σ_λ QE_c(λ) n_p(λ)               electrons per colour channel
    """
    L = scene.spectra[0].double().numpy().sum(axis=0)  # [L] radiance of a flat field (map = 1)
    wl = np.asarray(scene.grid.wavelengths_nm)
    dl = np.asarray(scene.grid.bandwidths_nm)
    T = float(cam.lens.transmission)
    N = float(cam.lens.f_number)
    E = math.pi * L * T / (4 * N * N)
    p = cam.design.sensor.pixel_pitch_um * 1e-6
    photons = E * dl * p * p * exposure_s * (wl * 1e-9) / (H_PLANCK * C_LIGHT)
    qe = cam.sensor.qe(scene.grid).double().numpy()
    return qe @ photons


def sinusoid_scene(freq_cy_per_px: float, width_px: int, *, spectral=False, lux=200.0, contrast=0.5, axis="x"):
    """A procedural sinusoidal grating (reflectance 0.5 ± contrast/2) that honours the prefilter σ.

    The grating's spatial frequency is given in cycles per sensor pixel for a scene that
    fills the camera's horizontal field of view (u spans 2 units over ``width_px`` pixels).
    """
    from camforge.scene import flat_field
    from camforge.scene.base import Scene

    base = flat_field(lux=lux, spectral=spectral)
    f_u = freq_cy_per_px * width_px / 2.0  # cycles per scene unit

    def render(u, v, sigma):
        t = u if axis == "x" else v
        atten = math.exp(-2 * math.pi**2 * sigma**2 * f_u**2)  # exact Gaussian prefilter of a cosine
        return (0.5 + 0.5 * contrast * atten * torch.cos(2 * math.pi * f_u * t))[None, None]

    return Scene(spectra=base.spectra, grid=base.grid, renderer=render, name="sine", lux=lux,
                 illuminant="D65", truth={"f_cy_per_px": freq_cy_per_px})


def fit_modulation(img: np.ndarray, freq_cy_per_px: float, axis: int = 1) -> float:
    """Least-squares amplitude of a cosine of known frequency along ``axis``, relative to the mean."""
    prof = img.mean(axis=1 - axis) if img.ndim == 2 else img
    n = prof.size
    x = np.arange(n) + 0.5 - n / 2
    A = np.stack([np.ones(n), np.cos(2 * np.pi * freq_cy_per_px * x), np.sin(2 * np.pi * freq_cy_per_px * x)], 1)
    coef, *_ = np.linalg.lstsq(A, prof, rcond=None)
    return float(np.hypot(coef[1], coef[2]) / coef[0])
