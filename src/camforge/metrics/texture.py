"""Texture MTF from a dead-leaves chart, and acutance.

Dead-leaves (spilled-coins) texture MTF after F. Cao, F. Guichard, H. Hornung,
"Dead leaves model for measuring texture quality on a digital camera", Proc. SPIE 7537,
75370E (2010), and the direct method of IEEE 1858-2016 (CPIQ) / ISO 19567-2:2019:

    MTF_tex(f) = √( (PSD_image(f) − PSD_noise(f)) / PSD_ideal(f) )

* PSD_image: the power spectrum of the (linear, mean-normalised) chart region, Hann
  windowed, radially averaged in bins of Δf = 1/N cycles/pixel.
* PSD_noise: the same spectrum of a uniform patch (``flat``) captured under the same
  conditions, normalised by the *chart's* mean (its noise is subtracted in absolute terms).
* PSD_ideal: the spectrum of the chart itself. Best: its own reflectance map
  (``reference``, e.g. ``scene.maps`` of a camforge :func:`~camforge.scene.dead_leaves`
  chart) with ``reference_px_per_px`` map pixels per image pixel, treated the same way;
  otherwise a power law C·f^−η fitted to the image's own spectrum between
  ``fit_band_cy_per_px`` (where the camera is assumed to pass the texture unchanged).

Both spectra are divided by their mean² (contrast spectra), so MTF_tex is independent of
exposure and gain for a linear signal S = g·ρ.

Acutance (IEEE 1858 / CPIQ): A = ∫ MTF(ν) CSF(ν) dν / ∫ CSF(ν) dν over the measured
frequencies, ν in cycles per degree at the viewing condition — an image ``image_height_px``
tall shown ``display_height_cm`` high, seen from ``viewing_distance_cm`` — with the CPIQ
contrast sensitivity function CSF(ν) = a ν^c e^(−bν) (a = 75, b = 0.2, c = 0.8; its
normalising constant cancels in A).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from camforge.errors import InputError, MeasurementError
from camforge.metrics._common import _check_roi_in, _Result, image_planes

CSF_A, CSF_B, CSF_C = 75.0, 0.2, 0.8


@dataclass(frozen=True)
class TextureResult(_Result):
    """Dead-leaves texture MTF (see module notes).

    Attributes:
        frequency_cy_per_px: radial bin centres [cycles / image pixel].
        mtf: texture MTF per bin (NaN where the measured power is below the noise).
        psd_image, psd_noise, psd_ideal: the mean-normalised radial spectra [px²].
        mtf50_cy_per_px: first frequency where the texture MTF falls to 0.5 (None if not reached).
        acutance: CPIQ acutance at the viewing condition (None if not computed).
        cycles_per_degree_per_cy_per_px: ν [cy/deg] = f [cy/px] × this.
        reference: ``"image"`` or ``"power_law"``; power_law_exponent: η when fitted.
        roi: region measured (x, y, w, h); channel: plane measured.
    """

    frequency_cy_per_px: tuple[float, ...]
    mtf: tuple[float, ...]
    psd_image: tuple[float, ...]
    psd_noise: tuple[float, ...]
    psd_ideal: tuple[float, ...]
    mtf50_cy_per_px: float | None
    acutance: float | None
    cycles_per_degree_per_cy_per_px: float | None
    reference: str
    power_law_exponent: float | None
    roi: tuple[int, int, int, int]
    channel: str


def _radial_psd(a: np.ndarray, n_bins: int, freq_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, float]:
    """(bin centres [cy per output px], mean-normalised radial PSD [px²], mean) of a 2-D patch,
    Hann windowed; ``freq_scale`` multiplies frequencies (input px → output px) and the PSD is
    divided by freq_scale² (power per unit output frequency²)."""
    h, w = a.shape
    m = float(a.mean())
    if not m > 0:
        raise MeasurementError("the texture region has a mean of zero or less; give linear data with the black level removed")
    win = np.outer(np.hanning(h), np.hanning(w))
    x = (a - m) * win
    P = np.abs(np.fft.fft2(x)) ** 2 / float((win * win).sum()) / (m * m)
    fy = np.fft.fftfreq(h)[:, None] * freq_scale
    fx = np.fft.fftfreq(w)[None, :] * freq_scale
    fr = np.sqrt(fx * fx + fy * fy)
    edges = np.linspace(0, 0.5, n_bins + 1)
    idx = np.digitize(fr.ravel(), edges) - 1
    ok = (idx >= 0) & (idx < n_bins)
    cnt = np.bincount(idx[ok], minlength=n_bins)
    tot = np.bincount(idx[ok], weights=P.ravel()[ok], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        psd = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan) / (freq_scale * freq_scale)
    return (edges[:-1] + edges[1:]) / 2, psd, m


def _plane(image, roi, channel, color_space):
    planes = image_planes(image)
    H, W = planes.full_shape
    roi = (0, 0, W, H) if roi is None else _check_roi_in(roi, H, W)
    x, y, w, h = roi
    s = planes.step
    sl = (slice(-(-y // s), (y + h) // s), slice(-(-x // s), (x + w) // s))
    names = planes.names
    if channel is None:
        if planes.is_raw:
            ks = [i for i, n in enumerate(names) if n.startswith("G")] or [0]
            ks = ks[:1]
        elif len(names) == 3:
            ks = [0, 1, 2]
        else:
            ks = [0]
    else:
        if channel not in names:
            raise InputError(f"no channel {channel!r}; have {', '.join(names)}")
        ks = [names.index(channel)]
    data = planes.data[:, sl[0], sl[1]]
    if color_space == "srgb":
        if planes.is_raw:
            raise InputError("a raw frame is linear; color_space='srgb' applies to encoded images only")
        from camforge.metrics.color import srgb_decode

        data = srgb_decode(np.clip(data / (planes.white_level or 1.0), 0, 1))
    elif color_space != "linear":
        raise InputError(f"color_space must be 'linear' or 'srgb', got {color_space!r}")
    if len(ks) == 3:  # luminance of linear RGB (ITU-R BT.709)
        a = 0.2126 * data[0] + 0.7152 * data[1] + 0.0722 * data[2]
        name = "Y"
    else:
        a = data[ks[0]]
        name = names[ks[0]]
    if a.shape[0] < 32 or a.shape[1] < 32:
        raise MeasurementError(f"the texture region holds {a.shape[1]} × {a.shape[0]} samples; need at least 32 × 32")
    return a, s, name, roi


def csf_cpiq(nu_cy_per_deg) -> np.ndarray:
    """CPIQ contrast sensitivity a ν^c e^(−bν) (a = 75, b = 0.2, c = 0.8), unnormalised."""
    nu = np.asarray(nu_cy_per_deg, dtype=np.float64)
    return CSF_A * np.power(np.clip(nu, 0, None), CSF_C) * np.exp(-CSF_B * nu)


def acutance(frequency_cy_per_px, mtf, *, image_height_px: float, display_height_cm: float = 20.0,
             viewing_distance_cm: float = 60.0) -> tuple[float, float]:
    """CPIQ acutance of an MTF at a viewing condition; returns (acutance, cy/deg per cy/px).

    Pixels per degree = image_height_px / display_height_cm × viewing_distance_cm × π/180;
    the integrals run over the given frequencies (trapezoid rule, MTF taken as 1 at f = 0).
    """
    f = np.asarray(frequency_cy_per_px, dtype=np.float64)
    m = np.asarray(mtf, dtype=np.float64)
    if f.shape != m.shape or f.ndim != 1 or f.size < 2:
        raise InputError("acutance needs matching 1-D frequency and MTF arrays")
    if min(image_height_px, display_height_cm, viewing_distance_cm) <= 0:
        raise InputError("image height, display height and viewing distance must be > 0")
    ppd = image_height_px / display_height_cm * viewing_distance_cm * math.pi / 180
    ok = np.isfinite(m)
    f, m = np.concatenate([[0.0], f[ok]]), np.concatenate([[1.0], m[ok]])
    nu = f * ppd
    csf = csf_cpiq(nu)
    den = np.trapezoid(csf, nu)
    if not den > 0:
        raise MeasurementError("the CSF integral is zero over the measured frequencies")
    return float(np.trapezoid(m * csf, nu) / den), ppd


def measure_texture(
    image,
    *,
    roi=None,
    reference=None,
    reference_px_per_px: float | None = None,
    flat=None,
    flat_roi=None,
    channel: str | None = None,
    color_space: str = "linear",
    fit_band_cy_per_px: tuple[float, float] = (0.02, 0.06),
    image_height_px: float | None = None,
    display_height_cm: float = 20.0,
    viewing_distance_cm: float = 60.0,
) -> TextureResult:
    """Dead-leaves texture MTF and acutance (see module notes).

    Args:
        image: image or raw frame of a dead-leaves chart (raw: one green CFA site, so the
            frequencies stop at 0.25 cycles per full-frame pixel).
        roi: ``(x, y, w, h)`` of the dead-leaves region (default: the whole frame).
        reference: the chart's reflectance map (2-D array or tensor), or ``None`` for the
            power-law model.
        reference_px_per_px: reference-map pixels per image pixel (e.g. map width / sensor
            width for a chart that fills the field of view). Required with ``reference``.
        flat: image of a uniform patch for the noise spectrum (``flat_roi`` in it); default
            no noise subtraction.
        channel: plane to use (default: luminance of RGB, first green site of a raw).
        color_space: ``"linear"`` or ``"srgb"`` (decoded first).
        fit_band_cy_per_px: band for the power-law fit (reference ``None`` only).
        image_height_px: image height for the acutance (default: this image's height).
    """
    a, step, name, roi = _plane(image, roi, channel, color_space)
    n_bins = min(a.shape) // 2
    f, psd, mean = _radial_psd(a, n_bins, 1.0 / step)
    noise = np.zeros_like(psd)
    if flat is not None:
        fa, fstep, _, _ = _plane(flat, flat_roi, name if name != "Y" else None, color_space)
        if fstep != step:
            raise InputError("the flat patch must be the same kind of input (raw or image) as the chart")
        _, npsd, fmean = _radial_psd(fa, n_bins, 1.0 / step)
        noise = npsd * (fmean / mean) ** 2  # absolute noise power, normalised by the chart's mean²
        noise = np.nan_to_num(noise, nan=0.0)
    eta = None
    if reference is not None:
        if reference_px_per_px is None or not reference_px_per_px > 0:
            raise InputError("reference_px_per_px (reference-map pixels per image pixel) is required with reference")
        ref = np.asarray(reference.detach().cpu().numpy() if hasattr(reference, "detach") else reference, dtype=np.float64)
        ref = np.squeeze(ref)
        if ref.ndim != 2 or not np.isfinite(ref).all():
            raise InputError(f"reference must be a finite 2-D reflectance map, got shape {ref.shape}")
        k = float(reference_px_per_px)
        # the image patch covers (h·step) × (w·step) image pixels: use as much of the map, centred
        hh = min(ref.shape[0], int(round(a.shape[0] * step * k)))
        ww = min(ref.shape[1], int(round(a.shape[1] * step * k)))
        y0, x0 = (ref.shape[0] - hh) // 2, (ref.shape[1] - ww) // 2
        # same annuli as the image spectrum: the map patch covers the same area, so its 2-D
        # frequency samples coincide with the image's below the image Nyquist frequency
        _, ideal, _ = _radial_psd(ref[y0 : y0 + hh, x0 : x0 + ww], n_bins, k)
        kind = "image"
    else:
        lo, hi = fit_band_cy_per_px
        sel = (f >= lo) & (f <= hi) & np.isfinite(psd) & (psd > noise)
        if sel.sum() < 3:
            raise MeasurementError(f"too few frequencies in the power-law fit band {fit_band_cy_per_px}; use a bigger ROI")
        slope, icpt = np.polyfit(np.log(f[sel]), np.log(psd[sel] - noise[sel]), 1)
        eta = float(-slope)
        ideal = np.exp(icpt) * f ** (-eta)
        kind = "power_law"
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (psd - noise) / ideal
        mtf = np.where(ratio > 0, np.sqrt(np.clip(ratio, 0, None)), np.nan)
    mtf50 = None
    ok = np.isfinite(mtf)
    below = np.nonzero(ok & (mtf < 0.5))[0]
    if below.size and below[0] > 0 and ok[below[0] - 1]:
        i = below[0]
        t = (mtf[i - 1] - 0.5) / (mtf[i - 1] - mtf[i])
        mtf50 = float(f[i - 1] + t * (f[i] - f[i - 1]))
    H_img = image_height_px if image_height_px is not None else image_planes(image).full_shape[0]
    acu, ppd = None, None
    if ok.sum() >= 2:
        acu, ppd = acutance(f[ok], np.clip(mtf[ok], 0, None), image_height_px=H_img, display_height_cm=display_height_cm,
                            viewing_distance_cm=viewing_distance_cm)
    tup = lambda v: tuple(float(x) for x in v)  # noqa: E731
    return TextureResult(
        frequency_cy_per_px=tup(f),
        mtf=tup(mtf),
        psd_image=tup(psd),
        psd_noise=tup(noise),
        psd_ideal=tup(ideal),
        mtf50_cy_per_px=mtf50,
        acutance=acu,
        cycles_per_degree_per_cy_per_px=ppd,
        reference=kind,
        power_law_exponent=eta,
        roi=tuple(int(v) for v in roi),
        channel=name,
    )


__all__ = ["TextureResult", "acutance", "csf_cpiq", "measure_texture"]
