"""Shadows of dust, particles, scratches and smudges on the sensor's cover glass.

Geometric model (ray optics, image-side telecentric approximation). A pixel receives the
cone of light that converges on it from the exit pupil; at a height ``z`` above the pixel
(on the sensor cover glass or the IR-cut filter) that cone has a circular cross-section of
diameter ``z / N`` for a lens working at f-number ``N``. An object there whose opacity is
``o(x, y)`` (1 = opaque) blocks the fraction of the cone it covers, so the transmission the
pixel sees is

    T(x, y) = 1 − (o ⊛ D_{z/N})(x, y)

where ``D_d`` is the uniform disc of diameter ``d`` normalised to unit area. For an opaque
disc-shaped particle of diameter ``a``:

* the shadow spans a diameter ``a + z/N`` (support of the convolution);
* the peak contrast at its centre is ``min(1, (a N / z)²)`` (the particle covers at most
  the fraction (a / (z/N))² of the cone); a particle larger than the cone is a full umbra;
* the blocked flux equals the particle's area π a²/4 at any ``z`` and ``N`` (the shadow
  only spreads it), so the *mean* contrast over the shadow's support is
  ``(a / (a + z/N))²`` — the rule of thumb for blemish visibility.

Stopping the lens down (larger ``N``) makes the shadow smaller and darker: a speck that is
invisible at f/1.8 can fail a module at f/8. The transmission is applied to the photo-electron
image before the sensor (so shot noise and PRNU stay right). Chief-ray tilt (which shifts the
shadow by ``z · tan θ`` and makes it slightly elliptical) is neglected.

References:
    Imatest, "Blemish detection" documentation (shadow size vs aperture, lab practice).
    W. J. Smith, *Modern Optical Engineering*, 4th ed., §6 (image-space cone of a lens).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, signal

from camforge.errors import InputError


def shadow_diameter_um(a_um: float, z_um: float, f_number: float) -> float:
    """Full diameter of the shadow of a particle of diameter ``a_um`` at height ``z_um`` [µm]."""
    _check(a_um, z_um, f_number)
    return a_um + z_um / f_number


def peak_contrast(a_um: float, z_um: float, f_number: float, opacity: float = 1.0) -> float:
    """Contrast (1 − T) at the centre of a disc particle's shadow: ``opacity · min(1, (aN/z)²)``."""
    _check(a_um, z_um, f_number)
    if z_um <= 0:
        return float(opacity)
    return float(opacity) * min(1.0, (a_um * f_number / z_um) ** 2)


def mean_contrast(a_um: float, z_um: float, f_number: float, opacity: float = 1.0) -> float:
    """Mean contrast over the shadow's support: ``opacity · (a / (a + z/N))²`` (flux conservation)."""
    d = shadow_diameter_um(a_um, z_um, f_number)
    return float(opacity) * (a_um / d) ** 2


def _check(a_um, z_um, f_number):
    if not (a_um > 0 and math.isfinite(a_um)):
        raise InputError(f"particle diameter must be > 0 µm, got {a_um}")
    if not (z_um >= 0 and math.isfinite(z_um)):
        raise InputError(f"particle height above the sensor must be >= 0 µm, got {z_um}")
    if not (f_number > 0 and math.isfinite(f_number)):
        raise InputError(f"f-number must be > 0, got {f_number}")


def disc_kernel(diameter_px: float, supersample: int = 8) -> np.ndarray:
    """Uniform disc of ``diameter_px`` normalised to sum 1, area-sampled on the pixel grid."""
    if diameter_px <= 1.0 / supersample:
        return np.ones((1, 1))
    r = diameter_px / 2
    n = int(math.ceil(r)) * 2 + 1
    s = supersample
    c = (np.arange(n * s) + 0.5) / s - n / 2
    yy, xx = np.meshgrid(c, c, indexing="ij")
    inside = (xx * xx + yy * yy <= r * r).astype(np.float64)
    k = inside.reshape(n, s, n, s).mean(axis=(1, 3))
    return k / k.sum()


def _occluder_grid(shape, pitch_um: float, supersample: int):
    h, w = shape
    s = supersample
    ys = (np.arange(h * s) + 0.5) / s * pitch_um
    xs = (np.arange(w * s) + 0.5) / s * pitch_um
    return ys, xs


@dataclass(frozen=True)
class Occluder:
    """One object on the cover glass.

    Attributes:
        kind: ``"disc"`` (dust / particle of ``size_um`` diameter), ``"line"`` (scratch of
            width ``size_um`` from ``(x_um, y_um)`` to ``(x2_um, y2_um)``) or ``"blob"``
            (smudge: Gaussian opacity profile of FWHM ``size_um``).
        x_um, y_um: centre (or start of a line) on the sensor [µm from the top-left corner].
        z_um: height above the pixels [µm].
        opacity: 1 = opaque; a smudge or a translucent fibre is less.
    """

    kind: str
    x_um: float
    y_um: float
    size_um: float
    z_um: float
    opacity: float = 1.0
    x2_um: float = 0.0
    y2_um: float = 0.0


def occluder_opacity(occ: Occluder, shape: tuple[int, int], pitch_um: float, supersample: int = 4) -> np.ndarray:
    """Opacity of ``occ`` area-averaged over each pixel of an ``shape`` = (H, W) grid."""
    ys, xs = _occluder_grid(shape, pitch_um, supersample)
    yy, xx = np.meshgrid(ys, xs, indexing="ij")
    if occ.kind == "disc":
        o = ((xx - occ.x_um) ** 2 + (yy - occ.y_um) ** 2 <= (occ.size_um / 2) ** 2).astype(np.float64)
    elif occ.kind == "line":
        p = np.array([occ.x_um, occ.y_um])
        q = np.array([occ.x2_um, occ.y2_um])
        d = q - p
        L2 = float(d @ d) or 1e-12
        t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / L2, 0, 1)
        dist = np.hypot(xx - (p[0] + t * d[0]), yy - (p[1] + t * d[1]))
        o = (dist <= occ.size_um / 2).astype(np.float64)
    elif occ.kind == "blob":
        sig = occ.size_um / 2.3548
        o = np.exp(-((xx - occ.x_um) ** 2 + (yy - occ.y_um) ** 2) / (2 * sig * sig))
    else:
        raise InputError(f"unknown occluder kind {occ.kind!r}; use disc, line or blob")
    h, w = shape
    s = supersample
    return occ.opacity * o.reshape(h, s, w, s).mean(axis=(1, 3))


def shadow_transmission(occluders: list[Occluder], shape: tuple[int, int], pitch_um: float, f_number: float,
                        *, supersample: int = 4) -> np.ndarray:
    """Transmission map ``[H, W]`` (1 = clear) of the shadows of ``occluders`` at f-number ``f_number``.

    Each occluder's opacity map is convolved with the light cone's cross-section at its
    height (a disc of diameter ``z / N``); shadows of several occluders multiply.
    """
    if not f_number > 0:
        raise InputError(f"f-number must be > 0, got {f_number}")
    T = np.ones(shape, dtype=np.float64)
    for occ in occluders:
        T *= 1.0 - single_shadow(occ, shape, pitch_um, f_number, supersample=supersample)
    return T


def single_shadow(occ: Occluder, shape: tuple[int, int], pitch_um: float, f_number: float, *,
                  supersample: int = 4) -> np.ndarray:
    """Blocked fraction (contrast map, 0..1) of one occluder's shadow."""
    h, w = shape
    s = supersample
    # render on a fine grid so small particles and thin scratches keep their area, then blur
    ys, xs = _occluder_grid(shape, pitch_um, s)
    fine_pitch = pitch_um / s
    blur_px = occ.z_um / f_number / fine_pitch
    margin = int(math.ceil(blur_px / 2)) + 2
    # crop to the occluder's neighbourhood for speed
    if occ.kind == "line":
        x_lo, x_hi = min(occ.x_um, occ.x2_um), max(occ.x_um, occ.x2_um)
        y_lo, y_hi = min(occ.y_um, occ.y2_um), max(occ.y_um, occ.y2_um)
        half = occ.size_um / 2
    else:
        x_lo = x_hi = occ.x_um
        y_lo = y_hi = occ.y_um
        half = occ.size_um * (1.5 if occ.kind == "blob" else 0.5)
    i0 = max(0, int((y_lo - half) / fine_pitch) - margin)
    i1 = min(h * s, int((y_hi + half) / fine_pitch) + margin + 1)
    j0 = max(0, int((x_lo - half) / fine_pitch) - margin)
    j1 = min(w * s, int((x_hi + half) / fine_pitch) + margin + 1)
    # align the crop to whole pixels
    i0, j0 = (i0 // s) * s, (j0 // s) * s
    i1, j1 = min(h * s, -(-i1 // s) * s), min(w * s, -(-j1 // s) * s)
    out = np.zeros(shape, dtype=np.float64)
    if i1 <= i0 or j1 <= j0:
        return out
    yy, xx = np.meshgrid(ys[i0:i1], xs[j0:j1], indexing="ij")
    if occ.kind == "disc":
        o = ((xx - occ.x_um) ** 2 + (yy - occ.y_um) ** 2 <= (occ.size_um / 2) ** 2).astype(np.float64)
    elif occ.kind == "line":
        p = np.array([occ.x_um, occ.y_um])
        d = np.array([occ.x2_um, occ.y2_um]) - p
        L2 = float(d @ d) or 1e-12
        t = np.clip(((xx - p[0]) * d[0] + (yy - p[1]) * d[1]) / L2, 0, 1)
        o = (np.hypot(xx - (p[0] + t * d[0]), yy - (p[1] + t * d[1])) <= occ.size_um / 2).astype(np.float64)
    elif occ.kind == "blob":
        sig = occ.size_um / 2.3548
        o = np.exp(-((xx - occ.x_um) ** 2 + (yy - occ.y_um) ** 2) / (2 * sig * sig))
    else:
        raise InputError(f"unknown occluder kind {occ.kind!r}; use disc, line or blob")
    o *= occ.opacity
    if blur_px > 1.0:
        k = disc_kernel(blur_px, supersample=2)
        pad = k.shape[0] // 2
        o = np.pad(o, pad)
        o = signal.fftconvolve(o, k, mode="valid")
    ch, cw = (i1 - i0) // s, (j1 - j0) // s
    blocked = o[: ch * s, : cw * s].reshape(ch, s, cw, s).mean(axis=(1, 3))
    out[i0 // s : i0 // s + ch, j0 // s : j0 // s + cw] = np.clip(blocked, 0.0, 1.0)
    return out


def half_max_mask(contrast_map: np.ndarray, floor: float = 0.0) -> np.ndarray:
    """Ground-truth mask of a shadow: pixels whose contrast is at least half its peak (and > ``floor``)."""
    peak = float(contrast_map.max()) if contrast_map.size else 0.0
    if peak <= 0:
        return np.zeros(contrast_map.shape, dtype=bool)
    return (contrast_map >= 0.5 * peak) & (contrast_map > floor)


def ideal_detectability(delta_e: np.ndarray, signal_e: np.ndarray, *, prnu_frac: float = 0.0,
                        read_noise_e: float = 0.0) -> float:
    """Detectability index d′ of a blemish for the ideal observer that knows it exactly.

    ``d′ = sqrt(Σ ΔS² / σ²)`` over the pixels (the prewhitening matched filter, signal known
    exactly, independent Gaussian noise), with ``ΔS`` the blemish's change of the mean signal
    (``delta_e``, e⁻) and ``σ² = S + (prnu_frac · S)² + read_noise_e²`` the pixel's shot,
    photo-response non-uniformity (a fixed pattern, but unknown for a new module) and read
    noise at the mean signal ``signal_e`` [e⁻]. It bounds what any detector can do: at a known
    position the ideal observer's AUROC is Φ(d′/√2); searching a frame for a blemish of unknown
    position and size needs about d′ ≥ 5 for reliable detection (the Rose criterion).

    References:
        A. Rose, "The sensitivity performance of the human eye on an absolute scale",
        J. Opt. Soc. Am. 38, 196–208 (1948).
        H. H. Barrett and K. J. Myers, *Foundations of Image Science*, Wiley (2004), §13.2.
    """
    d = np.asarray(delta_e, dtype=np.float64)
    S = np.broadcast_to(np.asarray(signal_e, dtype=np.float64), d.shape)
    var = np.maximum(S, 0) + (float(prnu_frac) * S) ** 2 + float(read_noise_e) ** 2
    return float(np.sqrt(np.sum(d * d / np.maximum(var, 1e-12))))


def smooth(x: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(x, sigma, mode="nearest")


__all__ = [
    "Occluder", "disc_kernel", "half_max_mask", "ideal_detectability", "mean_contrast", "occluder_opacity", "peak_contrast",
    "shadow_diameter_um", "shadow_transmission", "single_shadow",
]
